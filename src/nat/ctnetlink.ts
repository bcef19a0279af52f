/**
 * ctnetlink: the kernel's connection tracking table over NETLINK_NETFILTER, as a pure codec
 * (bytes in, messages out; requests out as bytes). The socket is src/kernel/conntrack-channel.ts.
 *
 * Why: the data path takes over established NAT and routed connections from the kernel (as
 * nf_flowtable does), but the kernel stays the authority. It opens every connection (NAT
 * binding, zones, marks); we learn each one from its events, carry its packets, and keep the
 * kernel's entry alive by refreshing its timeout.
 *
 * Wire format (include/uapi/linux/netfilter/nfnetlink_conntrack.h, nfnetlink.h):
 *
 *   struct nlmsghdr   len u32, type u16 = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_*,
 *                     flags u16, seq u32, pid u32                      (host byte order)
 *   struct nfgenmsg   family u8 (AF_INET), version u8 (NFNETLINK_V0), res_id be16
 *   attributes        CTA_TUPLE_ORIG { CTA_TUPLE_IP { CTA_IP_V4_SRC, CTA_IP_V4_DST },
 *                                      CTA_TUPLE_PROTO { CTA_PROTO_NUM, ports | ICMP id/type/code },
 *                                      [CTA_TUPLE_ZONE] }
 *                     CTA_TUPLE_REPLY { same }, [CTA_ZONE], CTA_ID, CTA_STATUS, [CTA_TIMEOUT],
 *                     [CTA_PROTOINFO { CTA_PROTOINFO_TCP { STATE, WSCALE_*, FLAGS_* } }], [CTA_MARK], ...
 *
 * Attribute headers are in host order; every CTA_* value is in network order (nla_put_be32,
 * nla_put_in_addr in net/netfilter/nf_conntrack_netlink.c), except u8 values and the
 * two-byte struct nf_ct_tcp_flags { flags, mask }.
 *
 * Zones. ctnetlink_dump_zone_id (nf_conntrack_netlink.c) reports a zone that applies to both
 * directions as CTA_ZONE, and a directional one (`CT --zone-orig Z`, `--zone-reply Z`) as
 * CTA_TUPLE_ZONE inside the tuple of that direction only, with no CTA_ZONE. So a NAT
 * connection of a tenant (zone-orig) arrives as CtTuple.zone = Z on the original tuple,
 * CtEntry.zone = 0 and no zone on the reply. Looking an entry up (ctnetlink_new_conntrack,
 * ctnetlink_get_conntrack) parses CTA_ZONE first (ctnetlink_parse_zone), then a
 * CTA_TUPLE_ZONE inside the tuple, which sets the zone's direction and is -EINVAL when a
 * zone was already given (ctnetlink_parse_tuple_zone); it searches by CTA_TUPLE_ORIG when
 * present. nf_ct_zone_equal compares only the zone of the direction the tuple is in, so the
 * original tuple with its CTA_TUPLE_ZONE finds a zone-orig entry (checked on Linux 6.18:
 * CTA_ZONE Z finds it as well, no zone at all gives -ENOENT, and the reply tuple finds it in
 * the default zone). The requests below therefore send the original tuple with the zone
 * exactly as the kernel reported it.
 *
 * Messages: 'new' (IPCTNL_MSG_CT_NEW with NLM_F_CREATE|NLM_F_EXCL: the NFNLGRP_CONNTRACK_NEW
 * event), 'update' (any other IPCTNL_MSG_CT_NEW event, seq 0: NFNLGRP_CONNTRACK_UPDATE;
 * including the echo of our own updates, which carry our port), 'destroy'
 * (IPCTNL_MSG_CT_DELETE), 'dump' (an entry answering a request of ours: NLM_F_MULTI, set on
 * dump parts and, by ctnetlink_fill_info, on the answer to a get), 'error' (NLMSG_ERROR;
 * errno 0 is the ack), 'done' (NLMSG_DONE ending a dump), 'ignored' (well-formed but not
 * ours: IPv6 entries, expectations, other subsystems, NLMSG_NOOP) and 'malformed' (anything
 * that cannot be decoded; decoding never throws).
 */
import { endianness } from 'node:os';
// The package's pure structs module, not its index: the index loads the native socket
// binding, which a codec has no use for.
import { formatAttribute, formatMessage, pad, parseAttributes } from 'netlink/dist/structs.js';
import type { NetlinkAttribute } from 'netlink/dist/structs.js';

// ---- constants (include/uapi/linux/netlink.h, netfilter/nfnetlink*.h, nf_conntrack_*.h) ----

export const AF_INET = 2;
export const NFNETLINK_V0 = 0;
export const NFNL_SUBSYS_CTNETLINK = 1;
export const IPCTNL_MSG_CT_NEW = 0;
export const IPCTNL_MSG_CT_GET = 1;
export const IPCTNL_MSG_CT_DELETE = 2;
/** nlmsg_type of ctnetlink messages: subsystem in the high byte. */
export const CT_MSG_NEW = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
export const CT_MSG_GET = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
export const CT_MSG_DELETE = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

/** Multicast groups of NETLINK_NETFILTER (enum nfnetlink_groups). */
export const NFNLGRP_CONNTRACK_NEW = 1;
export const NFNLGRP_CONNTRACK_UPDATE = 2;
export const NFNLGRP_CONNTRACK_DESTROY = 3;

// enum ip_conntrack_status (nf_conntrack_common.h)
export const IPS_EXPECTED = 1 << 0;
export const IPS_SEEN_REPLY = 1 << 1;
export const IPS_ASSURED = 1 << 2;
export const IPS_CONFIRMED = 1 << 3;
export const IPS_SRC_NAT = 1 << 4;
export const IPS_DST_NAT = 1 << 5;
export const IPS_SEQ_ADJUST = 1 << 6;
export const IPS_SRC_NAT_DONE = 1 << 7;
export const IPS_DST_NAT_DONE = 1 << 8;
export const IPS_DYING = 1 << 9;
export const IPS_FIXED_TIMEOUT = 1 << 10;
export const IPS_TEMPLATE = 1 << 11;
export const IPS_UNTRACKED = 1 << 12;
export const IPS_HELPER = 1 << 13;
export const IPS_OFFLOAD = 1 << 14;
export const IPS_HW_OFFLOAD = 1 << 15;

// enum tcp_conntrack (nf_conntrack_tcp.h)
export const TCP_CONNTRACK_NONE = 0;
export const TCP_CONNTRACK_SYN_SENT = 1;
export const TCP_CONNTRACK_SYN_RECV = 2;
export const TCP_CONNTRACK_ESTABLISHED = 3;
export const TCP_CONNTRACK_FIN_WAIT = 4;
export const TCP_CONNTRACK_CLOSE_WAIT = 5;
export const TCP_CONNTRACK_LAST_ACK = 6;
export const TCP_CONNTRACK_TIME_WAIT = 7;
export const TCP_CONNTRACK_CLOSE = 8;
export const TCP_CONNTRACK_SYN_SENT2 = 9;

/** nf_conntrack_tcp.h: the window tracking accepts any sequence number of this direction. */
export const IP_CT_TCP_FLAG_BE_LIBERAL = 0x08;

const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
/** Protocols whose tuple carries CTA_PROTO_SRC_PORT/DST_PORT (nf_ct_port_nlattr_to_tuple users). */
const PORT_PROTOCOLS = new Set([IPPROTO_TCP, 17 /* UDP */, 33 /* DCCP */, 47 /* GRE keys */, 132 /* SCTP */, 136 /* UDP-Lite */]);

// enum ctattr_type and the nested enums (nfnetlink_conntrack.h)
const CTA_TUPLE_ORIG = 1;
const CTA_TUPLE_REPLY = 2;
const CTA_STATUS = 3;
const CTA_PROTOINFO = 4;
const CTA_TIMEOUT = 7;
const CTA_MARK = 8;
const CTA_ID = 12;
const CTA_ZONE = 18;
const CTA_TUPLE_IP = 1;
const CTA_TUPLE_PROTO = 2;
const CTA_TUPLE_ZONE = 3;
const CTA_IP_V4_SRC = 1;
const CTA_IP_V4_DST = 2;
const CTA_PROTO_NUM = 1;
const CTA_PROTO_SRC_PORT = 2;
const CTA_PROTO_DST_PORT = 3;
const CTA_PROTO_ICMP_ID = 4;
const CTA_PROTO_ICMP_TYPE = 5;
const CTA_PROTO_ICMP_CODE = 6;
const CTA_PROTOINFO_TCP = 1;
const CTA_PROTOINFO_TCP_STATE = 1;
const CTA_PROTOINFO_TCP_FLAGS_ORIGINAL = 4;
const CTA_PROTOINFO_TCP_FLAGS_REPLY = 5;

const NLMSG_HDRLEN = 16;
const NFGENMSG_LEN = 4;

// ---- types ----

/** One direction of a connection. Addresses are unsigned 32-bit numbers, ports host order. */
export interface CtTuple {
  src: number;
  dst: number;
  protocol: number;
  /** 0 when the protocol has no ports (ICMP: see icmpId). */
  srcPort: number;
  dstPort: number;
  /** CTA_TUPLE_ZONE: the zone of this direction only (`CT --zone-orig` / `--zone-reply`). */
  zone?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
}

export interface CtEntry {
  original: CtTuple;
  reply: CtTuple;
  /** CTA_ZONE, a zone of both directions; 0 when absent (the default zone, or a directional zone: see CtTuple.zone). */
  zone: number;
  /** IPS_* bits. */
  status: number;
  mark: number;
  /** Seconds left (CTA_TIMEOUT); 0 when absent: DESTROY events and entries offloaded to a flowtable. */
  timeout: number;
  id?: number;
  /** TCP_CONNTRACK_*, when the message carries CTA_PROTOINFO (dumps; events that change it). */
  tcpState?: number;
  /** The IP_CT_TCP_FLAG_* bits of each direction (CTA_PROTOINFO_TCP_FLAGS_*). */
  tcpFlags?: { original: number; reply: number };
}

export type CtEntryKind = 'new' | 'update' | 'destroy' | 'dump';

export type CtMessage =
  /** port: the netlink port of the socket whose request caused the event (0: the kernel's own). */
  | { kind: CtEntryKind; seq: number; port: number; entry: CtEntry }
  /** The answer to a request: errno 0 is the ack, otherwise a positive errno (2 = ENOENT). */
  | { kind: 'error'; seq: number; errno: number }
  /** The end of a dump; errno is non-zero when the kernel ended it early. */
  | { kind: 'done'; seq: number; errno: number }
  | { kind: 'ignored'; seq: number; reason: string }
  | { kind: 'malformed'; reason: string };

/** A netlink message already split from its datagram, as node-netlink's NetlinkMessage. */
export interface SplitNetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  port: number;
  data: Uint8Array;
}

/** What identifies an entry for a request: a CtEntry will do. Only the original tuple and the zones are used. */
export interface CtKey {
  original: CtTuple;
  reply?: CtTuple;
  zone: number;
}

export interface CtChange {
  /** New timeout in seconds from now (CTA_TIMEOUT). */
  timeout?: number;
  /**
   * Set (true) or clear (false) IP_CT_TCP_FLAG_BE_LIBERAL in both directions, so the
   * kernel's window tracking accepts a connection whose packets it did not see for a while.
   * Ignored for protocols other than TCP, as the kernel would ignore it.
   */
  tcpLiberal?: boolean;
}

/** A request body with its nlmsghdr type and flags; formatCtRequest makes the datagram. */
export interface CtRequest {
  type: number;
  flags: number;
  /** nfgenmsg and attributes. */
  payload: Buffer;
}

// ---- decoding ----

const LE = endianness() === 'LE';
const hostU16 = (b: Buffer, o: number): number => (LE ? b.readUInt16LE(o) : b.readUInt16BE(o));
const hostU32 = (b: Buffer, o: number): number => (LE ? b.readUInt32LE(o) : b.readUInt32BE(o));
const hostS32 = (b: Buffer, o: number): number => (LE ? b.readInt32LE(o) : b.readInt32BE(o));

class Malformed extends Error {}

function need(attr: Buffer | undefined, length: number, name: string): Buffer | undefined {
  if (attr !== undefined && attr.length < length) throw new Malformed(`${name}: ${attr.length} bytes, at least ${length} expected`);
  return attr;
}

/** Attributes by type (flags masked off), the last of a type winning as in the kernel's nla_parse. */
function attributes(data: Buffer, where: string): Map<number, Buffer> {
  const attrs = new Map<number, Buffer>();
  try {
    parseAttributes(data, (a: NetlinkAttribute) => {
      attrs.set(a.type, a.data);
    });
  } catch (error) {
    throw new Malformed(`${where}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return attrs;
}

function parseTuple(data: Buffer, where: string): CtTuple {
  const attrs = attributes(data, where);
  const ipData = attrs.get(CTA_TUPLE_IP);
  const protoData = attrs.get(CTA_TUPLE_PROTO);
  if (ipData === undefined) throw new Malformed(`${where}: no CTA_TUPLE_IP`);
  if (protoData === undefined) throw new Malformed(`${where}: no CTA_TUPLE_PROTO`);
  const ip = attributes(ipData, `${where} CTA_TUPLE_IP`);
  const src = need(ip.get(CTA_IP_V4_SRC), 4, `${where} CTA_IP_V4_SRC`);
  const dst = need(ip.get(CTA_IP_V4_DST), 4, `${where} CTA_IP_V4_DST`);
  if (src === undefined || dst === undefined) throw new Malformed(`${where}: no IPv4 addresses`);
  const proto = attributes(protoData, `${where} CTA_TUPLE_PROTO`);
  const num = need(proto.get(CTA_PROTO_NUM), 1, `${where} CTA_PROTO_NUM`);
  if (num === undefined) throw new Malformed(`${where}: no CTA_PROTO_NUM`);
  const sport = need(proto.get(CTA_PROTO_SRC_PORT), 2, `${where} CTA_PROTO_SRC_PORT`);
  const dport = need(proto.get(CTA_PROTO_DST_PORT), 2, `${where} CTA_PROTO_DST_PORT`);
  const tuple: CtTuple = {
    src: src.readUInt32BE(0),
    dst: dst.readUInt32BE(0),
    protocol: num[0] ?? 0,
    srcPort: sport?.readUInt16BE(0) ?? 0,
    dstPort: dport?.readUInt16BE(0) ?? 0,
  };
  const icmpId = need(proto.get(CTA_PROTO_ICMP_ID), 2, `${where} CTA_PROTO_ICMP_ID`);
  const icmpType = need(proto.get(CTA_PROTO_ICMP_TYPE), 1, `${where} CTA_PROTO_ICMP_TYPE`);
  const icmpCode = need(proto.get(CTA_PROTO_ICMP_CODE), 1, `${where} CTA_PROTO_ICMP_CODE`);
  if (icmpType !== undefined) tuple.icmpType = icmpType[0];
  if (icmpCode !== undefined) tuple.icmpCode = icmpCode[0];
  if (icmpId !== undefined) tuple.icmpId = icmpId.readUInt16BE(0);
  const zone = need(attrs.get(CTA_TUPLE_ZONE), 2, `${where} CTA_TUPLE_ZONE`);
  if (zone !== undefined) tuple.zone = zone.readUInt16BE(0);
  return tuple;
}

function parseEntry(attrData: Buffer): CtEntry {
  const attrs = attributes(attrData, 'attributes');
  const orig = attrs.get(CTA_TUPLE_ORIG);
  const reply = attrs.get(CTA_TUPLE_REPLY);
  if (orig === undefined) throw new Malformed('no CTA_TUPLE_ORIG');
  if (reply === undefined) throw new Malformed('no CTA_TUPLE_REPLY');
  const be32 = (type: number, name: string): number | undefined => need(attrs.get(type), 4, name)?.readUInt32BE(0);
  const entry: CtEntry = {
    original: parseTuple(orig, 'CTA_TUPLE_ORIG'),
    reply: parseTuple(reply, 'CTA_TUPLE_REPLY'),
    zone: need(attrs.get(CTA_ZONE), 2, 'CTA_ZONE')?.readUInt16BE(0) ?? 0,
    status: be32(CTA_STATUS, 'CTA_STATUS') ?? 0,
    mark: be32(CTA_MARK, 'CTA_MARK') ?? 0,
    timeout: be32(CTA_TIMEOUT, 'CTA_TIMEOUT') ?? 0,
  };
  const id = be32(CTA_ID, 'CTA_ID');
  if (id !== undefined) entry.id = id;
  const protoinfo = attrs.get(CTA_PROTOINFO);
  const tcpData = protoinfo === undefined ? undefined : attributes(protoinfo, 'CTA_PROTOINFO').get(CTA_PROTOINFO_TCP);
  if (tcpData !== undefined) {
    const tcp = attributes(tcpData, 'CTA_PROTOINFO_TCP');
    const state = need(tcp.get(CTA_PROTOINFO_TCP_STATE), 1, 'CTA_PROTOINFO_TCP_STATE');
    if (state !== undefined) entry.tcpState = state[0];
    // struct nf_ct_tcp_flags { __u8 flags; __u8 mask; }: the kernel reports the flags with mask 0.
    const flagsOrig = need(tcp.get(CTA_PROTOINFO_TCP_FLAGS_ORIGINAL), 2, 'CTA_PROTOINFO_TCP_FLAGS_ORIGINAL');
    const flagsReply = need(tcp.get(CTA_PROTOINFO_TCP_FLAGS_REPLY), 2, 'CTA_PROTOINFO_TCP_FLAGS_REPLY');
    if (flagsOrig !== undefined && flagsReply !== undefined) entry.tcpFlags = { original: flagsOrig[0] ?? 0, reply: flagsReply[0] ?? 0 };
  }
  return entry;
}

/** Decodes one netlink message already split from its datagram. Never throws. */
export function parseCtMessage(m: SplitNetlinkMessage): CtMessage {
  const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  if (m.type === NLMSG_ERROR) {
    // struct nlmsgerr: int error, then the request's header (and more, which is not needed).
    // `| 0` turns the ack's -0 into 0.
    if (data.length < 4) return { kind: 'malformed', reason: `NLMSG_ERROR: ${data.length} bytes, at least 4 expected` };
    return { kind: 'error', seq: m.seq, errno: -hostS32(data, 0) | 0 };
  }
  if (m.type === NLMSG_DONE) return { kind: 'done', seq: m.seq, errno: data.length >= 4 ? -hostS32(data, 0) | 0 : 0 };
  if (m.type >> 8 !== NFNL_SUBSYS_CTNETLINK) return { kind: 'ignored', seq: m.seq, reason: `message type 0x${m.type.toString(16)}` };
  const msg = m.type & 0xff;
  if (msg !== IPCTNL_MSG_CT_NEW && msg !== IPCTNL_MSG_CT_DELETE) return { kind: 'ignored', seq: m.seq, reason: `ctnetlink message ${msg}` };
  if (data.length < NFGENMSG_LEN) return { kind: 'malformed', reason: `ctnetlink message: ${data.length} bytes, no nfgenmsg` };
  if (data[0] !== AF_INET) return { kind: 'ignored', seq: m.seq, reason: `family ${data[0]}` };
  let entry: CtEntry;
  try {
    entry = parseEntry(data.subarray(NFGENMSG_LEN));
  } catch (error) {
    if (error instanceof Malformed) return { kind: 'malformed', reason: error.message };
    throw error;
  }
  let kind: CtEntryKind;
  if (msg === IPCTNL_MSG_CT_DELETE) kind = 'destroy';
  else if ((m.flags & NLM_F_MULTI) !== 0) kind = 'dump';
  else if ((m.flags & (NLM_F_CREATE | NLM_F_EXCL)) === (NLM_F_CREATE | NLM_F_EXCL)) kind = 'new';
  else kind = 'update';
  return { kind, seq: m.seq, port: m.port, entry };
}

/**
 * Decodes one received datagram, which may hold several netlink messages. A header that
 * cannot be trusted (shorter than 16 bytes, or a length past the end) ends the datagram
 * with one 'malformed'; a message whose body cannot be decoded is 'malformed' and the next
 * one is read. Never throws.
 */
export function parseCtMessages(buf: Uint8Array): CtMessage[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: CtMessage[] = [];
  let offset = 0;
  while (offset < b.length) {
    const left = b.length - offset;
    if (left < NLMSG_HDRLEN) {
      out.push({ kind: 'malformed', reason: `${left} bytes left at offset ${offset}, shorter than a netlink header` });
      break;
    }
    const length = hostU32(b, offset);
    if (length < NLMSG_HDRLEN || length > left) {
      out.push({ kind: 'malformed', reason: `netlink message length ${length} at offset ${offset}, ${left} bytes left` });
      break;
    }
    out.push(
      parseCtMessage({
        type: hostU16(b, offset + 4),
        flags: hostU16(b, offset + 6),
        seq: hostU32(b, offset + 8),
        port: hostU32(b, offset + 12),
        data: b.subarray(offset + NLMSG_HDRLEN, offset + length),
      }),
    );
    // NLMSG_ALIGN: the next message starts on a 4-byte boundary.
    offset += (length + 3) & ~3;
  }
  return out;
}

// ---- requests ----

function nla(type: number, data: Uint8Array | Uint8Array[], nested = false): Uint8Array[] {
  return pad(formatAttribute({ type, data, nested }));
}

const nfgenmsg = (): Buffer => Buffer.from([AF_INET, NFNETLINK_V0, 0, 0]);
const u8 = (n: number): Buffer => Buffer.from([n]);
function be16(n: number, what: string): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`${what} ${n} is not a 16-bit unsigned integer`);
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}
function be32(n: number, what: string): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`${what} ${n} is not a 32-bit unsigned integer`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** CTA_TUPLE_IP and CTA_TUPLE_PROTO as the protocol's nlattr_to_tuple requires them, and the tuple's zone. */
function tupleAttrs(t: CtTuple): Uint8Array[] {
  const proto: Uint8Array[] = [...nla(CTA_PROTO_NUM, u8(t.protocol))];
  if (t.protocol === IPPROTO_ICMP) {
    // icmp_nlattr_to_tuple (nf_conntrack_proto_icmp.c) requires all three.
    proto.push(...nla(CTA_PROTO_ICMP_ID, be16(t.icmpId ?? 0, 'ICMP id')));
    proto.push(...nla(CTA_PROTO_ICMP_TYPE, u8(t.icmpType ?? 0)));
    proto.push(...nla(CTA_PROTO_ICMP_CODE, u8(t.icmpCode ?? 0)));
  } else if (PORT_PROTOCOLS.has(t.protocol)) {
    proto.push(...nla(CTA_PROTO_SRC_PORT, be16(t.srcPort, 'source port')));
    proto.push(...nla(CTA_PROTO_DST_PORT, be16(t.dstPort, 'destination port')));
  }
  const parts = [
    ...nla(CTA_TUPLE_IP, [...nla(CTA_IP_V4_SRC, be32(t.src, 'source address')), ...nla(CTA_IP_V4_DST, be32(t.dst, 'destination address'))], true),
    ...nla(CTA_TUPLE_PROTO, proto, true),
  ];
  if (t.zone !== undefined && t.zone !== 0) parts.push(...nla(CTA_TUPLE_ZONE, be16(t.zone, 'tuple zone')));
  return parts;
}

/**
 * The lookup part of a request: the original tuple, with its CTA_TUPLE_ZONE when the entry
 * has a zone for the original direction, else CTA_ZONE when it has one for both. Never
 * both: ctnetlink_parse_tuple_zone refuses a tuple zone after CTA_ZONE (-EINVAL). The reply
 * tuple is not sent: the kernel looks up by the original one.
 */
function lookupAttrs(key: CtKey): Uint8Array[] {
  const parts = nla(CTA_TUPLE_ORIG, tupleAttrs(key.original), true);
  if ((key.original.zone === undefined || key.original.zone === 0) && key.zone !== 0) parts.push(...nla(CTA_ZONE, be16(key.zone, 'zone')));
  return parts;
}

/** IPCTNL_MSG_CT_GET with NLM_F_DUMP for every IPv4 entry of every zone (a CTA_ZONE would filter). */
export function ctDumpRequest(): CtRequest {
  return { type: CT_MSG_GET, flags: NLM_F_REQUEST | NLM_F_DUMP, payload: nfgenmsg() };
}

/** IPCTNL_MSG_CT_GET for one entry: the answer is one 'dump' message with the request's seq, then the ack. */
export function ctGetRequest(key: CtKey): CtRequest {
  return { type: CT_MSG_GET, flags: NLM_F_REQUEST | NLM_F_ACK, payload: Buffer.concat([nfgenmsg(), ...lookupAttrs(key)]) };
}

/**
 * IPCTNL_MSG_CT_NEW without NLM_F_CREATE: changes an existing entry and never creates one
 * (ctnetlink_new_conntrack: -ENOENT when nothing matches). NLM_F_ACK, so success is
 * answered too. A successful change also makes the kernel send an UPDATE event to every
 * listener, our own socket included (nf_conntrack_eventmask_report with our port).
 */
export function ctUpdateRequest(key: CtKey, change: CtChange): CtRequest {
  const parts: Uint8Array[] = [nfgenmsg(), ...lookupAttrs(key)];
  if (change.timeout !== undefined) parts.push(...nla(CTA_TIMEOUT, be32(change.timeout, 'timeout')));
  if (change.tcpLiberal !== undefined && key.original.protocol === IPPROTO_TCP) {
    // nlattr_to_tcp (nf_conntrack_proto_tcp.c): seen[dir].flags = (seen[dir].flags & ~mask) | (flags & mask).
    const flags = Buffer.from([change.tcpLiberal ? IP_CT_TCP_FLAG_BE_LIBERAL : 0, IP_CT_TCP_FLAG_BE_LIBERAL]);
    const tcp = [...nla(CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, flags), ...nla(CTA_PROTOINFO_TCP_FLAGS_REPLY, flags)];
    parts.push(...nla(CTA_PROTOINFO, nla(CTA_PROTOINFO_TCP, tcp, true), true));
  }
  return { type: CT_MSG_NEW, flags: NLM_F_REQUEST | NLM_F_ACK, payload: Buffer.concat(parts) };
}

/** The whole datagram for a request: nlmsghdr (host order) and payload. */
export function formatCtRequest(request: CtRequest, seq: number, port = 0): Buffer {
  return Buffer.concat(formatMessage({ type: request.type, flags: request.flags, seq, port, data: request.payload }));
}
