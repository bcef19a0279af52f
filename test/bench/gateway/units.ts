/**
 * The three gateways under test, each in its own copy of one topology, so that rounds can
 * alternate A, B, C on the same generator set-up within seconds of each other:
 *
 *   gen ns  fab 10.1.1.21 ──── nbg<x> ┐ fabric ns: bridge br0 ┌ nbs<x> ──── fab 10.1.1.31 sink ns
 *           (the "host PA" NVGRE      │                       │            (+ .32; raw DROP of
 *            comes from)              └ nbw<x> ── fab0 ───────┘             GRE and UDP: counted,
 *           ext 172.16.0.2 ──────────────────── nbx<x> 172.16.0.1           then dropped)
 *                                                 gateway ns
 *
 * Decap rows: trafgen sends NVGRE (outer 10.1.1.21 -> 10.1.1.40, VSID 5001, inner UDP
 * 192.168.1.11 -> 192.168.2.11) on gen:fab; the gateway decapsulates, routes VSID 5001 ->
 * 5002 of the same routing domain (nvgw in its data path unless BENCH_ROUTE_BETWEEN_VSIDS=
 * false; OVS's B through the kernel), and encapsulates to the PA of 192.168.2.11 (the sink,
 * 10.1.1.31). Encap rows: plain UDP 172.16.0.2 -> 192.168.2.11
 * arrives on the gateway's external interface nbx<x>, the kernel routes it into VSID 5002
 * and the gateway encapsulates it to the sink. Gateway C routes the same inner frames
 * between nbx<c> and fab0 without any encapsulation (for its decap row they enter on the
 * external interface too: there is nothing to decapsulate).
 *
 * NAT rows (when the gateway's API has NAT): decap-nat sends 192.168.1.11 -> 172.16.0.2
 * from VSID 5001 out of the uplink nbx<x>, SNAT to 172.16.0.10, counted at gen:ext (C takes
 * the same inner frames from the fabric side); encap-nat sends 172.16.0.2 -> 172.16.0.10
 * UDP port 5001, forwarded (DNAT) to 192.168.2.11:5001 in VSID 5002, counted at the sink.
 * B and C get the same two iptables NAT rules from the bench.
 *
 * CPU placement: trafgen pins its worker to CPU 0, the gateway's processes (nvgw with its
 * worker thread, ovs-vswitchd) are pinned to CPU 1. A veth delivers a frame inside the
 * sender's send call, so the kernel's receive work for what trafgen sends (the fabric
 * bridge, the packet socket copy into nvgw's or OVS's ring, or all of C's routing) runs on
 * CPU 0 and is charged to trafgen's worker; the bench subtracts what trafgen costs alone
 * to find it. Moving it to CPU 1 (RPS, or threaded NAPI on the receiving veth) defers the
 * freeing of trafgen's skbs, its socket send buffer fills, and trafgen 0.6.8 exits on the
 * first EAGAIN ("Flushing TX_RING failed"), so that is not done.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NsGateway, StatsBody } from '../../support/gateway-ns.js';
import { startGatewayInNs } from '../../support/gateway-ns.js';
import type { Lab } from '../../support/netns.js';
import { linkMac } from '../../support/netns.js';
import type { OvsHost } from '../../support/ovs.js';
import { createOvsHost } from '../../support/ovs.js';
import { encapsulatedFrame, linkCounters, pin, plainFrame } from './probes.js';

export const GATEWAY_CPU = 1;
export const ROUTE_BETWEEN_VSIDS = process.env.BENCH_ROUTE_BETWEEN_VSIDS !== 'false';
/** BENCH_SHARED_TENANT_PORT=on|off: nvgw's datapath.sharedTenantPort (default auto: a port per VSID below 64 VSIDs). */
export const SHARED_TENANT_PORT = (process.env.BENCH_SHARED_TENANT_PORT ?? 'auto') as 'auto' | 'on' | 'off';
/** BENCH_CONNECTION_OFFLOAD=off: nvgw leaves every packet of external connections to the kernel (datapath.connectionOffload false). */
export const CONNECTION_OFFLOAD = process.env.BENCH_CONNECTION_OFFLOAD !== 'off';

export const GW_PA = '10.1.1.40';
export const GEN_PA = '10.1.1.21';
export const SINK_PA = '10.1.1.31';
export const SINK_PA2 = '10.1.1.32';
export const H1_PA = '10.1.1.20';
export const H2_PA = '10.1.1.30';
export const BLUE = '{11111111-2222-3333-4444-000000005001}';
export const EXT_GW = '172.16.0.1';
export const EXT_HOST = '172.16.0.2';
/** The NAT address of the NAT rows: SNAT source, and the port forward's external address. */
export const NAT_ADDRESS = '172.16.0.10';
/** The port forward: UDP NAT_ADDRESS:NAT_PORT -> VM.dst:NAT_PORT (plainFrame's destination port). */
export const NAT_PORT = 5001;
export const GW_MAC = { 5001: '00:15:5d:14:3c:01', 5002: '00:15:5d:14:3c:02' } as const;
export const VM = {
  src: { ip: '192.168.1.11', mac: '00:15:5d:01:01:0b', vsid: 5001 },
  dst: { ip: '192.168.2.11', mac: '00:15:5d:01:02:0b', vsid: 5002 },
  tcp1: { ip: '192.168.1.101', mac: '00:15:5d:01:14:04', vsid: 5001 },
  tcp3: { ip: '192.168.2.101', mac: '00:15:5d:02:2a:01', vsid: 5002 },
} as const;

export type GatewayId = 'A' | 'B' | 'C';
export type Direction = 'decap' | 'encap' | 'decap-nat' | 'encap-nat';
export type FrameKind = 'plain' | 'nvgre';

export const GATEWAY_NAMES: Record<GatewayId, string> = {
  A: 'nvgw',
  B: 'OVS userspace + kernel routing',
  C: 'kernel routing, no encapsulation',
};

export interface TrafficPath {
  /** The generator's interface (in genNs) that trafgen sends on. */
  dev: string;
  /** What trafgen sends: plain frames or NVGRE (42 bytes more), for the generator's own cost. */
  kind: FrameKind;
  /** The frame trafgen sends for an inner frame of `length` bytes. */
  frame(length: number): Buffer;
  /** Where arrivals are counted: a process in the receiving namespace, and the interface. */
  sink: { pid: number; dev: string };
  /**
   * Cumulative packet counts at each stage of the path, in order, from the generator to
   * the sink: the difference between two neighbours' deltas over a round is what was lost
   * between them (rings and queues that count nothing themselves).
   */
  stages(): Promise<[string, number][]>;
}

export interface Unit {
  readonly id: GatewayId;
  readonly genNs: string;
  readonly sinkNs: string;
  readonly gwNs: string;
  readonly fabNs: string;
  /** A process parked in each namespace, whose /proc/<pid>/net/dev shows that namespace's counters. */
  readonly genPid: number;
  readonly sinkPid: number;
  readonly gwPid: number;
  path(direction: Direction): TrafficPath;
  /** The gateway's own processes (CPU time per packet): nvgw, ovs-vswitchd, or none. */
  gatewayPids(): number[];
  /** Named drop counters inside the gateway, read outside the measuring window. */
  drops(): Promise<Record<string, number>>;
  /** Turns on the NAT of the NAT rows (nvgw: through its API; B, C: iptables). */
  enableNat(): Promise<void>;
}

interface Fabric {
  fabNs: string;
  genNs: string;
  sinkNs: string;
  genPid: number;
  sinkPid: number;
  genFabMac: string;
  genExtMac: string;
  sinkMac: string;
}

const park = (lab: Lab, ns: string): number => lab.spawn(ns, ['sleep', 'infinity']).pid;

/** The fabric bridge, the generator and the sink of one gateway's copy of the topology. */
async function fabric(lab: Lab, x: string): Promise<Fabric> {
  const fabNs = await lab.namespace(`fab${x}`);
  await lab.bridge(fabNs, 'br0');
  // Where br_netfilter is loaded (here it is), a bridge hands every IPv4 frame to iptables
  // by default: a third of what a gateway's transmit cost in the first profiles was this
  // fabric's bridge, not the gateway. A switch does not run the host's firewall.
  for (const key of ['bridge-nf-call-iptables', 'bridge-nf-call-ip6tables', 'bridge-nf-call-arptables']) {
    await lab.sysctl(fabNs, `net.bridge.${key}`, 0).catch(() => undefined);
  }
  const genNs = await lab.namespace(`gen${x}`);
  const sinkNs = await lab.namespace(`sink${x}`);
  await lab.veth({ ns: genNs, ifname: 'fab', addresses: [`${GEN_PA}/24`] }, { ns: fabNs, ifname: `nbg${x}`, master: 'br0' });
  await lab.veth({ ns: sinkNs, ifname: 'fab', addresses: [`${SINK_PA}/24`, `${SINK_PA2}/24`] }, { ns: fabNs, ifname: `nbs${x}`, master: 'br0' });
  // What reaches a sink is counted by its interface, then dropped before the IP stack would
  // answer it (no GRE module: ICMP protocol unreachable; UDP: port unreachable). The
  // generator is the sink of the decap-nat rows.
  for (const ns of [sinkNs, genNs]) {
    for (const proto of ['gre', 'udp']) await lab.exec(ns, ['iptables', '-t', 'raw', '-A', 'PREROUTING', '-p', proto, '-j', 'DROP']);
  }
  return {
    fabNs,
    genNs,
    sinkNs,
    genPid: park(lab, genNs),
    sinkPid: park(lab, sinkNs),
    genFabMac: await linkMac(genNs, 'fab'),
    genExtMac: '',
    sinkMac: await linkMac(sinkNs, 'fab'),
  };
}

/**
 * The generator's external side: gen:ext 172.16.0.2 <-> gateway:nbx<x> 172.16.0.1 (the
 * gateway's address is left to nvgw's external network where `ownAddress` is false).
 */
async function external(lab: Lab, f: Fabric, gwNs: string, x: string, ownAddress = true): Promise<string> {
  await lab.veth({ ns: f.genNs, ifname: 'ext', addresses: [`${EXT_HOST}/24`] }, { ns: gwNs, ifname: `nbx${x}`, ...(ownAddress ? { addresses: [`${EXT_GW}/24`] } : {}) });
  await lab.addRoute(f.genNs, '192.168.0.0/16', { via: EXT_GW });
  f.genExtMac = await linkMac(f.genNs, 'ext');
  // Strict reverse-path filtering would judge 172.16.0.2 by the main table only.
  await lab.sysctl(gwNs, `net.ipv4.conf.nbx${x}.rp_filter`, 0);
  await lab.sysctl(gwNs, 'net.ipv4.conf.all.rp_filter', 0);
  return `nbx${x}`;
}

/** B and C: the kernel's NAT, the same two rules nvgw's NAT connection amounts to. */
async function kernelNat(lab: Lab, gwNs: string, uplink: string): Promise<void> {
  await lab.addAddress(gwNs, uplink, `${NAT_ADDRESS}/32`);
  await lab.exec(gwNs, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', uplink, '-s', '192.168.0.0/16', '-j', 'SNAT', '--to-source', NAT_ADDRESS]);
  await lab.exec(gwNs, ['iptables', '-t', 'nat', '-A', 'PREROUTING', '-i', uplink, '-d', NAT_ADDRESS, '-p', 'udp', '--dport', String(NAT_PORT), '-j', 'DNAT', '--to-destination', `${VM.dst.ip}:${NAT_PORT}`]);
}

const rec = (ca: string, vsid: number, mac: string, pa: string, vmName: string) => ({ customerAddress: ca, virtualSubnetId: vsid, macAddress: mac, providerAddress: pa, vmName });
const onLink = (vsid: number, prefix: string) => ({ routingDomainId: BLUE, virtualSubnetId: vsid, destinationPrefix: prefix, nextHop: '0.0.0.0' });

/**
 * nvgw's desired state: one routing domain, VSIDs 5001 and 5002, the gateway's CAs and the
 * VMs, attached to the external network on `uplink`: routed (the encap rows) or, with
 * `nat`, through the NAT rows' connection.
 */
export function nvgwState(uplink: string, nat = false) {
  return {
    routingDomains: [{ routingDomainId: BLUE, name: 'blue' }],
    virtualSubnets: [
      { virtualSubnetId: 5001, routingDomainId: BLUE },
      { virtualSubnetId: 5002, routingDomainId: BLUE },
    ],
    customerRoutes: [onLink(5001, '192.168.1.0/24'), onLink(5002, '192.168.2.0/24')],
    lookupRecords: [
      rec('192.168.1.1', 5001, GW_MAC[5001], GW_PA, 'gateway'),
      rec('192.168.2.1', 5002, GW_MAC[5002], GW_PA, 'gateway'),
      rec(VM.src.ip, 5001, VM.src.mac, GEN_PA, 'generator'),
      rec(VM.dst.ip, 5002, VM.dst.mac, SINK_PA, 'sink'),
      rec(VM.tcp1.ip, 5001, VM.tcp1.mac, H1_PA, 'tcp1'),
      rec(VM.tcp3.ip, 5002, VM.tcp3.mac, H2_PA, 'tcp3'),
    ],
    providerAddresses: [{ interface: 'fab0', providerAddress: GW_PA, prefixLength: 24 }],
    externalNetworks: [{ interface: uplink, name: 'bench-uplink', address: EXT_GW, prefixLength: 24, defaultGateway: '' }],
    ...(nat
      ? {
          natConnections: [
            {
              routingDomainId: BLUE,
              name: 'bench-nat',
              interface: uplink,
              externalAddresses: NAT_ADDRESS,
              rules: [{ name: 'udp-forward', protocol: 'UDP', externalAddress: NAT_ADDRESS, externalPort: NAT_PORT, internalAddress: VM.dst.ip, internalPort: NAT_PORT }],
            },
          ],
        }
      : { routedConnections: [{ routingDomainId: BLUE, name: 'bench-routed', interface: uplink }] }),
  };
}

interface StatusBody {
  datapath?: {
    state?: string;
    error?: string;
    tenantPorts?: string[];
    portErrors?: { ifname: string; message: string }[];
    reconcile?: { passes?: number; lastPass?: { at: string; durationMs: number; failed: unknown[]; firewallError?: string }; tables?: Record<string, number> };
  };
}

/**
 * Called right after a change's response: polls /v1/status until two more kernel passes
 * have finished than had then (the first may have begun before the change was committed,
 * a resync with the old state; the second began after it) and the worker has `tenants` ports.
 */
export async function waitReconciled(gw: NsGateway, tenants: number, timeoutMs: number): Promise<StatusBody> {
  const deadline = Date.now() + timeoutMs;
  let from: number | undefined;
  for (;;) {
    const { body } = await gw.ok<StatusBody>('GET', '/v1/status');
    const dp = body.datapath;
    const passes = dp?.reconcile?.passes ?? 0;
    from ??= passes;
    if (dp?.state === 'failed') return body;
    if (passes >= from + 2 && (dp?.tenantPorts?.length ?? 0) + (dp?.portErrors?.length ?? 0) >= tenants) return body;
    if (Date.now() > deadline) throw new Error(`nvgw in ${gw.ns}: not reconciled after ${timeoutMs} ms: ${JSON.stringify(body).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The frames every gateway is offered, addressed to its own MACs. */
function frames(f: Fabric, macs: { decapDst: string; extDst: string }, decapKind: FrameKind) {
  const inner = (length: number, dstIp: string) => plainFrame({ srcMac: VM.src.mac, dstMac: GW_MAC[5001], srcIp: VM.src.ip, dstIp }, length);
  const tunnel = (length: number, dstIp: string) => encapsulatedFrame({ srcMac: f.genFabMac, dstMac: macs.decapDst, srcPa: GEN_PA, dstPa: GW_PA, vsid: 5001 }, inner(length, dstIp));
  const plainFromFabric = (length: number, dstIp: string) => plainFrame({ srcMac: f.genFabMac, dstMac: macs.decapDst, srcIp: VM.src.ip, dstIp }, length);
  const fromExternal = (length: number, dstIp: string) => plainFrame({ srcMac: f.genExtMac, dstMac: macs.extDst, srcIp: EXT_HOST, dstIp }, length);
  return {
    decap: (n: number) => (decapKind === 'nvgre' ? tunnel(n, VM.dst.ip) : plainFrame({ srcMac: f.genExtMac, dstMac: macs.extDst, srcIp: VM.src.ip, dstIp: VM.dst.ip }, n)),
    encap: (n: number) => fromExternal(n, VM.dst.ip),
    decapNat: (n: number) => (decapKind === 'nvgre' ? tunnel(n, EXT_HOST) : plainFromFabric(n, EXT_HOST)),
    encapNat: (n: number) => fromExternal(n, NAT_ADDRESS),
  };
}

/** Gateway A: the real `nvgw serve`, configured through PUT /v1/config. */
export async function buildNvgw(lab: Lab): Promise<Unit & { gateway(): NsGateway }> {
  const x = 'a';
  const f = await fabric(lab, x);
  const gwNs = await lab.namespace('gwa');
  await lab.veth({ ns: gwNs, ifname: 'fab0' }, { ns: f.fabNs, ifname: `nbw${x}`, master: 'br0' });
  const ext = await external(lab, f, gwNs, x, false);
  // BENCH_ROUTE_BETWEEN_VSIDS=false: the kernel routes VSID 5001 -> 5002 (the data path's
  // own routing off), for before/after figures in one topology; BENCH_CONNECTION_OFFLOAD=off
  // likewise leaves the external connections to the kernel.
  const gw = await startGatewayInNs(lab, gwNs, { fabricIfname: 'fab0', routeBetweenVsids: ROUTE_BETWEEN_VSIDS, sharedTenantPort: SHARED_TENANT_PORT, connectionOffload: CONNECTION_OFFLOAD });
  // The external network is routed to the domain (a routed connection): what enters on it is
  // routed in the domain's table, which knows the way back.
  await gw.ok('PUT', '/v1/config', nvgwState(ext));
  const status = await waitReconciled(gw, 2, 60_000);
  if (status.datapath?.state !== 'running') throw new Error(`nvgw data path is ${status.datapath?.state}: ${status.datapath?.error ?? ''}`);
  const fab0Mac = await linkMac(gwNs, 'fab0');
  const extMac = await linkMac(gwNs, ext);
  await pin(gw.process.pid, GATEWAY_CPU);
  const gwPid = park(lab, gwNs);
  const fr = frames(f, { decapDst: fab0Mac, extDst: extMac }, 'nvgre');
  const c = (dev: string) => linkCounters(gwPid, dev);
  const sink = { pid: f.sinkPid, dev: 'fab' };
  // Stages along each path: the kernel's legs (into a tenant port and back out of one)
  // appear only where the kernel routes; VSID 5001 -> 5002 routed by nvgw has none.
  const decapped = (stats: StatsBody): [string, number][] => [
    ['generator', linkCounters(f.genPid, 'fab').txPackets],
    ['at the gateway (fab0 rx)', c('fab0').rxPackets],
    ['decapsulated by nvgw (VSID 5001 decapPackets)', stats.vsids.find((v) => v.virtualSubnetId === 5001)?.decapPackets ?? 0],
  ];
  const encapped = (stats: StatsBody): [string, number][] => [
    ['encapsulated by nvgw (VSID 5002 encapPackets)', stats.vsids.find((v) => v.virtualSubnetId === 5002)?.encapPackets ?? 0],
    ['sent on the fabric (fab0 tx)', c('fab0').txPackets],
    ['sink', linkCounters(f.sinkPid, 'fab').rxPackets],
  ];
  const kernelInto5002 = (): [string, number][] => [
    ['routed into VSID 5002 (nvgw-t5002 tx)', c('nvgw-t5002').txPackets],
    ["at nvgw's VSID 5002 port (nvgw-d5002 rx)", c('nvgw-d5002').rxPackets],
  ];
  // With connection offload, what the kernel opened never crosses it again: nvgw takes it
  // from the uplink (inbound) or sends it out there itself (outbound).
  const offloaded = (stats: StatsBody, direction: 'inbound' | 'outbound'): [string, number] => [`offloaded ${direction} by nvgw`, stats.events[`offloaded-${direction}`]?.packets ?? 0];
  const toSink = async (): Promise<[string, number][]> => {
    const stats = await gw.stats();
    return [...(CONNECTION_OFFLOAD ? [offloaded(stats, 'inbound')] : kernelInto5002()), ...encapped(stats)];
  };
  const fromFabric = async (): Promise<[string, number][]> => {
    const stats = await gw.stats();
    return [...decapped(stats), CONNECTION_OFFLOAD ? offloaded(stats, 'outbound') : ['into the kernel (nvgw-t5001 rx)', c('nvgw-t5001').rxPackets]];
  };
  const routedByNvgw = async (): Promise<[string, number][]> => {
    const stats = await gw.stats();
    return [...decapped(stats), ['routed to VSID 5002 by nvgw (routed-between-vsids)', stats.events['routed-between-vsids']?.packets ?? 0], ...encapped(stats)];
  };
  const fromExternal = (): [string, number][] => [
    ['generator', linkCounters(f.genPid, 'ext').txPackets],
    [`at the gateway (${ext} rx)`, c(ext).rxPackets],
  ];
  return {
    id: 'A',
    ...f,
    gwNs,
    gwPid,
    gateway: () => gw,
    path(direction) {
      switch (direction) {
        case 'decap':
          return { dev: 'fab', kind: 'nvgre', frame: fr.decap, sink, stages: ROUTE_BETWEEN_VSIDS ? routedByNvgw : async () => [...(await fromFabric()), ...(await toSink())] };
        case 'encap':
        case 'encap-nat':
          return { dev: 'ext', kind: 'plain', frame: direction === 'encap' ? fr.encap : fr.encapNat, sink, stages: async () => [...fromExternal(), ...(await toSink())] };
        case 'decap-nat':
          return {
            dev: 'fab',
            kind: 'nvgre',
            frame: fr.decapNat,
            sink: { pid: f.genPid, dev: 'ext' },
            stages: async () => [...(await fromFabric()), [`out of the uplink (${ext} tx)`, c(ext).txPackets], ['sink (gen ext rx)', linkCounters(f.genPid, 'ext').rxPackets]],
          };
      }
    },
    gatewayPids: () => [gw.process.pid],
    async drops() {
      const stats = await gw.stats();
      const out: Record<string, number> = {};
      for (const [reason, v] of Object.entries(stats.drops)) if (v.packets > 0) out[reason] = v.packets;
      return out;
    },
    async enableNat() {
      // The NAT connection replaces the routed one (one external connection per domain).
      const response = await gw.call('PUT', '/v1/config', nvgwState(ext, true));
      if (response.status < 200 || response.status > 299) throw new Error(`PUT /v1/config with a NAT connection: ${response.status} ${JSON.stringify(response.body).slice(0, 400)}`);
      const s = await waitReconciled(gw, 2, 60_000);
      const last = s.datapath?.reconcile?.lastPass;
      if (last?.firewallError || (last?.failed.length ?? 0) > 0) throw new Error(`nvgw could not apply the NAT connection: ${JSON.stringify(last).slice(0, 400)}`);
    },
  };
}

function ovsPid(host: OvsHost): number {
  return Number(readFileSync(join(host.runDir, 'ovs-vswitchd.pid'), 'utf8').trim());
}

export async function neighbour(lab: Lab, ns: string, ip: string, mac: string, dev: string): Promise<void> {
  await lab.exec(ns, ['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'dev', dev, 'nud', 'permanent']);
}

/**
 * Gateway B: what a user would build from Open vSwitch instead. An OVS userspace (netdev)
 * instance in the gateway namespace terminates NVGRE exactly as the system tier's OVS hosts
 * do (test/support/ovs.ts: br-phy with the PA, br-tun with one key=flow GRE port per remote
 * PA and flows on tun_id, one NORMAL bridge per VSID); each VSID bridge's own internal port
 * (a tap) carries the gateway's CA and MAC, and the kernel routes between them, with
 * permanent neighbours for the VMs as nvgw makes from its lookup records.
 */
export async function buildOvs(lab: Lab): Promise<Unit & { host: OvsHost }> {
  const x = 'b';
  const f = await fabric(lab, x);
  const host = await createOvsHost(lab, {
    name: 'gwb',
    pa: GW_PA,
    paPrefixLength: 24,
    fabric: { ns: f.fabNs, bridge: 'br0', port: `nbw${x}` },
    tunnels: [
      { vsid: 5001, remotePa: GEN_PA },
      { vsid: 5002, remotePa: SINK_PA },
    ],
  });
  const gwNs = host.ns;
  const ext = await external(lab, f, gwNs, x);
  for (const [vsid, cidr] of [[5001, '192.168.1.1/24'], [5002, '192.168.2.1/24']] as const) {
    const dev = `v${vsid}`;
    await host.vsctl('set', 'bridge', dev, `other-config:hwaddr="${GW_MAC[vsid]}"`);
    await lab.exec(gwNs, ['ip', 'link', 'set', dev, 'up']);
    await lab.exec(gwNs, ['ethtool', '-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off']);
    await lab.addAddress(gwNs, dev, cidr);
    const mac = await linkMac(gwNs, dev);
    if (mac !== GW_MAC[vsid]) throw new Error(`OVS bridge ${dev} has MAC ${mac}, not ${GW_MAC[vsid]}`);
  }
  await lab.sysctl(gwNs, 'net.ipv4.ip_forward', 1);
  await neighbour(lab, gwNs, VM.src.ip, VM.src.mac, 'v5001');
  await neighbour(lab, gwNs, VM.dst.ip, VM.dst.mac, 'v5002');
  await host.resolvePeers();
  const brPhyMac = await linkMac(gwNs, 'br-phy');
  const extMac = await linkMac(gwNs, ext);
  await pin(ovsPid(host), GATEWAY_CPU);
  const gwPid = park(lab, gwNs);
  const fr = frames(f, { decapDst: brPhyMac, extDst: extMac }, 'nvgre');
  const c = (dev: string) => linkCounters(gwPid, dev);
  const sink = { pid: f.sinkPid, dev: 'fab' };
  const toSink = (): [string, number][] => {
    const tap = c('v5002');
    return [
      ['routed into VSID 5002 (tap v5002 tx + tx_dropped)', tap.txPackets + tap.txDropped],
      ['queued for OVS (tap v5002 tx)', tap.txPackets],
      ['sent on the fabric (fab0 tx)', c('fab0').txPackets],
      ['sink', linkCounters(f.sinkPid, 'fab').rxPackets],
    ];
  };
  const fromFabric = (): [string, number][] => [
    ['generator', linkCounters(f.genPid, 'fab').txPackets],
    ['at the gateway (fab0 rx)', c('fab0').rxPackets],
    ['decapsulated into the kernel (tap v5001 rx)', c('v5001').rxPackets],
  ];
  const fromExternal = (): [string, number][] => [
    ['generator', linkCounters(f.genPid, 'ext').txPackets],
    [`at the gateway (${ext} rx)`, c(ext).rxPackets],
  ];
  return {
    id: 'B',
    ...f,
    gwNs,
    gwPid,
    host,
    path(direction) {
      switch (direction) {
        case 'decap':
          return { dev: 'fab', kind: 'nvgre', frame: fr.decap, sink, stages: () => Promise.resolve([...fromFabric(), ...toSink()]) };
        case 'encap':
        case 'encap-nat':
          return { dev: 'ext', kind: 'plain', frame: direction === 'encap' ? fr.encap : fr.encapNat, sink, stages: () => Promise.resolve([...fromExternal(), ...toSink()]) };
        case 'decap-nat':
          return {
            dev: 'fab',
            kind: 'nvgre',
            frame: fr.decapNat,
            sink: { pid: f.genPid, dev: 'ext' },
            stages: () => Promise.resolve([...fromFabric(), [`out of the uplink (${ext} tx)`, c(ext).txPackets], ['sink (gen ext rx)', linkCounters(f.genPid, 'ext').rxPackets]]),
          };
      }
    },
    gatewayPids: () => [ovsPid(host)],
    async drops(): Promise<Record<string, number>> {
      const dp = await host.appctl('dpctl/show');
      const lost = Number(/lost:(\d+)/.exec(dp)?.[1] ?? 0);
      return lost > 0 ? { 'OVS datapath lost': lost } : {};
    },
    enableNat: () => kernelNat(lab, gwNs, ext),
  };
}

/** Gateway C: the kernel routes the same inner frames between two veths, no encapsulation. */
export async function buildKernel(lab: Lab): Promise<Unit> {
  const x = 'c';
  const f = await fabric(lab, x);
  const gwNs = await lab.namespace('gwc');
  await lab.veth({ ns: gwNs, ifname: 'fab0', addresses: ['192.168.2.1/24'] }, { ns: f.fabNs, ifname: `nbw${x}`, master: 'br0' });
  const ext = await external(lab, f, gwNs, x);
  await lab.sysctl(gwNs, 'net.ipv4.ip_forward', 1);
  await lab.sysctl(gwNs, 'net.ipv4.conf.fab0.rp_filter', 0);
  await neighbour(lab, gwNs, VM.dst.ip, f.sinkMac, 'fab0');
  const fab0Mac = await linkMac(gwNs, 'fab0');
  const extMac = await linkMac(gwNs, ext);
  const gwPid = park(lab, gwNs);
  const fr = frames(f, { decapDst: fab0Mac, extDst: extMac }, 'plain');
  const c = (dev: string) => linkCounters(gwPid, dev);
  const sink = { pid: f.sinkPid, dev: 'fab' };
  const throughExternal = (): Promise<[string, number][]> =>
    Promise.resolve([
      ['generator', linkCounters(f.genPid, 'ext').txPackets],
      [`at the gateway (${ext} rx)`, c(ext).rxPackets],
      ['sent on the fabric (fab0 tx)', c('fab0').txPackets],
      ['sink', linkCounters(f.sinkPid, 'fab').rxPackets],
    ]);
  return {
    id: 'C',
    ...f,
    gwNs,
    gwPid,
    path(direction) {
      switch (direction) {
        case 'decap':
        case 'encap':
        case 'encap-nat':
          return { dev: 'ext', kind: 'plain', frame: direction === 'decap' ? fr.decap : direction === 'encap' ? fr.encap : fr.encapNat, sink, stages: throughExternal };
        case 'decap-nat':
          return {
            dev: 'fab',
            kind: 'plain',
            frame: fr.decapNat,
            sink: { pid: f.genPid, dev: 'ext' },
            stages: () =>
              Promise.resolve([
                ['generator', linkCounters(f.genPid, 'fab').txPackets],
                ['at the gateway (fab0 rx)', c('fab0').rxPackets],
                [`out of the uplink (${ext} tx)`, c(ext).txPackets],
                ['sink (gen ext rx)', linkCounters(f.genPid, 'ext').rxPackets],
              ]),
          };
      }
    },
    gatewayPids: () => [],
    drops: () => Promise.resolve({}),
    enableNat: () => kernelNat(lab, gwNs, ext),
  };
}
