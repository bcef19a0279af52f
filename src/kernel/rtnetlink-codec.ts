/**
 * rtnetlink message bodies nvgw sends and the parts of the kernel's answers it reads. Pure
 * (bytes in, bytes out), so the encodings are unit-tested without a socket.
 *
 * Requests are built with the `netlink` package's typed formatters (rt.format*Message,
 * ifla.format*). Where the package has no field for an attribute the kernel accepts, the
 * attribute is pushed raw onto the same attribute stream, with a comment at that spot:
 * IFA_PROTO (the package's AddressAttrs predate Linux 5.18), and the nested IFLA_LINKINFO /
 * IFLA_INFO_DATA / VETH_INFO_PEER, which the package types as opaque buffers and which are
 * assembled here from its own formatters. Nothing needs the `ip` command except tap
 * creation (see netlink-kernel.ts).
 *
 * Answers are decoded here rather than with the package's parsers: those drop attributes
 * they do not know (their __unparsed list is never filled), which loses IFA_PROTO, and they
 * parse every attribute of a link, so a kernel newer than the package could break a dump.
 * Only the attributes nvgw uses are read; everything else is skipped.
 *
 * Numbers are in host byte order, as netlink carries them; addresses in network order.
 * Constants are from the Linux UAPI headers named beside them.
 */
import { endianness } from 'node:os';
import { AttrStream, ifla, parseAttributes, rt } from 'netlink';
import type { NetlinkAttribute } from 'netlink';
import { ipv4Bytes, ipv4FromBytes, macBytes, macFromBytes, parseIpv4Prefix } from './ipv4.js';
import type { ObservedRule, RouteScope, RouteType } from './kernel-port.js';

export const AF_UNSPEC = 0;
export const AF_INET = 2;

// linux/rtnetlink.h message types
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;

// linux/netlink.h flags
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_DUMP = 0x300;

// linux/if_link.h
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINK = 5;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_LINK_NETNSID = 37;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_VRF_TABLE = 1;
const IFLA_TUN_TYPE = 3;
/** linux/if_tun.h: IFF_TAP, as IFLA_TUN_TYPE reports a tap. */
const IFF_TAP = 2;
const IFF_UP = 1;

// linux/if_addr.h
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
const IFA_PROTO = 11;
const IFA_F_NOPREFIXROUTE = 0x200;

// linux/rtnetlink.h route attributes
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_MULTIPATH = 9;
const RTA_TABLE = 15;

// linux/neighbour.h
/** linux/rtnetlink.h: IFLA_EXT_MASK bit that leaves link statistics out of an answer (Linux >= 4.13). */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const NUD_PERMANENT = 0x80;

// linux/fib_rules.h
const FRA_IIFNAME = 3;
const FRA_PRIORITY = 6;
const FRA_FWMARK = 10;
const FRA_TABLE = 15;
const FRA_FWMASK = 16;
const FRA_SUPPRESS_IFGROUP = 13;
const FRA_SUPPRESS_PREFIXLEN = 14;
const FRA_PAD = 18;
const FRA_PROTOCOL = 21;
const FR_ACT_TO_TBL = 1;
/** The kernel reports these on every rule, -1 meaning "not set". */
const SUPPRESSORS = new Set([FRA_SUPPRESS_IFGROUP, FRA_SUPPRESS_PREFIXLEN]);
/** Attributes of a rule that are nvgw's selectors (or carry nothing); any other one is a selector nvgw never sets. */
const RULE_ATTRS_NVGW_USES = new Set([FRA_IIFNAME, FRA_PRIORITY, FRA_FWMARK, FRA_TABLE, FRA_FWMASK, FRA_PAD, FRA_PROTOCOL]);

const ROUTE_TYPES: Record<Exclude<RouteType, 'other'>, number> = {
  unicast: 1,
  local: 2,
  broadcast: 3,
  blackhole: 6,
  unreachable: 7,
  prohibit: 8,
  throw: 9,
};
const ROUTE_SCOPES: Record<RouteScope, number> = { universe: 0, site: 200, link: 253, host: 254, nowhere: 255 };

const LE = endianness() === 'LE';
const u16 = (b: Buffer, o = 0): number => (LE ? b.readUInt16LE(o) : b.readUInt16BE(o));
const u32 = (b: Buffer, o = 0): number => (LE ? b.readUInt32LE(o) : b.readUInt32BE(o));
const s32 = (b: Buffer, o = 0): number => (LE ? b.readInt32LE(o) : b.readInt32BE(o));
const putU8 = (n: number): Buffer => Buffer.from([n]);
const u32Bytes = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(n);
  else b.writeUInt32BE(n);
  return b;
};
const cString = (b: Buffer): string => {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
};

function bytesOf(fill: (out: AttrStream) => void): Buffer {
  const out = new AttrStream();
  fill(out);
  return Buffer.concat(out.bufs);
}

function attributes(data: Buffer): Map<number, Buffer> {
  const attrs = new Map<number, Buffer>();
  parseAttributes(data, (a: NetlinkAttribute) => {
    if (!attrs.has(a.type)) attrs.set(a.type, a.data);
  });
  return attrs;
}

// ---- Requests ----

export type Body = Uint8Array[];

/** An ifinfomsg (or any header-only) dump request for the given family. */
export function encodeDump(kind: 'link' | 'address' | 'route' | 'neighbour' | 'rule'): Body {
  return [
    bytesOf((out) => {
      switch (kind) {
        case 'link':
          // Without the per-link counters (IFLA_STATS64, the IPv6 and ICMPv6 statistics):
          // nvgw reads none of them, and they are over half of each link's answer (~1.5 KB
          // per link, 12 MB for 8,000 links).
          rt.formatLinkMessage({ kind: 'link', data: {}, attrs: { extMask: u32Bytes(RTEXT_FILTER_SKIP_STATS) } }, out);
          break;
        case 'address':
          rt.formatAddressMessage({ kind: 'address', data: { family: AF_INET }, attrs: {} }, out);
          break;
        case 'route':
          rt.formatRouteMessage({ kind: 'route', data: { family: AF_INET }, attrs: {} }, out);
          break;
        case 'neighbour':
          rt.formatNeighborMessage({ kind: 'neighbor', data: { family: AF_INET }, attrs: {} }, out);
          break;
        case 'rule':
          rt.formatRuleMessage({ kind: 'rule', data: { family: AF_INET }, attrs: {} }, out);
          break;
      }
    }),
  ];
}

/**
 * RTM_NEWLINK for a veth pair, both ends down. IFLA_LINKINFO { IFLA_INFO_KIND "veth",
 * IFLA_INFO_DATA { VETH_INFO_PEER: ifinfomsg + peer attributes } } (drivers/net/veth.c).
 */
export function encodeVethCreate(name: string, peer: string, mtu: number | undefined, mac: string | undefined): Body {
  const peerAttrs: ifla.LinkAttrs = { ifname: peer };
  if (mtu !== undefined) peerAttrs.mtu = mtu;
  const peerMessage = Buffer.concat([rt.formatLink({}), bytesOf((out) => out.emit(ifla.formatLinkAttrs(peerAttrs)))]);
  const data = bytesOf((out) => out.emit(ifla.formatVethInfo({ peer: peerMessage })));
  const attrs: ifla.LinkAttrs = { ifname: name, linkinfo: bytesOf((out) => out.emit(ifla.formatInfo({ kind: 'veth', data }))) };
  if (mtu !== undefined) attrs.mtu = mtu;
  if (mac !== undefined) attrs.address = macBytes(mac);
  return [bytesOf((out) => rt.formatLinkMessage({ kind: 'link', data: {}, attrs }, out))];
}

/** RTM_NEWLINK for a VRF device: IFLA_LINKINFO { "vrf", IFLA_INFO_DATA { IFLA_VRF_TABLE } } (drivers/net/vrf.c). */
export function encodeVrfCreate(name: string, table: number): Body {
  const data = bytesOf((out) => out.emit(ifla.formatVrf({ table })));
  const attrs: ifla.LinkAttrs = { ifname: name, linkinfo: bytesOf((out) => out.emit(ifla.formatInfo({ kind: 'vrf', data }))) };
  return [bytesOf((out) => rt.formatLinkMessage({ kind: 'link', data: {}, attrs }, out))];
}

export interface LinkSettings {
  mac?: string;
  mtu?: number;
  /** ifindex of the master, 0 to release. */
  master?: number;
  up?: boolean;
}

/** RTM_SETLINK (or RTM_DELLINK with only the index). IFF_UP goes in ifi_flags with ifi_change. */
export function encodeLinkSet(index: number, settings: LinkSettings): Body {
  const attrs: ifla.LinkAttrs = {};
  if (settings.mac !== undefined) attrs.address = macBytes(settings.mac);
  if (settings.mtu !== undefined) attrs.mtu = settings.mtu;
  if (settings.master !== undefined) attrs.master = settings.master;
  const data: rt.Link = { index };
  if (settings.up !== undefined) {
    data.change = { up: true };
    data.flags = settings.up ? { up: true } : {};
  }
  return [bytesOf((out) => rt.formatLinkMessage({ kind: 'link', data, attrs }, out))];
}

export interface AddressRequest {
  index: number;
  address: string;
  prefixLength: number;
  noPrefixRoute?: boolean;
  /** IFA_PROTO; only on creation. */
  protocol?: number;
}

export function encodeAddress(req: AddressRequest): Body {
  const bytes = ipv4Bytes(req.address);
  const attrs: rt.AddressAttrs = { local: bytes, address: bytes };
  if (req.noPrefixRoute === true) attrs.flags = { noprefixroute: true };
  return [
    bytesOf((out) => {
      rt.formatAddressMessage({ kind: 'address', data: { family: AF_INET, prefixlen: req.prefixLength, index: req.index }, attrs }, out);
      // IFA_PROTO (Linux 5.18): the package's AddressAttrs have no field for it, so it is
      // pushed raw. It is how nvgw recognises the provider addresses it added.
      if (req.protocol !== undefined) out.push(IFA_PROTO, putU8(req.protocol));
    }),
  ];
}

export interface NeighbourRequest {
  index: number;
  address: string;
  /** Absent in a delete. */
  mac?: string;
  protocol?: number;
}

/** RTM_NEWNEIGH with NUD_PERMANENT (or RTM_DELNEIGH without a MAC). */
export function encodeNeighbour(req: NeighbourRequest): Body {
  const attrs: rt.NeighborAttrs = { dst: ipv4Bytes(req.address) };
  if (req.mac !== undefined) attrs.lladdr = macBytes(req.mac);
  if (req.protocol !== undefined) attrs.protocol = putU8(req.protocol);
  const data: rt.Neighbor = { family: AF_INET, ifindex: req.index };
  if (req.mac !== undefined) data.state = { permanent: true };
  return [bytesOf((out) => rt.formatNeighborMessage({ kind: 'neighbor', data, attrs }, out))];
}

export interface RouteRequest {
  table: number;
  prefix: string;
  metric: number;
  type: RouteType;
  scope: RouteScope;
  protocol: number;
  gateway?: string;
  oif?: number;
  source?: string;
}

/**
 * RTM_NEWROUTE / RTM_DELROUTE. Tables above 255 only fit RTA_TABLE (rtm_table is a u8), so
 * RTA_TABLE is always sent and rtm_table carries the id when it fits, as iproute2 does. A
 * delete names the protocol, so the kernel never removes another protocol's route at the
 * same key, and scope NOWHERE (any scope).
 */
export function encodeRoute(req: RouteRequest, forDelete: boolean): Body {
  const prefix = parseIpv4Prefix(req.prefix);
  if (prefix === undefined) throw new TypeError(`not a canonical IPv4 prefix: ${req.prefix}`);
  const data: rt.Route = {
    family: AF_INET,
    dstLen: prefix.length,
    table: req.table < 256 ? req.table : 0,
    protocol: req.protocol,
    scope: forDelete ? ROUTE_SCOPES.nowhere : ROUTE_SCOPES[req.scope],
  };
  if (req.type !== 'other') data.type = ROUTE_TYPES[req.type];
  const attrs: rt.RouteAttrs = { table: req.table, priority: req.metric };
  if (prefix.length > 0) attrs.dst = ipv4Bytes(prefix.address);
  if (req.oif !== undefined) attrs.oif = req.oif;
  if (req.gateway !== undefined) attrs.gateway = ipv4Bytes(req.gateway);
  if (req.source !== undefined && !forDelete) attrs.prefsrc = ipv4Bytes(req.source);
  return [bytesOf((out) => rt.formatRouteMessage({ kind: 'route', data, attrs }, out))];
}

export interface RuleRequest {
  priority: number;
  table: number;
  protocol: number;
  iif?: string;
  fwmark?: number;
  fwmask?: number;
}

/** RTM_NEWRULE / RTM_DELRULE: `lookup <table>` (FR_ACT_TO_TBL) with FRA_TABLE for any table id. */
export function encodeRule(req: RuleRequest): Body {
  const attrs: rt.RuleAttrs = { priority: req.priority, table: req.table, protocol: req.protocol };
  if (req.iif !== undefined) attrs.iifname = req.iif;
  if (req.fwmark !== undefined) {
    attrs.fwmark = req.fwmark;
    attrs.fwmask = req.fwmask ?? 0xffffffff;
  }
  const data: rt.Rule = { family: AF_INET, table: req.table < 256 ? req.table : 0, action: FR_ACT_TO_TBL };
  return [bytesOf((out) => rt.formatRuleMessage({ kind: 'rule', data, attrs }, out))];
}

// ---- Answers ----

export interface RawLink {
  index: number;
  name: string;
  kind: string | null;
  vrfTable?: number;
  /** IFLA_LINK: the veth peer's ifindex. */
  linkIndex?: number;
  /** IFLA_LINK_NETNSID present: IFLA_LINK is an index in another namespace. */
  linkElsewhere: boolean;
  mac: string | null;
  mtu: number;
  up: boolean;
  masterIndex?: number;
}

/** struct ifinfomsg is 16 bytes: family, pad, type u16, index s32, flags u32, change u32. */
export function decodeLink(msg: Buffer): RawLink {
  const index = s32(msg, 4);
  const flags = u32(msg, 8);
  const attrs = attributes(msg.subarray(16));
  const link: RawLink = {
    index,
    name: cString(attrs.get(IFLA_IFNAME) ?? Buffer.alloc(0)),
    kind: null,
    linkElsewhere: attrs.has(IFLA_LINK_NETNSID),
    mac: null,
    mtu: attrs.has(IFLA_MTU) ? u32(attrs.get(IFLA_MTU) as Buffer) : 0,
    up: (flags & IFF_UP) !== 0,
  };
  const address = attrs.get(IFLA_ADDRESS);
  if (address !== undefined && address.length === 6) link.mac = macFromBytes(address);
  const peer = attrs.get(IFLA_LINK);
  if (peer !== undefined && peer.length >= 4) link.linkIndex = s32(peer);
  const master = attrs.get(IFLA_MASTER);
  if (master !== undefined && master.length >= 4) link.masterIndex = u32(master);
  const info = attrs.get(IFLA_LINKINFO);
  if (info !== undefined) {
    const infoAttrs = attributes(info);
    const kind = infoAttrs.get(IFLA_INFO_KIND);
    if (kind !== undefined) link.kind = cString(kind);
    const data = infoAttrs.get(IFLA_INFO_DATA);
    if (data !== undefined && link.kind === 'vrf') {
      const table = attributes(data).get(IFLA_VRF_TABLE);
      if (table !== undefined) link.vrfTable = u32(table);
    }
    if (data !== undefined && link.kind === 'tun' && attributes(data).get(IFLA_TUN_TYPE)?.[0] === IFF_TAP) link.kind = 'tap';
  }
  return link;
}

export interface RawAddress {
  index: number;
  address: string;
  prefixLength: number;
  protocol: number;
  noPrefixRoute: boolean;
}

/** struct ifaddrmsg is 8 bytes: family, prefixlen, flags, scope, index u32. IFA_FLAGS (u32) overrides the u8 flags. */
export function decodeAddress(msg: Buffer): RawAddress | undefined {
  if (msg[0] !== AF_INET) return undefined;
  const attrs = attributes(msg.subarray(8));
  const local = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
  if (local === undefined) return undefined;
  const flagsAttr = attrs.get(IFA_FLAGS);
  const flags = flagsAttr !== undefined ? u32(flagsAttr) : (msg[2] ?? 0);
  return {
    index: u32(msg, 4),
    address: ipv4FromBytes(local),
    prefixLength: msg[1] ?? 0,
    protocol: attrs.get(IFA_PROTO)?.[0] ?? 0,
    noPrefixRoute: (flags & IFA_F_NOPREFIXROUTE) !== 0,
  };
}

export interface RawRoute {
  table: number;
  prefix: string;
  metric: number;
  type: RouteType;
  protocol: number;
  scope: RouteScope;
  gateway?: string;
  oif?: number;
  source?: string;
  multipath: boolean;
}

/** struct rtmsg is 12 bytes: family, dst_len, src_len, tos, table, protocol, scope, type, flags u32. */
export function decodeRoute(msg: Buffer): RawRoute | undefined {
  if (msg[0] !== AF_INET) return undefined;
  const attrs = attributes(msg.subarray(12));
  const dstLen = msg[1] ?? 0;
  const dst = attrs.get(RTA_DST);
  const tableAttr = attrs.get(RTA_TABLE);
  const typeNumber = msg[7] ?? 0;
  const scopeNumber = msg[6] ?? 0;
  const route: RawRoute = {
    table: tableAttr !== undefined ? u32(tableAttr) : (msg[4] ?? 0),
    prefix: `${dst !== undefined ? ipv4FromBytes(dst) : '0.0.0.0'}/${dstLen}`,
    metric: attrs.has(RTA_PRIORITY) ? u32(attrs.get(RTA_PRIORITY) as Buffer) : 0,
    type: (Object.entries(ROUTE_TYPES).find(([, n]) => n === typeNumber)?.[0] as RouteType | undefined) ?? 'other',
    protocol: msg[5] ?? 0,
    scope: (Object.entries(ROUTE_SCOPES).find(([, n]) => n === scopeNumber)?.[0] as RouteScope | undefined) ?? 'universe',
    multipath: attrs.has(RTA_MULTIPATH),
  };
  const gateway = attrs.get(RTA_GATEWAY);
  if (gateway !== undefined) route.gateway = ipv4FromBytes(gateway);
  const oif = attrs.get(RTA_OIF);
  if (oif !== undefined) route.oif = u32(oif);
  const source = attrs.get(RTA_PREFSRC);
  if (source !== undefined) route.source = ipv4FromBytes(source);
  return route;
}

export interface RawNeighbour {
  index: number;
  address: string;
  mac: string | null;
  permanent: boolean;
}

/** struct ndmsg is 12 bytes: family, pad, pad u16, ifindex s32, state u16, flags, type. */
export function decodeNeighbour(msg: Buffer): RawNeighbour | undefined {
  if (msg[0] !== AF_INET) return undefined;
  const attrs = attributes(msg.subarray(12));
  const dst = attrs.get(NDA_DST);
  if (dst === undefined) return undefined;
  const lladdr = attrs.get(NDA_LLADDR);
  return {
    index: s32(msg, 4),
    address: ipv4FromBytes(dst),
    mac: lladdr !== undefined && lladdr.length === 6 ? macFromBytes(lladdr) : null,
    permanent: (u16(msg, 8) & NUD_PERMANENT) !== 0,
  };
}

/** struct fib_rule_hdr is 12 bytes: family, dst_len, src_len, tos, table, res1, res2, action, flags u32. */
export function decodeRule(msg: Buffer): ObservedRule | undefined {
  if (msg[0] !== AF_INET) return undefined;
  const attrs = attributes(msg.subarray(12));
  const tableAttr = attrs.get(FRA_TABLE);
  const rule: ObservedRule = {
    priority: attrs.has(FRA_PRIORITY) ? u32(attrs.get(FRA_PRIORITY) as Buffer) : 0,
    protocol: attrs.get(FRA_PROTOCOL)?.[0] ?? 0,
    table: tableAttr !== undefined ? u32(tableAttr) : (msg[4] ?? 0),
    action: msg[7] === FR_ACT_TO_TBL ? 'lookup' : 'other',
    otherSelectors:
      (msg[1] ?? 0) !== 0 ||
      (msg[2] ?? 0) !== 0 ||
      (msg[3] ?? 0) !== 0 ||
      u32(msg, 8) !== 0 ||
      [...attrs].some(([type, value]) => !RULE_ATTRS_NVGW_USES.has(type) && !(SUPPRESSORS.has(type) && u32(value) === 0xffffffff)),
  };
  const iif = attrs.get(FRA_IIFNAME);
  if (iif !== undefined) rule.iif = cString(iif);
  const fwmark = attrs.get(FRA_FWMARK);
  const fwmask = attrs.get(FRA_FWMASK);
  if (fwmark !== undefined && u32(fwmark) !== 0) {
    rule.fwmark = u32(fwmark);
    rule.fwmask = fwmask !== undefined ? u32(fwmask) : 0xffffffff;
  } else if (fwmask !== undefined && u32(fwmask) !== 0) {
    rule.otherSelectors = true;
  }
  return rule;
}
