/**
 * An Open vSwitch userspace (netdev datapath) NVGRE host in a network namespace: the
 * independent NVGRE peer of the system tier. No kernel module is needed: ovs-vswitchd
 * reads and writes the veths through AF_PACKET and does GRE encap/decap itself.
 *
 *   const h1 = await createOvsHost(lab, {
 *     name: 'h1', pa: '10.1.1.11', paPrefixLength: 24, fabric: { ns: fabricNs, bridge: 'br0' },
 *     vms: [{ name: 'vm1', ip: '192.168.1.1', prefixLength: 24, mac: '00:15:5d:00:00:01', vsid: 5001, gateway: '192.168.1.254' }],
 *     tunnels: [{ vsid: 5001, remotePa: '10.1.1.40' }],   // optional flowId: 0..255
 *   });
 *   await lab.ping(h1.vm('vm1').ns, '192.168.1.254');
 *   await h1.updateTunnel({ vsid: 5001, remotePa: '10.1.1.40', flowId: 0x5a });
 *   await h1.moveVm('vm1', h3);                              // live migration: same VM namespace
 *   await h1.stop();                                         // or leave it to lab.destroy()
 *
 * API
 *   createOvsHost(lab, spec: OvsHostSpec): Promise<OvsHost>
 *   OvsHost.ns / .pa / .runDir / .vms / .vm(name) -> OvsVm { name, ns, ifname: 'eth0', ip, mac, vsid, host }
 *   OvsHost.addVm(spec) / .moveVm(name, to: OvsHost, { announce? }) / .announce(vmName)
 *   OvsHost.resolvePeers(vsid?)                      warm OVS's tunnel neighbour cache (see below)
 *   OvsHost.addTunnel(t) / .updateTunnel(t) / .removeTunnel(vsid, remotePa)
 *   OvsHost.vsctl(...args) / .ofctl(...args) / .appctl(...args)   for debugging and odd cases
 *   OvsHost.stop()                                   SIGTERM to its two daemons, by PID
 *   NVGRE_OVERHEAD (42) and DEFAULT_VM_MTU (1458)
 *
 * Layout inside the host namespace (every bridge datapath_type=netdev):
 *
 *   VM ns eth0 ── vm-<name> ┐
 *                           br v<vsid> (NORMAL: MAC learning) ── patch p<vsid>-<i> ─┐
 *                                                                                   br-tun (our flows only)
 *                                      gre<i>: type=gre remote_ip=<PA i> key=flow ──┘
 *   fabric bridge ── <fabricIfname> ── br-phy (NORMAL), the host PA on br-phy's own interface
 *
 * Why br-tun and key=flow rather than `options:key=VSID*256` on a port in each VSID's bridge:
 * a fixed key makes OVS drop every packet whose FlowID (the key's low 8 bits) is not zero,
 * and the gateway puts a per-flow hash there (RFC 7637 section 3.2). OVS cannot mask a fixed
 * key, and two key=flow ports to the same remote PA would clash, so all VSIDs share one
 * key=flow GRE port per remote PA, and br-tun's flows match `tun_id=VSID<<8/0xffffff00`
 * inbound and set `tun_id=VSID<<8|flowId` outbound. Each VSID's bridge floods and learns
 * MACs only among its own VMs and patch ports, so VSIDs stay isolated; its patch ports are
 * `protected`, so a frame from one tunnel never goes back out of another (split horizon).
 *
 * ovs-vswitchd resolves a remote PA's MAC itself (tnl/neigh: it sends its own ARP request
 * from br-phy and snoops ARP replies); the packet that needed it is dropped, not queued. So
 * the first packet towards a PA not yet resolved is lost: ping with count >= 2, or call
 * resolvePeers() first.
 *
 * moveVm purges the datapath flows of every OVS host of the lab before the VM's gratuitous
 * ARP: otherwise a cached flow that carried the VM's frames from its old host can make a
 * peer re-learn the old place when the revalidator next pushes its statistics.
 *
 * The VM MTU defaults to 1458 so that an encapsulated full-size frame (42 bytes more) still
 * fits the 1500-byte fabric: OVS userspace neither fragments nor sends ICMP for it, it just
 * drops. The VM side of each VM veth has tx checksum offload off, or OVS forwards TCP
 * segments with unfilled checksums.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackgroundProcess, Lab, RunResult } from './netns.js';
import { checkIfname } from './netns.js';

/** Inner Ethernet (14) + outer IPv4 (20) + GRE with key (8): what NVGRE adds to a VM's IP MTU. */
export const NVGRE_OVERHEAD = 42;
export const DEFAULT_VM_MTU = 1500 - NVGRE_OVERHEAD;

export interface OvsVmSpec {
  /** 1-12 of [a-z0-9]; also the VM namespace's role, so unique in the lab. */
  name: string;
  ip: string;
  prefixLength: number;
  mac: string;
  vsid: number;
  /** Default route of the VM (e.g. the gateway's CA). */
  gateway?: string;
  mtu?: number;
}

export interface OvsTunnelSpec {
  vsid: number;
  remotePa: string;
  /** The low 8 bits of the GRE key this host sends (0..255); default 0. Any FlowID is accepted. */
  flowId?: number;
}

export interface OvsHostSpec {
  /** Namespace role of the host, e.g. 'h1'. */
  name: string;
  pa: string;
  paPrefixLength: number;
  /** The Linux bridge (in its namespace) the host's physical veth is attached to. */
  fabric: { ns: string; bridge: string; port?: string };
  /** The physical interface's name inside the host namespace; default 'fab0'. */
  fabricIfname?: string;
  fabricMtu?: number;
  /** Routes towards PAs on other subnets, via a router on the fabric. */
  paRoutes?: Array<{ dest: string; via: string }>;
  vms?: OvsVmSpec[];
  tunnels?: OvsTunnelSpec[];
}

export interface OvsVm {
  readonly name: string;
  readonly ns: string;
  readonly ifname: 'eth0';
  readonly ip: string;
  readonly prefixLength: number;
  readonly mac: string;
  readonly vsid: number;
  /** The host the VM currently runs on (changes with moveVm). */
  host: OvsHost;
}

export interface OvsHost {
  readonly name: string;
  readonly ns: string;
  readonly pa: string;
  readonly runDir: string;
  readonly vms: ReadonlyMap<string, OvsVm>;
  vm(name: string): OvsVm;
  addVm(spec: OvsVmSpec): Promise<OvsVm>;
  /**
   * Live migration: moves the VM's link (not its namespace, addresses, MAC or routes) to
   * another host, which must have tunnels for the VM's VSID. Unless announce is false, the
   * new host then resolves its peers' PAs and the VM sends a gratuitous ARP (about 1 s).
   */
  moveVm(name: string, to: OvsHost, opts?: { announce?: boolean }): Promise<OvsVm>;
  /** ARPs for the remote PAs (of one VSID's tunnels, or all) so ovs-vswitchd's tunnel neighbour cache has them. */
  resolvePeers(vsid?: number): Promise<void>;
  /** The VM sends a gratuitous ARP for its IP (arping -U). */
  announce(vmName: string): Promise<void>;
  addTunnel(t: OvsTunnelSpec): Promise<void>;
  /** Adds the tunnel or changes its FlowID. */
  updateTunnel(t: OvsTunnelSpec): Promise<void>;
  removeTunnel(vsid: number, remotePa: string): Promise<void>;
  vsctl(...args: string[]): Promise<string>;
  ofctl(...args: string[]): Promise<string>;
  appctl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
const VM_NAME_RE = /^[a-z0-9]{1,12}$/;

function checkVsid(vsid: number): void {
  if (!Number.isInteger(vsid) || vsid < 0 || vsid > 0xffffff) throw new Error(`VSID ${vsid} is not a 24-bit integer`);
}

function checkFlowId(flowId: number): void {
  if (!Number.isInteger(flowId) || flowId < 0 || flowId > 0xff) throw new Error(`FlowID ${flowId} is not an 8-bit integer`);
}

const hex32 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

interface TunnelState {
  vsid: number;
  remotePa: string;
  flowId: number;
  /** Patch port in br-tun and its peer in the VSID's bridge. */
  tunPatch: string;
  vsidPatch: string;
}

/**
 * The OpenFlow table of br-tun, as ovs-ofctl text: per (VSID, remote PA), frames from the
 * VSID's patch go out of the PA's GRE port with key VSID<<8|flowId, and frames from that GRE
 * port whose key's upper 24 bits are the VSID (any FlowID) go to the patch. Everything else
 * is dropped.
 */
export function renderTunnelFlows(tunnels: Iterable<TunnelState>, grePorts: ReadonlyMap<string, string>): string {
  const lines = ['priority=0,actions=drop'];
  for (const t of tunnels) {
    const gre = grePorts.get(t.remotePa);
    if (gre === undefined) throw new Error(`no GRE port for ${t.remotePa}`);
    lines.push(`priority=100,in_port=${t.tunPatch},actions=set_field:${hex32(((t.vsid << 8) | t.flowId) >>> 0)}->tun_id,output:${gre}`);
    lines.push(`priority=100,in_port=${gre},tun_id=${hex32(t.vsid << 8)}/0xffffff00,actions=output:${t.tunPatch}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Every running OVS host of a lab (moveVm purges their datapath flows). */
const hostsOf = new WeakMap<Lab, Set<OvsHostImpl>>();

class OvsHostImpl implements OvsHost {
  readonly vms = new Map<string, OvsVm>();
  private readonly tunnels = new Map<string, TunnelState>();
  private readonly grePorts = new Map<string, string>();
  private readonly vsidBridges = new Set<number>();
  private greCounter = 0;
  private readonly daemons: BackgroundProcess[] = [];
  private readonly env: Record<string, string>;

  constructor(
    private readonly lab: Lab,
    readonly name: string,
    readonly ns: string,
    readonly pa: string,
    readonly runDir: string,
  ) {
    // Every default path of the OVS tools (bridge management sockets included) under our own
    // directory: two hosts both having a "br-tun" would otherwise share /var/run/openvswitch.
    this.env = { OVS_RUNDIR: runDir, OVS_LOGDIR: runDir, OVS_DBDIR: runDir, OVS_SYSCONFDIR: runDir };
  }

  private get db(): string {
    return `unix:${join(this.runDir, 'db.sock')}`;
  }

  private async tool(argv: string[]): Promise<RunResult> {
    return this.lab.exec(this.ns, argv, { env: this.env, timeoutMs: 30_000 });
  }

  async vsctl(...args: string[]): Promise<string> {
    return (await this.tool(['ovs-vsctl', `--db=${this.db}`, '--timeout=20', ...args])).stdout;
  }

  async ofctl(...args: string[]): Promise<string> {
    return (await this.tool(['ovs-ofctl', ...args])).stdout;
  }

  async appctl(...args: string[]): Promise<string> {
    return (await this.tool(['ovs-appctl', '-t', join(this.runDir, 'ovs-vswitchd.ctl'), ...args])).stdout;
  }

  async start(): Promise<void> {
    mkdirSync(this.runDir, { recursive: true });
    // The Debian tools still look for their default run directory in places.
    mkdirSync('/var/run/openvswitch', { recursive: true });
    const dbFile = join(this.runDir, 'conf.db');
    await this.lab.exec(this.ns, ['ovsdb-tool', 'create', dbFile, SCHEMA]);
    // Tracked children rather than --detach: a detached daemon is re-parented to PID 1, which
    // in containers often never reaps it, and we want to end exactly the PIDs we started.
    this.daemons.push(
      this.lab.spawn(
        this.ns,
        ['ovsdb-server', dbFile, `--remote=punix:${join(this.runDir, 'db.sock')}`, `--pidfile=${join(this.runDir, 'ovsdb-server.pid')}`,
          `--unixctl=${join(this.runDir, 'ovsdb-server.ctl')}`, `--log-file=${join(this.runDir, 'ovsdb-server.log')}`, '-vconsole:off'],
        { env: this.env },
      ),
    );
    await this.retry('ovsdb-server', () => this.tool(['ovs-vsctl', `--db=${this.db}`, '--timeout=2', '--no-wait', 'init']));
    this.daemons.push(
      this.lab.spawn(
        this.ns,
        ['ovs-vswitchd', this.db, `--pidfile=${join(this.runDir, 'ovs-vswitchd.pid')}`, `--unixctl=${join(this.runDir, 'ovs-vswitchd.ctl')}`,
          `--log-file=${join(this.runDir, 'ovs-vswitchd.log')}`, '-vconsole:off'],
        { env: this.env },
      ),
    );
    // Without --no-wait, ovs-vsctl returns once ovs-vswitchd has applied the change.
    await this.retry('ovs-vswitchd', () => this.vsctl('add-br', 'br-tun', '--', 'set', 'bridge', 'br-tun', 'datapath_type=netdev', 'fail_mode=secure'));
    await this.applyFlows();
  }

  private async retry(what: string, fn: () => Promise<unknown>, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const dead = this.daemons.find((d) => !d.running());
      if (dead) throw new Error(`${what} in ${this.ns} exited: ${dead.stderr().slice(-2000)}`);
      try {
        await fn();
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`${what} in ${this.ns} did not become ready within ${timeoutMs} ms`, { cause: e });
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async attachFabric(spec: OvsHostSpec): Promise<void> {
    const ifname = spec.fabricIfname ?? 'fab0';
    const mtu = spec.fabricMtu;
    await this.lab.veth(
      { ns: this.ns, ifname, ...(mtu ? { mtu } : {}) },
      { ns: spec.fabric.ns, ifname: spec.fabric.port ?? this.name, master: spec.fabric.bridge, ...(mtu ? { mtu } : {}) },
    );
    await this.vsctl('add-br', 'br-phy', '--', 'set', 'bridge', 'br-phy', 'datapath_type=netdev', '--', 'add-port', 'br-phy', ifname);
    // The PA lives on br-phy's own (tap) interface: the host kernel answers ARP for it and
    // ovs-vswitchd's native tunnelling takes its route and source address from there.
    if (mtu) await this.lab.exec(this.ns, ['ip', 'link', 'set', 'br-phy', 'mtu', String(mtu)]);
    await this.lab.addAddress(this.ns, 'br-phy', `${this.pa}/${spec.paPrefixLength}`);
    await this.lab.exec(this.ns, ['ip', 'link', 'set', 'br-phy', 'up']);
    for (const r of spec.paRoutes ?? []) await this.lab.addRoute(this.ns, r.dest, { via: r.via });
  }

  private async ensureVsid(vsid: number): Promise<string> {
    checkVsid(vsid);
    const bridge = `v${vsid}`;
    if (!this.vsidBridges.has(vsid)) {
      // Its own tap interface stays down: the host kernel has no business inside a VSID.
      await this.vsctl('add-br', bridge, '--', 'set', 'bridge', bridge, 'datapath_type=netdev');
      this.vsidBridges.add(vsid);
    }
    return bridge;
  }

  vm(name: string): OvsVm {
    const vm = this.vms.get(name);
    if (!vm) throw new Error(`host ${this.name} has no VM ${name} (has: ${[...this.vms.keys()].join(', ') || 'none'})`);
    return vm;
  }

  async addVm(spec: OvsVmSpec): Promise<OvsVm> {
    if (!VM_NAME_RE.test(spec.name)) throw new Error(`VM name ${JSON.stringify(spec.name)} must be 1-12 of [a-z0-9]`);
    const bridge = await this.ensureVsid(spec.vsid);
    const vmNs = await this.lab.namespace(spec.name);
    // A gratuitous ARP whenever the link comes up: how a migrated VM announces its new place.
    await this.lab.sysctl(vmNs, 'net.ipv4.conf.all.arp_notify', 1);
    const port = `vm-${spec.name}`;
    const mtu = spec.mtu ?? DEFAULT_VM_MTU;
    await this.lab.veth(
      { ns: vmNs, ifname: 'eth0', mac: spec.mac, mtu, addresses: [`${spec.ip}/${spec.prefixLength}`], up: false },
      { ns: this.ns, ifname: port, mtu, up: false },
    );
    await this.lab.exec(vmNs, ['ethtool', '-K', 'eth0', 'tx', 'off']);
    await this.lab.exec(vmNs, ['ip', 'link', 'set', 'eth0', 'up']);
    if (spec.gateway) await this.lab.addRoute(vmNs, 'default', { via: spec.gateway });
    await this.plugVmPort(port, bridge);
    const vm: OvsVm = {
      name: spec.name, ns: vmNs, ifname: 'eth0', ip: spec.ip, prefixLength: spec.prefixLength, mac: spec.mac, vsid: spec.vsid, host: this,
    };
    this.vms.set(spec.name, vm);
    return vm;
  }

  private async plugVmPort(port: string, bridge: string): Promise<void> {
    await this.lab.exec(this.ns, ['ethtool', '-K', port, 'tx', 'off']);
    // Up before OVS opens it, or ovs-vswitchd logs receive errors ("Network is down").
    await this.lab.exec(this.ns, ['ip', 'link', 'set', port, 'up']);
    await this.vsctl('add-port', bridge, port);
  }

  async moveVm(name: string, to: OvsHost, opts: { announce?: boolean } = {}): Promise<OvsVm> {
    const vm = this.vm(name);
    if (!(to instanceof OvsHostImpl)) throw new Error('moveVm: the target must come from createOvsHost');
    if (to === this) return vm;
    if (to.vms.has(name)) throw new Error(`moveVm: host ${to.name} already has a VM ${name}`);
    const port = `vm-${name}`;
    await this.vsctl('del-port', `v${vm.vsid}`, port);
    // The host end of the VM's veth moves; the VM keeps its namespace, eth0, addresses and routes.
    await this.lab.exec(this.ns, ['ip', 'link', 'set', port, 'netns', to.ns]);
    this.vms.delete(name);
    const bridge = await to.ensureVsid(vm.vsid);
    await to.plugVmPort(port, bridge);
    vm.host = to;
    to.vms.set(name, vm);
    if (opts.announce !== false) {
      // Like Hyper-V after a live migration, the VM announces itself so that the other hosts'
      // MAC tables point at its new PA. Two OVS details make that race: a datapath flow that
      // carried the VM's frames from its old place re-learns the old port when the revalidator
      // next pushes its statistics (up to ~0.5 s later), and OVS drops (rather than queues) what
      // it would tunnel to a PA it has not resolved yet. So purge the lab's datapath flows and
      // resolve the new host's peers before the gratuitous ARP.
      await Promise.all([...(hostsOf.get(this.lab) ?? [])].map((h) => h.appctl('revalidator/purge').catch(() => undefined)));
      await to.resolvePeers(vm.vsid);
      await to.announce(name);
    }
    return vm;
  }

  async resolvePeers(vsid?: number): Promise<void> {
    const pas = new Set([...this.tunnels.values()].filter((t) => vsid === undefined || t.vsid === vsid).map((t) => t.remotePa));
    await Promise.all(
      [...pas].map((pa) => this.lab.exec(this.ns, ['arping', '-q', '-f', '-c', '1', '-w', '1', '-I', 'br-phy', pa]).catch(() => undefined)),
    );
  }

  async announce(name: string): Promise<void> {
    const vm = this.vm(name);
    await this.lab.exec(vm.ns, ['arping', '-q', '-U', '-c', '1', '-I', vm.ifname, vm.ip]);
  }

  private async ensureGrePort(remotePa: string): Promise<string> {
    const existing = this.grePorts.get(remotePa);
    if (existing) return existing;
    const port = `gre${this.greCounter++}`;
    await this.vsctl('add-port', 'br-tun', port, '--', 'set', 'interface', port, 'type=gre', `options:remote_ip=${remotePa}`, 'options:key=flow');
    this.grePorts.set(remotePa, port);
    return port;
  }

  private async applyFlows(): Promise<void> {
    const flows = renderTunnelFlows(this.tunnels.values(), this.grePorts);
    await this.lab.exec(this.ns, ['ovs-ofctl', 'replace-flows', 'br-tun', '-'], { env: this.env, input: flows });
  }

  async addTunnel(t: OvsTunnelSpec): Promise<void> {
    const key = `${t.vsid}/${t.remotePa}`;
    if (this.tunnels.has(key)) throw new Error(`host ${this.name} already has a tunnel for VSID ${t.vsid} to ${t.remotePa}`);
    const flowId = t.flowId ?? 0;
    checkFlowId(flowId);
    const bridge = await this.ensureVsid(t.vsid);
    const gre = await this.ensureGrePort(t.remotePa);
    const tunPatch = `t${t.vsid}-${gre}`;
    const vsidPatch = `p${t.vsid}-${gre}`;
    checkIfname(tunPatch);
    await this.vsctl(
      'add-port', 'br-tun', tunPatch, '--', 'set', 'interface', tunPatch, 'type=patch', `options:peer=${vsidPatch}`, '--',
      'add-port', bridge, vsidPatch, '--', 'set', 'interface', vsidPatch, 'type=patch', `options:peer=${tunPatch}`,
      // Split horizon: NORMAL never forwards between two protected ports, so what came from one
      // tunnel is never re-flooded into another (the gateway would see it as inner-source spoofing).
      '--', 'set', 'port', vsidPatch, 'protected=true',
    );
    this.tunnels.set(key, { vsid: t.vsid, remotePa: t.remotePa, flowId, tunPatch, vsidPatch });
    await this.applyFlows();
  }

  async updateTunnel(t: OvsTunnelSpec): Promise<void> {
    const state = this.tunnels.get(`${t.vsid}/${t.remotePa}`);
    if (!state) return this.addTunnel(t);
    const flowId = t.flowId ?? 0;
    checkFlowId(flowId);
    state.flowId = flowId;
    await this.applyFlows();
  }

  async removeTunnel(vsid: number, remotePa: string): Promise<void> {
    const key = `${vsid}/${remotePa}`;
    const state = this.tunnels.get(key);
    if (!state) throw new Error(`host ${this.name} has no tunnel for VSID ${vsid} to ${remotePa}`);
    this.tunnels.delete(key);
    await this.applyFlows();
    await this.vsctl('del-port', 'br-tun', state.tunPatch, '--', 'del-port', `v${vsid}`, state.vsidPatch);
    if (![...this.tunnels.values()].some((t) => t.remotePa === remotePa)) {
      const gre = this.grePorts.get(remotePa);
      this.grePorts.delete(remotePa);
      if (gre) await this.vsctl('del-port', 'br-tun', gre);
    }
  }

  /** The last lines of ovs-vswitchd's log, for error messages (the run directory dies with the lab). */
  logTail(lines = 30): string {
    try {
      const text = readFileSync(join(this.runDir, 'ovs-vswitchd.log'), 'utf8');
      return `ovs-vswitchd.log (tail):\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
    } catch {
      return '(no ovs-vswitchd.log)';
    }
  }

  async stop(): Promise<void> {
    hostsOf.get(this.lab)?.delete(this);
    for (const d of [...this.daemons].reverse()) await d.stop('SIGTERM', 3000);
  }
}

/**
 * Starts an OVS userspace host: a namespace `spec.name` with its own ovsdb-server and
 * ovs-vswitchd (private run directory under lab.tmpDir), a veth to the fabric bridge, one
 * namespace per VM, and the tunnels. The lab stops the daemons and removes it all on destroy.
 */
export async function createOvsHost(lab: Lab, spec: OvsHostSpec): Promise<OvsHost> {
  const ns = await lab.namespace(spec.name);
  const host = new OvsHostImpl(lab, spec.name, ns, spec.pa, join(lab.tmpDir, `ovs-${spec.name}`));
  let hosts = hostsOf.get(lab);
  if (!hosts) hostsOf.set(lab, (hosts = new Set()));
  hosts.add(host);
  try {
    await host.start();
    await host.attachFabric(spec);
    for (const vm of spec.vms ?? []) await host.addVm(vm);
    for (const t of spec.tunnels ?? []) await host.addTunnel(t);
  } catch (e) {
    if (!(e instanceof Error)) throw e;
    throw new Error(`createOvsHost ${spec.name}: ${e.message}\n${host.logTail()}`, { cause: e });
  }
  return host;
}
