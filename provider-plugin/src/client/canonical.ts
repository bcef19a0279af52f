/**
 * The canonical spellings the API stores and returns (its schema examples show them):
 * GUIDs lowercase in braces, MACs as 12 lowercase hex digits, IPv4 dotted quad, IPv6 per
 * RFC 5952, prefixes with host bits clear. The HNV importer parses administrators'
 * spellings into these forms locally, so that a script's record and the gateway's record
 * compare equal by key and by value, and so that a bad value is reported at its line and
 * column before anything is sent. test/contract.test.ts checks these against the gateway.
 */

/** RFC 7637 §3.2: VSIDs 0-4095 are reserved, and 0xFFFFFF is reserved for vendor use. */
export const VSID_MIN = 4096;
export const VSID_MAX = 0xfffffe;

/** Linux interface names as the API accepts them (IFNAMSIZ, no '/', ':' or whitespace). */
export const INTERFACE_NAME = /^[A-Za-z0-9_.@-]{1,15}$/;

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (problem: string): Parsed<never> => ({ ok: false, problem });

export function parseGuid(text: string): Parsed<string> {
  const m = /^\{?([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{12})\}?$/.exec(text);
  if (!m || text.startsWith('{') !== text.endsWith('}')) return bad(`"${text}" is not a GUID such as {11111111-2222-3333-4444-000000005001}`);
  return ok(`{${m.slice(1, 6).join('-').toLowerCase()}}`);
}

export function parseMac(text: string): Parsed<string> {
  let hex: string | undefined;
  if (/^[0-9a-fA-F]{12}$/.test(text)) hex = text.toLowerCase();
  else if (/^[0-9a-fA-F]{2}([-:])[0-9a-fA-F]{2}(?:\1[0-9a-fA-F]{2}){4}$/.test(text)) hex = text.replace(/[-:]/g, '').toLowerCase();
  if (hex === undefined) return bad(`"${text}" is not a MAC address such as 00155D011404 or 00-15-5D-01-14-04`);
  if ((parseInt(hex.slice(0, 2), 16) & 1) === 1) return bad(`${hex} is a multicast or broadcast MAC, not a VM's address`);
  return ok(hex);
}

export function parseVsid(text: string): Parsed<number> {
  if (!/^[0-9]{1,9}$/.test(text)) return bad(`"${text}" is not an integer VSID`);
  const n = Number(text);
  if (n < VSID_MIN || n > VSID_MAX) return bad(`VSID ${n} is outside ${VSID_MIN}..${VSID_MAX} (RFC 7637 reserves 0-4095 and 0xFFFFFF)`);
  return ok(n);
}

export function parseUnsigned(text: string, min: number, max: number, what: string): Parsed<number> {
  if (!/^[0-9]{1,10}$/.test(text)) return bad(`${what} "${text}" is not an integer`);
  const n = Number(text);
  if (n < min || n > max) return bad(`${what} ${n} is outside ${min}..${max}`);
  return ok(n);
}

interface Address {
  family: 4 | 6;
  value: bigint;
}

function ipv4Value(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    // Leading zeros are refused: "010" is octal to some parsers and decimal to others.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function ipv6Value(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let head = text;
  let tail: bigint | undefined;
  if (text.includes('.')) {
    const lastColon = text.lastIndexOf(':');
    tail = ipv4Value(text.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    head = text.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = groupsOf(halves[0] ?? '');
  const right = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  const explicit = left.length + right.length + (tail === undefined ? 0 : 2);
  let groups: number[];
  if (halves.length === 2) {
    if (explicit > 7) return undefined;
    groups = [...left, ...new Array<number>(8 - explicit).fill(0), ...right];
  } else {
    if (explicit !== 8) return undefined;
    groups = left;
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  if (tail !== undefined) value = (value << 32n) | tail;
  return value;
}

function parseAddress(text: string): Address | undefined {
  if (text.length > 45) return undefined;
  if (text.includes(':')) {
    const value = ipv6Value(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = ipv4Value(text);
  return value === undefined ? undefined : { family: 4, value };
}

function formatAddress(address: Address): string {
  if (address.family === 4) {
    const v = Number(address.value);
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((address.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export function parseIpAddress(text: string): Parsed<string> {
  const address = parseAddress(text);
  return address ? ok(formatAddress(address)) : bad(`"${text}" is not an IPv4 or IPv6 address`);
}

export function ipFamily(canonical: string): 4 | 6 {
  return canonical.includes(':') ? 6 : 4;
}

/** True for 0.0.0.0 and :: (on-link next hop, wildcard CA). */
export function isUnspecifiedIp(canonical: string): boolean {
  return canonical === '0.0.0.0' || canonical === '::';
}

export function parseIpPrefix(text: string): Parsed<string> {
  const slash = text.indexOf('/');
  if (slash < 0) return bad(`"${text}" is not a prefix: expected address/length such as 192.168.1.0/24`);
  const address = parseAddress(text.slice(0, slash));
  if (!address) return bad(`"${text.slice(0, slash)}" is not an IPv4 or IPv6 address`);
  const bits = address.family === 4 ? 32 : 128;
  const lengthText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lengthText) || Number(lengthText) > bits) return bad(`prefix length "${lengthText}" must be 0..${bits}`);
  const length = Number(lengthText);
  const all = (1n << BigInt(bits)) - 1n;
  const mask = all ^ ((1n << BigInt(bits - length)) - 1n);
  const network = address.value & mask;
  const canonical = `${formatAddress({ family: address.family, value: network })}/${length}`;
  if (network !== address.value) return bad(`host bits are set in "${text}"; the prefix is ${canonical}`);
  return ok(canonical);
}

/** Numeric order of canonical addresses (for sorting output); IPv4 before IPv6. */
export function compareIp(a: string, b: string): number {
  const x = parseAddress(a.split('/')[0] ?? a);
  const y = parseAddress(b.split('/')[0] ?? b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0;
  if (x.family !== y.family) return x.family - y.family;
  if (x.value !== y.value) return x.value < y.value ? -1 : 1;
  const lx = Number(a.split('/')[1] ?? 0);
  const ly = Number(b.split('/')[1] ?? 0);
  return lx - ly;
}
