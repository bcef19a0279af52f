/**
 * IPv4 and IPv6 addresses and prefixes as the model sees them: canonical text for storage
 * and JSON (dotted quad; RFC 5952 for IPv6), and a numeric value for prefix arithmetic.
 * The per-packet code never uses these; it has its own byte-level codecs in src/packet.
 */

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  /** The address as an unsigned integer (32 or 128 bits). */
  readonly value: bigint;
}

export interface IpPrefix {
  readonly address: IpAddress;
  readonly length: number;
}

const bitsOf = (family: IpFamily): number => (family === 4 ? 32 : 128);

/** Dotted quad to a 32-bit number; a hand scanner, since this runs for every record of a 100k-record PUT. */
function parseIpv4Number(text: string): number | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // No leading zeros: "010" is octal to some parsers and decimal to others.
      if (digits === 1 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + octet;
}

function parseIpv4Value(text: string): bigint | undefined {
  const n = parseIpv4Number(text);
  return n === undefined ? undefined : BigInt(n);
}

function parseIpv6Value(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let head = text;
  let tail: bigint | undefined;
  let tailGroups = 0;
  // An embedded IPv4 tail (::ffff:192.0.2.1) fills the last two groups.
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    tail = parseIpv4Value(text.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    head = text.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
    tailGroups = 2;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const groups = s.split(':');
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0] ?? '');
  const right = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  const explicit = left.length + right.length + tailGroups;
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

/** Parses an IPv4 or IPv6 address; undefined when the text is neither. */
export function parseIp(text: string): IpAddress | undefined {
  if (typeof text !== 'string' || text.length > 45) return undefined;
  if (text.includes(':')) {
    const value = parseIpv6Value(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIpv4Value(text);
  return value === undefined ? undefined : { family: 4, value };
}

/** Canonical text: dotted quad, or RFC 5952 (lowercase, longest zero run compressed). */
export function formatIp(address: IpAddress): string {
  if (address.family === 4) {
    const v = Number(address.value);
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((address.value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // RFC 5952 §4.2.2: a single zero group is not compressed
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
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLength).join(':');
  return `${left}::${right}`;
}

/** Parses and re-formats; undefined for anything that is not an address. */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip && formatIp(ip);
}

export function isUnspecified(address: IpAddress): boolean {
  return address.value === 0n;
}

function maskOf(family: IpFamily, length: number): bigint {
  const bits = bitsOf(family);
  return ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - length)) - 1n);
}

export type PrefixParse =
  | { ok: true; prefix: IpPrefix }
  | { ok: false; problem: string; hostBitsSet?: { canonical: string } };

/** Parses "a.b.c.d/len" or "x::/len". A prefix with host bits set is refused, naming the canonical prefix. */
export function parsePrefix(text: string): PrefixParse {
  if (typeof text !== 'string') return { ok: false, problem: 'must be a string such as "192.168.1.0/24"' };
  const slash = text.indexOf('/');
  if (slash < 0) return { ok: false, problem: `"${text}" is not a prefix: expected address/length` };
  const address = parseIp(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (!address) return { ok: false, problem: `"${text.slice(0, slash)}" is not an IPv4 or IPv6 address` };
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lengthText) || Number(lengthText) > bitsOf(address.family)) {
    return { ok: false, problem: `prefix length "${lengthText}" must be 0..${bitsOf(address.family)}` };
  }
  const length = Number(lengthText);
  const network = address.value & maskOf(address.family, length);
  if (network !== address.value) {
    const canonical = formatPrefix({ address: { family: address.family, value: network }, length });
    return {
      ok: false,
      problem: `host bits are set in "${text}"; the prefix is ${canonical}`,
      hostBitsSet: { canonical },
    };
  }
  return { ok: true, prefix: { address, length } };
}

export function formatPrefix(prefix: IpPrefix): string {
  return `${formatIp(prefix.address)}/${prefix.length}`;
}

export function prefixContains(prefix: IpPrefix, address: IpAddress): boolean {
  if (prefix.address.family !== address.family) return false;
  return (address.value & maskOf(address.family, prefix.length)) === prefix.address.value;
}
