/**
 * The tables the per-packet code looks things up in, built by the control plane from the
 * desired state (VPP style: the node only looks up, the control plane fills). Built here as
 * plain data that crosses to the data-path worker by structured clone; the worker indexes
 * it into Maps (see compileTables) once per update, never per packet.
 *
 * HNV semantics applied here:
 * - a lookup record whose PA is one of the gateway's own PAs defines the gateway's own CA
 *   and MAC in that VSID: it is not a tunnel destination;
 * - CA 0.0.0.0 is the wildcard record: where a VSID's unknown destinations go, and a PA
 *   from which any inner source is accepted;
 * - TranslationMethodNat (IP Rewrite) records are not forwarded by this data path yet:
 *   listed as such, and packets for them are dropped under their own reason.
 * - a routing domain's routes (DomainRoutes) mirror its kernel table: on-link customer
 *   routes name their VSID, so the data path can route between the VSIDs of a domain
 *   itself (HNV's distributed router); routes the kernel must resolve (a next-hop CA, an
 *   external network's uplink) are listed too, as `vsid: -1`, so that a longer or better
 *   one of those sends the packet to the kernel exactly when the kernel would route it
 *   elsewhere.
 */
import type { DesiredState } from '../model/desired-state.js';
import { macFromString } from '../packet/ethernet.js';
import { isWildcardRecord } from '../model/resources.js';
import type { GreKeyFormat, LookupRecord } from '../model/resources.js';
import { parseIp, parsePrefix, prefixContains } from '../model/ip.js';
import type { IpPrefix } from '../model/ip.js';
import { isOnLink } from '../model/resources.js';
import { EXTERNAL_METRIC } from '../nat/intent.js';
import type { OffloadTables } from './offload.js';

export interface RecordEntry {
  /** IPv4 CA as uint32, or -1 for an IPv6 CA (matched by MAC only). */
  ca: number;
  mac: number;
  pa: number;
  nat: boolean;
}

export interface VsidTable {
  vsid: number;
  routingDomainId: string;
  /** Index into the per-VSID counters. */
  slot: number;
  /** The gateway's MAC in this VSID (its tenant interface's MAC). */
  gatewayMac: number;
  /** The gateway's own CAs in this VSID (IPv4 as uint32). */
  gatewayCas: number[];
  records: RecordEntry[];
  /** PA of the wildcard record, or -1. */
  wildcardPa: number;
}

/** One route of a routing domain's table, IPv4. */
export interface DomainRoute {
  network: number;
  length: number;
  metric: number;
  /** The VSID an on-link customer route sends to; -1 when the kernel resolves the route (next-hop CA, uplink). */
  vsid: number;
}

export interface DomainRoutes {
  routingDomainId: string;
  routes: DomainRoute[];
}

/**
 * One update of the data path's tables. A full update carries every VSID and `full: true`
 * (VSIDs not in it are removed); an incremental one carries only the VSIDs a change
 * touched, so one lookup-record change costs one VSID's rebuild, not the whole state's.
 */
export interface DatapathTables {
  /** Increases with every update, so the worker can report what it runs. */
  generation: number;
  full: boolean;
  gatewayPas: number[];
  /** Outer TTL of encapsulated packets. */
  ttl: number;
  /** Largest inner IPv4 packet a VSID carries: the PA MTU minus NVGRE's 42 bytes. */
  tenantMtu: number;
  vsids: VsidTable[];
  removedVsids: number[];
  /** For remote PAs: the provider next hop (the PA itself when on-link), or -1 when unreachable. Upserted. */
  nextHops: [pa: number, nextHop: number][];
  /** PAs that speak the pre-KB2779768 key format (FlowID<<24 | VSID). */
  legacyKeyPas: number[];
  /** PAs that match the whole key (Linux gretap with `key`): FlowID always 0 towards them. */
  noFlowIdPas: number[];
  /** Route between the VSIDs of a domain in the data path (false: every packet goes through the kernel). */
  routeBetweenVsids: boolean;
  /** Every domain's routes, replacing the previous set; absent when routes did not change. */
  domains?: DomainRoutes[];
  /**
   * Connection offload (datapath/offload.ts): the domains with an external connection, with
   * the mark and zone their connections carry, and their uplinks; replacing the previous
   * set; absent when unchanged. An empty set switches offload off.
   */
  offload?: OffloadTables;
}

export interface TableOptions {
  /** Build only these VSIDs (an incremental update); omitted: every VSID. */
  only?: ReadonlySet<number>;
  /** Include every domain's routes in an incremental update (a route or connection changed). */
  routes?: boolean;
  /** Largest inner IPv4 packet: the PA MTU minus 42. */
  tenantMtu?: number;
  routeBetweenVsids?: boolean;
}

export interface NotForwardedRecord {
  virtualSubnetId: number;
  customerAddress: string;
  providerAddress: string;
  reason: string;
}

export interface TableBuild {
  tables: DatapathTables;
  /** Records the data path does not forward, with why (for /v1/status). */
  notForwarded: NotForwardedRecord[];
}

export const ipv4ToNumber = (text: string): number => {
  const ip = parseIp(text);
  return ip && ip.family === 4 ? Number(ip.value) : -1;
};

/**
 * A locally administered MAC for a VSID in which no lookup record names the gateway:
 * 02:4e:56 ("NV") followed by the 24-bit VSID, stable across restarts.
 */
export function derivedGatewayMac(vsid: number): number {
  return 0x02_4e_56_00_00_00 + vsid;
}

export function gatewayPasOf(state: DesiredState): Set<number> {
  const out = new Set<number>();
  for (const pa of state.list('providerAddresses')) {
    const n = ipv4ToNumber(pa.providerAddress);
    if (n >= 0) out.add(n);
  }
  return out;
}

/** The gateway's own records: lookup records whose PA is one of the gateway's PAs. */
export function isGatewayRecord(record: LookupRecord, gatewayPas: Set<number>): boolean {
  return gatewayPas.has(ipv4ToNumber(record.providerAddress));
}

/**
 * Builds the tables for `only` the given VSIDs (an incremental update; VSIDs in `only`
 * that no longer exist are listed as removed), or for every VSID when `only` is omitted.
 */
export function buildTables(state: DesiredState, generation: number, slotOf: (vsid: number) => number, options: TableOptions = {}): TableBuild {
  const { only, tenantMtu = 1500 - 42, routeBetweenVsids = true } = options;
  const gatewayPas = gatewayPasOf(state);
  const notForwarded: NotForwardedRecord[] = [];
  const vsids: VsidTable[] = [];
  const removedVsids: number[] = [];
  const remotePas = new Set<number>();

  const subnets = only
    ? [...only].flatMap((vsid) => {
        const subnet = state.get('virtualSubnets', String(vsid));
        if (!subnet) removedVsids.push(vsid);
        return subnet ? [subnet] : [];
      })
    : [...state.list('virtualSubnets')];

  for (const subnet of subnets) {
    const vsid = subnet.virtualSubnetId;
    const table: VsidTable = {
      vsid,
      routingDomainId: subnet.routingDomainId,
      slot: slotOf(vsid),
      gatewayMac: -1,
      gatewayCas: [],
      records: [],
      wildcardPa: -1,
    };
    for (const record of state.recordsOf(vsid)) {
      const pa = ipv4ToNumber(record.providerAddress);
      if (pa < 0) {
        notForwarded.push({ virtualSubnetId: vsid, customerAddress: record.customerAddress, providerAddress: record.providerAddress, reason: 'IPv6 provider addresses are not forwarded by this data path' });
        continue;
      }
      if (gatewayPas.has(pa)) {
        // The gateway's own CA and MAC in this VSID (HNV: the record that points at our PA).
        if (!isWildcardRecord(record)) {
          table.gatewayMac = macFromString(record.macAddress);
          const ca = ipv4ToNumber(record.customerAddress);
          if (ca >= 0) table.gatewayCas.push(ca);
        }
        continue;
      }
      if (isWildcardRecord(record)) {
        table.wildcardPa = pa;
        remotePas.add(pa);
        continue;
      }
      const nat = record.rule === 'TranslationMethodNat';
      if (nat) {
        notForwarded.push({ virtualSubnetId: vsid, customerAddress: record.customerAddress, providerAddress: record.providerAddress, reason: 'TranslationMethodNat (IP Rewrite) is not translated by this data path yet' });
      }
      table.records.push({ ca: ipv4ToNumber(record.customerAddress), mac: macFromString(record.macAddress), pa, nat });
      remotePas.add(pa);
    }
    if (table.gatewayMac < 0) table.gatewayMac = derivedGatewayMac(vsid);
    vsids.push(table);
  }

  return {
    tables: {
      generation,
      full: only === undefined,
      gatewayPas: [...gatewayPas],
      ttl: 64,
      tenantMtu,
      vsids,
      removedVsids,
      nextHops: [...remotePas].map((pa) => [pa, nextHopFor(state, pa)]),
      legacyKeyPas: peersWith(state, 'Ws2012PreKB2779768'),
      noFlowIdPas: peersWith(state, 'Rfc7637NoFlowId'),
      routeBetweenVsids,
      ...(only === undefined || options.routes ? { domains: domainRoutes(state) } : {}),
    },
    notForwarded,
  };
}

/**
 * Every routing domain's IPv4 routes as the kernel intent puts them in its table
 * (src/reconciler/kernel-intent.ts, src/nat/intent.ts): on-link customer routes with their
 * VSID; routes via a next-hop CA and an attached external network's prefix and default
 * route as routes only the kernel follows. Routes via the gateway's own CA, which the kernel
 * intent leaves out, are kept here: sending a packet to the kernel is always safe, and it
 * keeps this independent of the lookup records (a record change never rebuilds routes).
 */
export function domainRoutes(state: DesiredState): DomainRoutes[] {
  const byDomain = new Map<string, DomainRoute[]>();
  for (const rd of state.list('routingDomains')) byDomain.set(rd.routingDomainId, []);
  const add = (routingDomainId: string, route: DomainRoute) => byDomain.get(routingDomainId)?.push(route);
  for (const route of state.list('customerRoutes')) {
    const parsed = parsePrefix(route.destinationPrefix);
    if (!parsed.ok || parsed.prefix.address.family !== 4) continue;
    const vsid = isOnLink(route) ? route.virtualSubnetId : -1;
    add(route.routingDomainId, { network: Number(parsed.prefix.address.value), length: parsed.prefix.length, metric: route.metric, vsid });
  }
  const networks = new Map([...state.list('externalNetworks')].map((n) => [n.interface, n]));
  for (const connection of [...state.list('natConnections'), ...state.list('routedConnections')]) {
    const net = networks.get(connection.interface);
    if (!net) continue;
    const address = ipv4ToNumber(net.address);
    if (address < 0) continue;
    const mask = net.prefixLength === 0 ? 0 : (0xffffffff << (32 - net.prefixLength)) >>> 0;
    add(connection.routingDomainId, { network: (address & mask) >>> 0, length: net.prefixLength, metric: EXTERNAL_METRIC, vsid: -1 });
    if (net.defaultGateway !== '') add(connection.routingDomainId, { network: 0, length: 0, metric: EXTERNAL_METRIC, vsid: -1 });
  }
  return [...byDomain].map(([routingDomainId, routes]) => ({ routingDomainId, routes }));
}

function peersWith(state: DesiredState, format: GreKeyFormat): number[] {
  return [...state.list('providerPeers')].filter((p) => p.greKeyFormat === format).map((p) => ipv4ToNumber(p.providerAddress)).filter((n) => n >= 0);
}

/**
 * The provider next hop towards a remote PA: on-link when the PA lies in one of the
 * gateway's PA subnets, else the longest-prefix provider route (lowest metric on a tie).
 */
export function nextHopFor(state: DesiredState, pa: number): number {
  const address = { family: 4 as const, value: BigInt(pa) };
  for (const own of state.list('providerAddresses')) {
    const ip = parseIp(own.providerAddress);
    if (!ip || ip.family !== 4) continue;
    const bits = own.prefixLength;
    const mask = bits === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - bits)) - 1n);
    const subnet: IpPrefix = { address: { family: 4, value: ip.value & mask }, length: bits };
    if (prefixContains(subnet, address)) return pa;
  }
  let best: { length: number; metric: number; nextHop: number } | undefined;
  for (const route of state.list('providerRoutes')) {
    const parsed = parsePrefix(route.destinationPrefix);
    if (!parsed.ok || !prefixContains(parsed.prefix, address)) continue;
    const candidate = { length: parsed.prefix.length, metric: route.metric, nextHop: ipv4ToNumber(route.nextHop) };
    if (candidate.nextHop < 0) continue;
    if (!best || candidate.length > best.length || (candidate.length === best.length && candidate.metric < best.metric)) best = candidate;
  }
  return best ? best.nextHop : -1;
}

/**
 * What connection offload needs of the external connections: each connected domain's mark
 * (its routing table) and conntrack zone, as nvgw's firewall puts them on its connections,
 * and each uplink's network. Domains whose table or zone is not allocated yet are left out
 * (their connections cannot carry those marks yet either).
 */
export function offloadTables(state: DesiredState, markOf: (routingDomainId: string) => number | undefined, zoneOf: (routingDomainId: string) => number | undefined): OffloadTables {
  const networks = new Map([...state.list('externalNetworks')].map((n) => [n.interface, n]));
  const domains: OffloadTables['domains'] = [];
  const used = new Set<string>();
  for (const connection of [...state.list('natConnections'), ...state.list('routedConnections')]) {
    const mark = markOf(connection.routingDomainId);
    const zone = zoneOf(connection.routingDomainId);
    if (mark === undefined || zone === undefined || !networks.has(connection.interface)) continue;
    domains.push({ routingDomainId: connection.routingDomainId, mark, zone, uplink: connection.interface });
    used.add(connection.interface);
  }
  const uplinks: OffloadTables['uplinks'] = [];
  for (const ifname of [...used].sort()) {
    const net = networks.get(ifname)!;
    const address = ipv4ToNumber(net.address);
    if (address < 0) continue;
    const mask = net.prefixLength === 0 ? 0 : (0xffffffff << (32 - net.prefixLength)) >>> 0;
    uplinks.push({ ifname, network: (address & mask) >>> 0, prefixLength: net.prefixLength, defaultGateway: net.defaultGateway === '' ? -1 : ipv4ToNumber(net.defaultGateway) });
  }
  domains.sort((a, b) => a.mark - b.mark);
  return { domains, uplinks };
}
