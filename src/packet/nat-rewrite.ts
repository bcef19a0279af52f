// Rewriting the addresses and ports of an IPv4 TCP or UDP packet that a router forwards
// through NAT (RFC 3022 section 4.1: "NAT must also adjust ... the checksums of the IP and
// TCP/UDP headers"), with the checksums patched incrementally (RFC 1624 equation 3) rather
// than recomputed over the payload.
//
//   IPv4 header (RFC 791)            words changed: source (2), destination (2), and
//                                    TTL/protocol (TTL - 1: RFC 1812 section 5.3.1)
//   TCP/UDP header (RFC 793, 768)    words changed: source port, destination port, and,
//                                    through the pseudo-header, both addresses
//
// A connection's translation is fixed when it is opened, so everything the patch adds to
// the ones' complement sums is computed once per connection direction (natDeltas) and a
// packet costs two additions and folds. A UDP checksum of zero means "none" (RFC 768) and
// stays zero; a computed UDP checksum of zero is sent as 0xffff.
//
// The caller has checked what makes the patch valid: an IPv4 header without options (20
// bytes), not a fragment, TTL above 1, protocol TCP or UDP, and enough bytes for the
// transport header's checksum.

import { IP_PROTOCOL_UDP, IPV4_MIN_HEADER_LENGTH } from './ipv4.js';

/** A connection's addresses and ports in one direction, as the packet carries them (host order numbers). */
export interface FlowTuple {
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
}

/** What a translation adds to the ones' complement sums (RFC 1624: ~m + m' per changed word). */
export interface NatDeltas {
  /** IPv4 header: addresses and the TTL decrement. */
  ip: number;
  /** TCP/UDP checksum: addresses (pseudo-header) and ports. */
  l4: number;
}

const fold = (sum: number): number => {
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
};

/** ~m + m' summed over the 16-bit halves of one 32-bit value. */
const wordDelta32 = (from: number, to: number): number => (~(from >>> 16) & 0xffff) + (~from & 0xffff) + (to >>> 16) + (to & 0xffff);

/** ~m + m' for a 16-bit value. */
const wordDelta16 = (from: number, to: number): number => (~from & 0xffff) + (to & 0xffff);

/**
 * The decrement of TTL by one changes the TTL/protocol word from w to w - 0x100 whatever the
 * protocol: ~w + (w - 0x100) is -0x100 in ones' complement, i.e. 0xfeff.
 */
const TTL_DECREMENT_DELTA = 0xfeff;

/** The sums a translation `from` -> `to` adds, computed once per connection direction. */
export function natDeltas(from: FlowTuple, to: FlowTuple): NatDeltas {
  const addresses = wordDelta32(from.src, to.src) + wordDelta32(from.dst, to.dst);
  return {
    ip: fold(addresses + TTL_DECREMENT_DELTA),
    l4: fold(addresses + wordDelta16(from.srcPort, to.srcPort) + wordDelta16(from.dstPort, to.dstPort)),
  };
}

/** HC' = ~(~HC + delta), RFC 1624 equation 3 with the changed words' sum precomputed. */
const patched = (checksum: number, delta: number): number => ~fold((~checksum & 0xffff) + delta) & 0xffff;

/**
 * Rewrites the IPv4 TCP/UDP packet at buf[l3] in place to the tuple `to` (whose checksum
 * patch is `deltas`, from natDeltas(from, to)), decrementing the TTL.
 */
export function applyNat(buf: Uint8Array, l3: number, to: FlowTuple, deltas: NatDeltas): void {
  const ipChecksum = patched((buf[l3 + 10]! << 8) | buf[l3 + 11]!, deltas.ip);
  buf[l3 + 8]! -= 1;
  buf[l3 + 10] = ipChecksum >>> 8;
  buf[l3 + 11] = ipChecksum & 0xff;
  buf[l3 + 12] = to.src >>> 24;
  buf[l3 + 13] = (to.src >>> 16) & 0xff;
  buf[l3 + 14] = (to.src >>> 8) & 0xff;
  buf[l3 + 15] = to.src & 0xff;
  buf[l3 + 16] = to.dst >>> 24;
  buf[l3 + 17] = (to.dst >>> 16) & 0xff;
  buf[l3 + 18] = (to.dst >>> 8) & 0xff;
  buf[l3 + 19] = to.dst & 0xff;
  const l4 = l3 + IPV4_MIN_HEADER_LENGTH;
  buf[l4] = to.srcPort >>> 8;
  buf[l4 + 1] = to.srcPort & 0xff;
  buf[l4 + 2] = to.dstPort >>> 8;
  buf[l4 + 3] = to.dstPort & 0xff;
  const udp = buf[l3 + 9] === IP_PROTOCOL_UDP;
  const at = l4 + (udp ? 6 : 16);
  const checksum = (buf[at]! << 8) | buf[at + 1]!;
  if (udp && checksum === 0) return;
  let next = patched(checksum, deltas.l4);
  if (udp && next === 0) next = 0xffff;
  buf[at] = next >>> 8;
  buf[at + 1] = next & 0xff;
}
