/**
 * The provider API's resources, written from its contract (GET /v1/openapi.json), not
 * imported from the gateway: a controller links against the contract only. Each kind is
 * described once in RESOURCES (URL path, key fields in URL order, fields with their JSON
 * type and whether the API fills a default); the TypeScript interfaces are tied to those
 * descriptions by `satisfies`, and test/contract.test.ts checks both against the
 * component schemas the gateway serves.
 */

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

export const TRANSLATION_RULES = ['TranslationMethodEncap', 'TranslationMethodNat'] as const;
export type TranslationRule = (typeof TRANSLATION_RULES)[number];

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

/** How the gateway speaks NVGRE to one remote PA, where that differs from RFC 7637 with per-flow FlowIDs. */
export interface ProviderPeer {
  providerAddress: string;
  greKeyFormat: 'Rfc7637' | 'Rfc7637NoFlowId' | 'Ws2012PreKB2779768';
  description: string;
}

/** The whole desired state, as GET/PUT /v1/config carry it. */
export interface ConfigDocument {
  routingDomains: RoutingDomain[];
  virtualSubnets: VirtualSubnet[];
  lookupRecords: LookupRecord[];
  customerRoutes: CustomerRoute[];
  providerAddresses: ProviderAddress[];
  providerRoutes: ProviderRoute[];
  providerPeers: ProviderPeer[];
}

export type KindName = keyof ConfigDocument;
export type ItemOf<K extends KindName> = ConfigDocument[K][number];
export type AnyItem = ItemOf<KindName>;

/** JSON type of a field as the API returns it (canonical form). */
export type FieldJsonType = 'string' | 'integer' | 'boolean';

/**
 * One field: its JSON type, the value the API fills when a client leaves it out
 * (absent means required), and whether it is a prefix (a key field that takes two URL
 * segments, address and length).
 */
export interface FieldInfo {
  type: FieldJsonType;
  default?: string | number | boolean;
  prefix?: true;
  /** Free text: its longest accepted length. */
  maxLength?: number;
}

export interface ResourceInfo<K extends KindName> {
  kind: K;
  /** URL collection segment: /v1/lookup-records. */
  path: string;
  /** For messages: "lookup record". */
  singular: string;
  /** Natural key, in URL order. */
  keyFields: readonly (keyof ItemOf<K> & string)[];
  fields: { readonly [F in keyof ItemOf<K>]-?: FieldInfo };
}

/** Every kind, in dependency order: a kind refers only to kinds before it. */
export const RESOURCES = {
  routingDomains: {
    kind: 'routingDomains',
    path: 'routing-domains',
    singular: 'routing domain',
    keyFields: ['routingDomainId'],
    fields: {
      routingDomainId: { type: 'string' },
      name: { type: 'string', default: '', maxLength: 256 },
      customerId: { type: 'string', default: '' },
    },
  },
  virtualSubnets: {
    kind: 'virtualSubnets',
    path: 'virtual-subnets',
    singular: 'virtual subnet',
    keyFields: ['virtualSubnetId'],
    fields: {
      virtualSubnetId: { type: 'integer' },
      routingDomainId: { type: 'string' },
      name: { type: 'string', default: '', maxLength: 256 },
    },
  },
  customerRoutes: {
    kind: 'customerRoutes',
    path: 'customer-routes',
    singular: 'customer route',
    keyFields: ['routingDomainId', 'virtualSubnetId', 'destinationPrefix'],
    fields: {
      routingDomainId: { type: 'string' },
      virtualSubnetId: { type: 'integer' },
      destinationPrefix: { type: 'string', prefix: true },
      // The API fills 0.0.0.0 or :: (on-link) by the prefix's family.
      nextHop: { type: 'string', default: '' },
      metric: { type: 'integer', default: 256 },
    },
  },
  lookupRecords: {
    kind: 'lookupRecords',
    path: 'lookup-records',
    singular: 'lookup record',
    keyFields: ['virtualSubnetId', 'customerAddress'],
    fields: {
      customerAddress: { type: 'string' },
      virtualSubnetId: { type: 'integer' },
      macAddress: { type: 'string' },
      providerAddress: { type: 'string' },
      rule: { type: 'string', default: 'TranslationMethodEncap' },
      vmName: { type: 'string', default: '', maxLength: 256 },
      useVmMacAddress: { type: 'boolean', default: false },
      context: { type: 'string', default: '', maxLength: 1024 },
      customerId: { type: 'string', default: '' },
    },
  },
  providerAddresses: {
    kind: 'providerAddresses',
    path: 'provider-addresses',
    singular: 'provider address',
    keyFields: ['providerAddress'],
    fields: {
      interface: { type: 'string' },
      providerAddress: { type: 'string' },
      prefixLength: { type: 'integer' },
      vlanId: { type: 'integer', default: 0 },
    },
  },
  providerRoutes: {
    kind: 'providerRoutes',
    path: 'provider-routes',
    singular: 'provider route',
    keyFields: ['interface', 'destinationPrefix'],
    fields: {
      interface: { type: 'string' },
      destinationPrefix: { type: 'string', prefix: true },
      nextHop: { type: 'string' },
      metric: { type: 'integer', default: 256 },
    },
  },
  providerPeers: {
    kind: 'providerPeers',
    path: 'provider-peers',
    singular: 'provider peer',
    keyFields: ['providerAddress'],
    fields: {
      providerAddress: { type: 'string' },
      greKeyFormat: { type: 'string', default: 'Rfc7637' },
      description: { type: 'string', default: '', maxLength: 256 },
    },
  },
} as const satisfies { [K in KindName]: ResourceInfo<K> };

export const KIND_NAMES = Object.keys(RESOURCES) as KindName[];

/**
 * External networks and how routing domains reach them: NAT connections (with VMM-style NAT
 * rules: port forwards and static 1:1 NAT) and routed connections. Part of /v1/config like the
 * HNV kinds; described in their own registry so that KindName, and the records keyed by it
 * (nvgwctl's tables, the HNV importer), stay the HNV kinds. test/external-contract.test.ts
 * checks these against the gateway's schemas.
 */
export interface ExternalNetwork {
  interface: string;
  name: string;
  address: string;
  prefixLength: number;
  defaultGateway: string;
}

export const NAT_PROTOCOLS = ['TCP', 'UDP', 'Any'] as const;

export interface NatRule {
  name: string;
  /** TCP or UDP: a port forward; Any: static 1:1 NAT. */
  protocol: (typeof NAT_PROTOCOLS)[number];
  externalAddress: string;
  externalPort: number;
  internalAddress: string;
  internalPort: number;
}

export interface NatConnection {
  routingDomainId: string;
  name: string;
  interface: string;
  /** One address or an inclusive range "first-last". */
  externalAddresses: string;
  rules: NatRule[];
}

export interface RoutedConnection {
  routingDomainId: string;
  name: string;
  interface: string;
}

export interface ExternalConfig {
  externalNetworks: ExternalNetwork[];
  natConnections: NatConnection[];
  routedConnections: RoutedConnection[];
}

export type ExternalKindName = keyof ExternalConfig;

export interface ExternalFieldInfo {
  type: FieldJsonType | 'array';
  default?: string | number | boolean | readonly [];
  maxLength?: number;
}

export interface ExternalResourceInfo<K extends ExternalKindName> {
  kind: K;
  path: string;
  singular: string;
  keyFields: readonly (keyof ExternalConfig[K][number] & string)[];
  fields: { readonly [F in keyof ExternalConfig[K][number]]-?: ExternalFieldInfo };
}

export const EXTERNAL_RESOURCES = {
  externalNetworks: {
    kind: 'externalNetworks',
    path: 'external-networks',
    singular: 'external network',
    keyFields: ['interface'],
    fields: {
      interface: { type: 'string' },
      name: { type: 'string', default: '', maxLength: 256 },
      address: { type: 'string' },
      prefixLength: { type: 'integer' },
      defaultGateway: { type: 'string', default: '' },
    },
  },
  natConnections: {
    kind: 'natConnections',
    path: 'nat-connections',
    singular: 'NAT connection',
    keyFields: ['routingDomainId'],
    fields: {
      routingDomainId: { type: 'string' },
      name: { type: 'string', default: '', maxLength: 256 },
      interface: { type: 'string' },
      externalAddresses: { type: 'string' },
      rules: { type: 'array', default: [] },
    },
  },
  routedConnections: {
    kind: 'routedConnections',
    path: 'routed-connections',
    singular: 'routed connection',
    keyFields: ['routingDomainId'],
    fields: {
      routingDomainId: { type: 'string' },
      name: { type: 'string', default: '', maxLength: 256 },
      interface: { type: 'string' },
    },
  },
} as const satisfies { [K in ExternalKindName]: ExternalResourceInfo<K> };

export const EXTERNAL_KIND_NAMES = Object.keys(EXTERNAL_RESOURCES) as ExternalKindName[];

type Fields<K extends KindName> = (typeof RESOURCES)[K]['fields'];
type OptionalField<K extends KindName> = {
  [F in keyof Fields<K>]: Fields<K>[F] extends { default: unknown } ? F : never;
}[keyof Fields<K>] &
  keyof ItemOf<K>;
type RequiredField<K extends KindName> = Exclude<keyof ItemOf<K>, OptionalField<K>>;

/**
 * What a client may send for a kind: required fields, optional ones the API defaults.
 * The API also accepts lenient spellings (a VSID as "5001", a MAC with dashes).
 */
export type InputOf<K extends KindName> = { [F in RequiredField<K>]: ItemOf<K>[F] | (ItemOf<K>[F] extends number ? string : never) } & {
  [F in OptionalField<K>]?: ItemOf<K>[F] | (ItemOf<K>[F] extends number | boolean ? string : never);
};

export type KeyFieldOf<K extends KindName> = (typeof RESOURCES)[K]['keyFields'][number];

/** The key of an item: its key fields by name, or their values in URL order. */
export type KeyOf<K extends KindName> = { [F in KeyFieldOf<K> & keyof ItemOf<K>]: ItemOf<K>[F] | string } | readonly (string | number)[];

export type FilterOf<K extends KindName> = { [F in keyof ItemOf<K>]?: ItemOf<K>[F] | string };

export type RoutingDomainInput = InputOf<'routingDomains'>;
export type VirtualSubnetInput = InputOf<'virtualSubnets'>;
export type LookupRecordInput = InputOf<'lookupRecords'>;
export type CustomerRouteInput = InputOf<'customerRoutes'>;
export type ProviderAddressInput = InputOf<'providerAddresses'>;
export type ProviderRouteInput = InputOf<'providerRoutes'>;
export type ProviderPeerInput = InputOf<'providerPeers'>;

/** PUT /v1/config accepts a document with collections left out (they mean empty). */
export type ConfigInput = { [K in KindName]?: InputOf<K>[] } & Partial<ExternalConfig>;

export interface DeletedEntry {
  kind: KindName;
  /** The item's key fields joined with '|', e.g. "5001|192.168.1.101". */
  key: string;
}

export interface DeleteResult {
  /** What was deleted, dependants first (more than one with cascade). */
  deleted: DeletedEntry[];
}

export interface KindSummary {
  added: number;
  removed: number;
  changed: number;
}

export interface KindDiff<T> {
  added: T[];
  removed: T[];
  changed: { before: T; after: T }[];
}

export type ConfigSummary = Record<KindName, KindSummary>;
export type ConfigDiff = { [K in KindName]: KindDiff<ItemOf<K>> };

export interface PutConfigResult {
  etag: string;
  /** false for a dry run or when nothing changed. */
  applied: boolean;
  summary: ConfigSummary;
  /** Present for a dry run. */
  diff?: ConfigDiff;
}

export interface GatewayStatus {
  version: string;
  uptimeSeconds: number;
  etag: string;
  counts: Record<KindName, number>;
  /** Other parts of the gateway (data path backend, store) add their own fields. */
  [extra: string]: unknown;
}

export interface HealthStatus {
  status: 'ok';
}

export interface ReadyStatus {
  ready: boolean;
}

export interface Counter {
  packets: number;
  bytes: number;
}

export const VSID_COUNTERS = ['decapPackets', 'decapBytes', 'encapPackets', 'encapBytes', 'dropPackets', 'dropBytes'] as const;

/** Data-path counters since the gateway started (GET /v1/stats, schema Stats). */
export interface GatewayStats {
  /** By named drop reason (truncated-gre, unknown-vsid, spoofed-outer-pa, …). */
  drops: Record<string, Counter>;
  /** Other counted events of the data path, by name. */
  events: Record<string, Counter>;
  vsids: ({ virtualSubnetId: number } & Record<(typeof VSID_COUNTERS)[number], number>)[];
}

/**
 * A packet trace request (POST /v1/trace): a packet as hex bytes or as a description,
 * and where it enters the gateway. The endpoint comes with the hard-edges issue and is
 * not in the contract yet; this shape is inferred from that issue ("takes a packet
 * description or hex bytes and an ingress point"), and nvgwctl renders any answer.
 */
export interface TraceRequest {
  ingress?: string;
  hex?: string;
  packet?: string;
}

export interface TraceStep {
  step?: string;
  detail?: string;
  verdict?: string;
  [more: string]: unknown;
}

export interface TraceResult {
  verdict?: string;
  steps?: TraceStep[];
  [extra: string]: unknown;
}
