/**
 * External networks and connections -> what the kernel and the firewall must hold. Pure: the
 * reconciler feeds it the desired state, the kernel intent of the routing domains and each
 * domain's conntrack zone, and hands the results to the kernel adapter and the firewall.
 *
 * Kernel (KernelIntent.uplinks, DomainIntent.uplinkRoutes/markRule):
 * - NAT: the uplink keeps its address in main (the host's own view of the network) and gets
 *   every NAT address as a /32, so the kernel answers ARP for them; each NAT domain's table
 *   gets the uplink's on-link prefix and `default via <defaultGateway>`, after every customer
 *   route (metric EXTERNAL_METRIC) and before the table's unreachable default; return traffic
 *   finds the table by the mark the firewall restores from the connection.
 * - Routed: the uplink joins the domain's table (`ip rule iif <uplink>`), its address without
 *   a prefix route in main, the on-link prefix and default route in the domain's table.
 *
 * Firewall (NatFirewallIntent, rendered by render.ts): every domain's zone and interfaces,
 * and for NAT domains what is inside the domain, the SNAT range and the NAT rules.
 */
import type { DomainIntent, KernelIntent, UplinkIntent } from '../kernel/intent.js';
import { networkOf, parseIpv4Prefix } from '../kernel/ipv4.js';
import type { DesiredState } from '../model/desired-state.js';
import { addressesOf } from '../model/external.js';

/** Uplink routes come after every customer route and just before the table's unreachable default. */
export const EXTERNAL_METRIC = 4278198271;

export interface NatStatic {
  name: string;
  externalAddress: string;
  internalAddress: string;
}

export interface NatForward {
  name: string;
  protocol: 'tcp' | 'udp';
  externalAddress: string;
  externalPort: number;
  internalAddress: string;
  internalPort: number;
}

export interface NatDomainIntent {
  uplink: string;
  /** Destinations inside the domain (its installed customer routes): conntrack zone both ways. */
  internalPrefixes: string[];
  /** The uplink's on-link prefix: outside, even where an internal prefix covers it. */
  uplinkPrefix: string;
  /** SNAT address or range "first-last". */
  snat: string;
  statics: NatStatic[];
  forwards: NatForward[];
}

export interface FirewallDomainIntent {
  routingDomainId: string;
  /** The domain's mark (= its table), as the policy-routing backend sets it on tenant packets. */
  mark: number;
  /** Its conntrack zone, 1..65535. */
  zone: number;
  /** Its tenant interfaces. */
  ifnames: string[];
  /** Routed connection: the uplink in the domain's table. */
  routedUplink?: string;
  nat?: NatDomainIntent;
}

export interface NatFirewallIntent {
  domains: FirewallDomainIntent[];
  /** NAT uplinks, with the NAT addresses that are not the gateway's own (untranslated packets to them stop). */
  uplinks: { ifname: string; natOnlyAddresses: string[] }[];
}

export interface ExternalBuild {
  kernel: KernelIntent;
  firewall: NatFirewallIntent;
}

/** Adds the external networks to a kernel intent and derives the firewall's NAT intent. */
export function withExternal(state: DesiredState, intent: KernelIntent, zoneOf: (routingDomainId: string) => number): ExternalBuild {
  const domains = new Map<string, DomainIntent>(intent.domains.map((d) => [d.routingDomainId, { ...d }]));
  const firewall = new Map<string, FirewallDomainIntent>();
  for (const d of domains.values()) {
    firewall.set(d.routingDomainId, { routingDomainId: d.routingDomainId, mark: d.mark, zone: zoneOf(d.routingDomainId), ifnames: d.subnets.map((s) => s.ifname).sort() });
  }
  const uplinks: UplinkIntent[] = [];
  const natUplinks: NatFirewallIntent['uplinks'] = [];
  const routedByNetwork = new Map([...state.list('routedConnections')].map((c) => [c.interface, c]));
  const natByNetwork = new Map<string, string[]>();
  for (const c of state.list('natConnections')) natByNetwork.set(c.interface, [...(natByNetwork.get(c.interface) ?? []), c.routingDomainId]);

  for (const net of state.list('externalNetworks')) {
    const onLink = networkOf(net.address, net.prefixLength);
    const routes = (ifname: string) => [
      { prefix: onLink, type: 'unicast' as const, ifname, metric: EXTERNAL_METRIC },
      ...(net.defaultGateway === '' ? [] : [{ prefix: '0.0.0.0/0', type: 'unicast' as const, nextHop: net.defaultGateway, ifname, metric: EXTERNAL_METRIC }]),
    ];
    const routed = routedByNetwork.get(net.interface);
    const routedDomain = routed && domains.get(routed.routingDomainId);
    if (routedDomain) {
      uplinks.push({ ifname: net.interface, table: routedDomain.table, addresses: [{ address: net.address, prefixLength: net.prefixLength }] });
      routedDomain.uplinkRoutes = routes(net.interface);
      firewall.get(routedDomain.routingDomainId)!.routedUplink = net.interface;
      continue;
    }
    const natAddresses = new Set<string>();
    for (const rd of natByNetwork.get(net.interface) ?? []) {
      const domain = domains.get(rd);
      const connection = state.get('natConnections', rd);
      if (!domain || !connection) continue;
      domain.uplinkRoutes = routes(net.interface);
      domain.markRule = true;
      for (const a of addressesOf(connection.externalAddresses)) natAddresses.add(a);
      for (const rule of connection.rules) natAddresses.add(rule.externalAddress);
      firewall.get(rd)!.nat = {
        uplink: net.interface,
        internalPrefixes: domain.routes.filter((r) => r.type === 'unicast' && parseIpv4Prefix(r.prefix) !== undefined).map((r) => r.prefix),
        uplinkPrefix: onLink,
        snat: connection.externalAddresses,
        statics: connection.rules.filter((r) => r.protocol === 'Any').map((r) => ({ name: r.name, externalAddress: r.externalAddress, internalAddress: r.internalAddress })),
        forwards: connection.rules
          .filter((r) => r.protocol !== 'Any')
          .map((r) => ({ name: r.name, protocol: r.protocol === 'TCP' ? ('tcp' as const) : ('udp' as const), externalAddress: r.externalAddress, externalPort: r.externalPort, internalAddress: r.internalAddress, internalPort: r.internalPort })),
      };
    }
    natAddresses.delete(net.address);
    const sorted = [...natAddresses].sort(byAddress);
    uplinks.push({ ifname: net.interface, addresses: [{ address: net.address, prefixLength: net.prefixLength }, ...sorted.map((address) => ({ address, prefixLength: 32 }))] });
    if ((natByNetwork.get(net.interface) ?? []).length > 0) natUplinks.push({ ifname: net.interface, natOnlyAddresses: sorted });
  }

  return {
    kernel: { ...intent, domains: [...domains.values()], uplinks },
    firewall: { domains: [...firewall.values()], uplinks: natUplinks },
  };
}

function byAddress(a: string, b: string): number {
  const n = (t: string) => t.split('.').reduce((v, o) => v * 256 + Number(o), 0);
  return n(a) - n(b);
}
