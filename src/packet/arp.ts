// ARP for IPv4 over Ethernet, RFC 826. The gateway answers requests for its own customer
// address inside each VSID (and may send gratuitous ARP), so only the Ethernet/IPv4 form
// is accepted.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Hardware Type = 1         |     Protocol Type = 0x0800    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |   HLEN = 6    |   PLEN = 4    | Operation (1 req., 2 reply)   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                Sender Hardware Address (bytes 0-3)            |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Sender HA (bytes 4-5)        |  Sender Protocol Addr (0-1)   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Sender PA (bytes 2-3)        |  Target Hardware Addr (0-1)   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                Target Hardware Address (bytes 2-5)            |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                Target Protocol Address                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import type { Verdict } from './drop-reasons.js';
import { ETHERTYPE_IPV4, readMac, writeMac } from './ethernet.js';

export const ARP_LENGTH = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

const HARDWARE_ETHERNET = 1;

export interface ArpPacket {
  operation: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

export function createArpPacket(): ArpPacket {
  return { operation: 0, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0 };
}

/** Parses the ARP packet in buf[offset, end); 'arp-invalid' unless it is an Ethernet/IPv4 request or reply. */
export function parseArp(buf: Uint8Array, offset: number, out: ArpPacket, end: number = buf.length): Verdict {
  if (end - offset < ARP_LENGTH) return 'arp-invalid';
  const operation = readU16(buf, offset + 6);
  if (
    readU16(buf, offset) !== HARDWARE_ETHERNET ||
    readU16(buf, offset + 2) !== ETHERTYPE_IPV4 ||
    buf[offset + 4] !== 6 ||
    buf[offset + 5] !== 4 ||
    (operation !== ARP_REQUEST && operation !== ARP_REPLY)
  ) {
    return 'arp-invalid';
  }
  out.operation = operation;
  out.senderMac = readMac(buf, offset + 8);
  out.senderIp = readU32(buf, offset + 14);
  out.targetMac = readMac(buf, offset + 18);
  out.targetIp = readU32(buf, offset + 24);
  return 'ok';
}

/** Writes p as an Ethernet/IPv4 ARP packet at buf[offset]; returns 28. */
export function formatArp(p: ArpPacket, buf: Uint8Array, offset: number): number {
  writeU16(HARDWARE_ETHERNET, buf, offset);
  writeU16(ETHERTYPE_IPV4, buf, offset + 2);
  buf[offset + 4] = 6;
  buf[offset + 5] = 4;
  writeU16(p.operation, buf, offset + 6);
  writeMac(p.senderMac, buf, offset + 8);
  writeU32(p.senderIp, buf, offset + 14);
  writeMac(p.targetMac, buf, offset + 18);
  writeU32(p.targetIp, buf, offset + 24);
  return ARP_LENGTH;
}
