/**
 * The identifiers an HNV administrator types: routing-domain GUIDs, MAC addresses and
 * Virtual Subnet IDs. Each accepts the spellings Windows tools print and stores one
 * canonical form, so the same object is never stored twice under two spellings.
 */

/** RFC 7637 §3.2: VSIDs 0-4095 are reserved, and 0xFFFFFF is reserved for vendor use. */
export const VSID_MIN = 4096;
export const VSID_MAX = 0xfffffe;

export function isValidVsid(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= VSID_MIN && value <= VSID_MAX;
}

/**
 * Accepts a VSID as a number or as the decimal string PowerShell scripts quote ("5001").
 * Returns undefined when it is not an integer at all; range is checked separately so the
 * error can say VSID_OUT_OF_RANGE.
 */
export function parseVsidInteger(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^[0-9]{1,9}$/.test(value)) return Number(value);
  return undefined;
}

const GUID_RE = /^\{?([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{12})\}?$/;

/**
 * Canonical routing-domain ID: lowercase, with braces, as HNV prints it
 * ({11111111-2222-3333-4444-000000005001}). Accepts it with or without braces, any case;
 * an unbalanced brace is refused.
 */
export function canonicalGuid(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const m = GUID_RE.exec(text);
  if (!m) return undefined;
  if (text.startsWith('{') !== text.endsWith('}')) return undefined;
  return `{${m.slice(1, 6).join('-').toLowerCase()}}`;
}

/**
 * Canonical MAC: 12 lowercase hex digits without separators, the form Get-NetVirtualization*
 * prints (00155d011404). Accepts 00155D011404, 00-15-5D-01-14-04 and 00:15:5d:01:14:04,
 * but not mixed separators.
 */
export function canonicalMac(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  if (/^[0-9a-fA-F]{12}$/.test(text)) return text.toLowerCase();
  const m = /^[0-9a-fA-F]{2}([-:])[0-9a-fA-F]{2}(?:\1[0-9a-fA-F]{2}){4}$/.exec(text);
  if (!m) return undefined;
  return text.replace(/[-:]/g, '').toLowerCase();
}

/** Colon-separated form for the kernel (ip neigh, ip link). */
export function macWithColons(canonical: string): string {
  return canonical.match(/../g)!.join(':');
}

/** A multicast/broadcast MAC (I/G bit set) can never be a VM's address. */
export function isMulticastMac(canonical: string): boolean {
  return (parseInt(canonical.slice(0, 2), 16) & 1) === 1;
}
