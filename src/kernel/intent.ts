/**
 * What nvgw wants the kernel to hold, derived from the desired state by the reconciler
 * (pure data; no I/O). The kernel adapter makes the kernel match it, touching only what
 * nvgw owns (see OWNERSHIP below), with replace semantics, so it is safe to repeat.
 */

/**
 * How a routing domain's table is reached: a VRF device per domain where the kernel has
 * VRF (CONFIG_NET_VRF), else the same per-domain tables selected by ip rules (by input
 * interface for forwarded traffic, by fwmark for replies the gateway itself sends).
 */
export type Backend = 'vrf' | 'policy-routing';

export interface KernelIntent {
  backend: Backend;
  domains: DomainIntent[];
  provider: ProviderIntent;
  /** Uplinks of external networks (NAT and routed connections); absent means none. */
  uplinks?: UplinkIntent[];
}

export interface DomainIntent {
  routingDomainId: string;
  /** Routing table of the domain; allocated once per domain and persisted by the control plane. */
  table: number;
  /** fwmark that selects the table for the policy-routing backend (equal to `table`). */
  mark: number;
  /** VRF device name (vrf backend only): "nvgwv" + the table in hex, within IFNAMSIZ (15) for any table. */
  vrfName: string;
  subnets: SubnetIntent[];
  /**
   * Routes in the domain's table. Tenant addresses are added without a prefix route (it
   * would land in main), so the on-link routes here are the only ones the domain gets.
   */
  routes: RouteIntent[];
  /**
   * Routes in the domain's table that leave through an uplink (not a tenant interface): the
   * external network's on-link prefix and its default gateway. Absent means none.
   */
  uplinkRoutes?: (RouteIntent & { ifname: string })[];
  /**
   * Select the table by mark in the vrf backend too (`fwmark <mark> lookup <table>`): NAT
   * return traffic enters from a shared uplink, not from a VRF slave, and carries the mark the
   * firewall restores from its connection. The policy-routing backend has that rule anyway.
   */
  markRule?: boolean;
}

export interface SubnetIntent {
  vsid: number;
  /**
   * The tenant interface the kernel routes through: enslaved to the VRF (or selected by ip
   * rule iif), holding the gateway's CAs and the permanent neighbours. Name fits IFNAMSIZ.
   */
  ifname: string;
  /**
   * How frames reach the data path: 'veth' means a pair ifname <-> datapathIfname, the data
   * path owning datapathIfname (the adapter manages only its existence, MTU and up state:
   * no addresses, no master, no MAC); 'tap' means ifname is a tap
   * the data path opens itself (datapathIfname === ifname).
   */
  kind: 'veth' | 'tap';
  datapathIfname: string;
  /** MAC of the kernel-side interface: the gateway's MAC in this VSID (canonical 12 hex digits). */
  mac: string;
  mtu: number;
  /** The gateway's own CAs in this VSID. */
  addresses: AddressIntent[];
  /** Permanent neighbours from lookup records: the kernel never ARPs into the fabric. */
  neighbours: NeighbourIntent[];
}

export interface AddressIntent {
  address: string;
  prefixLength: number;
}

export interface NeighbourIntent {
  address: string;
  /** Canonical 12 hex digits. */
  mac: string;
}

export interface RouteIntent {
  /** Canonical prefix, e.g. "192.168.1.0/24" or "0.0.0.0/0". */
  prefix: string;
  /** 'unicast' via nextHop and/or ifname; 'unreachable' ends the table (isolation: no fall-through to main). */
  type: 'unicast' | 'unreachable';
  nextHop?: string;
  /** Output interface for on-link routes. */
  ifname?: string;
  metric: number;
}

export interface ProviderIntent {
  /** The gateway's PAs, on interfaces nvgw does not own (the address is nvgw's, the link is not). */
  addresses: (AddressIntent & { ifname: string })[];
  /** Provider routes, in the main table. */
  routes: (RouteIntent & { ifname: string })[];
}

/**
 * An external network's uplink: a link nvgw does not own (a NIC, a veth, a VLAN subinterface
 * such as eth1.100); nvgw manages the addresses it adds (IFA_PROTO 78), its routes and rules,
 * never the link itself.
 */
export interface UplinkIntent {
  ifname: string;
  /**
   * Routed mode: the routing domain table the uplink is placed in, by `ip rule iif <ifname>
   * lookup <table>` (priority 1000, both backends), with its addresses' prefix routes kept out
   * of main (IFA_F_NOPREFIXROUTE; the domain's uplinkRoutes carry them). Absent in NAT mode:
   * the uplink serves several domains and its addresses stay in main and local.
   */
  table?: number;
  /** The gateway's own address on the uplink, and in NAT mode the NAT addresses as /32. */
  addresses: AddressIntent[];
}

/** How nvgw recognises what it owns, so it never touches anything else. */
export const OWNERSHIP = {
  /** Every link nvgw creates starts with this. */
  linkPrefix: 'nvgw',
  /**
   * rtm_protocol of nvgw's routes, FRA_PROTOCOL of its rules, IFA_PROTO of the addresses it
   * adds and the protocol of its neighbours (free in /etc/iproute2/rt_protos).
   */
  protocol: 78,
  /** Priority range of nvgw's ip rules (policy-routing backend), below main (32766). */
  rulePriorityMin: 1000,
  rulePriorityMax: 1999,
} as const;
