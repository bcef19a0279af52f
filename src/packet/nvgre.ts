// NVGRE, RFC 7637: Ethernet carried in GRE (RFC 2784) with the key extension (RFC 2890),
// over IPv4. The frame as RFC 7637 section 3.2 draws it:
//
//   Outer Ethernet Header:
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                (Outer) Destination MAC Address                |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |(Outer)Destination MAC Address |  (Outer)Source MAC Address    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                  (Outer) Source MAC Address                   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Optional Ethertype=C-Tag 802.1Q| Outer VLAN Tag Information    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |       Ethertype 0x0800        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   Outer IPv4 Header:
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version|  HL   |Type of Service|          Total Length         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |         Identification        |Flags|      Fragment Offset    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Time to Live | Protocol 0x2F |         Header Checksum       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                     (Outer) Source Address                    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                  (Outer) Destination Address                  |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   GRE Header:
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |0| |1|0|   Reserved0     | Ver |   Protocol Type 0x6558        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |               Virtual Subnet ID (VSID)        |    FlowID     |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   Inner Ethernet Header
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                (Inner) Destination MAC Address                |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |(Inner)Destination MAC Address |  (Inner)Source MAC Address    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                  (Inner) Source MAC Address                   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |       Ethertype 0x0800        |   (inner IP header, payload)
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// What the receive side enforces, and why:
// - GRE version 0 (RFC 2784 section 2.3.1). Version 1 is PPTP's enhanced GRE, whose other
//   bits mean something else, so the version is checked before any flag.
// - C = 0 and S = 0 (RFC 7637 section 3.2: MUST be zero); K = 1 (the key carries the VSID).
// - RFC 2784 section 2.3: a receiver MUST discard a packet with any of bits 1-5 set, except
//   those a later RFC defines; RFC 2890 defines bits 2 (K) and 3 (S), which leaves bit 1
//   (RFC 1701's R), bit 4 (strict source route) and bit 5 (top bit of the recursion count).
//   Bits 6-12 "MUST be ignored on receipt", so they are.
// - Protocol type 0x6558, Transparent Ethernet Bridging.
// - The inner frame carries no 802.1Q tag: RFC 7637 section 3.3 says a decapsulating NVE
//   MUST drop such a frame (the VSID, not a VLAN ID, names the virtual layer-2 network).
//   An 802.1ad S-tag is refused for the same reason.
// - Outer IPv4 is not a fragment: RFC 7637 section 4.4 forbids a sender NVE to fragment and
//   lets a receiver discard fragments, so the gateway never reassembles.
// The outer IPv4 header checksum is not verified here; see decodeNvgreIpv4.
//
// The key is VSID (24 bits) followed by FlowID (8 bits). The FlowID only spreads flows
// over ECMP paths in the provider network, so a receiver matches on the VSID alone and
// must accept every FlowID. RFC 7637 section 3.4 reserves VSIDs 0-0xfff and 0xffffff;
// refusing them is the control plane's job (never configured, they end as unknown-vsid).

import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import type { Verdict } from './drop-reasons.js';
import {
  ETHERNET_HEADER_LENGTH,
  ETHERTYPE_IPV4,
  ETHERTYPE_TEB,
  isVlanTpid,
  readMac,
  VLAN_TAG_LENGTH,
} from './ethernet.js';
import { createIpv4Header, IP_PROTOCOL_GRE, isIpv4Fragment, parseIpv4 } from './ipv4.js';

export const NVGRE_HEADER_LENGTH = 8;
export const VSID_MAX = 0xff_ffff;

const GRE_C = 0x8000;
const GRE_R = 0x4000;
const GRE_K = 0x2000;
const GRE_S = 0x1000;
const GRE_STRICT_ROUTE = 0x0800;
const GRE_RECURSION_HIGH = 0x0400;
const GRE_VERSION = 0x0007;
const GRE_MUST_BE_ZERO = GRE_R | GRE_STRICT_ROUTE | GRE_RECURSION_HIGH;

/**
 * How a 32-bit GRE key holds VSID and FlowID. 'rfc7637' is VSID << 8 | FlowID. Windows
 * Server 2012 before update KB2779768 wrote FlowID << 24 | VSID ('ws2012-legacy'); a peer
 * that still does is configured as such, and its keys are re-split with splitKey.
 */
export type KeyFormat = 'rfc7637' | 'ws2012-legacy';

export interface NvgreHeader {
  /** The key as on the wire. */
  key: number;
  /** key >>> 8 (RFC 7637 layout). */
  vsid: number;
  /** key & 0xff (RFC 7637 layout). */
  flowId: number;
}

export interface KeyParts {
  vsid: number;
  flowId: number;
}

export function createNvgreHeader(): NvgreHeader {
  return { key: 0, vsid: 0, flowId: 0 };
}

export function keyFor(vsid: number, flowId: number, format: KeyFormat): number {
  return format === 'rfc7637'
    ? (((vsid & VSID_MAX) << 8) | (flowId & 0xff)) >>> 0
    : (((flowId & 0xff) << 24) | (vsid & VSID_MAX)) >>> 0;
}

/** Splits a key into `out` (a fresh object if none is given) and returns it. */
export function splitKey(key: number, format: KeyFormat, out: KeyParts = { vsid: 0, flowId: 0 }): KeyParts {
  if (format === 'rfc7637') {
    out.vsid = key >>> 8;
    out.flowId = key & 0xff;
  } else {
    out.vsid = key & VSID_MAX;
    out.flowId = key >>> 24;
  }
  return out;
}

/**
 * Parses and classifies the GRE header in buf[offset, end): 'ok' only for an RFC 7637
 * NVGRE header, otherwise the first rule it breaks, in the order listed at the top of this file.
 */
export function parseNvgre(buf: Uint8Array, offset: number, out: NvgreHeader, end: number = buf.length): Verdict {
  if (end - offset < 4) return 'truncated-gre';
  const flags = readU16(buf, offset);
  if ((flags & GRE_VERSION) !== 0) return 'gre-version';
  if ((flags & GRE_C) !== 0) return 'gre-checksum-present';
  if ((flags & GRE_MUST_BE_ZERO) !== 0) return 'gre-routing-present';
  if ((flags & GRE_K) === 0) return 'gre-no-key';
  if ((flags & GRE_S) !== 0) return 'gre-sequence-present';
  if (readU16(buf, offset + 2) !== ETHERTYPE_TEB) return 'gre-wrong-protocol';
  if (end - offset < NVGRE_HEADER_LENGTH) return 'truncated-gre';
  const key = readU32(buf, offset + 4);
  out.key = key;
  out.vsid = key >>> 8;
  out.flowId = key & 0xff;
  return 'ok';
}

/** Writes the 8-byte NVGRE header (flags 0x2000, protocol 0x6558, key); returns 8. */
export function formatNvgre(
  h: KeyParts,
  buf: Uint8Array,
  offset: number,
  format: KeyFormat = 'rfc7637',
): number {
  writeU16(GRE_K, buf, offset);
  writeU16(ETHERTYPE_TEB, buf, offset + 2);
  writeU32(keyFor(h.vsid, h.flowId, format), buf, offset + 4);
  return NVGRE_HEADER_LENGTH;
}

/** What decodeNvgreFrame learns about a packet. Fields are meaningful only after 'ok'. */
export interface NvgreFrame extends NvgreHeader {
  /** Tag control information of the outer 802.1Q tag, or -1 when the frame is untagged. */
  outerVlanTci: number;
  /** Where the outer IPv4 header starts. */
  ipOffset: number;
  ipHeaderLength: number;
  outerSrcIp: number;
  outerDstIp: number;
  outerTtl: number;
  outerTos: number;
  /** Where the inner Ethernet frame starts; its destination MAC is the first 6 bytes. */
  innerOffset: number;
  /** Up to the end of the outer IPv4 packet, so Ethernet padding is not included. */
  innerLength: number;
  innerDstMac: number;
  innerSrcMac: number;
  innerEthertype: number;
}

// Reused by every decode: decoding is synchronous, so no two decodes overlap.
const scratchIpv4 = createIpv4Header();

export function createNvgreFrame(): NvgreFrame {
  return {
    key: 0,
    vsid: 0,
    flowId: 0,
    outerVlanTci: -1,
    ipOffset: 0,
    ipHeaderLength: 0,
    outerSrcIp: 0,
    outerDstIp: 0,
    outerTtl: 0,
    outerTos: 0,
    innerOffset: 0,
    innerLength: 0,
    innerDstMac: 0,
    innerSrcMac: 0,
    innerEthertype: 0,
  };
}

/**
 * Decodes an NVGRE packet that arrived as an Ethernet frame in frame[offset, end),
 * optionally carrying one outer 802.1Q/802.1ad tag (RFC 7637 section 3.2 allows a C-tag).
 * Never throws and never allocates: the result goes into `out`, the verdict is returned.
 */
export function decodeNvgreFrame(
  frame: Uint8Array,
  offset: number,
  out: NvgreFrame,
  end: number = frame.length,
): Verdict {
  // The outer MAC addresses are the provider network's business, so only the type (and
  // tag) is read; parseEthernet would also build two 48-bit numbers per packet.
  if (end - offset < ETHERNET_HEADER_LENGTH) return 'truncated-ethernet';
  let ethertype = readU16(frame, offset + 12);
  let ipOffset = offset + ETHERNET_HEADER_LENGTH;
  out.outerVlanTci = -1;
  if (isVlanTpid(ethertype)) {
    if (end - offset < ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH) return 'truncated-ethernet';
    out.outerVlanTci = readU16(frame, offset + 14);
    ethertype = readU16(frame, offset + 16);
    ipOffset += VLAN_TAG_LENGTH;
  }
  if (ethertype !== ETHERTYPE_IPV4) return 'not-ipv4';
  return decodeNvgreIpv4(frame, ipOffset, out, end);
}

/**
 * Decodes an NVGRE packet that starts at its outer IPv4 header, packet[offset, end): the
 * entry point for raw IP sockets and link types without an Ethernet header.
 *
 * The outer header checksum is deliberately not verified. A packet read from a socket has
 * passed the kernel's ip_rcv, which already dropped bad checksums; a data path reading
 * below that (AF_PACKET, a tap) calls ipv4ChecksumValid(packet, out.ipOffset,
 * out.ipHeaderLength) itself and counts 'ipv4-checksum-invalid'.
 */
export function decodeNvgreIpv4(
  packet: Uint8Array,
  offset: number,
  out: NvgreFrame,
  end: number = packet.length,
): Verdict {
  const ip = scratchIpv4;
  const ipVerdict = parseIpv4(packet, offset, ip, end);
  if (ipVerdict !== 'ok') return ipVerdict;
  if (ip.protocol !== IP_PROTOCOL_GRE) return 'not-gre';
  if (isIpv4Fragment(ip)) return 'ipv4-fragment';

  out.ipOffset = offset;
  out.ipHeaderLength = ip.headerLength;
  out.outerTos = ip.tos;
  out.outerTtl = ip.ttl;
  out.outerSrcIp = ip.src;
  out.outerDstIp = ip.dst;

  // Bytes after the IPv4 total length are link-layer padding, never GRE or inner frame.
  const ipEnd = offset + ip.totalLength;
  const greOffset = offset + ip.headerLength;
  const verdict = parseNvgre(packet, greOffset, out, ipEnd);
  if (verdict !== 'ok') return verdict;

  const innerOffset = greOffset + NVGRE_HEADER_LENGTH;
  const innerLength = ipEnd - innerOffset;
  if (innerLength < ETHERNET_HEADER_LENGTH) return 'truncated-inner';
  const innerEthertype = readU16(packet, innerOffset + 12);
  if (isVlanTpid(innerEthertype)) return 'inner-vlan-tag';
  out.innerOffset = innerOffset;
  out.innerLength = innerLength;
  out.innerDstMac = readMac(packet, innerOffset);
  out.innerSrcMac = readMac(packet, innerOffset + 6);
  out.innerEthertype = innerEthertype;
  return 'ok';
}
