/**
 * Hand-built test frames (Ethernet II, optional 802.1Q tag, IPv4, UDP / GRE / ARP),
 * independent of src/packet so that the I/O tests do not lean on the code other tests
 * cover. IPv4 header checksums are real; UDP checksums are 0 ("none", RFC 768), which
 * the kernel accepts for IPv4.
 */

export function macBytes(text: string): Uint8Array {
  return Uint8Array.from(text.split(':').map((part) => parseInt(part, 16)));
}

function ipv4Bytes(text: string): number[] {
  return text.split('.').map(Number);
}

function ipv4Header(src: string, dst: string, protocol: number, payloadLength: number): Uint8Array {
  const h = new Uint8Array(20);
  const total = 20 + payloadLength;
  h.set([0x45, 0, total >> 8, total & 0xff, 0, 1, 0x40, 0, 64, protocol, 0, 0]);
  h.set(ipv4Bytes(src), 12);
  h.set(ipv4Bytes(dst), 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ((h[i] ?? 0) << 8) | (h[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  const checksum = ~sum & 0xffff;
  h[10] = checksum >> 8;
  h[11] = checksum & 0xff;
  return h;
}

function ethernet(dstMac: string, srcMac: string, ethertype: number, payload: Uint8Array, vlan?: number): Uint8Array {
  const tag = vlan === undefined ? [] : [0x81, 0x00, (vlan >> 8) & 0x0f, vlan & 0xff];
  const frame = new Uint8Array(14 + tag.length + payload.length);
  frame.set(macBytes(dstMac), 0);
  frame.set(macBytes(srcMac), 6);
  frame.set(tag, 12);
  frame.set([ethertype >> 8, ethertype & 0xff], 12 + tag.length);
  frame.set(payload, 14 + tag.length);
  return frame;
}

export interface Addressing {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  vlan?: number;
}

export function udpFrame(a: Addressing & { srcPort: number; dstPort: number; payload: string | Uint8Array }): Uint8Array {
  const data = typeof a.payload === 'string' ? new TextEncoder().encode(a.payload) : a.payload;
  const udp = new Uint8Array(8 + data.length);
  udp.set([a.srcPort >> 8, a.srcPort & 0xff, a.dstPort >> 8, a.dstPort & 0xff, udp.length >> 8, udp.length & 0xff, 0, 0]);
  udp.set(data, 8);
  const ip = new Uint8Array(20 + udp.length);
  ip.set(ipv4Header(a.srcIp, a.dstIp, 17, udp.length));
  ip.set(udp, 20);
  return ethernet(a.dstMac, a.srcMac, 0x0800, ip, a.vlan);
}

/** IPv4 + GRE with a key (RFC 7637 NVGRE shape: K bit, protocol 0x6558), inner bytes opaque. */
export function greFrame(a: Addressing & { key: number; inner: string }): Uint8Array {
  const inner = new TextEncoder().encode(a.inner);
  const gre = new Uint8Array(8 + inner.length);
  gre.set([0x20, 0x00, 0x65, 0x58, (a.key >>> 24) & 0xff, (a.key >>> 16) & 0xff, (a.key >>> 8) & 0xff, a.key & 0xff]);
  gre.set(inner, 8);
  const ip = new Uint8Array(20 + gre.length);
  ip.set(ipv4Header(a.srcIp, a.dstIp, 47, gre.length));
  ip.set(gre, 20);
  return ethernet(a.dstMac, a.srcMac, 0x0800, ip, a.vlan);
}

export function arpRequest(srcMac: string, srcIp: string, targetIp: string): Uint8Array {
  const arp = new Uint8Array(28);
  arp.set([0, 1, 0x08, 0x00, 6, 4, 0, 1]);
  arp.set(macBytes(srcMac), 8);
  arp.set(ipv4Bytes(srcIp), 14);
  arp.set(ipv4Bytes(targetIp), 24);
  return ethernet('ff:ff:ff:ff:ff:ff', srcMac, 0x0806, arp);
}

export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** True when the hex dump of a frame contains the ASCII marker. */
export const hexHas = (frameHex: string, marker: string): boolean => frameHex.includes(Buffer.from(marker, 'latin1').toString('hex'));
