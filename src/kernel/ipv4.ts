/**
 * The few IPv4 and MAC conversions the kernel adapter needs between the intent's text and
 * netlink's bytes. Pure; everything here is IPv4 because the kernel intent is IPv4-only.
 */

/** Dotted quad to a 32-bit unsigned number, or undefined when the text is not one. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
}

/** Network-order bytes, as netlink carries addresses. */
export function ipv4Bytes(text: string): Buffer {
  const value = parseIpv4(text);
  if (value === undefined) throw new TypeError(`not an IPv4 address: ${text}`);
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(value, 0);
  return buf;
}

export function ipv4FromBytes(buf: Uint8Array): string {
  return `${buf[0] ?? 0}.${buf[1] ?? 0}.${buf[2] ?? 0}.${buf[3] ?? 0}`;
}

export function maskOf(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

export interface Ipv4Prefix {
  address: string;
  length: number;
}

/** "a.b.c.d/n" with no host bits set; undefined otherwise. */
export function parseIpv4Prefix(text: string): Ipv4Prefix | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const value = parseIpv4(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (value === undefined || !/^(0|[1-9][0-9]?)$/.test(lengthText)) return undefined;
  const length = Number(lengthText);
  if (length > 32 || ((value & ~maskOf(length)) >>> 0) !== 0) return undefined;
  return { address: formatIpv4(value), length };
}

/** The prefix an address/length lies in: 192.168.1.1/24 -> "192.168.1.0/24". */
export function networkOf(address: string, length: number): string {
  const value = parseIpv4(address);
  if (value === undefined) throw new TypeError(`not an IPv4 address: ${address}`);
  return `${formatIpv4((value & maskOf(length)) >>> 0)}/${length}`;
}

/** Canonical MAC (12 lowercase hex digits) to 6 bytes. */
export function macBytes(mac: string): Buffer {
  if (!/^[0-9a-f]{12}$/.test(mac)) throw new TypeError(`not a canonical MAC: ${mac}`);
  return Buffer.from(mac, 'hex');
}

export function macFromBytes(buf: Uint8Array): string {
  return Buffer.from(buf).toString('hex');
}
