/** Builders of whole frames for pipeline tests, on top of the packet codecs. */
import { formatArp, ARP_REQUEST } from '../../src/packet/arp.js';
import { formatEthernet } from '../../src/packet/ethernet.js';
import { formatIpv4, IP_PROTOCOL_GRE, IP_PROTOCOL_UDP } from '../../src/packet/ipv4.js';
import { formatNvgre } from '../../src/packet/nvgre.js';
import type { KeyFormat } from '../../src/packet/nvgre.js';

export const ip = (text: string): number => text.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
export const macNum = (text: string): number => parseInt(text.replace(/[:-]/g, ''), 16);

export interface InnerSpec {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  srcPort?: number;
  dstPort?: number;
  payload?: number;
  vlan?: number;
}

/** An Ethernet/IPv4/UDP frame. */
export function udpFrame(spec: InnerSpec): Buffer {
  const payload = spec.payload ?? 18;
  const tag = spec.vlan === undefined ? 0 : 4;
  const buf = Buffer.alloc(14 + tag + 20 + 8 + payload, 0xab);
  formatEthernet({ dst: macNum(spec.dstMac), src: macNum(spec.srcMac), tpid: spec.vlan === undefined ? 0 : 0x8100, tci: spec.vlan ?? 0, ethertype: 0x0800, headerLength: 0 }, buf, 0);
  const l3 = 14 + tag;
  formatIpv4(
    { headerLength: 20, tos: 0, totalLength: 28 + payload, id: 1, flags: 2, fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL_UDP, checksum: 0, src: ip(spec.srcIp), dst: ip(spec.dstIp) },
    buf,
    l3,
  );
  buf.writeUInt16BE(spec.srcPort ?? 1234, l3 + 20);
  buf.writeUInt16BE(spec.dstPort ?? 5678, l3 + 22);
  buf.writeUInt16BE(8 + payload, l3 + 24);
  buf.writeUInt16BE(0, l3 + 26);
  return buf;
}

export function arpRequest(spec: { srcMac: string; srcIp: string; targetIp: string }): Buffer {
  const buf = Buffer.alloc(42);
  formatEthernet({ dst: 0xffffffffffff, src: macNum(spec.srcMac), tpid: 0, tci: 0, ethertype: 0x0806, headerLength: 0 }, buf, 0);
  formatArp({ operation: ARP_REQUEST, senderMac: macNum(spec.srcMac), senderIp: ip(spec.srcIp), targetMac: 0, targetIp: ip(spec.targetIp) }, buf, 14);
  return buf;
}

export function arpReply(spec: { srcMac: string; srcIp: string; dstMac: string; dstIp: string }): Buffer {
  const buf = Buffer.alloc(42);
  formatEthernet({ dst: macNum(spec.dstMac), src: macNum(spec.srcMac), tpid: 0, tci: 0, ethertype: 0x0806, headerLength: 0 }, buf, 0);
  formatArp({ operation: 2, senderMac: macNum(spec.srcMac), senderIp: ip(spec.srcIp), targetMac: macNum(spec.dstMac), targetIp: ip(spec.dstIp) }, buf, 14);
  return buf;
}

export interface OuterSpec {
  srcMac?: string;
  dstMac?: string;
  srcPa: string;
  dstPa: string;
  vsid: number;
  flowId?: number;
  keyFormat?: KeyFormat;
  /** Overrides the GRE flags/version word (default 0x2000: K only). */
  flags?: number;
  protocol?: number;
  /** Sets MF, making the outer packet a fragment. */
  fragment?: boolean;
}

/** Wraps an inner frame in Ethernet/IPv4/GRE as an NVGRE host would. */
export function nvgreFrame(outer: OuterSpec, inner: Buffer): Buffer {
  const buf = Buffer.alloc(42 + inner.length);
  formatEthernet({ dst: macNum(outer.dstMac ?? '02000000aa01'), src: macNum(outer.srcMac ?? '02000000bb01'), tpid: 0, tci: 0, ethertype: 0x0800, headerLength: 0 }, buf, 0);
  formatIpv4(
    { headerLength: 20, tos: 0, totalLength: 28 + inner.length, id: 7, flags: outer.fragment ? 1 : 2, fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL_GRE, checksum: 0, src: ip(outer.srcPa), dst: ip(outer.dstPa) },
    buf,
    14,
  );
  formatNvgre({ vsid: outer.vsid, flowId: outer.flowId ?? 0 }, buf, 34, outer.keyFormat ?? 'rfc7637');
  if (outer.flags !== undefined) buf.writeUInt16BE(outer.flags, 34);
  if (outer.protocol !== undefined) buf.writeUInt16BE(outer.protocol, 36);
  inner.copy(buf, 42);
  return buf;
}

/** The TCP/UDP checksum of the IPv4 packet at buf[l3] (header without options), over pseudo-header and segment. */
export function transportChecksum(buf: Uint8Array, l3: number): number {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const total = b.readUInt16BE(l3 + 2);
  const segment = total - 20;
  const pseudo = Buffer.alloc(12 + segment);
  b.copy(pseudo, 0, l3 + 12, l3 + 20);
  pseudo[9] = b[l3 + 9]!;
  pseudo.writeUInt16BE(segment, 10);
  b.copy(pseudo, 12, l3 + 20, l3 + 20 + segment);
  let sum = 0;
  for (let i = 0; i < pseudo.length; i += 2) sum += (pseudo[i]! << 8) | (pseudo[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An Ethernet/IPv4/TCP frame (20-byte header, the given flags, default ACK) with correct checksums. */
export function tcpFrame(spec: InnerSpec & { flags?: number }): Buffer {
  const payload = spec.payload ?? 10;
  const buf = Buffer.alloc(14 + 20 + 20 + payload, 0xcd);
  formatEthernet({ dst: macNum(spec.dstMac), src: macNum(spec.srcMac), tpid: 0, tci: 0, ethertype: 0x0800, headerLength: 0 }, buf, 0);
  formatIpv4(
    { headerLength: 20, tos: 0, totalLength: 40 + payload, id: 1, flags: 2, fragmentOffset: 0, ttl: 64, protocol: 6, checksum: 0, src: ip(spec.srcIp), dst: ip(spec.dstIp) },
    buf,
    14,
  );
  buf.writeUInt16BE(spec.srcPort ?? 40000, 34);
  buf.writeUInt16BE(spec.dstPort ?? 443, 36);
  buf.writeUInt32BE(1000, 38);
  buf.writeUInt32BE(2000, 42);
  buf[46] = 0x50;
  buf[47] = spec.flags ?? 0x10;
  buf.writeUInt16BE(0xffff, 48);
  buf.writeUInt16BE(0, 50);
  buf.writeUInt16BE(0, 52);
  buf.writeUInt16BE(transportChecksum(buf, 14), 50);
  return buf;
}

/** Sets the UDP checksum of an Ethernet/IPv4/UDP frame built by udpFrame (which leaves it 0, "none"). */
export function withUdpChecksum(frame: Buffer): Buffer {
  frame.writeUInt16BE(0, 40);
  const checksum = transportChecksum(frame, 14);
  frame.writeUInt16BE(checksum === 0 ? 0xffff : checksum, 40);
  return frame;
}
