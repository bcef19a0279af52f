/**
 * Connection offload: the data path carries the packets of connections the kernel opened
 * between a tenant and an external network, so that only a connection's first packets
 * cross the kernel's routing, conntrack and NAT (the nf_flowtable idea, in nvgw's own data
 * path). The kernel stays the authority: it applies nvgw's firewall (zones, marks, NAT
 * bindings, port forwards, static NAT) to the first packet, and ctnetlink tells us the
 * result; from then on the data path translates the connection's packets itself, both
 * ways, and the offload manager keeps the kernel's entry alive (offload-manager.ts).
 *
 * This module is pure: which connection can be offloaded and what its two directions
 * rewrite (planOffload), and the tables the per-packet code looks offloaded connections up
 * in (OffloadFlows).
 *
 * A conntrack entry names a connection twice (net/netfilter/nf_conntrack_core.c): the
 * original tuple, as its first packet arrived, and the reply tuple, as replies arrive after
 * NAT. A packet in the original direction arrives as `original` and leaves as the inverse
 * of `reply`; a reply arrives as `reply` and leaves as the inverse of `original`. That holds
 * for SNAT, DNAT and plain routing alike, so the plan needs no case per NAT kind, only which
 * side is the tenant's.
 */
import { EXTERNAL_METRIC } from '../nat/intent.js';
import type { FlowTuple, NatDeltas } from '../packet/nat-rewrite.js';
import { natDeltas } from '../packet/nat-rewrite.js';
import { FlowTable } from './flow-table.js';

/** A routing domain attached to an external network (NAT or routed), as conntrack names it. */
export interface OffloadDomain {
  routingDomainId: string;
  /** Its mark, which nvgw's firewall also puts on the connections of NAT domains. */
  mark: number;
  /** Its conntrack zone. */
  zone: number;
  /** The uplink interface of its external network. */
  uplink: string;
}

export interface OffloadUplink {
  ifname: string;
  /** The external network's on-link prefix. */
  network: number;
  prefixLength: number;
  /** Its router, or -1 when only the on-link prefix is reachable. */
  defaultGateway: number;
}

/** What the data path offloads: the domains with an external connection and their uplinks. */
export interface OffloadTables {
  domains: OffloadDomain[];
  uplinks: OffloadUplink[];
}

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** include/uapi/linux/netfilter/nf_conntrack_common.h, enum ip_conntrack_status. */
const IPS_SRC_NAT = 1 << 4;
const IPS_DST_NAT = 1 << 5;
const IPS_DYING = 1 << 9;
/** include/uapi/linux/netfilter/nf_conntrack_tcp.h, enum tcp_conntrack. */
export const TCP_CONNTRACK_ESTABLISHED = 3;

/** A conntrack tuple as ctnetlink reports it (src/nat/ctnetlink.ts CtTuple fits). */
export interface ConnectionTuple {
  src: number;
  dst: number;
  protocol: number;
  srcPort: number;
  dstPort: number;
  /** CTA_TUPLE_ZONE: the zone of this direction, when the zone is directional. */
  zone?: number;
}

/** A conntrack entry as ctnetlink reports it (src/nat/ctnetlink.ts CtEntry fits). */
export interface Connection {
  original: ConnectionTuple;
  reply: ConnectionTuple;
  status: number;
  mark: number;
  /** CTA_ZONE (both directions), 0 when absent. */
  zone: number;
  tcpState?: number;
}

/** Why a connection stays with the kernel (each counted by the offload manager). */
export const OFFLOAD_REFUSALS = [
  'protocol',
  'tcp-not-established',
  'dying',
  'double-nat',
  'no-domain',
  'no-uplink',
  'not-tenant-to-external',
  'no-next-hop',
] as const;
export type OffloadRefusal = (typeof OFFLOAD_REFUSALS)[number];

/** What the plan needs to know of the data path's tables. */
export interface OffloadView {
  /** The VSID whose on-link route holds `ca` in the domain, where a forwarded lookup record names it; -1 when none. */
  vsidOfCa(routingDomainId: string, ca: number): number;
  /** Whether the domain's longest-prefix route for `address` is an external network's (an uplink route). */
  isExternal(routingDomainId: string, address: number): boolean;
}

export interface OffloadPlan {
  protocol: number;
  domain: OffloadDomain;
  uplink: OffloadUplink;
  /** The tenant's side: its CA and VSID. */
  ca: number;
  vsid: number;
  /** Packets from the tenant: as they arrive decapsulated, and as they leave on the uplink. */
  outbound: { match: FlowTuple; rewrite: FlowTuple };
  /** Packets from the uplink: as they arrive, and as they reach the CA. */
  inbound: { match: FlowTuple; rewrite: FlowTuple };
  /** Where outbound packets go on the uplink: the peer when on-link, else the default gateway. */
  nextHop: number;
  /** Which side opened the connection (SNAT and routed outbound: inside; port forwards: outside). */
  openedFrom: 'inside' | 'outside';
}

const tupleOf = (t: ConnectionTuple): FlowTuple => ({ src: t.src, dst: t.dst, srcPort: t.srcPort, dstPort: t.dstPort });
const inverse = (t: ConnectionTuple): FlowTuple => ({ src: t.dst, dst: t.src, srcPort: t.dstPort, dstPort: t.srcPort });
const maskOf = (length: number): number => (length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0);

/** The offload tables indexed the way ctnetlink names a connection's domain. */
export class OffloadIndex {
  private readonly byMark = new Map<number, OffloadDomain>();
  private readonly byZone = new Map<number, OffloadDomain>();
  readonly uplinks = new Map<string, OffloadUplink>();

  constructor(readonly tables: OffloadTables) {
    for (const d of tables.domains) {
      this.byMark.set(d.mark, d);
      this.byZone.set(d.zone, d);
    }
    for (const u of tables.uplinks) this.uplinks.set(u.ifname, u);
  }

  /**
   * The domain of a connection: NAT domains mark their connections (render.ts NVGW-C-*
   * and NVGW-CONNMARK-NEW); routed domains leave the mark alone but track in their zone,
   * reported as CTA_ZONE, or as the original tuple's zone when it is directional.
   */
  domainOf(c: Connection): OffloadDomain | undefined {
    if (c.mark !== 0) {
      const marked = this.byMark.get(c.mark);
      if (marked) return marked;
    }
    const zone = c.original.zone ?? c.zone;
    return zone !== 0 ? this.byZone.get(zone) : undefined;
  }
}

/** Whether and how a connection is offloaded; pure. */
export function planOffload(c: Connection, index: OffloadIndex, view: OffloadView): OffloadPlan | OffloadRefusal {
  const protocol = c.original.protocol;
  if (protocol !== IPPROTO_TCP && protocol !== IPPROTO_UDP) return 'protocol';
  if ((c.status & IPS_DYING) !== 0) return 'dying';
  // TCP only once established: the handshake, and later FIN and RST, go through the kernel,
  // so its state machine sees every state change.
  if (protocol === IPPROTO_TCP && c.tcpState !== TCP_CONNTRACK_ESTABLISHED) return 'tcp-not-established';
  if ((c.status & IPS_SRC_NAT) !== 0 && (c.status & IPS_DST_NAT) !== 0) return 'double-nat';
  const domain = index.domainOf(c);
  if (!domain) return 'no-domain';
  const uplink = index.uplinks.get(domain.uplink);
  if (!uplink) return 'no-uplink';
  const id = domain.routingDomainId;
  let plan: Omit<OffloadPlan, 'nextHop'> & { peer: number };
  const insideCaVsid = view.vsidOfCa(id, c.original.src);
  if (insideCaVsid >= 0 && view.isExternal(id, c.reply.src)) {
    plan = {
      protocol,
      domain,
      uplink,
      ca: c.original.src,
      vsid: insideCaVsid,
      outbound: { match: tupleOf(c.original), rewrite: inverse(c.reply) },
      inbound: { match: tupleOf(c.reply), rewrite: inverse(c.original) },
      openedFrom: 'inside',
      peer: c.reply.src,
    };
  } else {
    const replyingVsid = view.vsidOfCa(id, c.reply.src);
    if (replyingVsid < 0 || !view.isExternal(id, c.original.src)) return 'not-tenant-to-external';
    plan = {
      protocol,
      domain,
      uplink,
      ca: c.reply.src,
      vsid: replyingVsid,
      outbound: { match: tupleOf(c.reply), rewrite: inverse(c.original) },
      inbound: { match: tupleOf(c.original), rewrite: inverse(c.reply) },
      openedFrom: 'outside',
      peer: c.original.src,
    };
  }
  const mask = maskOf(uplink.prefixLength);
  const nextHop = ((plan.peer & mask) >>> 0) === ((uplink.network & mask) >>> 0) ? plan.peer : uplink.defaultGateway;
  if (nextHop < 0) return 'no-next-hop';
  const { peer: _peer, ...rest } = plan;
  return { ...rest, nextHop };
}

/** Whether a route metric marks an external network's route (src/nat/intent.ts). */
export const isUplinkRoute = (route: { metric: number; vsid: number }): boolean => route.vsid < 0 && route.metric === EXTERNAL_METRIC;

/** One offloaded connection as the per-packet code uses it. */
export interface OffloadedFlow {
  readonly plan: OffloadPlan;
  readonly outboundDeltas: NatDeltas;
  readonly inboundDeltas: NatDeltas;
  /** The uplink's ifindex (inbound key) and the next hop's MAC (outbound Ethernet destination; -1 while unknown). */
  readonly uplinkIfindex: number;
  nextHopMac: number;
  /** Packets carried, both directions; the manager compares it between refreshes. */
  packets: number;
}

export function offloadedFlow(plan: OffloadPlan, uplinkIfindex: number, nextHopMac: number): OffloadedFlow {
  return {
    plan,
    outboundDeltas: natDeltas(plan.outbound.match, plan.outbound.rewrite),
    inboundDeltas: natDeltas(plan.inbound.match, plan.inbound.rewrite),
    uplinkIfindex,
    nextHopMac,
    packets: 0,
  };
}

const ports = (t: FlowTuple): number => ((t.srcPort << 16) | t.dstPort) >>> 0;

/**
 * The per-packet tables: outbound by (domain mark, addresses, ports), inbound by (uplink
 * ifindex, addresses, ports), one table per protocol.
 */
export class OffloadFlows {
  private readonly outboundTcp: FlowTable<OffloadedFlow>;
  private readonly outboundUdp: FlowTable<OffloadedFlow>;
  private readonly inboundTcp: FlowTable<OffloadedFlow>;
  private readonly inboundUdp: FlowTable<OffloadedFlow>;

  constructor(readonly limit: number) {
    this.outboundTcp = new FlowTable(limit);
    this.outboundUdp = new FlowTable(limit);
    this.inboundTcp = new FlowTable(limit);
    this.inboundUdp = new FlowTable(limit);
  }

  get size(): number {
    return this.outboundTcp.size + this.outboundUdp.size;
  }

  /** False when the table is full (the connection stays with the kernel). */
  add(flow: OffloadedFlow): boolean {
    const { plan } = flow;
    const tcp = plan.protocol === IPPROTO_TCP;
    const out = plan.outbound.match;
    const inb = plan.inbound.match;
    if (!(tcp ? this.outboundTcp : this.outboundUdp).set(plan.domain.mark, out.src, out.dst, ports(out), flow)) return false;
    if (!(tcp ? this.inboundTcp : this.inboundUdp).set(flow.uplinkIfindex, inb.src, inb.dst, ports(inb), flow)) {
      (tcp ? this.outboundTcp : this.outboundUdp).delete(plan.domain.mark, out.src, out.dst, ports(out));
      return false;
    }
    return true;
  }

  remove(flow: OffloadedFlow): void {
    const { plan } = flow;
    const tcp = plan.protocol === IPPROTO_TCP;
    const out = plan.outbound.match;
    const inb = plan.inbound.match;
    const outbound = tcp ? this.outboundTcp : this.outboundUdp;
    if (outbound.get(plan.domain.mark, out.src, out.dst, ports(out)) === flow) outbound.delete(plan.domain.mark, out.src, out.dst, ports(out));
    const inbound = tcp ? this.inboundTcp : this.inboundUdp;
    if (inbound.get(flow.uplinkIfindex, inb.src, inb.dst, ports(inb)) === flow) inbound.delete(flow.uplinkIfindex, inb.src, inb.dst, ports(inb));
  }

  /** A packet from a tenant of the domain with this mark. */
  outbound(protocol: number, mark: number, src: number, dst: number, portWord: number): OffloadedFlow | undefined {
    return (protocol === IPPROTO_TCP ? this.outboundTcp : this.outboundUdp).get(mark, src, dst, portWord);
  }

  /** A packet from the uplink with this ifindex. */
  inbound(protocol: number, ifindex: number, src: number, dst: number, portWord: number): OffloadedFlow | undefined {
    return (protocol === IPPROTO_TCP ? this.inboundTcp : this.inboundUdp).get(ifindex, src, dst, portWord);
  }
}
