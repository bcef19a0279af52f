/**
 * The HNV cmdlets nvgw runs (Windows Server 2012 / 2012 R2 NetWNV module: New-, Get-,
 * Set- and Remove-NetVirtualization{LookupRecord,CustomerRoute,ProviderAddress,
 * ProviderRoute}), their parameters, the API field each one sets, and the properties
 * Get- shows, in the order Windows shows them. Two nouns of nvgw's own (NvgwRoutingDomain,
 * NvgwVirtualSubnet) exist only in `#nvgw:` comments that the exporter writes.
 */
import type { KindName } from '../client/types.js';

export type Verb = 'New' | 'Get' | 'Set' | 'Remove';

export type ValueType =
  | 'vsid'
  | 'guid'
  | 'optionalGuid'
  | 'ip'
  | 'prefix'
  | 'mac'
  | 'text'
  | 'metric'
  | 'prefixLength'
  | 'vlan'
  | 'rule'
  | 'bool'
  | 'interface'
  | 'cimSession'
  /** Accepted and ignored (with a note where that changes meaning). */
  | 'ignored'
  | 'switch';

export interface ParamSpec {
  /** As Windows spells it. */
  name: string;
  type: ValueType;
  /** The API field it sets or filters on. */
  field?: string;
  aliases?: readonly string[];
  /** Only Get-/Remove- take it (a filter on a property nvgw does not store). */
  filterOnly?: boolean;
  /** Said once when a script uses it. */
  note?: string;
}

export interface NounSpec {
  noun: string;
  kind: KindName;
  /** Singular for messages. */
  singular: string;
  params: readonly ParamSpec[];
  /** New- fails without these (an entry `a|b` is satisfied by either). */
  required: readonly string[];
  /** Set- selects by these; every other resource parameter is a property it sets. */
  selectors: readonly string[];
  /** Get- output: property name and the field it shows ("interfaceIndex" and "interface" are derived). */
  properties: readonly (readonly [string, string])[];
  /** Only in #nvgw: pragmas. */
  pragmaOnly?: boolean;
}

const INTERFACE_PARAMS: readonly ParamSpec[] = [
  { name: 'InterfaceIndex', type: 'interface', field: 'interface' },
  // Not a Windows parameter of these cmdlets; nvgw accepts it so a script can name the Linux interface.
  { name: 'InterfaceAlias', type: 'interface', field: 'interface' },
];

export const NOUNS: readonly NounSpec[] = [
  {
    noun: 'NetVirtualizationLookupRecord',
    kind: 'lookupRecords',
    singular: 'lookup record',
    params: [
      { name: 'CustomerAddress', type: 'ip', field: 'customerAddress' },
      { name: 'VirtualSubnetID', type: 'vsid', field: 'virtualSubnetId' },
      { name: 'MACAddress', type: 'mac', field: 'macAddress' },
      { name: 'ProviderAddress', type: 'ip', field: 'providerAddress' },
      { name: 'Rule', type: 'rule', field: 'rule' },
      { name: 'CustomerID', type: 'optionalGuid', field: 'customerId' },
      { name: 'Context', type: 'text', field: 'context' },
      { name: 'VMName', type: 'text', field: 'vmName' },
      { name: 'UseVmMACAddress', type: 'bool', field: 'useVmMacAddress' },
      { name: 'Type', type: 'ignored', note: 'nvgw has no lookup-record Type (Static, Dynamic, L2Only, GatewayWildcard); -Type is ignored' },
      { name: 'Unsynchronized', type: 'ignored', filterOnly: true },
      { name: 'Unusable', type: 'ignored', filterOnly: true },
    ],
    required: ['CustomerAddress', 'VirtualSubnetID', 'MACAddress', 'ProviderAddress'],
    selectors: ['CustomerAddress', 'VirtualSubnetID', 'MACAddress'],
    properties: [
      ['CustomerAddress', 'customerAddress'],
      ['VirtualSubnetID', 'virtualSubnetId'],
      ['MACAddress', 'macAddress'],
      ['ProviderAddress', 'providerAddress'],
      ['CustomerID', 'customerId'],
      ['Context', 'context'],
      ['Rule', 'rule'],
      ['VMName', 'vmName'],
      ['UseVmMACAddress', 'useVmMacAddress'],
    ],
  },
  {
    noun: 'NetVirtualizationCustomerRoute',
    kind: 'customerRoutes',
    singular: 'customer route',
    params: [
      { name: 'RoutingDomainID', type: 'guid', field: 'routingDomainId' },
      { name: 'VirtualSubnetID', type: 'vsid', field: 'virtualSubnetId' },
      { name: 'DestinationPrefix', type: 'prefix', field: 'destinationPrefix' },
      { name: 'NextHop', type: 'ip', field: 'nextHop' },
      { name: 'Metric', type: 'metric', field: 'metric' },
    ],
    required: ['RoutingDomainID', 'VirtualSubnetID', 'DestinationPrefix', 'NextHop'],
    selectors: ['RoutingDomainID', 'VirtualSubnetID', 'DestinationPrefix'],
    properties: [
      ['RoutingDomainID', 'routingDomainId'],
      ['VirtualSubnetID', 'virtualSubnetId'],
      ['DestinationPrefix', 'destinationPrefix'],
      ['NextHop', 'nextHop'],
      ['Metric', 'metric'],
    ],
  },
  {
    noun: 'NetVirtualizationProviderAddress',
    kind: 'providerAddresses',
    singular: 'provider address',
    params: [
      ...INTERFACE_PARAMS,
      { name: 'ProviderAddress', type: 'ip', field: 'providerAddress' },
      { name: 'PrefixLength', type: 'prefixLength', field: 'prefixLength' },
      { name: 'VlanID', type: 'vlan', field: 'vlanId' },
      { name: 'AddressState', type: 'ignored', filterOnly: true, note: 'nvgw does not track provider address states; -AddressState is ignored' },
      { name: 'ManagedByCluster', type: 'ignored', note: 'nvgw does not use failover clustering; -ManagedByCluster is ignored' },
    ],
    required: ['InterfaceIndex|InterfaceAlias', 'ProviderAddress', 'PrefixLength'],
    selectors: ['InterfaceIndex', 'InterfaceAlias', 'ProviderAddress'],
    properties: [
      ['ProviderAddress', 'providerAddress'],
      ['InterfaceIndex', 'interfaceIndex'],
      ['InterfaceAlias', 'interface'],
      ['PrefixLength', 'prefixLength'],
      ['VlanID', 'vlanId'],
    ],
  },
  {
    noun: 'NetVirtualizationProviderRoute',
    kind: 'providerRoutes',
    singular: 'provider route',
    params: [
      ...INTERFACE_PARAMS,
      { name: 'DestinationPrefix', type: 'prefix', field: 'destinationPrefix' },
      { name: 'NextHop', type: 'ip', field: 'nextHop' },
      { name: 'Metric', type: 'metric', field: 'metric' },
    ],
    required: ['InterfaceIndex|InterfaceAlias', 'DestinationPrefix', 'NextHop'],
    selectors: ['InterfaceIndex', 'InterfaceAlias', 'DestinationPrefix'],
    properties: [
      ['InterfaceIndex', 'interfaceIndex'],
      ['InterfaceAlias', 'interface'],
      ['DestinationPrefix', 'destinationPrefix'],
      ['NextHop', 'nextHop'],
      ['Metric', 'metric'],
    ],
  },
  {
    noun: 'NvgwRoutingDomain',
    kind: 'routingDomains',
    singular: 'routing domain',
    pragmaOnly: true,
    params: [
      { name: 'RoutingDomainID', type: 'guid', field: 'routingDomainId' },
      { name: 'Name', type: 'text', field: 'name' },
      { name: 'CustomerID', type: 'optionalGuid', field: 'customerId' },
    ],
    required: ['RoutingDomainID'],
    selectors: ['RoutingDomainID'],
    properties: [
      ['RoutingDomainID', 'routingDomainId'],
      ['Name', 'name'],
      ['CustomerID', 'customerId'],
    ],
  },
  {
    noun: 'NvgwVirtualSubnet',
    kind: 'virtualSubnets',
    singular: 'virtual subnet',
    pragmaOnly: true,
    params: [
      { name: 'VirtualSubnetID', type: 'vsid', field: 'virtualSubnetId' },
      { name: 'RoutingDomainID', type: 'guid', field: 'routingDomainId' },
      { name: 'Name', type: 'text', field: 'name' },
    ],
    required: ['VirtualSubnetID', 'RoutingDomainID'],
    selectors: ['VirtualSubnetID'],
    properties: [
      ['VirtualSubnetID', 'virtualSubnetId'],
      ['RoutingDomainID', 'routingDomainId'],
      ['Name', 'name'],
    ],
  },
];

/** Parameters every CIM cmdlet takes, plus PowerShell's common parameters. */
export const COMMON_PARAMS: readonly ParamSpec[] = [
  { name: 'CimSession', type: 'cimSession', aliases: ['Session'] },
  { name: 'ThrottleLimit', type: 'ignored' },
  { name: 'AsJob', type: 'switch' },
  { name: 'Verbose', type: 'switch', aliases: ['vb'] },
  { name: 'Debug', type: 'switch', aliases: ['db'] },
  { name: 'ErrorAction', type: 'ignored', aliases: ['ea'] },
  { name: 'WarningAction', type: 'ignored', aliases: ['wa'] },
  { name: 'InformationAction', type: 'ignored', aliases: ['infa'] },
  { name: 'ErrorVariable', type: 'ignored', aliases: ['ev'] },
  { name: 'WarningVariable', type: 'ignored', aliases: ['wv'] },
  { name: 'InformationVariable', type: 'ignored', aliases: ['iv'] },
  { name: 'OutVariable', type: 'ignored', aliases: ['ov'] },
  { name: 'OutBuffer', type: 'ignored', aliases: ['ob'] },
  { name: 'PipelineVariable', type: 'ignored', aliases: ['pv'] },
];

/** Remove- and Set- also take these. */
export const CHANGE_PARAMS: readonly ParamSpec[] = [
  { name: 'PassThru', type: 'switch' },
  { name: 'Confirm', type: 'switch', aliases: ['cf'] },
  { name: 'WhatIf', type: 'switch', aliases: ['wi'] },
];

/** New- takes -WhatIf and -Confirm too (the CDXML cmdlets declare SupportsShouldProcess). */
export const NEW_PARAMS: readonly ParamSpec[] = [
  { name: 'Confirm', type: 'switch', aliases: ['cf'] },
  { name: 'WhatIf', type: 'switch', aliases: ['wi'] },
];

export interface CmdletRef {
  verb: Verb;
  noun: NounSpec;
  /** As Windows spells it: New-NetVirtualizationLookupRecord. */
  name: string;
}

const VERBS: readonly Verb[] = ['New', 'Get', 'Set', 'Remove'];

/** Recognises a cmdlet name, case-insensitively. */
export function findCmdlet(word: string, pragma: boolean): CmdletRef | undefined {
  const m = /^([A-Za-z]+)-([A-Za-z]+)$/.exec(word);
  if (!m) return undefined;
  const verb = VERBS.find((v) => v.toLowerCase() === m[1]!.toLowerCase());
  const noun = NOUNS.find((n) => n.noun.toLowerCase() === m[2]!.toLowerCase() && (pragma || !n.pragmaOnly));
  if (!verb || !noun) return undefined;
  return { verb, noun, name: `${verb}-${noun.noun}` };
}

/** Any other cmdlet of the NetWNV module (Get-NetVirtualizationGlobal…): recognised, not run. */
export function isOtherNetVirtualizationCmdlet(word: string): boolean {
  return /^[A-Za-z]+-NetVirtualization[A-Za-z]*$/i.test(word);
}

/** The parameters a verb of a noun accepts. */
export function paramsOf(ref: CmdletRef): ParamSpec[] {
  const resource = ref.noun.params.filter((p) => ref.verb === 'Get' || ref.verb === 'Remove' || !p.filterOnly);
  const extra = ref.verb === 'New' ? NEW_PARAMS : ref.verb === 'Get' ? [] : CHANGE_PARAMS;
  return [...resource, ...extra, ...COMMON_PARAMS];
}

/**
 * PowerShell's parameter binding by name: case-insensitive, an exact name or alias wins,
 * otherwise a unique prefix (-Virtual for -VirtualSubnetID). Returns the candidates when
 * the prefix is ambiguous.
 */
export function resolveParam(params: readonly ParamSpec[], written: string): ParamSpec | ParamSpec[] | undefined {
  const lower = written.toLowerCase();
  const exact = params.find((p) => p.name.toLowerCase() === lower || p.aliases?.some((a) => a.toLowerCase() === lower));
  if (exact) return exact;
  const prefixed = params.filter((p) => p.name.toLowerCase().startsWith(lower));
  if (prefixed.length === 1) return prefixed[0];
  if (prefixed.length > 1) return prefixed;
  return undefined;
}
