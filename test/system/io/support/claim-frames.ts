/**
 * IPv4 frames for the flow claim tests, every header field under the test's control
 * (TTL, flags and fragment offset, options, TCP flags, truncation), so that each rule of
 * the claim's decision can be given a frame that breaks only that rule. The IPv4 header
 * checksum is real (the kernel drops a bad one in ip_rcv, before netfilter would count
 * it); UDP checksums are 0 ("none", RFC 768) and TCP checksums are left 0, as nothing
 * here goes past netfilter's PREROUTING to a TCP socket.
 */
import { macBytes } from './frames.js';

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

/** Dotted IPv4 text to the unsigned 32-bit number a ClaimTuple carries. */
export function ipv4Number(text: string): number {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${text}`);
  return parts.reduce((n, p) => n * 256 + p, 0);
}

export interface Ipv4Spec {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  protocol: number;
  /** Everything after the IPv4 header. */
  payload: Uint8Array;
  ttl?: number;
  /** Default true, as Linux sends: DF alone must not keep a flow from being claimed. */
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** In 8-byte units (RFC 791, 3.1). */
  fragmentOffset?: number;
  /** Option bytes (a multiple of 4): IHL grows by their length / 4. */
  options?: Uint8Array;
  /** An 802.1Q tag with this VLAN id (0: a priority tag, which the kernel strips and goes on). */
  vlan?: number;
}

export function ipv4Frame(spec: Ipv4Spec): Uint8Array {
  const options = spec.options ?? new Uint8Array(0);
  if (options.length % 4 !== 0) throw new Error('IPv4 options must fill whole 32-bit words');
  const headerLength = 20 + options.length;
  const total = headerLength + spec.payload.length;
  const h = new Uint8Array(headerLength);
  const flags = ((spec.dontFragment ?? true) ? 0x4000 : 0) | (spec.moreFragments === true ? 0x2000 : 0) | (spec.fragmentOffset ?? 0);
  h.set([0x40 | (headerLength / 4), 0, total >> 8, total & 0xff, 0x12, 0x34, flags >> 8, flags & 0xff, spec.ttl ?? 64, spec.protocol, 0, 0]);
  h.set(spec.srcIp.split('.').map(Number), 12);
  h.set(spec.dstIp.split('.').map(Number), 16);
  h.set(options, 20);
  let sum = 0;
  for (let i = 0; i < headerLength; i += 2) sum += ((h[i] ?? 0) << 8) | (h[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  const checksum = ~sum & 0xffff;
  h[10] = checksum >> 8;
  h[11] = checksum & 0xff;
  const tag = spec.vlan === undefined ? [] : [0x81, 0x00, (spec.vlan >> 8) & 0x0f, spec.vlan & 0xff];
  const frame = new Uint8Array(14 + tag.length + total);
  frame.set(macBytes(spec.dstMac), 0);
  frame.set(macBytes(spec.srcMac), 6);
  frame.set([...tag, 0x08, 0x00], 12);
  frame.set(h, 14 + tag.length);
  frame.set(spec.payload, 14 + tag.length + headerLength);
  return frame;
}

export function udpDatagram(srcPort: number, dstPort: number, data: Uint8Array): Uint8Array {
  const udp = new Uint8Array(8 + data.length);
  udp.set([srcPort >> 8, srcPort & 0xff, dstPort >> 8, dstPort & 0xff, udp.length >> 8, udp.length & 0xff, 0, 0]);
  udp.set(data, 8);
  return udp;
}

/** A 20-byte TCP header (no options) and `data`. */
export function tcpSegment(srcPort: number, dstPort: number, flags: number, data: Uint8Array): Uint8Array {
  const tcp = new Uint8Array(20 + data.length);
  tcp.set([srcPort >> 8, srcPort & 0xff, dstPort >> 8, dstPort & 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags, 0xff, 0xff]);
  tcp.set(data, 20);
  return tcp;
}

/** ASCII text padded with '.' to `length` bytes (at least the text). */
export function marker(text: string, length = 0): Uint8Array {
  const bytes = new Uint8Array(Math.max(length, text.length)).fill(0x2e);
  bytes.set(new TextEncoder().encode(text));
  return bytes;
}
