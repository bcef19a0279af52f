// Ethernet II (DIX / IEEE 802.3 clause 3.2.6 with a type field) and at most one
// IEEE 802.1Q (C-tag, TPID 0x8100) or 802.1ad (S-tag, TPID 0x88a8) tag.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Destination MAC Address                    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Destination MAC (cont.)      |      Source MAC Address       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                  Source MAC Address (cont.)                   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  optional TPID 0x8100/0x88a8  | PCP |D|        VLAN ID        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |           EtherType           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A MAC address leaves this module as a 48-bit integer in a JavaScript number (exact up to
// 2^53), so the data path can use it as a Map key without building a string per packet.
// The frame check sequence is never present: NICs strip it and RFC 7637 does not carry it.

import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import type { Verdict } from './drop-reasons.js';

export const ETHERNET_HEADER_LENGTH = 14;
export const BROADCAST_MAC = 0xffff_ffff_ffff;
export const VLAN_TAG_LENGTH = 4;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
/** Transparent Ethernet Bridging: the GRE protocol type of an NVGRE payload. */
export const ETHERTYPE_TEB = 0x6558;

export interface EthernetHeader {
  dst: number;
  src: number;
  /** 0x8100 or 0x88a8 when the frame carries a tag, otherwise 0. */
  tpid: number;
  /** Tag control information (PCP, DEI, VLAN ID); 0 when untagged. */
  tci: number;
  /** The type of the payload, after the tag if there is one. */
  ethertype: number;
  /** 14, or 18 with a tag: where the payload starts. */
  headerLength: number;
}

export function createEthernetHeader(): EthernetHeader {
  return { dst: 0, src: 0, tpid: 0, tci: 0, ethertype: 0, headerLength: ETHERNET_HEADER_LENGTH };
}

export function isVlanTpid(ethertype: number): boolean {
  return ethertype === ETHERTYPE_VLAN || ethertype === ETHERTYPE_QINQ;
}

/** Parses the Ethernet header of the frame that occupies buf[offset, end). */
export function parseEthernet(
  buf: Uint8Array,
  offset: number,
  out: EthernetHeader,
  end: number = buf.length,
): Verdict {
  if (end - offset < ETHERNET_HEADER_LENGTH) return 'truncated-ethernet';
  out.dst = readMac(buf, offset);
  out.src = readMac(buf, offset + 6);
  const type = readU16(buf, offset + 12);
  if (!isVlanTpid(type)) {
    out.tpid = 0;
    out.tci = 0;
    out.ethertype = type;
    out.headerLength = ETHERNET_HEADER_LENGTH;
    return 'ok';
  }
  if (end - offset < ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH) return 'truncated-ethernet';
  out.tpid = type;
  out.tci = readU16(buf, offset + 14);
  out.ethertype = readU16(buf, offset + 16);
  out.headerLength = ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH;
  return 'ok';
}

/** Writes h at buf[offset] (with a tag when h.tpid is non-zero); returns the bytes written. */
export function formatEthernet(h: EthernetHeader, buf: Uint8Array, offset: number): number {
  writeMac(h.dst, buf, offset);
  writeMac(h.src, buf, offset + 6);
  if (h.tpid === 0) {
    writeU16(h.ethertype, buf, offset + 12);
    return ETHERNET_HEADER_LENGTH;
  }
  writeU16(h.tpid, buf, offset + 12);
  writeU16(h.tci, buf, offset + 14);
  writeU16(h.ethertype, buf, offset + 16);
  return ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH;
}

/** The 6 bytes at buf[offset] as a 48-bit integer. */
export function readMac(buf: Uint8Array, offset: number): number {
  return readU16(buf, offset) * 0x1_0000_0000 + readU32(buf, offset + 2);
}

export function writeMac(mac: number, buf: Uint8Array, offset: number): void {
  writeU16(Math.floor(mac / 0x1_0000_0000), buf, offset);
  writeU32(mac >>> 0, buf, offset + 2);
}

/** Canonical text form: 12 lowercase hex digits, no separators (e.g. "00155d012a0b"). */
export function macToString(mac: number): string {
  return mac.toString(16).padStart(12, '0');
}

/** Inverse of macToString; throws RangeError on anything but exactly 12 hex digits. */
export function macFromString(text: string): number {
  if (!/^[0-9a-fA-F]{12}$/.test(text)) throw new RangeError(`not a 12-hex-digit MAC address: ${JSON.stringify(text)}`);
  return parseInt(text, 16);
}

export function isMulticastMac(mac: number): boolean {
  // The I/G bit is the least significant bit of the first octet; broadcast is a multicast.
  return Math.floor(mac / 0x100_0000_0000) % 2 === 1;
}
