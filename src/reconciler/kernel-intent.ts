/**
 * Desired state -> what the kernel must hold (KernelIntent). Pure: the reconciler feeds it
 * the table allocations and the backend, and hands the result to the kernel adapter.
 *
 * HNV semantics: the gateway's own lookup records (PA = one of the gateway's PAs) become
 * addresses on the VSID's tenant interface with that record's MAC; every other record with
 * a CA becomes a permanent neighbour, so the kernel never ARPs into the fabric; on-link
 * customer routes go out of their VSID's interface; routes via a next-hop CA stay in the
 * domain's table, except those whose next hop is the gateway's own CA, which are meant for
 * the hosts (they route towards the gateway) and are not installed on the gateway.
 */
import type { DesiredState } from '../model/desired-state.js';
import { parseIp, parsePrefix, prefixContains } from '../model/ip.js';
import { isOnLink, isWildcardRecord } from '../model/resources.js';
import type { Backend, DomainIntent, KernelIntent, NeighbourIntent, RouteIntent, SubnetIntent } from '../kernel/intent.js';
import { derivedGatewayMac, gatewayPasOf, isGatewayRecord } from '../datapath/tables.js';

/** Like a VRF device's default: the last route of every domain table, so nothing falls through. */
export const UNREACHABLE_METRIC = 4278198272;

export type TenantKind = 'veth' | 'tap';

export function tenantIfname(vsid: number): string {
  return `nvgw-t${vsid}`;
}

export function datapathIfname(vsid: number, kind: TenantKind): string {
  return kind === 'tap' ? tenantIfname(vsid) : `nvgw-d${vsid}`;
}

export interface IntentOptions {
  backend: Backend;
  tenantKind: TenantKind;
  /** Tenant MTU: the PA MTU minus the 42 bytes of NVGRE overhead. */
  tenantMtu: number;
  tableOf(routingDomainId: string): number;
  /**
   * Fill in each subnet's permanent neighbours (default true). A sliced kernel pass leaves
   * them out and asks for a slice's at a time (neighbourIntents).
   */
  neighbours?: boolean;
}

/**
 * What of a VSID's lookup records buildKernelIntent reads (CA, MAC, whether the record is
 * the gateway's own or the wildcard) as one comparable string. A record whose provider
 * address moves from one host to another (a live migration) leaves it unchanged: the
 * kernel and the firewall never see host PAs, only the data path does. Keep in step with
 * the record loop below.
 */
export function kernelRecordsSignature(state: DesiredState, vsid: number, gatewayPas: Set<number>): string {
  const parts: string[] = [];
  for (const record of state.recordsOf(vsid)) {
    parts.push(isWildcardRecord(record) ? '*' : `${record.customerAddress}/${record.macAddress}${isGatewayRecord(record, gatewayPas) ? '/gw' : ''}`);
  }
  return parts.sort().join(',');
}

export function buildKernelIntent(state: DesiredState, options: IntentOptions): KernelIntent {
  const gatewayPas = gatewayPasOf(state);
  const domains = new Map<string, DomainIntent>();
  for (const rd of state.list('routingDomains')) {
    const table = options.tableOf(rd.routingDomainId);
    domains.set(rd.routingDomainId, { routingDomainId: rd.routingDomainId, table, mark: table, vrfName: `nvgwv${table.toString(16)}`, subnets: [], routes: [] });
  }

  const ownCas = new Map<string, Set<string>>(); // routing domain -> the gateway's CAs in it
  for (const subnet of state.list('virtualSubnets')) {
    const domain = domains.get(subnet.routingDomainId);
    if (!domain) continue;
    const vsid = subnet.virtualSubnetId;
    const onLink = [...state.routesOf(vsid)].filter(isOnLink);
    const intent: SubnetIntent = {
      vsid,
      ifname: tenantIfname(vsid),
      kind: options.tenantKind,
      datapathIfname: datapathIfname(vsid, options.tenantKind),
      mac: derivedGatewayMac(vsid).toString(16).padStart(12, '0'),
      mtu: options.tenantMtu,
      addresses: [],
      neighbours: [],
    };
    for (const record of state.recordsOf(vsid)) {
      if (isWildcardRecord(record) || !isGatewayRecord(record, gatewayPas)) continue;
      intent.mac = record.macAddress;
      intent.addresses.push({ address: record.customerAddress, prefixLength: onLinkLength(record.customerAddress, onLink.map((r) => r.destinationPrefix)) });
      let cas = ownCas.get(subnet.routingDomainId);
      if (!cas) ownCas.set(subnet.routingDomainId, (cas = new Set()));
      cas.add(record.customerAddress);
    }
    if (options.neighbours ?? true) intent.neighbours = neighbourIntents(state, vsid, gatewayPas);
    domain.subnets.push(intent);
  }

  for (const route of state.list('customerRoutes')) {
    const domain = domains.get(route.routingDomainId);
    if (!domain) continue;
    let intent: RouteIntent;
    if (isOnLink(route)) {
      intent = { prefix: route.destinationPrefix, type: 'unicast', ifname: tenantIfname(route.virtualSubnetId), metric: route.metric };
    } else {
      if (ownCas.get(route.routingDomainId)?.has(route.nextHop)) continue; // meant for the hosts
      intent = { prefix: route.destinationPrefix, type: 'unicast', nextHop: route.nextHop, metric: route.metric };
    }
    domain.routes.push(intent);
  }
  // IPv4 only: the kernel adapter manages IPv4, and IPv6 is disabled on tenant interfaces,
  // so no IPv6 packet can enter a domain's table to fall through.
  for (const domain of domains.values()) domain.routes.push({ prefix: '0.0.0.0/0', type: 'unreachable', metric: UNREACHABLE_METRIC });

  return {
    backend: options.backend,
    domains: [...domains.values()],
    provider: {
      addresses: [...state.list('providerAddresses')].map((pa) => ({ ifname: pa.interface, address: pa.providerAddress, prefixLength: pa.prefixLength })),
      routes: [...state.list('providerRoutes')].map((r) => ({ ifname: r.interface, prefix: r.destinationPrefix, type: 'unicast' as const, nextHop: r.nextHop, metric: r.metric })),
    },
  };
}

/** A VSID's permanent neighbours: every record with a CA that is not the gateway's own. */
export function neighbourIntents(state: DesiredState, vsid: number, gatewayPas: Set<number>): NeighbourIntent[] {
  const neighbours: NeighbourIntent[] = [];
  for (const record of state.recordsOf(vsid)) {
    if (!isWildcardRecord(record) && !isGatewayRecord(record, gatewayPas)) neighbours.push({ address: record.customerAddress, mac: record.macAddress });
  }
  return neighbours;
}

/** Prefix length of the longest on-link prefix holding the address (the gateway's subnet), else a host route. */
function onLinkLength(address: string, prefixes: string[]): number {
  const ip = parseIp(address);
  let best = ip?.family === 6 ? 128 : 32;
  let found = -1;
  for (const text of prefixes) {
    const parsed = parsePrefix(text);
    if (ip && parsed.ok && prefixContains(parsed.prefix, ip) && parsed.prefix.length > found) found = parsed.prefix.length;
  }
  if (found >= 0) best = found;
  return best;
}
