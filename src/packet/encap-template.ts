// The NVGRE tunnel header, built once and pushed per packet (Open vSwitch's
// build_header / push_header in lib/netdev-native-tnl.c).
//
// Everything in the 42 bytes of outer Ethernet (14), IPv4 (20) and GRE (8) headers is fixed
// by the lookup record the control plane installed, except four fields: the IPv4 total
// length, the IPv4 identification, the IPv4 header checksum that covers both, and the FlowID
// byte of the GRE key. The template holds the rest, with a checksum computed for total length
// 0 and identification 0, so a push is a 42-byte copy, three 16-bit writes and one byte.
// Those 42 bytes are the overhead RFC 7637 section 4.4 asks the provider network's MTU to
// absorb.
//
// The outer header always has DF set: RFC 7637 section 4.4 forbids a sender NVE to fragment
// and lets a receiver drop fragments (this gateway's decoder does: ipv4-fragment), so a
// provider path with too small an MTU must show up as ICMP "fragmentation needed".

import { readU16, writeU16 } from './bytes.js';
import type { Verdict } from './drop-reasons.js';
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_IPV4, formatEthernet } from './ethernet.js';
import { checksumAdjust, formatIpv4, IP_PROTOCOL_GRE, IPV4_FLAG_DF, IPV4_MIN_HEADER_LENGTH } from './ipv4.js';
import { formatNvgre, NVGRE_HEADER_LENGTH, VSID_MAX } from './nvgre.js';
import type { KeyFormat } from './nvgre.js';

export const ENCAP_OVERHEAD = ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + NVGRE_HEADER_LENGTH;

/** The largest inner frame whose outer IPv4 total length still fits in 16 bits. */
export const MAX_INNER_LENGTH = 0xffff - IPV4_MIN_HEADER_LENGTH - NVGRE_HEADER_LENGTH;

const IP = ETHERNET_HEADER_LENGTH;
const KEY = IP + IPV4_MIN_HEADER_LENGTH + 4;

export interface EncapTemplateSpec {
  outerSrcMac: number;
  outerDstMac: number;
  outerSrcIp: number;
  outerDstIp: number;
  vsid: number;
  ttl: number;
  /** Differentiated Services code point for the outer header, 0-63; 0 when absent. */
  dscp?: number;
  keyFormat: KeyFormat;
}

export interface EncapTemplate {
  /** Outer Ethernet + IPv4 + GRE, ENCAP_OVERHEAD bytes. */
  readonly bytes: Uint8Array;
  /** Offset in `bytes` of the key byte that holds the FlowID, which depends on the key format. */
  readonly flowIdOffset: number;
}

/** Builds the template for one tunnel; throws RangeError on an out-of-range field (control-plane time). */
export function buildEncapTemplate(spec: EncapTemplateSpec): EncapTemplate {
  const dscp = spec.dscp ?? 0;
  checkRange('vsid', spec.vsid, 0, VSID_MAX);
  checkRange('ttl', spec.ttl, 1, 255);
  checkRange('dscp', dscp, 0, 63);
  checkRange('outerSrcIp', spec.outerSrcIp, 0, 0xffff_ffff);
  checkRange('outerDstIp', spec.outerDstIp, 0, 0xffff_ffff);
  checkRange('outerSrcMac', spec.outerSrcMac, 0, 0xffff_ffff_ffff);
  checkRange('outerDstMac', spec.outerDstMac, 0, 0xffff_ffff_ffff);

  const bytes = new Uint8Array(ENCAP_OVERHEAD);
  formatEthernet(
    { dst: spec.outerDstMac, src: spec.outerSrcMac, tpid: 0, tci: 0, ethertype: ETHERTYPE_IPV4, headerLength: 0 },
    bytes,
    0,
  );
  formatIpv4(
    {
      headerLength: IPV4_MIN_HEADER_LENGTH,
      tos: dscp << 2,
      totalLength: 0,
      id: 0,
      flags: IPV4_FLAG_DF,
      fragmentOffset: 0,
      ttl: spec.ttl,
      protocol: IP_PROTOCOL_GRE,
      checksum: 0,
      src: spec.outerSrcIp,
      dst: spec.outerDstIp,
    },
    bytes,
    IP,
  );
  formatNvgre({ vsid: spec.vsid, flowId: 0 }, bytes, IP + IPV4_MIN_HEADER_LENGTH, spec.keyFormat);
  return { bytes, flowIdOffset: spec.keyFormat === 'rfc7637' ? KEY + 3 : KEY };
}

/**
 * Writes the tunnel header into dst[dstOffset, dstOffset + ENCAP_OVERHEAD), in front of the
 * innerLength-byte inner frame the caller has already placed at dstOffset + ENCAP_OVERHEAD.
 * 'mtu-exceeded' (nothing written) when the result would not fit in an IPv4 packet.
 */
export function pushEncap(
  template: EncapTemplate,
  dst: Uint8Array,
  dstOffset: number,
  innerLength: number,
  flowId: number,
  ipId: number,
): Verdict {
  if (!(innerLength >= 0 && innerLength <= MAX_INNER_LENGTH)) return 'mtu-exceeded';
  const totalLength = IPV4_MIN_HEADER_LENGTH + NVGRE_HEADER_LENGTH + innerLength;
  const id = ipId & 0xffff;
  dst.set(template.bytes, dstOffset);
  const ip = dstOffset + IP;
  // The template's checksum covers length 0 and id 0; RFC 1624 patches each word in turn.
  const templateChecksum = readU16(template.bytes, IP + 10);
  const checksum = checksumAdjust(checksumAdjust(templateChecksum, 0, totalLength), 0, id);
  writeU16(totalLength, dst, ip + 2);
  writeU16(id, dst, ip + 4);
  writeU16(checksum, dst, ip + 10);
  dst[dstOffset + template.flowIdOffset] = flowId;
  return 'ok';
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}
