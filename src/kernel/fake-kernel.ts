/**
 * An in-memory KernelPort for control-plane tests (Open vSwitch's netdev-dummy, undici's
 * MockAgent): it answers observe() and executes a plan's steps with the kernel behaviour the
 * planner relies on, and fails where the kernel would (EEXIST, ENODEV, ENETDOWN, EINVAL,
 * ESRCH). Modelled kernel side effects:
 * - a veth is created and deleted as a pair; deleting a link takes its addresses,
 *   neighbours and routes along, and releases the links enslaved to it;
 * - adding an address adds its local route (to the VRF's table for a VRF slave, else table
 *   local), and, for an up link without IFA_F_NOPREFIXROUTE, its prefix route in main;
 *   bringing a link up adds the local routes of its addresses again;
 * - a route's preferred source must be local in the route's table or in table local
 *   (fib_valid_prefsrc), and its device must exist and be up;
 * - writing net/ipv4/ip_forward rewrites every link's forwarding, as devinet does.
 *
 * Tests plant foreign objects and drift through `state`, and inject a failure on a named
 * object with failOn().
 */
import { executePlan } from './apply.js';
import { KernelError, KernelErrorCode, rejected } from './errors.js';
import type { Backend } from './intent.js';
import { OWNERSHIP } from './intent.js';
import { networkOf } from './ipv4.js';
import type {
  ApplyReport,
  KernelObserved,
  KernelPlan,
  KernelPort,
  KernelStep,
  LinkSpec,
  LinkState,
  ObservedLink,
  ObservedRoute,
  RouteSpec,
} from './kernel-port.js';
import { GLOBAL_SYSCTL_KEYS, IFNAME_MAX, PROTO_KERNEL, TABLE_LOCAL, TABLE_MAIN, linkSysctlKeys } from './plan.js';
import type { RetryOptions } from './retry.js';

export interface FakeKernelOptions {
  /** What detectBackend() answers, and whether VRF devices can be created. Default 'policy-routing'. */
  backend?: Backend;
  retry?: RetryOptions;
}

export interface InjectedFailure {
  /** A step id, a pattern over step ids, or a predicate over steps. */
  match: string | RegExp | ((step: KernelStep) => boolean);
  errno: string;
  /** How many times to fail before succeeding again; default: always. */
  times: number;
}

export class FakeKernel implements KernelPort {
  /** The kernel's contents; tests read it and change it to plant foreign objects or drift. */
  readonly state: KernelObserved;
  /** Every step executed successfully, in order. */
  readonly executed: KernelStep[] = [];
  /** Per observe(), the links whose neighbours and sysctls were read after it (observeLinkState). */
  readonly linkStateReads: string[][] = [];
  /** Links and neighbours the last observe() found. */
  private observedLinks = new Set<string>();
  private observedNeighbours: KernelObserved['neighbours'] = [];
  private readonly backend: Backend;
  private readonly retry: RetryOptions;
  private readonly failures: InjectedFailure[] = [];
  private macCounter = 0;
  closed = false;

  constructor(options: FakeKernelOptions = {}) {
    this.backend = options.backend ?? 'policy-routing';
    this.retry = options.retry ?? { attempts: 4, baseDelayMs: 0, sleep: async () => {} };
    this.state = {
      links: [{ name: 'lo', kind: null, mac: null, mtu: 65536, up: true, master: null }],
      addresses: [{ ifname: 'lo', address: '127.0.0.1', prefixLength: 8, protocol: 0, noPrefixRoute: false }],
      neighbours: [],
      routes: [{ table: TABLE_LOCAL, prefix: '127.0.0.1/32', metric: 0, type: 'local', protocol: PROTO_KERNEL, scope: 'host', ifname: 'lo', source: '127.0.0.1' }],
      rules: [
        { priority: 0, protocol: PROTO_KERNEL, table: TABLE_LOCAL, action: 'lookup', otherSelectors: false },
        { priority: 32766, protocol: PROTO_KERNEL, table: TABLE_MAIN, action: 'lookup', otherSelectors: false },
        { priority: 32767, protocol: PROTO_KERNEL, table: 253, action: 'lookup', otherSelectors: false },
      ],
      sysctls: { 'net/ipv4/ip_forward': '0', 'net/ipv4/fwmark_reflect': '0', 'net/ipv4/tcp_fwmark_accept': '0' },
    };
  }

  /** Makes steps matching `match` fail with `errno` (always, or `times` times). */
  failOn(match: InjectedFailure['match'], errno = 'EINVAL', times = Number.POSITIVE_INFINITY): void {
    this.failures.push({ match, errno, times });
  }

  /** Adds a link the way an operator would (ip link add), for planting foreign objects. */
  addLink(link: Partial<ObservedLink> & { name: string }): void {
    this.state.links.push({ kind: null, mac: this.nextMac(), mtu: 1500, up: true, master: null, ...link });
    this.addLinkSysctls(link.name);
  }

  async detectBackend(): Promise<Backend> {
    return this.backend;
  }

  async observe(options: { linkState?: boolean } = {}): Promise<KernelObserved> {
    const copy = structuredClone(this.state);
    const linkState = options.linkState ?? true;
    const keep = new Set<string>(GLOBAL_SYSCTL_KEYS);
    if (linkState) for (const l of copy.links) if (l.name.startsWith(OWNERSHIP.linkPrefix)) for (const k of linkSysctlKeys(l.name)) keep.add(k);
    // Like the real adapter, only the sysctls nvgw manages are observed.
    copy.sysctls = Object.fromEntries(Object.entries(copy.sysctls).filter(([k]) => keep.has(k)));
    this.observedLinks = new Set(copy.links.map((l) => l.name));
    this.observedNeighbours = structuredClone(copy.neighbours);
    if (!linkState) copy.neighbours = [];
    this.linkStateReads.push([]);
    return copy;
  }

  async observeLinkState(ifnames: readonly string[]): Promise<LinkState> {
    const present = new Set(ifnames.filter((name) => this.observedLinks.has(name)));
    this.linkStateReads.at(-1)?.push(...present);
    const keys = new Set([...present].filter((name) => name.startsWith(OWNERSHIP.linkPrefix)).flatMap(linkSysctlKeys));
    return {
      neighbours: structuredClone(this.observedNeighbours.filter((n) => present.has(n.ifname))),
      sysctls: Object.fromEntries(Object.entries(this.state.sysctls).filter(([k]) => keys.has(k))),
    };
  }

  async apply(plan: KernelPlan): Promise<ApplyReport> {
    return executePlan(
      plan,
      async (step) => {
        this.injected(step);
        this.execute(step);
        this.executed.push(step);
      },
      this.retry,
    );
  }

  close(): void {
    this.closed = true;
  }

  // ---- step execution ----

  private injected(step: KernelStep): void {
    for (const f of this.failures) {
      const hit = typeof f.match === 'string' ? f.match === step.id : f.match instanceof RegExp ? f.match.test(step.id) : f.match(step);
      if (hit && f.times > 0) {
        f.times--;
        throw new KernelError(KernelErrorCode.Injected, `${step.id}: injected ${f.errno}`, f.errno);
      }
    }
  }

  private execute(step: KernelStep): void {
    switch (step.kind) {
      case 'sysctl':
        return this.setSysctl(step.key, step.value, step.id);
      case 'link':
        if (step.op === 'create') return this.createLink(step.link, step.id);
        if (step.op === 'delete') return this.deleteLink(step.name);
        return this.updateLink(step.link.name, step.changes, step.id);
      case 'address':
        return step.op === 'create' ? this.addAddress(step.address, step.id) : this.deleteAddress(step.address);
      case 'neighbour': {
        const { ifname, address, mac } = step.neighbour;
        const at = this.state.neighbours.findIndex((n) => n.ifname === ifname && n.address === address);
        if (step.op === 'delete') {
          if (at >= 0) this.state.neighbours.splice(at, 1);
          return;
        }
        this.link(ifname, step.id);
        const entry = { ifname, address, mac, permanent: true };
        if (at >= 0) this.state.neighbours[at] = entry;
        else this.state.neighbours.push(entry);
        return;
      }
      case 'route':
        return step.op === 'replace' ? this.replaceRoute(step.route, step.id) : this.deleteRoute(step.route);
      case 'rule': {
        const { priority, table, iif, fwmark, fwmask } = step.rule;
        const same = (r: (typeof this.state.rules)[number]): boolean =>
          r.priority === priority && r.table === table && r.iif === iif && r.fwmark === fwmark && (fwmark === undefined || r.fwmask === fwmask);
        const at = this.state.rules.findIndex((r) => same(r) && r.protocol === OWNERSHIP.protocol);
        if (step.op === 'delete') {
          if (at >= 0) this.state.rules.splice(at, 1);
          return;
        }
        if (at >= 0) throw rejected('EEXIST', step.id);
        const rule = { priority, table, protocol: OWNERSHIP.protocol, action: 'lookup' as const, otherSelectors: false, ...(iif !== undefined ? { iif } : {}), ...(fwmark !== undefined ? { fwmark, fwmask: fwmask ?? 0xffffffff } : {}) };
        const before = this.state.rules.findIndex((r) => r.priority > priority);
        this.state.rules.splice(before < 0 ? this.state.rules.length : before, 0, rule);
        return;
      }
    }
  }

  private link(name: string, what: string): ObservedLink {
    const link = this.state.links.find((l) => l.name === name);
    if (link === undefined) throw rejected('ENODEV', what);
    return link;
  }

  private nextMac(): string {
    this.macCounter++;
    return `02fa${this.macCounter.toString(16).padStart(8, '0')}`;
  }

  private addLinkSysctls(name: string): void {
    const [arpIgnore, arpAnnounce, srcValidMark, forwarding, disableIpv6] = linkSysctlKeys(name);
    Object.assign(this.state.sysctls, {
      [arpIgnore ?? '']: '0',
      [arpAnnounce ?? '']: '0',
      [srcValidMark ?? '']: '0',
      [forwarding ?? '']: this.state.sysctls['net/ipv4/ip_forward'] ?? '0',
      [disableIpv6 ?? '']: '0',
    });
  }

  private setSysctl(key: string, value: string, what: string): void {
    const perLink = /^net\/ipv[46]\/conf\/([^/]+)\//.exec(key);
    if (perLink?.[1] !== undefined && perLink[1] !== 'all' && perLink[1] !== 'default' && !this.state.links.some((l) => l.name === perLink[1])) {
      // The adapter treats a missing IPv6 key as "no IPv6 here"; an IPv4 key must exist.
      if (key.startsWith('net/ipv6/')) return;
      throw new KernelError(KernelErrorCode.SysctlFailed, `${what}: no such file`, 'ENOENT');
    }
    if (key === 'net/ipv4/ip_forward' && this.state.sysctls[key] !== value) {
      for (const l of this.state.links) this.state.sysctls[`net/ipv4/conf/${l.name}/forwarding`] = value;
    }
    this.state.sysctls[key] = value;
  }

  private createLink(spec: LinkSpec, what: string): void {
    const names = spec.kind === 'veth' ? [spec.name, spec.peer ?? ''] : [spec.name];
    for (const name of names) {
      if (name.length === 0 || name.length > IFNAME_MAX) throw rejected('EINVAL', what);
      if (this.state.links.some((l) => l.name === name)) throw rejected('EEXIST', what);
    }
    if (spec.kind === 'vrf' && this.backend !== 'vrf') throw rejected('EOPNOTSUPP', what);
    const base = { mtu: spec.mtu ?? 1500, up: false, master: null };
    if (spec.kind === 'veth') {
      const peer = spec.peer ?? '';
      this.state.links.push({ ...base, name: spec.name, kind: 'veth', peer, mac: spec.mac ?? this.nextMac() });
      this.state.links.push({ ...base, name: peer, kind: 'veth', peer: spec.name, mac: this.nextMac() });
    } else if (spec.kind === 'vrf') {
      this.state.links.push({ ...base, name: spec.name, kind: 'vrf', vrfTable: spec.vrfTable ?? 0, mac: this.nextMac(), mtu: 65575 });
    } else {
      this.state.links.push({ ...base, name: spec.name, kind: 'tap', mac: this.nextMac() });
    }
    for (const name of names) this.addLinkSysctls(name);
  }

  private deleteLink(name: string): void {
    const link = this.state.links.find((l) => l.name === name);
    if (link === undefined) return;
    const names = new Set([name, ...(link.kind === 'veth' && typeof link.peer === 'string' ? [link.peer] : [])]);
    this.state.links = this.state.links.filter((l) => !names.has(l.name));
    for (const l of this.state.links) if (l.master !== null && names.has(l.master)) l.master = null;
    this.state.addresses = this.state.addresses.filter((a) => !names.has(a.ifname));
    this.state.neighbours = this.state.neighbours.filter((n) => !names.has(n.ifname));
    this.state.routes = this.state.routes.filter((r) => r.ifname === undefined || !names.has(r.ifname));
    for (const key of Object.keys(this.state.sysctls)) {
      if ([...names].some((n) => key.includes(`/conf/${n}/`))) delete this.state.sysctls[key];
    }
  }

  private updateLink(name: string, changes: { mac?: string; mtu?: number; master?: string | null; up?: boolean }, what: string): void {
    const link = this.link(name, what);
    if (changes.master !== undefined && changes.master !== null) {
      const master = this.link(changes.master, what);
      if (master.kind !== 'vrf') throw rejected('EINVAL', what);
    }
    if (changes.mac !== undefined) link.mac = changes.mac;
    if (changes.mtu !== undefined) link.mtu = changes.mtu;
    if (changes.master !== undefined && changes.master !== link.master) {
      link.master = changes.master;
      // Enslaving cycles the device: its local routes move to the master's table.
      this.state.routes = this.state.routes.filter((r) => !(r.ifname === name && r.protocol === PROTO_KERNEL));
      this.addKernelRoutes(link);
    }
    if (changes.up === true && !link.up) {
      link.up = true;
      this.addKernelRoutes(link);
    }
  }

  private localTableOf(link: ObservedLink): number {
    const master = link.master === null ? undefined : this.state.links.find((l) => l.name === link.master);
    return master?.vrfTable ?? TABLE_LOCAL;
  }

  /** The routes the kernel derives from a link's addresses (fib_add_ifaddr). */
  private addKernelRoutes(link: ObservedLink): void {
    for (const a of this.state.addresses.filter((x) => x.ifname === link.name)) {
      const local: ObservedRoute = {
        table: this.localTableOf(link),
        prefix: `${a.address}/32`,
        metric: 0,
        type: 'local',
        protocol: PROTO_KERNEL,
        scope: 'host',
        ifname: link.name,
        source: a.address,
      };
      this.addKernelRoute(local);
      if (link.up && !a.noPrefixRoute && a.prefixLength < 32) {
        const table = link.master === null ? TABLE_MAIN : this.localTableOf(link);
        this.addKernelRoute({ table, prefix: networkOf(a.address, a.prefixLength), metric: 0, type: 'unicast', protocol: PROTO_KERNEL, scope: 'link', ifname: link.name, source: a.address });
      }
    }
  }

  private addKernelRoute(route: ObservedRoute): void {
    const exists = this.state.routes.some(
      (r) => r.table === route.table && r.prefix === route.prefix && r.metric === route.metric && r.type === route.type && r.ifname === route.ifname,
    );
    if (!exists) this.state.routes.push(route);
  }

  private addAddress(spec: { ifname: string; address: string; prefixLength: number; noPrefixRoute: boolean }, what: string): void {
    const link = this.link(spec.ifname, what);
    const exists = this.state.addresses.some((a) => a.ifname === spec.ifname && a.address === spec.address && a.prefixLength === spec.prefixLength);
    if (exists) return;
    this.state.addresses.push({ ...spec, protocol: OWNERSHIP.protocol });
    this.addKernelRoutes(link);
  }

  private deleteAddress(spec: { ifname: string; address: string; prefixLength: number }): void {
    const at = this.state.addresses.findIndex((a) => a.ifname === spec.ifname && a.address === spec.address && a.prefixLength === spec.prefixLength);
    // Like the adapter, deleting what is already gone counts as done.
    if (at < 0) return;
    this.state.addresses.splice(at, 1);
    this.state.routes = this.state.routes.filter((r) => !(r.protocol === PROTO_KERNEL && r.ifname === spec.ifname && r.source === spec.address));
  }

  private isLocalIn(table: number, address: string): boolean {
    return this.state.routes.some((r) => r.table === table && r.type === 'local' && r.prefix === `${address}/32`);
  }

  private replaceRoute(spec: RouteSpec, what: string): void {
    if (spec.ifname !== undefined) {
      const link = this.link(spec.ifname, what);
      if (!link.up) throw rejected('ENETDOWN', what);
    }
    if (spec.source !== undefined && !(spec.type === 'local' && spec.prefix === `${spec.source}/32`)) {
      const table = spec.table === TABLE_MAIN ? TABLE_LOCAL : spec.table;
      if (!this.isLocalIn(table, spec.source) && !this.isLocalIn(TABLE_LOCAL, spec.source)) throw rejected('EINVAL', `${what} (invalid prefsrc)`);
    }
    const route: ObservedRoute = { table: spec.table, prefix: spec.prefix, metric: spec.metric, type: spec.type, protocol: spec.protocol, scope: spec.scope };
    if (spec.nextHop !== undefined) route.nextHop = spec.nextHop;
    if (spec.ifname !== undefined) route.ifname = spec.ifname;
    if (spec.source !== undefined) route.source = spec.source;
    const at = this.state.routes.findIndex((r) => r.table === spec.table && r.prefix === spec.prefix && r.metric === spec.metric);
    if (at >= 0) this.state.routes[at] = route;
    else this.state.routes.push(route);
  }

  private deleteRoute(spec: RouteSpec): void {
    const at = this.state.routes.findIndex(
      (r) =>
        r.table === spec.table &&
        r.prefix === spec.prefix &&
        r.metric === spec.metric &&
        r.protocol === spec.protocol &&
        (spec.type === 'other' || r.type === spec.type) &&
        (spec.ifname === undefined || r.ifname === spec.ifname) &&
        (spec.nextHop === undefined || r.nextHop === spec.nextHop),
    );
    if (at >= 0) this.state.routes.splice(at, 1);
  }
}
