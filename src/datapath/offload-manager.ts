/**
 * The control loop of connection offload (offload.ts), run by the data-path worker: it
 * learns connections from the kernel's conntrack events, installs the ones it can carry
 * into the data path and the uplink's claim, keeps the kernel's entries alive while it
 * carries their packets, and hands connections back when the kernel's state machine must
 * see them again.
 *
 * Life of an offloaded connection:
 * 1. The kernel forwards the first packet(s): nvgw's firewall makes the NAT binding (or
 *    routes, for a routed connection) and conntrack reports the entry (NEW, or UPDATE when
 *    TCP becomes ESTABLISHED).
 * 2. planOffload says how both directions translate. The next hop's MAC comes from the
 *    kernel's neighbour table, read again while it is missing: until the kernel has
 *    resolved it (which it does when it forwards a packet of the connection outbound),
 *    only the inbound direction is carried, which needs no uplink neighbour.
 * 3. TCP: the entry is made liberal (IP_CT_TCP_FLAG_BE_LIBERAL both ways) before the data
 *    path carries it, so the kernel accepts the connection's sequence numbers again when
 *    it sees its FIN or RST after packets it never saw.
 * 4. The data path's tables take the connection; then the uplink's claim (value COPY, then
 *    COPY|DROP: a frame in the instant between is delivered twice rather than lost).
 * 5. While packets flow, the kernel's timeout is set again every third of it, to what it
 *    would be had the kernel seen the last packet itself: the entry expires when the
 *    connection has been idle for its timeout, as without offload, and never sooner. If
 *    nvgw stops, the kernel carries on. Where the uplink has no claim (no tcx), the kernel
 *    sees the inbound packets itself and refreshes its own timeout from them; the data path
 *    sees only outbound ones, so it sets the full timeout and never judges such a
 *    connection idle: a later inbound packet must not find its entry shortened.
 * 6. Back to the kernel: when the entry is destroyed, TCP leaves ESTABLISHED, an update
 *    finds no entry (ENOENT), the connection idles past its timeout, or its domain or uplink
 *    goes. The claim goes first; the data path keeps translating for one more tick, for
 *    frames already claimed into its ring, then forgets the connection.
 * 7. Lost events (the socket overran), a restart, new tables, and every RESYNC_MS: a dump.
 *    What it lists and can be offloaded is taken (a connection the kernel kept carrying
 *    produces no event of its own); what it does not list is handed back.
 */
import type { Connection, OffloadedFlow, OffloadFlows, OffloadPlan, OffloadRefusal, OffloadView } from './offload.js';
import { IPPROTO_TCP, offloadedFlow, OffloadIndex, planOffload } from './offload.js';
import type { OffloadTables } from './offload.js';

/** Conntrack messages as the ctnetlink codec delivers them (src/nat/ctnetlink.ts). */
export type ConntrackMessage =
  | { kind: 'new' | 'update' | 'dump'; seq: number; entry: Connection }
  | { kind: 'destroy'; seq: number; entry: Connection }
  | { kind: 'error'; seq: number; errno: number }
  | { kind: 'done'; seq: number }
  | { kind: 'overrun' }
  | { kind: 'malformed' | 'ignored'; reason?: string };

/** What the manager asks of the kernel's conntrack (a ctnetlink channel). */
export interface ConntrackControl {
  /** Updates an existing entry; returns the request's sequence number (its ack or error comes back as a message). */
  update(entry: Connection, change: { timeout?: number; tcpLiberal?: boolean }): number;
  /** Lists every entry (as 'dump' messages, then 'done'); returns the request's sequence number. */
  dump(): number;
}

/** The uplink's claim on inbound frames (src/datapath/io/flow-claim.ts FlowClaim fits). */
export interface InboundClaim {
  set(tuple: { src: number; dst: number; srcPort: number; dstPort: number; protocol: number }, bits: number): void;
  delete(tuple: { src: number; dst: number; srcPort: number; dstPort: number; protocol: number }): boolean;
}

export const CLAIM_COPY = 1;
export const CLAIM_DROP = 2;

/** An uplink the worker attached: its ifindex, and its claim when the kernel has tcx (else inbound stays with the kernel). */
export interface AttachedUplink {
  ifindex: number;
  claim: InboundClaim | undefined;
}

/** The kernel's neighbour entries on an interface that have a MAC: IPv4 -> MAC. */
export type NeighbourReader = (ifindex: number) => Promise<Map<number, number>>;

/** The conntrack timeouts the kernel applies (net.netfilter.nf_conntrack_*), in seconds. */
export interface ConntrackTimeouts {
  udp: number;
  udpStream: number;
  tcpEstablished: number;
}

export interface OffloadStats {
  /** Connections the data path carries now. */
  offloaded: number;
  /** Of those, connections whose outbound direction waits for the next hop's MAC (the kernel carries it meanwhile). */
  pending: number;
  /** Connections ever installed, and handed back to the kernel. */
  installed: number;
  returned: number;
  /** Conntrack entries the plan refused, by reason (all the kernel's own connections included). */
  refused: Partial<Record<OffloadRefusal | 'table-full', number>>;
  /** Timeout refreshes sent, and updates the kernel refused (other than ENOENT). */
  refreshes: number;
  updateErrors: number;
  /** Socket overruns (each followed by a dump). */
  overruns: number;
  malformed: number;
  /** Inbound (uplink) offload: off on kernels without tcx. */
  inboundUplinks: number;
}

const IPS_SEEN_REPLY = 1 << 1;
const ENOENT = 2;
/** The kernel's neighbour table is read again at most this often while a connection lacks its next hop's MAC. */
const NEIGHBOUR_REREAD_MS = 250;
const NEIGHBOUR_REFRESH_MS = 30_000;
/** The periodic dump: connections the kernel carries that no event announced come back within this. */
const RESYNC_MS = 60_000;
/** Past the kernel's own expiry: a connection idle this long is handed back (its DESTROY event may come late). */
const EXPIRY_GRACE_MS = 1000;

interface Managed {
  key: string;
  connection: Connection;
  flow: OffloadedFlow;
  claim: InboundClaim | undefined;
  timeout: number;
  refreshedAt: number;
  activeAt: number;
  lastPackets: number;
  /** Set once handed back: the flow leaves the data path's tables at this time. */
  drainAt?: number;
}

/** The identity of a conntrack entry: its original tuple and that direction's zone. */
export function connectionKey(c: Connection): string {
  const o = c.original;
  return `${o.protocol}/${o.src}/${o.dst}/${o.srcPort}/${o.dstPort}/${o.zone ?? c.zone}`;
}

const claimTuple = (plan: OffloadPlan) => ({ ...plan.inbound.match, protocol: plan.protocol });

export class OffloadManager {
  private index = new OffloadIndex({ domains: [], uplinks: [] });
  private uplinks = new Map<string, AttachedUplink>();
  private readonly managed = new Map<string, Managed>();
  private readonly neighbours = new Map<number, Map<number, number>>();
  private readonly neighbourReadAt = new Map<number, number>();
  private readonly reading = new Set<number>();
  /** Update requests in flight: seq -> connection key (an ENOENT reply hands the connection back). */
  private readonly updates = new Map<number, string>();
  private dumpSeq = -1;
  private seenInDump = new Set<string>();
  private dumpStartedAt = -Infinity;
  private readonly counts: OffloadStats = { offloaded: 0, pending: 0, installed: 0, returned: 0, refused: {}, refreshes: 0, updateErrors: 0, overruns: 0, malformed: 0, inboundUplinks: 0 };

  constructor(
    private readonly flows: OffloadFlows,
    private readonly view: OffloadView,
    private readonly conntrack: ConntrackControl,
    private readonly readNeighbours: NeighbourReader,
    private readonly timeouts: ConntrackTimeouts,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * New offload tables and attached uplinks: connections whose domain or uplink went are
   * handed back, and a dump finds the connections the new ones make offloadable.
   */
  setTables(tables: OffloadTables, uplinks: ReadonlyMap<string, AttachedUplink>): void {
    this.index = new OffloadIndex(tables);
    this.uplinks = new Map(uplinks);
    this.counts.inboundUplinks = [...uplinks.values()].filter((u) => u.claim !== undefined).length;
    for (const m of this.managed.values()) {
      if (m.drainAt !== undefined) continue;
      const plan = planOffload(m.connection, this.index, this.view);
      const uplink = typeof plan === 'string' ? undefined : this.uplinks.get(plan.uplink.ifname);
      if (typeof plan === 'string' || !uplink || uplink.ifindex !== m.flow.uplinkIfindex || uplink.claim !== m.claim) this.handBack(m);
    }
    this.resync();
  }

  /** Asks the kernel for every entry; what the answer does not list is handed back. */
  resync(): void {
    this.seenInDump = new Set();
    this.dumpStartedAt = this.now();
    this.dumpSeq = this.conntrack.dump();
  }

  handle(message: ConntrackMessage): void {
    switch (message.kind) {
      case 'new':
      case 'update':
        this.learn(message.entry, true);
        break;
      case 'dump':
        this.seenInDump.add(connectionKey(message.entry));
        this.learn(message.entry, false);
        break;
      case 'destroy': {
        const m = this.managed.get(connectionKey(message.entry));
        if (m) this.handBack(m);
        break;
      }
      case 'error': {
        const key = this.updates.get(message.seq);
        this.updates.delete(message.seq);
        if (key === undefined || message.errno === 0) break;
        const m = this.managed.get(key);
        if (message.errno !== ENOENT) this.counts.updateErrors++;
        // ENOENT: the kernel no longer has the connection; other errors: it will not keep it alive for us.
        if (m) this.handBack(m);
        break;
      }
      case 'done':
        if (message.seq === this.dumpSeq) this.sweepAfterDump();
        break;
      case 'overrun':
        this.counts.overruns++;
        this.resync();
        break;
      case 'malformed':
        this.counts.malformed++;
        break;
      case 'ignored':
        break;
    }
  }

  /** Periodic work (the worker calls it every few hundred milliseconds): drains, refreshes, expiry, waiting connections. */
  tick(): void {
    const now = this.now();
    if (now - this.dumpStartedAt >= RESYNC_MS) this.resync(); // also abandons a dump whose end was lost
    for (const m of [...this.managed.values()]) {
      if (m.drainAt !== undefined) {
        if (now >= m.drainAt) this.forget(m);
        continue;
      }
      if (m.flow.packets !== m.lastPackets) {
        m.lastPackets = m.flow.packets;
        m.activeAt = now;
      }
      if (m.activeAt > m.refreshedAt && now - m.refreshedAt >= refreshInterval(m.timeout)) {
        this.refresh(m, now);
      } else if (m.claim !== undefined && now - m.activeAt > m.timeout * 1000 + EXPIRY_GRACE_MS) {
        // Idle for the kernel's whole timeout with no refresh: its entry is gone or going (a
        // DESTROY event normally says so first).
        this.handBack(m);
      }
    }
    const waiting = new Set<number>();
    for (const m of this.managed.values()) if (m.drainAt === undefined && m.flow.nextHopMac < 0) waiting.add(m.flow.uplinkIfindex);
    for (const uplink of this.uplinks.values()) {
      const readAt = this.neighbourReadAt.get(uplink.ifindex) ?? -Infinity;
      if ((waiting.has(uplink.ifindex) && now - readAt >= NEIGHBOUR_REREAD_MS) || now - readAt >= NEIGHBOUR_REFRESH_MS) this.readNeighboursOf(uplink.ifindex);
    }
  }

  stats(): OffloadStats {
    const active = [...this.managed.values()].filter((m) => m.drainAt === undefined);
    return { ...this.counts, refused: { ...this.counts.refused }, offloaded: active.length, pending: active.filter((m) => m.flow.nextHopMac < 0).length };
  }

  /** Hands every connection back (the worker is stopping or offload was switched off). */
  clear(): void {
    for (const m of [...this.managed.values()]) {
      this.handBack(m);
      this.forget(m);
    }
  }

  /** `count`: an event's refusal is counted; a dump's, which lists every connection again, is not. */
  private learn(connection: Connection, count: boolean): void {
    const key = connectionKey(connection);
    const m = this.managed.get(key);
    const plan = planOffload(connection, this.index, this.view);
    if (m && m.drainAt === undefined) {
      if (typeof plan === 'string') return this.handBack(m);
      if (samePlan(plan, m.flow.plan)) {
        m.connection = connection;
        m.timeout = this.timeoutOf(connection);
        return;
      }
      // The tables now route it differently (another VSID for the CA, another next hop):
      // replaced at once, so frames already claimed into the ring find the new entry.
      this.handBack(m);
    }
    if (typeof plan === 'string') {
      if (count) this.refuse(plan);
      return;
    }
    if (m) this.forget(m); // a draining predecessor under the same identity
    this.install(key, connection, plan);
  }

  private install(key: string, connection: Connection, plan: OffloadPlan): void {
    const uplink = this.uplinks.get(plan.uplink.ifname);
    if (!uplink) return this.refuse('no-uplink');
    // Without the next hop's MAC (the kernel has not forwarded anything outbound yet) the
    // flow goes in with none: the data path carries inbound and leaves outbound to the
    // kernel, until a read of the neighbour table fills it in.
    const mac = this.neighbours.get(uplink.ifindex)?.get(plan.nextHop) ?? -1;
    if (mac < 0) {
      const readAt = this.neighbourReadAt.get(uplink.ifindex) ?? -Infinity;
      if (this.now() - readAt >= NEIGHBOUR_REREAD_MS) this.readNeighboursOf(uplink.ifindex);
    }
    const timeout = this.timeoutOf(connection);
    const flow = offloadedFlow(plan, uplink.ifindex, mac);
    // Liberal before the first packet we carry: see the file comment, step 3.
    if (plan.protocol === IPPROTO_TCP) this.track(this.conntrack.update(connection, { tcpLiberal: true, timeout }), key);
    if (!this.flows.add(flow)) return this.refuse('table-full');
    if (uplink.claim) {
      uplink.claim.set(claimTuple(plan), CLAIM_COPY);
      uplink.claim.set(claimTuple(plan), CLAIM_COPY | CLAIM_DROP);
    }
    const now = this.now();
    this.managed.set(key, { key, connection, flow, claim: uplink.claim, timeout, refreshedAt: now, activeAt: now, lastPackets: 0 });
    this.counts.installed++;
  }

  private refresh(m: Managed, now: number): void {
    m.refreshedAt = now;
    this.counts.refreshes++;
    // What the kernel would have left had it seen the last packet (at the tick that saw it);
    // without a claim the data path has not seen the inbound ones, so the whole timeout.
    const left = m.claim === undefined ? m.timeout : Math.max(1, m.timeout - Math.floor((now - m.activeAt) / 1000));
    this.track(this.conntrack.update(m.connection, { timeout: left }), m.key);
  }

  private track(seq: number, key: string): void {
    this.updates.set(seq, key);
    // Acks normally arrive within milliseconds; a bound keeps a lost one from growing this.
    if (this.updates.size > 65_536) this.updates.delete(this.updates.keys().next().value!);
  }

  /** The claim goes now; the data path's entries at the next tick, after what was claimed into its ring. */
  private handBack(m: Managed): void {
    if (m.drainAt !== undefined) return;
    m.claim?.delete(claimTuple(m.flow.plan));
    m.drainAt = this.now();
    this.counts.returned++;
  }

  private forget(m: Managed): void {
    this.flows.remove(m.flow);
    if (this.managed.get(m.key) === m) this.managed.delete(m.key);
  }

  private sweepAfterDump(): void {
    this.dumpSeq = -1;
    for (const m of [...this.managed.values()]) {
      // Installed after the dump started: its event may have raced the dump; the next resync judges it.
      if (m.drainAt === undefined && !this.seenInDump.has(m.key) && m.refreshedAt < this.dumpStartedAt) this.handBack(m);
    }
    this.seenInDump = new Set();
  }

  private timeoutOf(c: Connection): number {
    if (c.original.protocol === IPPROTO_TCP) return this.timeouts.tcpEstablished;
    return (c.status & IPS_SEEN_REPLY) !== 0 ? this.timeouts.udpStream : this.timeouts.udp;
  }

  private refuse(reason: OffloadRefusal | 'table-full'): void {
    this.counts.refused[reason] = (this.counts.refused[reason] ?? 0) + 1;
  }

  private readNeighboursOf(ifindex: number): void {
    if (this.reading.has(ifindex)) return;
    this.reading.add(ifindex);
    this.neighbourReadAt.set(ifindex, this.now());
    this.readNeighbours(ifindex)
      .then((table) => {
        this.neighbours.set(ifindex, table);
        // A next hop whose MAC changed: the connections through it follow.
        for (const m of this.managed.values()) {
          if (m.flow.uplinkIfindex !== ifindex) continue;
          const mac = table.get(m.flow.plan.nextHop);
          if (mac !== undefined) m.flow.nextHopMac = mac;
        }
      })
      .catch(() => undefined) // the next tick reads again; waiting connections time out meanwhile
      .finally(() => this.reading.delete(ifindex));
  }
}

const tupleText = (t: { src: number; dst: number; srcPort: number; dstPort: number }): string => `${t.src}/${t.dst}/${t.srcPort}/${t.dstPort}`;

function samePlan(a: OffloadPlan, b: OffloadPlan): boolean {
  return (
    a.protocol === b.protocol &&
    a.vsid === b.vsid &&
    a.ca === b.ca &&
    a.nextHop === b.nextHop &&
    a.uplink.ifname === b.uplink.ifname &&
    a.domain.mark === b.domain.mark &&
    tupleText(a.outbound.match) === tupleText(b.outbound.match) &&
    tupleText(a.outbound.rewrite) === tupleText(b.outbound.rewrite) &&
    tupleText(a.inbound.match) === tupleText(b.inbound.match) &&
    tupleText(a.inbound.rewrite) === tupleText(b.inbound.rewrite)
  );
}

/** A third of the timeout: the kernel's entry never has less than two thirds of it left. */
function refreshInterval(timeoutSeconds: number): number {
  return Math.max(1000, (timeoutSeconds * 1000) / 3);
}
