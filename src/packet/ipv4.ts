// IPv4 header, RFC 791 section 3.1; Internet checksum, RFC 1071; incremental checksum
// update, RFC 1624.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version|  IHL  |Type of Service|          Total Length         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |         Identification        |Flags|      Fragment Offset    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Time to Live |    Protocol   |         Header Checksum       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                       Source Address                          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Destination Address                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Options                    |    Padding    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Flags (3 bits): reserved (must be zero), DF (don't fragment), MF (more fragments).
// Addresses leave this module as unsigned 32-bit integers.

import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import type { Verdict } from './drop-reasons.js';

export const IPV4_MIN_HEADER_LENGTH = 20;
export const IPV4_FLAG_DF = 0b010;
export const IPV4_FLAG_MF = 0b001;

export const IP_PROTOCOL_ICMP = 1;
export const IP_PROTOCOL_TCP = 6;
export const IP_PROTOCOL_UDP = 17;
export const IP_PROTOCOL_GRE = 47;

export interface Ipv4Header {
  /** IHL * 4: 20 to 60 bytes. */
  headerLength: number;
  tos: number;
  totalLength: number;
  id: number;
  flags: number;
  /** In units of 8 bytes, as on the wire. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: number;
  dst: number;
}

export function createIpv4Header(): Ipv4Header {
  return {
    headerLength: IPV4_MIN_HEADER_LENGTH,
    tos: 0,
    totalLength: 0,
    id: 0,
    flags: 0,
    fragmentOffset: 0,
    ttl: 0,
    protocol: 0,
    checksum: 0,
    src: 0,
    dst: 0,
  };
}

/**
 * Parses the IPv4 header of the packet in buf[offset, end). `end` may lie beyond the
 * packet (Ethernet pads short frames to 60 bytes); the total length field decides where the
 * packet ends. The checksum is read but not verified: see ipv4ChecksumValid.
 */
export function parseIpv4(buf: Uint8Array, offset: number, out: Ipv4Header, end: number = buf.length): Verdict {
  const available = end - offset;
  if (available < IPV4_MIN_HEADER_LENGTH) return 'ipv4-header-invalid';
  const versionIhl = buf[offset] ?? 0;
  const headerLength = (versionIhl & 0x0f) * 4;
  const totalLength = readU16(buf, offset + 2);
  if (
    versionIhl >>> 4 !== 4 ||
    headerLength < IPV4_MIN_HEADER_LENGTH ||
    totalLength < headerLength ||
    totalLength > available
  ) {
    return 'ipv4-header-invalid';
  }
  const flagsFragment = readU16(buf, offset + 6);
  out.headerLength = headerLength;
  out.tos = buf[offset + 1] ?? 0;
  out.totalLength = totalLength;
  out.id = readU16(buf, offset + 4);
  out.flags = flagsFragment >>> 13;
  out.fragmentOffset = flagsFragment & 0x1fff;
  out.ttl = buf[offset + 8] ?? 0;
  out.protocol = buf[offset + 9] ?? 0;
  out.checksum = readU16(buf, offset + 10);
  out.src = readU32(buf, offset + 12);
  out.dst = readU32(buf, offset + 16);
  return 'ok';
}

/**
 * Writes a 20-byte header (the gateway never originates options, so h.headerLength is
 * ignored) with a freshly computed checksum; returns the bytes written.
 */
export function formatIpv4(h: Ipv4Header, buf: Uint8Array, offset: number): number {
  buf[offset] = 0x45;
  buf[offset + 1] = h.tos;
  writeU16(h.totalLength, buf, offset + 2);
  writeU16(h.id, buf, offset + 4);
  writeU16(((h.flags & 0b111) << 13) | (h.fragmentOffset & 0x1fff), buf, offset + 6);
  buf[offset + 8] = h.ttl;
  buf[offset + 9] = h.protocol;
  writeU16(0, buf, offset + 10);
  writeU32(h.src, buf, offset + 12);
  writeU32(h.dst, buf, offset + 16);
  writeU16(internetChecksum(buf, offset, IPV4_MIN_HEADER_LENGTH), buf, offset + 10);
  return IPV4_MIN_HEADER_LENGTH;
}

/** True for every fragment of a fragmented datagram, the first one included. */
export function isIpv4Fragment(h: Ipv4Header): boolean {
  return (h.flags & IPV4_FLAG_MF) !== 0 || h.fragmentOffset !== 0;
}

/**
 * RFC 1071: the ones' complement of the ones' complement sum of the 16-bit words in
 * buf[offset, offset + length), an odd last byte padded with zero. Over a region whose
 * checksum field holds 0 this is the value to store; over a region that already holds a
 * correct checksum it is 0.
 */
export function internetChecksum(buf: Uint8Array, offset: number, length: number): number {
  let sum = 0;
  const end = offset + length - 1;
  let i = offset;
  for (; i < end; i += 2) sum += ((buf[i] ?? 0) << 8) | (buf[i + 1] ?? 0);
  if (i === end) sum += (buf[i] ?? 0) << 8;
  // Deferred carries: a 64 KiB region sums to under 2^32, so one division and two folds suffice.
  sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * RFC 1624 equation 3, HC' = ~(~HC + ~m + m'): the checksum after one 16-bit word covered by
 * it changes from oldWord to newWord. Equation 3 rather than RFC 1141's form, because it
 * gives the same result as a full recomputation even where the sum passes through -0.
 */
export function checksumAdjust(checksum: number, oldWord: number, newWord: number): number {
  let sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Whether the header checksum at buf[offset] verifies (RFC 1071 section 1, step 4). */
export function ipv4ChecksumValid(buf: Uint8Array, offset: number, headerLength: number): boolean {
  return internetChecksum(buf, offset, headerLength) === 0;
}

/**
 * Decrements the TTL of the header at buf[offset] in place, patching the checksum
 * incrementally; 'ttl-exceeded' (header untouched) when the TTL would reach zero, since
 * RFC 1812 section 5.3.1 forbids forwarding such a packet.
 */
export function decrementIpv4Ttl(buf: Uint8Array, offset: number): Verdict {
  const ttl = buf[offset + 8] ?? 0;
  if (ttl <= 1) return 'ttl-exceeded';
  // TTL shares its checksum word with the protocol byte.
  const oldWord = readU16(buf, offset + 8);
  writeU16(checksumAdjust(readU16(buf, offset + 10), oldWord, oldWord - 0x100), buf, offset + 10);
  buf[offset + 8] = ttl - 1;
  return 'ok';
}

/** Rewrites the total length of the header at buf[offset], patching the checksum incrementally. */
export function setIpv4TotalLength(buf: Uint8Array, offset: number, totalLength: number): void {
  const checksum = checksumAdjust(readU16(buf, offset + 10), readU16(buf, offset + 2), totalLength);
  writeU16(totalLength, buf, offset + 2);
  writeU16(checksum, buf, offset + 10);
}
