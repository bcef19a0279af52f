// ICMP for IPv4, RFC 792, with the next-hop MTU of RFC 1191 section 4.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Type      |     Code      |          Checksum             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  type-specific: unused (0) for time exceeded; for destination |
//   |  unreachable code 4, unused (16 bits) + Next-Hop MTU (16 bits)|
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |      Internet Header + 64 bits of Original Data Datagram      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The gateway originates two errors: "fragmentation needed and DF set" (type 3 code 4) when
// an inner packet plus the 42 bytes of NVGRE overhead exceeds the provider MTU, so the
// customer's path MTU discovery works through the tunnel; and "time exceeded in transit"
// (type 11 code 0) when routing between virtual subnets would take the TTL to zero.
// The quote is the original IP header and the first 8 bytes of its payload, as RFC 792
// requires: enough for the sender to find the transport connection from its ports. The
// formatters write only the ICMP message; the caller wraps it in an IPv4 header (protocol 1)
// and must first apply RFC 1812 section 4.3.2.7 (no errors about ICMP errors, broadcasts
// or non-first fragments).

import { readU32, writeU16, writeU32 } from './bytes.js';
import type { Verdict } from './drop-reasons.js';
import { internetChecksum } from './ipv4.js';

export const ICMP_HEADER_LENGTH = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_CODE_FRAGMENTATION_NEEDED = 4;
export const ICMP_CODE_TTL_EXCEEDED = 0;

/** The longest quote: a 60-byte IPv4 header with options, plus 8 bytes of payload. */
export const ICMP_MAX_QUOTE_LENGTH = 68;

export interface IcmpHeader {
  type: number;
  code: number;
  checksum: number;
  /** Bytes 4-7, whose meaning depends on type and code. */
  rest: number;
}

export function createIcmpHeader(): IcmpHeader {
  return { type: 0, code: 0, checksum: 0, rest: 0 };
}

/** Parses the ICMP header in buf[offset, end). The checksum is read, not verified. */
export function parseIcmp(buf: Uint8Array, offset: number, out: IcmpHeader, end: number = buf.length): Verdict {
  if (end - offset < ICMP_HEADER_LENGTH) return 'icmp-invalid';
  out.type = buf[offset] ?? 0;
  out.code = buf[offset + 1] ?? 0;
  out.checksum = ((buf[offset + 2] ?? 0) << 8) | (buf[offset + 3] ?? 0);
  out.rest = readU32(buf, offset + 4);
  return 'ok';
}

/**
 * Writes a "fragmentation needed and DF set" message about the IPv4 packet in
 * original[originalOffset, originalEnd) at buf[offset]; returns the bytes written
 * (at most ICMP_HEADER_LENGTH + ICMP_MAX_QUOTE_LENGTH).
 */
export function formatIcmpFragmentationNeeded(
  buf: Uint8Array,
  offset: number,
  original: Uint8Array,
  originalOffset: number,
  originalEnd: number,
  nextHopMtu: number,
): number {
  return formatError(
    buf,
    offset,
    ICMP_DEST_UNREACHABLE,
    ICMP_CODE_FRAGMENTATION_NEEDED,
    nextHopMtu & 0xffff,
    original,
    originalOffset,
    originalEnd,
  );
}

/** Writes a "time to live exceeded in transit" message, as formatIcmpFragmentationNeeded. */
export function formatIcmpTimeExceeded(
  buf: Uint8Array,
  offset: number,
  original: Uint8Array,
  originalOffset: number,
  originalEnd: number,
): number {
  return formatError(buf, offset, ICMP_TIME_EXCEEDED, ICMP_CODE_TTL_EXCEEDED, 0, original, originalOffset, originalEnd);
}

function formatError(
  buf: Uint8Array,
  offset: number,
  type: number,
  code: number,
  rest: number,
  original: Uint8Array,
  originalOffset: number,
  originalEnd: number,
): number {
  // Quote the header as its IHL says and 8 more bytes, but never past the end of the
  // original packet (its total length) or of the bytes we were given.
  const headerLength = ((original[originalOffset] ?? 0) & 0x0f) * 4;
  const totalLength = ((original[originalOffset + 2] ?? 0) << 8) | (original[originalOffset + 3] ?? 0);
  const quoteLength = Math.max(0, Math.min(headerLength + 8, totalLength, originalEnd - originalOffset));
  buf[offset] = type;
  buf[offset + 1] = code;
  writeU16(0, buf, offset + 2);
  writeU32(rest, buf, offset + 4);
  // A byte loop, not set(subarray(...)), because subarray allocates a view per call.
  for (let i = 0; i < quoteLength; i++) buf[offset + ICMP_HEADER_LENGTH + i] = original[originalOffset + i] ?? 0;
  const length = ICMP_HEADER_LENGTH + quoteLength;
  writeU16(internetChecksum(buf, offset, length), buf, offset + 2);
  return length;
}
