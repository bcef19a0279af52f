/**
 * The HNV resources a controller pushes, named after the Windows Server 2012
 * New-NetVirtualization* cmdlet properties in camelCase, so an HNV administrator
 * recognises every field. Each kind is described once here: its fields (for parsing,
 * filters and the OpenAPI schema), its natural key (for URLs and the store) and its
 * own consistency checks. A later kind (NAT, external networks) is one more entry.
 */
import { ErrorCode, FieldError } from './errors.js';
import * as F from './fields.js';
import type { FieldType, JsonSchema } from './fields.js';
import { parseIp } from './ip.js';
import type { ExternalConfig } from './external.js';
import { externalNetworks, natConnections, routedConnections } from './external.js';

export interface RoutingDomain {
  routingDomainId: string;
  name: string;
  customerId: string;
}

export interface VirtualSubnet {
  virtualSubnetId: number;
  routingDomainId: string;
  name: string;
}

export const TranslationRules = ['TranslationMethodEncap', 'TranslationMethodNat'] as const;
export type TranslationRule = (typeof TranslationRules)[number];

export interface LookupRecord {
  customerAddress: string;
  virtualSubnetId: number;
  macAddress: string;
  providerAddress: string;
  rule: TranslationRule;
  vmName: string;
  useVmMacAddress: boolean;
  context: string;
  customerId: string;
}

export interface CustomerRoute {
  routingDomainId: string;
  virtualSubnetId: number;
  destinationPrefix: string;
  /** 0.0.0.0 (or ::) means on-link. */
  nextHop: string;
  metric: number;
}

export interface ProviderAddress {
  interface: string;
  providerAddress: string;
  prefixLength: number;
  vlanId: number;
}

export interface ProviderRoute {
  interface: string;
  destinationPrefix: string;
  nextHop: string;
  metric: number;
}

export const GreKeyFormats = ['Rfc7637', 'Rfc7637NoFlowId', 'Ws2012PreKB2779768'] as const;
export type GreKeyFormat = (typeof GreKeyFormats)[number];

/**
 * How the gateway speaks NVGRE to one remote PA, where that differs from RFC 7637 with
 * per-flow FlowIDs (the default for every PA without a peer entry).
 */
export interface ProviderPeer {
  providerAddress: string;
  /**
   * Rfc7637NoFlowId: FlowID always 0, for peers that match the whole 32-bit key (the Linux
   * kernel's gretap with `key`). Ws2012PreKB2779768: the key format of Windows Server 2012
   * before update KB2779768, FlowID<<24 | VSID.
   */
  greKeyFormat: GreKeyFormat;
  description: string;
}

/** The HNV collections of GET/PUT /v1/config (DesiredDocument below is all of them). */
export interface ConfigDocument {
  routingDomains: RoutingDomain[];
  virtualSubnets: VirtualSubnet[];
  lookupRecords: LookupRecord[];
  customerRoutes: CustomerRoute[];
  providerAddresses: ProviderAddress[];
  providerRoutes: ProviderRoute[];
  providerPeers: ProviderPeer[];
}

/**
 * Every collection of /v1/config: the HNV ones above and the external networks with their
 * NAT and routed connections (src/model/external.ts). Two types, so that a document of HNV
 * objects alone, as HNV tools write it, is still a ConfigDocument.
 */
export type DesiredDocument = ConfigDocument & ExternalConfig;

export type KindName = keyof DesiredDocument;
export type ItemOf<K extends KindName> = DesiredDocument[K][number];
export type AnyItem = ItemOf<KindName>;

export interface FieldSpec {
  type: FieldType<unknown>;
  /** Absent means required. */
  default?: unknown;
  description: string;
}

export interface ResourceKind<K extends KindName = KindName> {
  name: K;
  /** For messages: "lookup record". */
  singular: string;
  /** URL collection segment: /v1/lookup-records. */
  path: string;
  fields: Record<string, FieldSpec>;
  /** Natural key, in URL order. A prefix field takes two URL segments (address, length). */
  keyFields: readonly string[];
  /** Fills defaults that depend on other fields and checks fields against each other. */
  finish?(item: ItemOf<K>, path: string): FieldError[];
}

const METRIC = F.integer(0, 0xffffffff);
const unspecifiedLike = (addressText: string): string => (addressText.includes(':') ? '::' : '0.0.0.0');

function sameFamily(a: string, b: string): boolean {
  return a.includes(':') === b.includes(':');
}

const routingDomains: ResourceKind<'routingDomains'> = {
  name: 'routingDomains',
  singular: 'routing domain',
  path: 'routing-domains',
  keyFields: ['routingDomainId'],
  fields: {
    routingDomainId: { type: F.guid, description: 'Routing domain GUID; braces and case are optional on input' },
    name: { type: F.text(256), default: '', description: 'Display name' },
    customerId: { type: F.optionalGuid, default: '', description: 'Tenant (customer) GUID, optional' },
  },
};

const virtualSubnets: ResourceKind<'virtualSubnets'> = {
  name: 'virtualSubnets',
  singular: 'virtual subnet',
  path: 'virtual-subnets',
  keyFields: ['virtualSubnetId'],
  fields: {
    virtualSubnetId: { type: F.vsid, description: 'VSID, 4096..16777214 (RFC 7637)' },
    routingDomainId: { type: F.guid, description: 'The routing domain this VSID belongs to' },
    name: { type: F.text(256), default: '', description: 'Display name' },
  },
};

const lookupRecords: ResourceKind<'lookupRecords'> = {
  name: 'lookupRecords',
  singular: 'lookup record',
  path: 'lookup-records',
  keyFields: ['virtualSubnetId', 'customerAddress'],
  fields: {
    customerAddress: { type: F.ip, description: 'Customer Address (CA); 0.0.0.0 is the VSID wildcard record' },
    virtualSubnetId: { type: F.vsid, description: 'VSID of the CA' },
    macAddress: { type: F.mac, description: 'MAC of the CA' },
    providerAddress: { type: F.ip, description: 'Provider Address (PA) of the host where the CA lives' },
    rule: { type: F.oneOf(TranslationRules), default: 'TranslationMethodEncap', description: 'Encap (NVGRE) or Nat (IP Rewrite)' },
    vmName: { type: F.text(256), default: '', description: 'VM name, informational' },
    useVmMacAddress: { type: F.bool, default: false, description: 'HNV UseVmMACAddress' },
    context: { type: F.text(1024), default: '', description: 'Free text the controller keeps with the record' },
    customerId: { type: F.optionalGuid, default: '', description: 'Tenant (customer) GUID, optional' },
  },
  finish(item, path) {
    const pa = parseIp(item.providerAddress);
    if (pa && pa.value === 0n) return [new FieldError(ErrorCode.ValidationFailed, `${path}/providerAddress`, 'the provider address cannot be unspecified')];
    return [];
  },
};

const customerRoutes: ResourceKind<'customerRoutes'> = {
  name: 'customerRoutes',
  singular: 'customer route',
  path: 'customer-routes',
  keyFields: ['routingDomainId', 'virtualSubnetId', 'destinationPrefix'],
  fields: {
    routingDomainId: { type: F.guid, description: 'Routing domain' },
    virtualSubnetId: { type: F.vsid, description: 'VSID the route belongs to' },
    destinationPrefix: { type: F.prefix, description: 'Destination prefix; host bits must be clear' },
    nextHop: { type: F.ip, default: '', description: 'Next-hop CA; 0.0.0.0 (or ::) means on-link' },
    metric: { type: METRIC, default: 256, description: 'Route metric' },
  },
  finish(item, path) {
    if (item.nextHop === '') item.nextHop = unspecifiedLike(item.destinationPrefix);
    if (!sameFamily(item.nextHop, item.destinationPrefix)) {
      return [new FieldError(ErrorCode.ValidationFailed, `${path}/nextHop`, `next hop ${item.nextHop} is not of the same address family as ${item.destinationPrefix}`)];
    }
    return [];
  },
};

const providerAddresses: ResourceKind<'providerAddresses'> = {
  name: 'providerAddresses',
  singular: 'provider address',
  path: 'provider-addresses',
  keyFields: ['providerAddress'],
  fields: {
    interface: { type: F.interfaceName, description: 'Linux interface that carries the PA' },
    providerAddress: { type: F.ip, description: "The gateway's Provider Address" },
    prefixLength: { type: F.integer(0, 128), description: 'Prefix length of the PA subnet' },
    vlanId: { type: F.integer(0, 4094), default: 0, description: '802.1Q VLAN of the PA network, 0 for none' },
  },
  finish(item, path) {
    const pa = parseIp(item.providerAddress);
    const errors: FieldError[] = [];
    if (pa?.family === 4 && item.prefixLength > 32) errors.push(new FieldError(ErrorCode.ValidationFailed, `${path}/prefixLength`, `${item.prefixLength} is longer than an IPv4 address`));
    if (pa && pa.value === 0n) errors.push(new FieldError(ErrorCode.ValidationFailed, `${path}/providerAddress`, 'the provider address cannot be unspecified'));
    return errors;
  },
};

const providerRoutes: ResourceKind<'providerRoutes'> = {
  name: 'providerRoutes',
  singular: 'provider route',
  path: 'provider-routes',
  keyFields: ['interface', 'destinationPrefix'],
  fields: {
    interface: { type: F.interfaceName, description: 'Interface towards the next hop' },
    destinationPrefix: { type: F.prefix, description: 'Destination prefix in the provider network' },
    nextHop: { type: F.ip, description: 'Next hop in the provider network' },
    metric: { type: METRIC, default: 256, description: 'Route metric' },
  },
  finish(item, path) {
    if (!sameFamily(item.nextHop, item.destinationPrefix)) {
      return [new FieldError(ErrorCode.ValidationFailed, `${path}/nextHop`, `next hop ${item.nextHop} is not of the same address family as ${item.destinationPrefix}`)];
    }
    return [];
  },
};

const providerPeers: ResourceKind<'providerPeers'> = {
  name: 'providerPeers',
  singular: 'provider peer',
  path: 'provider-peers',
  keyFields: ['providerAddress'],
  fields: {
    providerAddress: { type: F.ip, description: 'A remote PA (a host or another gateway)' },
    greKeyFormat: { type: F.oneOf(GreKeyFormats), default: 'Rfc7637', description: 'GRE key format this peer speaks' },
    description: { type: F.text(256), default: '', description: 'Why this peer is special, for the operator' },
  },
};

/** Every kind, in dependency order: a kind refers only to kinds before it. */
export const KINDS = {
  routingDomains,
  virtualSubnets,
  customerRoutes,
  lookupRecords,
  providerAddresses,
  providerRoutes,
  providerPeers,
  externalNetworks,
  natConnections,
  routedConnections,
} as const satisfies { [K in KindName]: ResourceKind<K> };

export const KIND_NAMES = Object.keys(KINDS) as KindName[];

export function kindOf<K extends KindName>(name: K): ResourceKind<K> {
  return KINDS[name] as unknown as ResourceKind<K>;
}

/** The store and URL key of an item: its key fields joined with '|'. */
export function keyOf<K extends KindName>(kind: ResourceKind<K>, item: ItemOf<K>): string {
  return kind.keyFields.map((f) => String((item as unknown as Record<string, unknown>)[f])).join('|');
}

/**
 * Parses one item of a kind from untrusted JSON: unknown fields are refused (a typo must
 * not silently drop intent), every problem is collected, defaults are filled.
 */
export function parseItem<K extends KindName>(kind: ResourceKind<K>, input: unknown, path: string): ItemOf<K> | FieldError[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return [new FieldError(ErrorCode.ValidationFailed, path || '/', `a ${kind.singular} must be a JSON object`)];
  }
  const errors: FieldError[] = [];
  const out: Record<string, unknown> = {};
  const body = input as Record<string, unknown>;
  for (const field of Object.keys(body)) {
    if (!Object.hasOwn(kind.fields, field)) errors.push(new FieldError(ErrorCode.ValidationFailed, `${path}/${field}`, `unknown field of a ${kind.singular}`));
  }
  for (const [field, spec] of Object.entries(kind.fields) as [string, FieldSpec][]) {
    const value = body[field];
    if (value === undefined || value === null) {
      if (spec.default === undefined) errors.push(new FieldError(ErrorCode.ValidationFailed, `${path}/${field}`, 'is required'));
      else out[field] = spec.default;
      continue;
    }
    const parsed = spec.type.parse(value, `${path}/${field}`);
    if (parsed instanceof FieldError) errors.push(parsed);
    else out[field] = parsed;
  }
  if (errors.length > 0) return errors;
  const item = out as unknown as ItemOf<K>;
  const more = kind.finish?.(item, path) ?? [];
  return more.length > 0 ? more : item;
}

/**
 * Parses the key of an item from URL segments (a prefix key field takes two segments),
 * so GET /v1/lookup-records/5001/192.168.1.101 finds the record however it was spelled.
 */
export function parseKeySegments<K extends KindName>(kind: ResourceKind<K>, segments: readonly string[]): string | FieldError[] {
  const errors: FieldError[] = [];
  const parts: string[] = [];
  let i = 0;
  for (const field of kind.keyFields) {
    const spec = kind.fields[field]!;
    let raw = segments[i++];
    if (spec.type === F.prefix) raw = `${raw}/${segments[i++]}`;
    const parsed = spec.type.parse(raw, field);
    if (parsed instanceof FieldError) errors.push(parsed);
    else parts.push(String(parsed));
  }
  return errors.length > 0 ? errors : parts.join('|');
}

/** The key fields' raw values from URL segments, to fill a PUT body that leaves them out. */
export function keyFieldsFromSegments(kind: ResourceKind, segments: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  for (const field of kind.keyFields) {
    const spec = kind.fields[field]!;
    out[field] = spec.type === F.prefix ? `${segments[i++]}/${segments[i++]}` : (segments[i++] ?? '');
  }
  return out;
}

/** Names of the URL parameters for one item, e.g. ['virtualSubnetId', 'customerAddress']. */
export function keyParamNames(kind: ResourceKind): string[] {
  return kind.keyFields.flatMap((f) => kind.fields[f]!.type === F.prefix ? [f, `${f}Length`] : [f]);
}

/** JSON Schema of an item as the API returns it (canonical forms). */
export function itemSchema(kind: ResourceKind): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [field, spec] of Object.entries(kind.fields) as [string, FieldSpec][]) {
    const schema: JsonSchema = { ...spec.type.schema, description: spec.description };
    // Output is canonical: a VSID is always an integer, a boolean always a boolean.
    if (Array.isArray(schema.type)) schema.type = schema.type[0];
    delete schema.pattern;
    properties[field] = schema;
  }
  return { type: 'object', additionalProperties: false, required: Object.keys(kind.fields), properties };
}

/** JSON Schema of an item as a client may send it (lenient spellings, defaults optional). */
export function inputSchema(kind: ResourceKind): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [field, spec] of Object.entries(kind.fields) as [string, FieldSpec][]) {
    properties[field] = { ...spec.type.schema, description: spec.description, ...(spec.default !== undefined && spec.default !== '' ? { default: spec.default } : {}) };
    if (spec.default === undefined) required.push(field);
  }
  return { type: 'object', additionalProperties: false, required, properties };
}

/** True when the customer route means "on-link" (next hop unspecified). */
export function isOnLink(route: CustomerRoute): boolean {
  const hop = parseIp(route.nextHop);
  return hop !== undefined && hop.value === 0n;
}

/** The unspecified CA (0.0.0.0 or ::) marks HNV's wildcard lookup record. */
export function isWildcardRecord(record: LookupRecord): boolean {
  return record.customerAddress === '0.0.0.0' || record.customerAddress === '::';
}

