/**
 * Field types of the HNV resources. Each parses what a controller sends (numbers as
 * strings, MACs with dashes, GUIDs with braces) into one canonical value, and describes
 * itself as JSON Schema so the OpenAPI document is generated from the same source.
 */
import { ErrorCode, FieldError } from './errors.js';
import { canonicalGuid, canonicalMac, isMulticastMac, parseVsidInteger, VSID_MAX, VSID_MIN } from './identifiers.js';
import { formatIp, formatPrefix, parseIp, parsePrefix } from './ip.js';

export type JsonSchema = Record<string, unknown>;

export interface FieldType<T> {
  /** Returns the canonical value, or a FieldError naming the problem. */
  parse(value: unknown, path: string): T | FieldError;
  schema: JsonSchema;
}

const invalid = (path: string, problem: string, code: ErrorCode = ErrorCode.ValidationFailed) =>
  new FieldError(code, path, problem);

const describe = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

export const guid: FieldType<string> = {
  parse(value, path) {
    return canonicalGuid(value) ?? invalid(path, `${describe(value)} is not a GUID such as {11111111-2222-3333-4444-000000005001}`);
  },
  schema: { type: 'string', pattern: '^\\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\}?$', examples: ['{11111111-2222-3333-4444-000000005001}'] },
};

/** An optional GUID (HNV CustomerID): empty string means "not set". */
export const optionalGuid: FieldType<string> = {
  parse(value, path) {
    if (value === '') return '';
    return guid.parse(value, path);
  },
  schema: { type: 'string' },
};

export const vsid: FieldType<number> = {
  parse(value, path) {
    const n = parseVsidInteger(value);
    if (n === undefined) return invalid(path, `${describe(value)} is not an integer VSID`);
    if (n < VSID_MIN || n > VSID_MAX) {
      return invalid(path, `VSID ${n} is outside ${VSID_MIN}..${VSID_MAX} (RFC 7637 reserves 0-4095 and 0xFFFFFF)`, ErrorCode.VsidOutOfRange);
    }
    return n;
  },
  schema: { type: ['integer', 'string'], minimum: VSID_MIN, maximum: VSID_MAX, pattern: '^[0-9]+$', description: 'as a string, the same range applies', examples: [5001] },
};

export const ip: FieldType<string> = {
  parse(value, path) {
    const address = typeof value === 'string' ? parseIp(value) : undefined;
    return address ? formatIp(address) : invalid(path, `${describe(value)} is not an IPv4 or IPv6 address`);
  },
  schema: { type: 'string', examples: ['192.168.1.101'] },
};

export const prefix: FieldType<string> = {
  parse(value, path) {
    const parsed = parsePrefix(value as string);
    if (parsed.ok) return formatPrefix(parsed.prefix);
    return invalid(path, parsed.problem, parsed.hostBitsSet ? ErrorCode.PrefixHostBitsSet : ErrorCode.ValidationFailed);
  },
  schema: { type: 'string', examples: ['192.168.1.0/24'] },
};

export const mac: FieldType<string> = {
  parse(value, path) {
    const canonical = canonicalMac(value);
    if (!canonical) return invalid(path, `${describe(value)} is not a MAC address such as 00155D011404 or 00-15-5D-01-14-04`);
    if (isMulticastMac(canonical)) return invalid(path, `${canonical} is a multicast or broadcast MAC, not a VM's address`);
    return canonical;
  },
  schema: { type: 'string', examples: ['00155d011404'] },
};

export function text(maxLength: number): FieldType<string> {
  return {
    parse(value, path) {
      if (typeof value !== 'string') return invalid(path, `must be a string, got ${describe(value)}`);
      if (value.length > maxLength) return invalid(path, `longer than ${maxLength} characters`);
      // eslint-disable-next-line no-control-regex -- refusing control characters is the point
      if (/[\u0000-\u001f]/.test(value)) return invalid(path, 'contains control characters');
      return value;
    },
    schema: { type: 'string', maxLength },
  };
}

export const bool: FieldType<boolean> = {
  parse(value, path) {
    if (typeof value === 'boolean') return value;
    // PowerShell writes $true/$false; scripts converted to JSON often carry "True"/"False".
    if (value === 'true' || value === 'True') return true;
    if (value === 'false' || value === 'False') return false;
    return invalid(path, `${describe(value)} is not a boolean`);
  },
  schema: { type: ['boolean', 'string'], enum: [true, false, 'true', 'false', 'True', 'False'] },
};

export function integer(min: number, max: number): FieldType<number> {
  return {
    parse(value, path) {
      const n = typeof value === 'string' && /^[0-9]{1,10}$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) return invalid(path, `${describe(value)} is not an integer`);
      if (n < min || n > max) return invalid(path, `${n} is outside ${min}..${max}`);
      return n;
    },
    schema: { type: ['integer', 'string'], minimum: min, maximum: max },
  };
}

export function oneOf<T extends string>(values: readonly T[]): FieldType<T> {
  return {
    parse(value, path) {
      return (values as readonly unknown[]).includes(value) ? (value as T) : invalid(path, `${describe(value)} is not one of ${values.join(', ')}`);
    },
    schema: { type: 'string', enum: [...values] },
  };
}

/** Linux interface names: 1..15 bytes, no '/', whitespace or ':' (IFNAMSIZ and dev_valid_name). */
export const interfaceName: FieldType<string> = {
  parse(value, path) {
    if (typeof value !== 'string' || !/^[A-Za-z0-9_.@-]{1,15}$/.test(value) || value === '.' || value === '..') {
      return invalid(path, `${describe(value)} is not a Linux interface name (1-15 characters of A-Z a-z 0-9 _ . @ -)`);
    }
    return value;
  },
  schema: { type: 'string', pattern: '^[A-Za-z0-9_.@-]{1,15}$', examples: ['eth1'] },
};
