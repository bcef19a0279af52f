// A reader for classic libpcap files (not pcapng), for tests that replay real captures.
// Format: https://www.tcpdump.org/manpages/pcap-savefile.5.html. A 24-byte file header
// whose magic number gives the byte order and the timestamp unit, then per packet a
// 16-byte record header (seconds, sub-seconds, captured length, original length) and the
// captured bytes.

import { readFileSync } from 'node:fs';

export const LINKTYPE_ETHERNET = 1;
/** Raw IPv4 or IPv6, no link-layer header. */
export const LINKTYPE_RAW = 101;
export const LINKTYPE_IPV4 = 228;

export interface PcapPacket {
  linkType: number;
  /** The captured bytes, possibly fewer than originalLength if the snapshot length cut them. */
  data: Buffer;
  originalLength: number;
  /** Nanoseconds since the epoch, whatever unit the file used. */
  timestampNs: bigint;
}

const MAGIC_MICROSECONDS = 0xa1b2c3d4;
const MAGIC_NANOSECONDS = 0xa1b23c4d;

/** Reads every packet of a classic pcap file (a path or its bytes); throws on a malformed file. */
export function readPcap(source: string | Buffer): PcapPacket[] {
  const file = typeof source === 'string' ? readFileSync(source) : source;
  if (file.length < 24) throw new Error(`pcap: ${file.length} bytes is shorter than the file header`);

  let littleEndian: boolean;
  let nanoseconds: boolean;
  const magicBe = file.readUInt32BE(0);
  const magicLe = file.readUInt32LE(0);
  if (magicBe === MAGIC_MICROSECONDS || magicBe === MAGIC_NANOSECONDS) {
    littleEndian = false;
    nanoseconds = magicBe === MAGIC_NANOSECONDS;
  } else if (magicLe === MAGIC_MICROSECONDS || magicLe === MAGIC_NANOSECONDS) {
    littleEndian = true;
    nanoseconds = magicLe === MAGIC_NANOSECONDS;
  } else {
    throw new Error(`pcap: unknown magic 0x${magicBe.toString(16)} (pcapng is not supported)`);
  }
  const u32 = (offset: number): number => (littleEndian ? file.readUInt32LE(offset) : file.readUInt32BE(offset));

  // The link type is the low 16 bits; the upper bits may carry FCS information.
  const linkType = u32(20) & 0xffff;
  const packets: PcapPacket[] = [];
  let offset = 24;
  while (offset < file.length) {
    if (file.length - offset < 16) throw new Error(`pcap: truncated record header at byte ${offset}`);
    const seconds = BigInt(u32(offset));
    const fraction = BigInt(u32(offset + 4));
    const capturedLength = u32(offset + 8);
    const originalLength = u32(offset + 12);
    offset += 16;
    if (file.length - offset < capturedLength) throw new Error(`pcap: truncated packet data at byte ${offset}`);
    packets.push({
      linkType,
      data: Buffer.from(file.subarray(offset, offset + capturedLength)),
      originalLength,
      timestampNs: seconds * 1_000_000_000n + (nanoseconds ? fraction : fraction * 1000n),
    });
    offset += capturedLength;
  }
  return packets;
}
