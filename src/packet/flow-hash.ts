// The 8-bit FlowID of RFC 7637 section 3.2, from the inner frame: "per-flow entropy for
// flows in the same VSID", which transit routers hash for ECMP along with the outer
// addresses. The same flow must always get the same FlowID (or its packets could be
// reordered across paths); different flows should spread over all 256 values.
//
// What identifies a flow, most specific first:
// - IPv4 TCP/UDP/SCTP, not a fragment: addresses, protocol and ports (5-tuple);
// - other IPv4, and every fragment (only the first carries ports, and all fragments of a
//   datagram must stay together): addresses and protocol;
// - IPv6: addresses, next header and, when the next header is TCP/UDP/SCTP, the ports
//   (extension headers are not walked; such packets hash on the 3-tuple);
// - anything else: the MAC pair and ethertype. Routed traffic through the gateway always
//   has the same MAC pair, which is why the IP cases come first.
//
// The hash is deliberately not symmetric: A->B and B->A usually get different FlowIDs.
// Each direction is encapsulated by a different NVE towards a different outer destination,
// so the two directions take independent ECMP paths whatever the FlowID; symmetry would
// buy nothing and cost entropy.
//
// The mixing is MurmurHash3's 32-bit block and finaliser (public domain, Austin Appleby),
// with Math.imul so that nothing leaves the 32-bit integer range and nothing allocates.

import { readU16, readU32 } from './bytes.js';
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from './ethernet.js';
import { IP_PROTOCOL_TCP, IP_PROTOCOL_UDP, IPV4_MIN_HEADER_LENGTH } from './ipv4.js';

const IP_PROTOCOL_SCTP = 132;
const IPV6_HEADER_LENGTH = 40;

function hasPorts(protocol: number): boolean {
  return protocol === IP_PROTOCOL_TCP || protocol === IP_PROTOCOL_UDP || protocol === IP_PROTOCOL_SCTP;
}

function mix(hash: number, word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  let h = hash ^ k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(hash: number): number {
  let h = hash;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  // After the finaliser every output bit depends on every input bit, so the low byte will do.
  return h & 0xff;
}

/** The FlowID (0-255) for the inner Ethernet frame in frame[offset, end). */
export function flowIdForFrame(frame: Uint8Array, offset: number, end: number = frame.length): number {
  if (end - offset < ETHERNET_HEADER_LENGTH) return 0;
  const ethertype = readU16(frame, offset + 12);
  const l3 = offset + ETHERNET_HEADER_LENGTH;
  const l3Length = end - l3;

  if (ethertype === ETHERTYPE_IPV4 && l3Length >= IPV4_MIN_HEADER_LENGTH && (frame[l3] ?? 0) >>> 4 === 4) {
    const headerLength = ((frame[l3] ?? 0) & 0x0f) * 4;
    const protocol = frame[l3 + 9] ?? 0;
    let h = mix(ethertype, readU32(frame, l3 + 12));
    h = mix(h, readU32(frame, l3 + 16));
    h = mix(h, protocol);
    const fragment = (readU16(frame, l3 + 6) & 0x3fff) !== 0;
    if (!fragment && hasPorts(protocol) && headerLength >= IPV4_MIN_HEADER_LENGTH && l3Length >= headerLength + 4) {
      h = mix(h, readU32(frame, l3 + headerLength));
    }
    return finish(h);
  }

  if (ethertype === ETHERTYPE_IPV6 && l3Length >= IPV6_HEADER_LENGTH) {
    const nextHeader = frame[l3 + 6] ?? 0;
    let h = ethertype;
    for (let i = 8; i < IPV6_HEADER_LENGTH; i += 4) h = mix(h, readU32(frame, l3 + i));
    h = mix(h, nextHeader);
    if (hasPorts(nextHeader) && l3Length >= IPV6_HEADER_LENGTH + 4) {
      h = mix(h, readU32(frame, l3 + IPV6_HEADER_LENGTH));
    }
    return finish(h);
  }

  let h = mix(ethertype, readU32(frame, offset));
  h = mix(h, readU32(frame, offset + 4));
  h = mix(h, readU32(frame, offset + 8));
  return finish(h);
}
