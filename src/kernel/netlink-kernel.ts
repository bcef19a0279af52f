/**
 * The real KernelPort: rtnetlink through the `netlink` package (createRtNetlink), in the
 * network namespace of the current process. To manage another namespace, run the process
 * in it (`ip netns exec`); the socket, /proc/sys and the `ip` fallback all follow.
 *
 * - observe(): five dumps (links, IPv4 addresses, IPv4 routes of every table, IPv4
 *   neighbours, IPv4 rules) plus the sysctls nvgw manages, as one snapshot; a dump the kernel
 *   flags NLM_F_DUMP_INTR (a change raced it) restarts the whole snapshot, a bounded number
 *   of times.
 * - apply(): each step is one request with replace semantics where the kernel has them
 *   (routes and neighbours: NLM_F_CREATE|NLM_F_REPLACE; addresses: CREATE|REPLACE), and
 *   NLM_F_EXCL where it has not (links, rules: the plan only creates what is missing).
 *   Deleting what is already gone (ENODEV, ESRCH, ENOENT, EADDRNOTAVAIL) counts as done.
 *   Only EBUSY, EAGAIN, EINTR and ENOBUFS are retried (retry.ts).
 * - detectBackend(): tries to create a VRF device "nvgw-probe"; EOPNOTSUPP ("Unknown device
 *   type": no CONFIG_NET_VRF) means 'policy-routing'. The probe is deleted at once. Note
 *   that the first VRF of a namespace makes the kernel add its l3mdev rule (priority 1000,
 *   protocol kernel), which stays after the probe is gone; it is the kernel's, and harmless.
 *
 * The only use of the `ip` command is tap creation, through execa with an argv array: a tap
 * cannot be created over rtnetlink (tun's rtnl_link_ops answer RTM_NEWLINK with EOPNOTSUPP;
 * `ip tuntap add` uses the TUNSETIFF and TUNSETPERSIST ioctls on /dev/net/tun, which Node
 * cannot issue without a native addon). The tap is created persistent and single-queue, so
 * the data path must attach without IFF_MULTI_QUEUE. Everything after creation (MAC, MTU,
 * master, up, deletion) is netlink.
 *
 * The policy this adapter carries out, including what the firewall must mark for the
 * policy-routing backend and which sysctls are set, is described at the top of plan.ts.
 */
import { execa } from 'execa';
import { createRtNetlink } from 'netlink';
import type { NetlinkMessage, RtNetlinkSocket } from 'netlink';
import { executePlan } from './apply.js';
import { errnoOf, KernelError, KernelErrorCode, rejected } from './errors.js';
import type { Backend } from './intent.js';
import { OWNERSHIP } from './intent.js';
import type {
  ApplyReport,
  KernelObserved,
  KernelPlan,
  KernelPort,
  KernelStep,
  LinkSpec,
  LinkState,
  ObservedAddress,
  ObservedLink,
  ObservedNeighbour,
  ObservedRoute,
  ObservedRule,
} from './kernel-port.js';
import { GLOBAL_SYSCTL_KEYS, isOwnedLinkName, linkSysctlKeys } from './plan.js';
import { DEFAULT_RETRY, withRetry } from './retry.js';
import type { RetryOptions } from './retry.js';
import {
  decodeAddress,
  decodeLink,
  decodeNeighbour,
  decodeRoute,
  decodeRule,
  encodeAddress,
  encodeDump,
  encodeLinkSet,
  encodeNeighbour,
  encodeRoute,
  encodeRule,
  encodeVethCreate,
  encodeVrfCreate,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_DELRULE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETNEIGH,
  RTM_GETROUTE,
  RTM_GETRULE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTM_NEWRULE,
  RTM_SETLINK,
} from './rtnetlink-codec.js';
import type { Body, RawLink } from './rtnetlink-codec.js';
import { NeighbourSnapshot } from './neighbour-snapshot.js';
import { procSysctl } from './sysctl.js';
import type { SysctlPort } from './sysctl.js';

/** Runs a program with an argv array, never through a shell. */
export type RunCommand = (file: string, args: readonly string[]) => Promise<void>;

export interface NetlinkKernelOptions {
  run?: RunCommand;
  sysctl?: SysctlPort;
  retry?: RetryOptions;
  /** Per request; a kernel that does not answer is a failure, not a hang. */
  timeoutMs?: number;
}

export const PROBE_LINK = 'nvgw-probe';
/** Any table will do for the probe; it never holds a route. */
const PROBE_TABLE = 65534;

const ALREADY_GONE = new Set(['ENODEV', 'ESRCH', 'ENOENT', 'EADDRNOTAVAIL']);
const NOT_SUPPORTED = new Set(['EOPNOTSUPP', 'ENOTSUP']);

const defaultRun: RunCommand = async (file, args) => {
  try {
    await execa(file, args);
  } catch (error) {
    const stderr = typeof error === 'object' && error !== null && 'stderr' in error ? String(error.stderr).trim() : '';
    throw new KernelError(KernelErrorCode.CommandFailed, `${file} ${args.join(' ')} failed: ${stderr || String(error)}`);
  }
};

export function createNetlinkKernel(options: NetlinkKernelOptions = {}): KernelPort {
  return new NetlinkKernel(options);
}

class NetlinkKernel implements KernelPort {
  private readonly rtnl: RtNetlinkSocket;
  private readonly run: RunCommand;
  private readonly sysctl: SysctlPort;
  private readonly retry: RetryOptions;
  private readonly timeoutMs: number;
  private indexes: Map<string, number> | undefined;
  /** Link indexes and neighbours as the last observe() found them (observeLinkState reads those). */
  private observedIndexes = new Map<string, number>();
  private observedNeighbours = new NeighbourSnapshot();
  /** A receive error the socket reported (ENOBUFS); the request that was waiting times out and reports it. */
  private socketError: unknown;

  constructor(options: NetlinkKernelOptions) {
    this.rtnl = createRtNetlink();
    // Route and neighbour dumps of a large gateway overflow the default receive buffer (ENOBUFS).
    this.rtnl.socket.setRecvBufferSize(4 * 1024 * 1024);
    // Without a listener an 'error' event would throw and take the gateway down.
    this.rtnl.socket.on('error', (error: unknown) => {
      this.socketError = error;
    });
    this.run = options.run ?? defaultRun;
    this.sysctl = options.sysctl ?? procSysctl();
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  close(): void {
    this.rtnl.socket.close();
  }

  async detectBackend(): Promise<Backend> {
    this.indexes = undefined;
    const stale = await this.indexOf(PROBE_LINK, false);
    if (stale !== undefined) await this.request(RTM_DELLINK, encodeLinkSet(stale, {}), 0, `link ${PROBE_LINK}`);
    try {
      await this.request(RTM_NEWLINK, encodeVrfCreate(PROBE_LINK, PROBE_TABLE), NLM_F_CREATE | NLM_F_EXCL, `link ${PROBE_LINK}`);
    } catch (error) {
      if (NOT_SUPPORTED.has(errnoOf(error) ?? '')) return 'policy-routing';
      throw error;
    }
    this.indexes = undefined;
    const index = await this.indexOf(PROBE_LINK, true);
    if (index !== undefined) await this.request(RTM_DELLINK, encodeLinkSet(index, {}), 0, `link ${PROBE_LINK}`);
    this.indexes = undefined;
    return 'vrf';
  }

  async observe(options: { linkState?: boolean } = {}): Promise<KernelObserved> {
    const { value } = await withRetry(() => this.snapshot(options.linkState ?? true), this.retry);
    return value;
  }

  async observeLinkState(ifnames: readonly string[]): Promise<LinkState> {
    const neighbours: ObservedNeighbour[] = [];
    const present: string[] = [];
    for (const ifname of ifnames) {
      const index = this.observedIndexes.get(ifname);
      if (index === undefined) continue;
      present.push(ifname);
      neighbours.push(...this.observedNeighbours.entriesOf(index, ifname));
    }
    return { neighbours, sysctls: await this.readSysctls(present.filter(isOwnedLinkName).flatMap(linkSysctlKeys)) };
  }

  async apply(plan: KernelPlan): Promise<ApplyReport> {
    this.indexes = undefined;
    return executePlan(plan, (step) => this.execute(step), this.retry);
  }

  // ---- observe ----

  private async snapshot(linkState: boolean): Promise<KernelObserved> {
    const rawLinks = (await this.dump(RTM_GETLINK, 'link', RTM_NEWLINK)).map(decodeLink);
    const names = new Map(rawLinks.map((l) => [l.index, l.name]));
    this.indexes = new Map(rawLinks.map((l) => [l.name, l.index]));
    this.observedIndexes = this.indexes;
    const nameOf = (index: number | undefined): string | undefined => (index === undefined ? undefined : names.get(index));

    const links = rawLinks.map((l) => observedLink(l, names));
    const addresses: ObservedAddress[] = [];
    for (const m of await this.dump(RTM_GETADDR, 'address', RTM_NEWADDR)) {
      const a = decodeAddress(m);
      const ifname = nameOf(a?.index);
      if (a === undefined || ifname === undefined) continue;
      addresses.push({ ifname, address: a.address, prefixLength: a.prefixLength, protocol: a.protocol, noPrefixRoute: a.noPrefixRoute });
    }
    const routes: ObservedRoute[] = [];
    for (const m of await this.dump(RTM_GETROUTE, 'route', RTM_NEWROUTE)) {
      const r = decodeRoute(m);
      if (r === undefined) continue;
      const route: ObservedRoute = { table: r.table, prefix: r.prefix, metric: r.metric, type: r.type, protocol: r.protocol, scope: r.scope };
      if (r.gateway !== undefined) route.nextHop = r.gateway;
      const ifname = nameOf(r.oif);
      if (ifname !== undefined) route.ifname = ifname;
      if (r.source !== undefined) route.source = r.source;
      if (r.multipath) route.multipath = true;
      routes.push(route);
    }
    // One dump either way: the kernel walks its whole neighbour table for a dump however it
    // is filtered (a dump per link, NDA_IFINDEX, took 20 s at 8,000 links), so a sliced
    // pass keeps this one as numbers and hands each slice its links' entries
    // (observeLinkState).
    const neighbours: ObservedNeighbour[] = [];
    const snapshot = new NeighbourSnapshot();
    for (const m of await this.dump(RTM_GETNEIGH, 'neighbour', RTM_NEWNEIGH)) {
      const n = decodeNeighbour(m);
      const ifname = nameOf(n?.index);
      if (n === undefined || ifname === undefined) continue;
      if (linkState) neighbours.push({ ifname, address: n.address, mac: n.mac, permanent: n.permanent });
      snapshot.add(n.index, n);
    }
    this.observedNeighbours = snapshot;
    const rules: ObservedRule[] = [];
    for (const m of await this.dump(RTM_GETRULE, 'rule', RTM_NEWRULE)) {
      const r = decodeRule(m);
      if (r !== undefined) rules.push(r);
    }
    const linkKeys = linkState ? links.filter((l) => isOwnedLinkName(l.name)).flatMap((l) => linkSysctlKeys(l.name)) : [];
    const sysctls = await this.readSysctls([...GLOBAL_SYSCTL_KEYS, ...linkKeys]);
    return { links, addresses, neighbours, routes, rules, sysctls };
  }

  private async readSysctls(keys: string[]): Promise<Record<string, string>> {
    const sysctls: Record<string, string> = {};
    for (const [key, value] of await this.sysctl.readAll(keys)) sysctls[key] = value;
    return sysctls;
  }

  private async dump(type: number, kind: Parameters<typeof encodeDump>[0], replyType: number): Promise<Buffer[]> {
    const messages = await this.request(type, encodeDump(kind), NLM_F_DUMP, `${kind} dump`);
    if (messages.some((m) => (m.flags & NLM_F_DUMP_INTR) !== 0)) {
      throw new KernelError(KernelErrorCode.DumpInterrupted, `${kind} dump: interrupted by a concurrent change (NLM_F_DUMP_INTR)`);
    }
    return messages.filter((m) => m.type === replyType).map((m) => m.data);
  }

  private async request(type: number, body: Body, flags: number, what: string): Promise<NetlinkMessage[]> {
    try {
      const [messages] = await this.rtnl.socket.request(type, body, { flags, timeout: this.timeoutMs });
      return messages;
    } catch (error) {
      const socketError = this.socketError;
      this.socketError = undefined;
      // A lost answer after a socket error takes that error's errno (ENOBUFS: retried).
      if (socketError !== undefined && error instanceof Error && error.message.includes('Timeout')) {
        throw new KernelError(KernelErrorCode.NetlinkTimeout, `${what}: no answer after a socket error: ${String(socketError)}`, errnoOf(socketError));
      }
      throw toKernelError(error, what);
    }
  }

  // ---- apply ----

  private async indexOf(name: string, required: true): Promise<number>;
  private async indexOf(name: string, required: boolean): Promise<number | undefined>;
  private async indexOf(name: string, required: boolean): Promise<number | undefined> {
    let index = this.indexes?.get(name);
    if (index === undefined) {
      const links = (await this.dump(RTM_GETLINK, 'link', RTM_NEWLINK)).map(decodeLink);
      this.indexes = new Map(links.map((l) => [l.name, l.index]));
      index = this.indexes.get(name);
    }
    if (index === undefined && required) throw new KernelError(KernelErrorCode.LinkNotFound, `no link named ${name}`, 'ENODEV');
    return index;
  }

  private async execute(step: KernelStep): Promise<void> {
    switch (step.kind) {
      case 'sysctl':
        try {
          await this.sysctl.write(step.key, step.value);
        } catch (error) {
          // A kernel built without IPv6 has nothing to disable.
          if (errnoOf(error) === 'ENOENT' && step.key.startsWith('net/ipv6/')) return;
          throw new KernelError(KernelErrorCode.SysctlFailed, `${step.id}: ${error instanceof Error ? error.message : String(error)}`, errnoOf(error));
        }
        return;
      case 'link':
        if (step.op === 'create') return this.createLink(step.link, step.id);
        if (step.op === 'update') {
          const index = await this.indexOf(step.link.name, true);
          const { up, master, ...settings } = step.changes;
          const masterIndex = master === undefined ? undefined : master === null ? 0 : await this.indexOf(master, true);
          if (Object.keys(settings).length > 0 || masterIndex !== undefined) {
            await this.request(RTM_SETLINK, encodeLinkSet(index, masterIndex === undefined ? settings : { ...settings, master: masterIndex }), 0, step.id);
          }
          if (up !== undefined) await this.request(RTM_SETLINK, encodeLinkSet(index, { up }), 0, step.id);
          return;
        }
        return this.tolerateGone(async () => {
          const index = await this.indexOf(step.name, false);
          if (index !== undefined) await this.request(RTM_DELLINK, encodeLinkSet(index, {}), 0, step.id);
          this.indexes = undefined;
        });
      case 'address': {
        const { ifname, address, prefixLength, noPrefixRoute } = step.address;
        if (step.op === 'create') {
          const index = await this.indexOf(ifname, true);
          const body = encodeAddress({ index, address, prefixLength, noPrefixRoute, protocol: OWNERSHIP.protocol });
          await this.request(RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_REPLACE, step.id);
          return;
        }
        return this.tolerateGone(async () => {
          const index = await this.indexOf(ifname, true);
          await this.request(RTM_DELADDR, encodeAddress({ index, address, prefixLength }), 0, step.id);
        });
      }
      case 'neighbour': {
        const { ifname, address, mac } = step.neighbour;
        if (step.op === 'replace') {
          const index = await this.indexOf(ifname, true);
          await this.request(RTM_NEWNEIGH, encodeNeighbour({ index, address, mac, protocol: OWNERSHIP.protocol }), NLM_F_CREATE | NLM_F_REPLACE, step.id);
          return;
        }
        return this.tolerateGone(async () => {
          const index = await this.indexOf(ifname, true);
          await this.request(RTM_DELNEIGH, encodeNeighbour({ index, address }), 0, step.id);
        });
      }
      case 'route': {
        const { ifname, nextHop, ...route } = step.route;
        const send = async (): Promise<void> => {
          const request = { ...route, ...(nextHop !== undefined ? { gateway: nextHop } : {}) };
          const oif = ifname === undefined ? undefined : await this.indexOf(ifname, true);
          const body = encodeRoute(oif === undefined ? request : { ...request, oif }, step.op === 'delete');
          if (step.op === 'replace') await this.request(RTM_NEWROUTE, body, NLM_F_CREATE | NLM_F_REPLACE, step.id);
          else await this.request(RTM_DELROUTE, body, 0, step.id);
        };
        return step.op === 'replace' ? send() : this.tolerateGone(send);
      }
      case 'rule': {
        const body = encodeRule({ ...step.rule, protocol: OWNERSHIP.protocol });
        if (step.op === 'create') await this.request(RTM_NEWRULE, body, NLM_F_CREATE | NLM_F_EXCL, step.id);
        else await this.tolerateGone(() => this.request(RTM_DELRULE, body, 0, step.id).then(() => undefined));
        return;
      }
    }
  }

  private async createLink(link: LinkSpec, id: string): Promise<void> {
    switch (link.kind) {
      case 'veth':
        await this.request(RTM_NEWLINK, encodeVethCreate(link.name, link.peer ?? '', link.mtu, link.mac), NLM_F_CREATE | NLM_F_EXCL, id);
        break;
      case 'vrf':
        await this.request(RTM_NEWLINK, encodeVrfCreate(link.name, link.vrfTable ?? 0), NLM_F_CREATE | NLM_F_EXCL, id);
        break;
      case 'tap':
        // The `ip` fallback: see the module comment (TUNSETIFF/TUNSETPERSIST ioctls, no rtnetlink path).
        await this.run('ip', ['tuntap', 'add', 'dev', link.name, 'mode', 'tap']);
        break;
    }
    this.indexes = undefined;
  }

  private async tolerateGone(op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (error) {
      if (!ALREADY_GONE.has(errnoOf(error) ?? '')) throw error;
    }
  }
}

function observedLink(l: RawLink, names: Map<number, string>): ObservedLink {
  const link: ObservedLink = {
    name: l.name,
    kind: l.kind,
    mac: l.mac,
    mtu: l.mtu,
    up: l.up,
    master: l.masterIndex === undefined ? null : (names.get(l.masterIndex) ?? null),
  };
  if (l.kind === 'veth') link.peer = l.linkElsewhere || l.linkIndex === undefined ? null : (names.get(l.linkIndex) ?? null);
  if (l.vrfTable !== undefined) link.vrfTable = l.vrfTable;
  return link;
}

// The package rejects with Error('Request rejected: EEXIST') or Error('Timeout has been reached').
function toKernelError(error: unknown, what: string): KernelError {
  if (error instanceof KernelError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const match = /Request rejected: (\w+)/.exec(message);
  if (match?.[1] !== undefined) return rejected(match[1], what);
  if (message.includes('Timeout')) return new KernelError(KernelErrorCode.NetlinkTimeout, `${what}: no answer from the kernel`);
  const errno = errnoOf(error);
  return new KernelError(KernelErrorCode.NetlinkRejected, `${what}: ${message}`, errno);
}
