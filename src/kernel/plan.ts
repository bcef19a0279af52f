/**
 * planKernel: the pure diff from what nvgw wants (KernelIntent) to what the kernel holds
 * (KernelObserved). No I/O; the same input always gives the same plan. It creates nothing
 * twice, deletes only owned objects that are no longer wanted, and never touches an object
 * nvgw does not own.
 *
 * What nvgw owns (OWNERSHIP in intent.ts, made exact):
 * - links: the name starts with "nvgw" (and every name nvgw creates must, or it refuses).
 * - addresses: every IPv4 address on an nvgw link; on any other link only addresses with
 *   IFA_PROTO 78, which nvgw sets on every address it adds (Linux >= 5.18). A wanted PA that
 *   is already present without it was configured by someone else: nvgw leaves it and never
 *   removes it (a note in the plan). On kernels without IFA_PROTO the mark is lost, so a PA
 *   nvgw added is not recognised after a restart and is left in place rather than removed:
 *   the failure mode is a leak, never a wrong deletion.
 * - neighbours: permanent entries on nvgw links (dynamic entries are the kernel's cache).
 * - routes: rtm_protocol 78, in any table. One exception, on nvgw links only: see "local
 *   table" below.
 * - rules: FRA_PROTOCOL 78 and priority 1000..1999.
 *
 * The two backends differ in how a domain's table is selected and nothing else:
 *   vrf             a VRF device per domain (IFLA_VRF_TABLE = table), tenant links enslaved.
 *   policy-routing  rule `iif <tenant if> lookup <table>` (priority 1000) per tenant link and
 *                   `fwmark <mark>/0xffffffff lookup <table>` (priority 1100) per domain, and
 *                   the tenant CAs' local routes moved into the domain table (what l3mdev does
 *                   for a VRF by itself).
 * Common to both: tenant addresses carry IFA_F_NOPREFIXROUTE and nvgw installs their on-link
 * routes itself in the domain's table (src = the CA), never in main; every domain table ends
 * with `unreachable default metric 4278198272`, so a miss stops the lookup instead of falling
 * through to later rules and main (Documentation/networking/vrf.rst); permanent neighbours;
 * IPv6 disabled on every nvgw link (the intent is IPv4; no RS/DAD/MLD noise into a VSID).
 *
 * Uplinks (external networks, KernelIntent.uplinks). An uplink is a link nvgw does not own
 * (a NIC, a veth, a VLAN subinterface); nvgw adds its addresses (IFA_PROTO 78, like a PA),
 * and routes through it in domain tables (DomainIntent.uplinkRoutes), never touches the link.
 * In NAT mode its addresses keep their prefix route in main; a NAT domain with markRule also
 * gets `fwmark <mark> lookup <table>` in the vrf backend, for return traffic the firewall
 * marks from its connection. In routed mode (`table`) the uplink joins one domain's table by
 * `ip rule iif <uplink> lookup <table>` (priority 1000, both backends) and its addresses carry
 * IFA_F_NOPREFIXROUTE, the prefix route being one of the domain's uplink routes.
 *
 * Local table (policy-routing). Rule 0 `lookup local` precedes every other rule and cannot
 * be preceded. Left alone, it would deliver a tenant packet addressed to another domain's CA
 * locally — domain A could ping B's gateway. So for each tenant CA nvgw adds `local <CA> dev
 * <if> table <domain table> proto 78` and deletes the kernel's own `local <CA> dev <if>`
 * route from table local (proto kernel, on an nvgw link, for an nvgw address: the one
 * foreign-protocol object nvgw deletes). The kernel re-adds it when the link goes up, which
 * the next reconcile repairs (the plan evicts whenever it brings a link up or adds an
 * address). Host-global addresses (PAs, management) stay in table local and remain
 * reachable from tenants, exactly as with a VRF under the default rule order; the firewall
 * must drop what tenants may not reach.
 *
 * Contract for the data path and the firewall (NAT issue), policy-routing backend:
 * - Mark every packet entering from a tenant interface with its domain's mark, before
 *   routing and with the whole 32 bits (the rule's mask is 0xffffffff; mark = table):
 *     iptables -t mangle -A <NVGW chain in PREROUTING> -i <tenant ifname> -j MARK --set-xmark <mark>/0xffffffff
 *   Forwarding alone works without it (the iif rule), but (1) replies the gateway itself
 *   generates — ICMP echo replies, ICMP errors, TCP resets — are routed by mark only
 *   (net.ipv4.fwmark_reflect=1 copies the mark of the packet answered); unmarked they are
 *   looked up in main and lost; (2) connections to the gateway's own sockets inherit it
 *   (net.ipv4.tcp_fwmark_accept=1); (3) with rp_filter on (effective value max(all, if);
 *   systemd sets 2) the reverse-path lookup runs as iif lo, so only the mark
 *   (src_valid_mark=1 on tenant links) finds the domain's table; unmarked tenant packets are
 *   then dropped as martians.
 * - Sockets the gateway opens into a domain set SO_MARK = the domain's mark.
 * - sysctls nvgw sets (per namespace; /proc/sys): net.ipv4.ip_forward=1 (both backends);
 *   net.ipv4.fwmark_reflect=1 and net.ipv4.tcp_fwmark_accept=1 (policy-routing); per tenant
 *   link arp_ignore=1, arp_announce=2, src_valid_mark=1 (policy-routing) and IPv6
 *   disable_ipv6=1; per data-path veth end forwarding=0 and arp_ignore=8 (the kernel stack
 *   must ignore what the kernel sends to the data path) and disable_ipv6=1. Global values
 *   are set, never reset.
 */
import type { Backend, DomainIntent, KernelIntent, RouteIntent, SubnetIntent } from './intent.js';
import { OWNERSHIP } from './intent.js';
import { scopeTest } from './pass-scope.js';
import type { PassScope, ScopeTest } from './pass-scope.js';
import { networkOf, parseIpv4, parseIpv4Prefix } from './ipv4.js';
import type {
  AddressSpec,
  Conflict,
  KernelObserved,
  KernelPlan,
  KernelStep,
  LinkChanges,
  LinkSpec,
  NeighbourSpec,
  ObservedAddress,
  ObservedLink,
  ObservedRoute,
  ObservedRule,
  RouteSpec,
  RuleSpec,
} from './kernel-port.js';

export const RULE_PRIORITY_IIF = 1000;
export const RULE_PRIORITY_FWMARK = 1100;
/** The metric vrf.rst recommends for the per-table `unreachable default`: after any real default. */
export const UNREACHABLE_METRIC = 4278198272;
export const FWMASK_ALL = 0xffffffff;
export const TABLE_MAIN = 254;
export const TABLE_LOCAL = 255;
export const PROTO_KERNEL = 2;
/** IFNAMSIZ is 16 with the terminating NUL. */
export const IFNAME_MAX = 15;

export const GLOBAL_SYSCTL_KEYS = ['net/ipv4/ip_forward', 'net/ipv4/fwmark_reflect', 'net/ipv4/tcp_fwmark_accept'] as const;

/** Every per-link key nvgw may set, for observe() to read on each nvgw link. */
export function linkSysctlKeys(ifname: string): string[] {
  return [
    `net/ipv4/conf/${ifname}/arp_ignore`,
    `net/ipv4/conf/${ifname}/arp_announce`,
    `net/ipv4/conf/${ifname}/src_valid_mark`,
    `net/ipv4/conf/${ifname}/forwarding`,
    `net/ipv6/conf/${ifname}/disable_ipv6`,
  ];
}

// ---- Ownership ----

export function isOwnedLinkName(name: string): boolean {
  return name.startsWith(OWNERSHIP.linkPrefix);
}

export function isOwnedAddress(a: ObservedAddress): boolean {
  return isOwnedLinkName(a.ifname) || a.protocol === OWNERSHIP.protocol;
}

export function isOwnedRoute(r: ObservedRoute): boolean {
  return r.protocol === OWNERSHIP.protocol;
}

export function isOwnedRule(r: ObservedRule): boolean {
  return r.protocol === OWNERSHIP.protocol && r.priority >= OWNERSHIP.rulePriorityMin && r.priority <= OWNERSHIP.rulePriorityMax;
}

/** A name nvgw may create: its prefix, fits IFNAMSIZ, and safe as a /proc/sys path segment. */
export function isValidOwnedLinkName(name: string): boolean {
  return name.length <= IFNAME_MAX && /^nvgw[A-Za-z0-9_.-]*$/.test(name);
}

// ---- Object names (step ids; errors carry them) ----

export const linkId = (name: string): string => `link ${name}`;
export const addressId = (a: { ifname: string; address: string; prefixLength: number }): string =>
  `address ${a.address}/${a.prefixLength} on ${a.ifname}`;
export const neighbourId = (n: { ifname: string; address: string }): string => `neighbour ${n.address} on ${n.ifname}`;
export const sysctlId = (key: string): string => `sysctl ${key}`;

export function routeId(r: { table: number; prefix: string; metric: number; type: string }): string {
  const type = r.type === 'unicast' ? '' : `${r.type} `;
  return `route ${type}${r.prefix} table ${r.table} metric ${r.metric}`;
}

export function ruleId(r: RuleSpec): string {
  const selector = [
    r.iif !== undefined ? `iif ${r.iif}` : '',
    r.fwmark !== undefined ? `fwmark 0x${r.fwmark.toString(16)}/0x${(r.fwmask ?? FWMASK_ALL).toString(16)}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return `rule ${r.priority} ${selector || 'all'} lookup ${r.table}`;
}

const routeKey = (r: { table: number; prefix: string; metric: number }): string => `${r.table} ${r.prefix} ${r.metric}`;
const addressKey = (a: { ifname: string; address: string; prefixLength: number }): string =>
  `${a.ifname} ${a.address}/${a.prefixLength}`;
const neighbourKey = (n: { ifname: string; address: string }): string => `${n.ifname} ${n.address}`;
const ruleKey = (r: RuleSpec): string => `${r.priority}|${r.iif ?? ''}|${r.fwmark ?? ''}|${r.fwmask ?? ''}|${r.table}`;

// ---- Desired state ----

export interface DesiredAddress extends AddressSpec {
  /** 'link': on an nvgw link (owned with the link); 'protocol': a PA on a foreign link, owned by IFA_PROTO. */
  owner: 'link' | 'protocol';
}

export interface DesiredSysctl {
  key: string;
  value: string;
  /** The nvgw link the key belongs to; undefined for namespace-wide keys. */
  link?: string;
}

export interface DesiredKernel {
  backend: Backend;
  links: LinkSpec[];
  /** [tenant end, data-path end] of each veth pair (both are also in `links`). */
  vethPairs: [string, string][];
  sysctls: DesiredSysctl[];
  addresses: DesiredAddress[];
  neighbours: NeighbourSpec[];
  routes: RouteSpec[];
  rules: RuleSpec[];
  /** Tenant CAs whose kernel local route is moved out of table local (policy-routing). */
  localRoutesMoved: { ifname: string; address: string }[];
  conflicts: Conflict[];
  /** What the pass plans (everything unless sliced); only wants inside it are listed above. */
  scope: ScopeTest;
}

const isMac = (mac: unknown): mac is string => typeof mac === 'string' && /^[0-9a-f]{12}$/.test(mac);
const isU32 = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff;
const isForeignIfname = (name: unknown): name is string => typeof name === 'string' && /^[^\s/:]{1,15}$/.test(name);

/** The domains and subnets of an intent that are valid, and what each claims (see claimsOf). */
interface Claims {
  valid: { domain: DomainIntent; subnets: SubnetIntent[] }[];
  domainOfLink: Map<string, string>;
  domainOfTable: Map<number, string>;
  /** Each domain's own problems, by the domain they belong to. */
  problems: { routingDomainId: string; conflict: Conflict }[];
}

/**
 * Validates every domain and subnet of the intent, first come first served (a table, mark
 * or link name used twice belongs to the first), and records which domain claims which
 * link and table: what decides the slice an object belongs to (pass-scope.ts).
 */
function claimsOf(intent: KernelIntent): Claims {
  const claims: Claims = { valid: [], domainOfLink: new Map(), domainOfTable: new Map(), problems: [] };
  const linkNames = new Set<string>();
  const tables = new Map<number, string>();
  const marks = new Map<number, string>();
  for (const domain of intent.domains) {
    const id = domain.routingDomainId;
    const did = `domain ${id}`;
    const problem = domainProblem(domain, intent.backend, tables, marks, linkNames);
    if (problem !== undefined) {
      claims.problems.push({ routingDomainId: id, conflict: { id: did, reason: problem } });
      continue;
    }
    tables.set(domain.table, did);
    claims.domainOfTable.set(domain.table, id);
    if (intent.backend === 'policy-routing') marks.set(domain.mark, did);
    if (intent.backend === 'vrf') {
      linkNames.add(domain.vrfName);
      claims.domainOfLink.set(domain.vrfName, id);
    }
    const subnets: SubnetIntent[] = [];
    for (const subnet of domain.subnets) {
      const subnetProblem = subnetProblemOf(subnet, linkNames);
      if (subnetProblem !== undefined) {
        claims.problems.push({ routingDomainId: id, conflict: { id: `subnet ${subnet.vsid} of ${did}`, reason: subnetProblem } });
        continue;
      }
      for (const name of subnet.kind === 'veth' ? [subnet.ifname, subnet.datapathIfname] : [subnet.ifname]) {
        linkNames.add(name);
        claims.domainOfLink.set(name, id);
      }
      subnets.push(subnet);
    }
    claims.valid.push({ domain, subnets });
  }
  return claims;
}

/** What a slice of a pass covers in this intent (pass-scope.ts). */
export function resolveScope(intent: KernelIntent, scope: PassScope | undefined): ScopeTest {
  if (scope === undefined) return scopeTest(undefined, new Map(), new Map());
  const { domainOfLink, domainOfTable } = claimsOf(intent);
  return scopeTest(scope, domainOfLink, domainOfTable);
}

/**
 * What nvgw wants in the kernel, from the intent alone; invalid items become conflicts.
 * With a scope, only what lies inside it (the intent is still validated whole, so a slice
 * knows which names and tables belong to domains outside it).
 */
export function desiredKernel(intent: KernelIntent, scope?: PassScope): DesiredKernel {
  const backend = intent.backend;
  const claims = claimsOf(intent);
  const test = scopeTest(scope, claims.domainOfLink, claims.domainOfTable);
  const want: DesiredKernel = {
    backend,
    links: [],
    vethPairs: [],
    sysctls: [],
    addresses: [],
    neighbours: [],
    routes: [],
    rules: [],
    localRoutesMoved: [],
    conflicts: claims.problems.filter((p) => test.domain(p.routingDomainId)).map((p) => p.conflict),
    scope: test,
  };
  const conflict = (id: string, reason: string): void => {
    want.conflicts.push({ id, reason });
  };
  const routes = new Map<string, RouteSpec>();
  const addresses = new Set<string>();
  const neighbours = new Set<string>();

  const addRoute = (route: RouteSpec): void => {
    const key = routeKey(route);
    const existing = routes.get(key);
    if (existing === undefined) {
      routes.set(key, route);
      want.routes.push(route);
    } else if (!sameRoute(existing, route)) {
      conflict(routeId(route), `also wanted as ${describeRoute(existing)}; the kernel holds one route per table, prefix and metric: keeping that one`);
    }
  };

  if (test.global) for (const linkSysctl of GLOBAL_SYSCTLS[backend]) want.sysctls.push(linkSysctl);

  for (const { domain, subnets } of claims.valid) {
    if (!test.domain(domain.routingDomainId)) continue;
    const did = `domain ${domain.routingDomainId}`;
    if (backend === 'vrf') {
      want.links.push({ name: domain.vrfName, kind: 'vrf', vrfTable: domain.table, up: true, master: null });
    }
    const master = backend === 'vrf' ? domain.vrfName : null;
    const domainLinks = new Set<string>();

    for (const subnet of subnets) {
      const ifname = subnet.ifname;
      domainLinks.add(ifname);
      if (subnet.kind === 'veth') {
        want.vethPairs.push([ifname, subnet.datapathIfname]);
        want.links.push({ name: ifname, kind: 'veth', peer: subnet.datapathIfname, mac: subnet.mac, mtu: subnet.mtu, up: true, master });
        // The data path owns this end: nvgw keeps it existing, up and at the tenant MTU, and leaves its MAC and master alone.
        want.links.push({ name: subnet.datapathIfname, kind: 'veth', peer: ifname, mtu: subnet.mtu, up: true });
        for (const [key, value] of Object.entries(DATAPATH_END_SYSCTLS)) {
          want.sysctls.push({ key: key.replace('%s', subnet.datapathIfname), value, link: subnet.datapathIfname });
        }
      } else {
        want.links.push({ name: ifname, kind: 'tap', mac: subnet.mac, mtu: subnet.mtu, up: true, master });
      }
      for (const [key, value] of Object.entries(TENANT_SYSCTLS[backend])) {
        want.sysctls.push({ key: key.replace('%s', ifname), value, link: ifname });
      }

      for (const a of subnet.addresses) {
        const spec: DesiredAddress = { ifname, address: a.address, prefixLength: a.prefixLength, noPrefixRoute: true, owner: 'link' };
        if (parseIpv4(a.address) === undefined || !Number.isInteger(a.prefixLength) || a.prefixLength < 0 || a.prefixLength > 32) {
          conflict(addressId(spec), 'not an IPv4 address and prefix length');
          continue;
        }
        if (addresses.has(addressKey(spec))) continue;
        addresses.add(addressKey(spec));
        want.addresses.push(spec);
        if (backend === 'policy-routing') {
          // First, because the kernel accepts `src <CA>` on the on-link route below only when
          // the CA is local in that route's table or in table local (fib_valid_prefsrc), and
          // the local-table copy is evicted.
          addRoute({
            table: domain.table,
            prefix: `${a.address}/32`,
            metric: 0,
            type: 'local',
            scope: 'host',
            protocol: OWNERSHIP.protocol,
            ifname,
            source: a.address,
          });
          want.localRoutesMoved.push({ ifname, address: a.address });
        }
        // The on-link route the kernel would have put in main (IFA_F_NOPREFIXROUTE stops it).
        addRoute({
          table: domain.table,
          prefix: networkOf(a.address, a.prefixLength),
          metric: 0,
          type: 'unicast',
          scope: 'link',
          protocol: OWNERSHIP.protocol,
          ifname,
          source: a.address,
        });
      }

      for (const n of subnet.neighbours) {
        const spec: NeighbourSpec = { ifname, address: n.address, mac: n.mac };
        if (parseIpv4(n.address) === undefined || !isMac(n.mac)) {
          conflict(neighbourId(spec), 'not an IPv4 address and a canonical MAC');
          continue;
        }
        if (neighbours.has(neighbourKey(spec))) {
          conflict(neighbourId(spec), 'listed twice; keeping the first');
          continue;
        }
        neighbours.add(neighbourKey(spec));
        want.neighbours.push(spec);
      }

      if (backend === 'policy-routing') want.rules.push({ priority: RULE_PRIORITY_IIF, iif: ifname, table: domain.table });
    }

    addRoute({
      table: domain.table,
      prefix: '0.0.0.0/0',
      metric: UNREACHABLE_METRIC,
      type: 'unreachable',
      scope: 'universe',
      protocol: OWNERSHIP.protocol,
    });
    for (const r of domain.routes) {
      const route = routeFromIntent(domain.table, r);
      if (typeof route === 'string') {
        conflict(`route ${String(r.prefix)} table ${domain.table}`, route);
      } else if (route.ifname !== undefined && !domainLinks.has(route.ifname)) {
        conflict(routeId(route), `interface ${route.ifname} is not a tenant interface of this routing domain`);
      } else {
        addRoute(route);
      }
    }
    for (const r of domain.uplinkRoutes ?? []) {
      const route = routeFromIntent(domain.table, r);
      if (typeof route === 'string') conflict(`route ${String(r.prefix)} table ${domain.table}`, route);
      else if (!isForeignIfname(r.ifname) || isOwnedLinkName(r.ifname)) conflict(routeId(route), 'an uplink route leaves through a host interface, not an nvgw link');
      else addRoute(route);
    }
    if (backend === 'policy-routing') {
      want.rules.push({ priority: RULE_PRIORITY_FWMARK, fwmark: domain.mark, fwmask: FWMASK_ALL, table: domain.table });
    } else if (domain.markRule === true) {
      if (isU32(domain.mark) && domain.mark !== 0) want.rules.push({ priority: RULE_PRIORITY_FWMARK, fwmark: domain.mark, fwmask: FWMASK_ALL, table: domain.table });
      else conflict(did, `mark ${domain.mark} is not a non-zero 32-bit mark`);
    }
  }

  if (test.global) {
    for (const a of intent.provider.addresses) {
      const spec: DesiredAddress = { ifname: a.ifname, address: a.address, prefixLength: a.prefixLength, noPrefixRoute: false, owner: 'protocol' };
      if (!isForeignIfname(a.ifname) || parseIpv4(a.address) === undefined || !Number.isInteger(a.prefixLength) || a.prefixLength < 0 || a.prefixLength > 32) {
        conflict(addressId(spec), 'not an interface name, IPv4 address and prefix length');
        continue;
      }
      if (isOwnedLinkName(a.ifname)) {
        conflict(addressId(spec), 'a provider address belongs on a provider interface, not on an nvgw link');
        continue;
      }
      if (addresses.has(addressKey(spec))) continue;
      addresses.add(addressKey(spec));
      want.addresses.push(spec);
    }
  }
  // Uplinks: their iif rule (routed mode) lives in its domain's table and belongs to that
  // domain's slice; everything else here is namespace-wide and belongs to the rest.
  const uplinkNames = new Set<string>();
  for (const u of intent.uplinks ?? []) {
    const uid = `uplink ${String(u.ifname)}`;
    const problem = !isForeignIfname(u.ifname) || isOwnedLinkName(u.ifname)
      ? 'an uplink is a host interface that nvgw does not own'
      : uplinkNames.has(u.ifname)
        ? 'listed twice; keeping the first'
        : u.table !== undefined && !claims.domainOfTable.has(u.table)
          ? `table ${u.table} belongs to no routing domain of this intent`
          : undefined;
    if (problem !== undefined) {
      if (test.global) conflict(uid, problem);
      continue;
    }
    uplinkNames.add(u.ifname);
    if (u.table !== undefined && test.table(u.table)) want.rules.push({ priority: RULE_PRIORITY_IIF, iif: u.ifname, table: u.table });
    if (!test.global) continue;
    for (const a of u.addresses) {
      // Routed: the prefix route belongs in the domain's table (uplinkRoutes), not in main.
      const spec: DesiredAddress = { ifname: u.ifname, address: a.address, prefixLength: a.prefixLength, noPrefixRoute: u.table !== undefined, owner: 'protocol' };
      if (parseIpv4(a.address) === undefined || !Number.isInteger(a.prefixLength) || a.prefixLength < 0 || a.prefixLength > 32) {
        conflict(addressId(spec), 'not an IPv4 address and prefix length');
        continue;
      }
      if (addresses.has(addressKey(spec))) continue;
      addresses.add(addressKey(spec));
      want.addresses.push(spec);
    }
  }
  if (!test.global) return want;
  for (const r of intent.provider.routes) {
    const route = routeFromIntent(TABLE_MAIN, r);
    if (typeof route === 'string') conflict(`route ${String(r.prefix)} table ${TABLE_MAIN}`, route);
    else if (!isForeignIfname(r.ifname)) conflict(routeId(route), 'not an interface name');
    else if (isOwnedLinkName(r.ifname)) conflict(routeId(route), 'a provider route must not lead into an nvgw (tenant) link');
    else addRoute(route);
  }
  return want;
}

const GLOBAL_SYSCTLS: Record<Backend, DesiredSysctl[]> = {
  vrf: [{ key: 'net/ipv4/ip_forward', value: '1' }],
  'policy-routing': [
    { key: 'net/ipv4/ip_forward', value: '1' },
    { key: 'net/ipv4/fwmark_reflect', value: '1' },
    { key: 'net/ipv4/tcp_fwmark_accept', value: '1' },
  ],
};

const TENANT_SYSCTLS: Record<Backend, Record<string, string>> = {
  vrf: {
    'net/ipv4/conf/%s/arp_ignore': '1',
    'net/ipv4/conf/%s/arp_announce': '2',
    'net/ipv6/conf/%s/disable_ipv6': '1',
  },
  'policy-routing': {
    'net/ipv4/conf/%s/arp_ignore': '1',
    'net/ipv4/conf/%s/arp_announce': '2',
    'net/ipv4/conf/%s/src_valid_mark': '1',
    'net/ipv6/conf/%s/disable_ipv6': '1',
  },
};

const DATAPATH_END_SYSCTLS: Record<string, string> = {
  'net/ipv4/conf/%s/forwarding': '0',
  'net/ipv4/conf/%s/arp_ignore': '8',
  'net/ipv6/conf/%s/disable_ipv6': '1',
};

function domainProblem(
  domain: DomainIntent,
  backend: Backend,
  tables: Map<number, string>,
  marks: Map<number, string>,
  linkNames: Set<string>,
): string | undefined {
  if (!isU32(domain.table) || domain.table === 0 || domain.table >= 253 && domain.table <= 255) {
    return `table ${domain.table} is not a routing table nvgw may use (1..4294967295 but not 253-255)`;
  }
  const tableOwner = tables.get(domain.table);
  if (tableOwner !== undefined) return `table ${domain.table} already belongs to ${tableOwner}`;
  if (backend === 'policy-routing') {
    if (!isU32(domain.mark) || domain.mark === 0) return `mark ${domain.mark} is not a non-zero 32-bit mark`;
    const markOwner = marks.get(domain.mark);
    if (markOwner !== undefined) return `mark ${domain.mark} already belongs to ${markOwner}`;
  }
  if (backend === 'vrf') {
    if (!isValidOwnedLinkName(domain.vrfName)) return `VRF name ${domain.vrfName} must start with "nvgw" and fit ${IFNAME_MAX} characters`;
    if (linkNames.has(domain.vrfName)) return `link name ${domain.vrfName} is used twice`;
  }
  return undefined;
}

function subnetProblemOf(subnet: SubnetIntent, linkNames: Set<string>): string | undefined {
  const names = subnet.kind === 'veth' ? [subnet.ifname, subnet.datapathIfname] : [subnet.ifname];
  for (const name of names) {
    if (!isValidOwnedLinkName(name)) return `link name ${name} must start with "nvgw", fit ${IFNAME_MAX} characters and use [A-Za-z0-9_.-]`;
    if (linkNames.has(name)) return `link name ${name} is used twice`;
  }
  if (subnet.kind === 'veth' && subnet.ifname === subnet.datapathIfname) return 'a veth pair needs two names';
  if (subnet.kind !== 'veth' && subnet.kind !== 'tap') return `unknown interface kind ${String(subnet.kind)}`;
  if (!isMac(subnet.mac)) return `MAC ${subnet.mac} is not 12 lowercase hex digits`;
  if (!Number.isInteger(subnet.mtu) || subnet.mtu < 68 || subnet.mtu > 65535) return `MTU ${subnet.mtu} is outside 68..65535`;
  return undefined;
}

function routeFromIntent(table: number, r: RouteIntent & { ifname?: string }): RouteSpec | string {
  const prefix = typeof r.prefix === 'string' ? parseIpv4Prefix(r.prefix) : undefined;
  if (prefix === undefined) return `prefix ${String(r.prefix)} is not a canonical IPv4 prefix`;
  if (!isU32(r.metric)) return `metric ${String(r.metric)} is not a 32-bit number`;
  const base = { table, prefix: `${prefix.address}/${prefix.length}`, metric: r.metric, protocol: OWNERSHIP.protocol };
  if (r.type === 'unreachable') return { ...base, type: 'unreachable', scope: 'universe' };
  if (r.type !== 'unicast') return `route type ${String(r.type)} is not unicast or unreachable`;
  const nextHop = r.nextHop === undefined || r.nextHop === '0.0.0.0' ? undefined : r.nextHop;
  if (nextHop !== undefined && parseIpv4(nextHop) === undefined) return `next hop ${nextHop} is not an IPv4 address`;
  if (nextHop === undefined && r.ifname === undefined) return 'an on-link route needs an interface';
  const route: RouteSpec = { ...base, type: 'unicast', scope: nextHop === undefined ? 'link' : 'universe' };
  if (nextHop !== undefined) route.nextHop = nextHop;
  if (r.ifname !== undefined) route.ifname = r.ifname;
  return route;
}

function sameRoute(a: RouteSpec, b: RouteSpec): boolean {
  return a.type === b.type && a.nextHop === b.nextHop && a.ifname === b.ifname && a.scope === b.scope;
}

function describeRoute(r: RouteSpec): string {
  return [r.type, r.prefix, r.nextHop !== undefined ? `via ${r.nextHop}` : '', r.ifname !== undefined ? `dev ${r.ifname}` : '']
    .filter(Boolean)
    .join(' ');
}

// Whether an observed route already is the wanted one (fields the intent leaves open are not compared).
function routeSatisfies(o: ObservedRoute, r: RouteSpec): boolean {
  return (
    o.protocol === r.protocol &&
    o.type === r.type &&
    o.scope === r.scope &&
    !o.multipath &&
    o.nextHop === r.nextHop &&
    (r.ifname === undefined || o.ifname === r.ifname) &&
    (r.source === undefined || o.source === r.source)
  );
}

// ---- The plan ----

/**
 * The steps that make `observed` match `intent`, in application order (see KernelPlan.steps).
 * With a scope, only those for the objects inside it (pass-scope.ts): what the scope does
 * not cover is neither wanted nor deleted, whatever `observed` holds of it.
 */
export function planKernel(intent: KernelIntent, observed: KernelObserved, scope?: PassScope): KernelPlan {
  const want = desiredKernel(intent, scope);
  const inScope = want.scope;
  /** Objects on an nvgw link go with the link's slice; on any other link they are namespace-wide. */
  const onLinkInScope = (ifname: string): boolean => (isOwnedLinkName(ifname) ? inScope.link(ifname) : inScope.global);
  const conflicts: Conflict[] = [...want.conflicts];
  const notes: string[] = [];
  const del = {
    rules: [] as KernelStep[],
    routes: [] as KernelStep[],
    neighbours: [] as KernelStep[],
    addresses: [] as KernelStep[],
    links: [] as KernelStep[],
    vrfs: [] as KernelStep[],
  };
  const add = {
    globalSysctls: [] as KernelStep[],
    vrfs: [] as KernelStep[],
    links: [] as KernelStep[],
    linkSysctls: [] as KernelStep[],
    vrfUpdates: [] as KernelStep[],
    linkUpdates: [] as KernelStep[],
    addresses: [] as KernelStep[],
    neighbours: [] as KernelStep[],
    routes: [] as KernelStep[],
    evictions: [] as KernelStep[],
    rules: [] as KernelStep[],
  };

  // ---- Links ----
  const observedLinks = new Map(observed.links.map((l) => [l.name, l]));
  const wantedLinks = new Map(want.links.map((l) => [l.name, l]));
  /** Links that will not exist once the deletions ran (a deleted veth takes its peer along). */
  const gone = new Set<string>();
  /** Links this plan creates. */
  const fresh = new Set<string>();
  /** Links this plan brings up (the kernel then re-adds local routes for their addresses). */
  const broughtUp = new Set<string>();
  const blocked = new Set<string>();

  const deleteLink = (link: ObservedLink): boolean => {
    if (gone.has(link.name)) return true;
    if (link.kind === 'veth' && typeof link.peer === 'string' && !isOwnedLinkName(link.peer)) {
      conflict(linkId(link.name), `its veth peer ${link.peer} is not nvgw's and would go with it; left alone`);
      return false;
    }
    (link.kind === 'vrf' ? del.vrfs : del.links).push({ kind: 'link', op: 'delete', id: linkId(link.name), requires: [], name: link.name });
    gone.add(link.name);
    if (link.kind === 'veth' && typeof link.peer === 'string') gone.add(link.peer);
    return true;
  };
  function conflict(id: string, reason: string): void {
    conflicts.push({ id, reason });
  }
  const exists = (name: string): ObservedLink | undefined => (gone.has(name) ? undefined : observedLinks.get(name));

  for (const link of observed.links) {
    if (isOwnedLinkName(link.name) && !wantedLinks.has(link.name) && inScope.link(link.name)) deleteLink(link);
  }

  const makeRoom = (names: string[]): boolean => {
    for (const name of names) {
      const current = exists(name);
      if (current === undefined) continue;
      if (!isOwnedLinkName(current.name)) {
        conflict(linkId(name), 'the name is taken by a link nvgw does not own');
        return false;
      }
      if (!deleteLink(current)) return false;
    }
    return true;
  };

  const pairOf = new Map<string, string>();
  const tenantEnds = new Set<string>();
  for (const [tenant, datapath] of want.vethPairs) {
    pairOf.set(tenant, datapath);
    pairOf.set(datapath, tenant);
    tenantEnds.add(tenant);
  }

  for (const spec of want.links) {
    if (spec.kind === 'veth') {
      const partner = pairOf.get(spec.name);
      const tenantEnd = partner !== undefined && tenantEnds.has(spec.name);
      if (!tenantEnd || partner === undefined) continue;
      const a = exists(spec.name);
      const b = exists(partner);
      const intact = a?.kind === 'veth' && a.peer === partner && b?.kind === 'veth' && b.peer === spec.name;
      if (intact) continue;
      if (!makeRoom([spec.name, partner])) {
        blocked.add(spec.name).add(partner);
        continue;
      }
      add.links.push({ kind: 'link', op: 'create', id: linkId(spec.name), requires: [], link: spec });
      fresh.add(spec.name).add(partner);
    } else {
      const current = exists(spec.name);
      const intact =
        current !== undefined && current.kind === spec.kind && (spec.kind !== 'vrf' || current.vrfTable === spec.vrfTable);
      if (intact) continue;
      if (!makeRoom([spec.name])) {
        blocked.add(spec.name);
        continue;
      }
      (spec.kind === 'vrf' ? add.vrfs : add.links).push({ kind: 'link', op: 'create', id: linkId(spec.name), requires: [], link: spec });
      fresh.add(spec.name);
    }
  }

  for (const spec of want.links) {
    if (blocked.has(spec.name)) continue;
    const changes: LinkChanges = {};
    const current = fresh.has(spec.name) ? undefined : exists(spec.name);
    if (spec.mac !== undefined && current?.mac !== spec.mac) changes.mac = spec.mac;
    if (spec.mtu !== undefined && current?.mtu !== spec.mtu) changes.mtu = spec.mtu;
    if (spec.master !== undefined && (current?.master ?? null) !== spec.master) changes.master = spec.master;
    if (spec.up && current?.up !== true) {
      changes.up = true;
      broughtUp.add(spec.name);
    }
    if (Object.keys(changes).length === 0) continue;
    const requires = [spec.name, ...(typeof changes.master === 'string' ? [changes.master] : [])];
    (spec.kind === 'vrf' ? add.vrfUpdates : add.linkUpdates).push({
      kind: 'link',
      op: 'update',
      id: linkId(spec.name),
      requires,
      link: spec,
      changes,
    });
  }

  /**
   * Observed objects on links that the deletions remove vanish with them: this plan's
   * deletions, and in a domain's slice the unclaimed nvgw links the rest deletes (unless a
   * foreign veth peer keeps the rest from it, as deleteLink refuses).
   */
  const goneWithTheRest = (ifname: string): boolean => {
    if (inScope.link(ifname) || !isOwnedLinkName(ifname) || !inScope.unclaimed(ifname)) return false;
    const link = observedLinks.get(ifname);
    return link !== undefined && !(link.kind === 'veth' && typeof link.peer === 'string' && !isOwnedLinkName(link.peer));
  };
  const survives = (ifname: string | undefined): boolean => ifname === undefined || (!gone.has(ifname) && !goneWithTheRest(ifname));
  const usable = (ifname: string): boolean => !blocked.has(ifname);

  // ---- sysctls ----
  for (const s of want.sysctls) {
    if (s.link !== undefined && !usable(s.link)) continue;
    const current = observed.sysctls[s.key];
    const needed = s.link !== undefined && fresh.has(s.link) ? true : current !== undefined && current.trim() !== s.value;
    if (s.link === undefined && current === undefined) {
      conflict(sysctlId(s.key), 'this kernel has no such sysctl');
      continue;
    }
    if (!needed) continue;
    (s.link === undefined ? add.globalSysctls : add.linkSysctls).push({
      kind: 'sysctl',
      op: 'set',
      id: sysctlId(s.key),
      requires: s.link === undefined ? [] : [s.link],
      key: s.key,
      value: s.value,
    });
  }

  // ---- Addresses ----
  const observedAddresses = new Map<string, ObservedAddress>();
  for (const a of observed.addresses) if (survives(a.ifname) && onLinkInScope(a.ifname)) observedAddresses.set(addressKey(a), a);
  /** "<ifname> <address>" of every address this plan adds (whatever its prefix length). */
  const addedAddresses = new Set<string>();
  const wantedAddressKeys = new Set(want.addresses.map(addressKey));
  for (const a of want.addresses) {
    const { owner, ...spec } = a;
    if (!usable(a.ifname)) continue;
    const current = observedAddresses.get(addressKey(a));
    if (current === undefined) {
      if (owner === 'protocol' && !observedLinks.has(a.ifname)) {
        conflict(addressId(a), `interface ${a.ifname} does not exist`);
        continue;
      }
      add.addresses.push({ kind: 'address', op: 'create', id: addressId(a), requires: owner === 'link' ? [a.ifname] : [], address: spec });
      addedAddresses.add(`${a.ifname} ${a.address}`);
    } else if (!isOwnedAddress(current)) {
      notes.push(`${addressId(a)} is present but was not added by nvgw (IFA_PROTO ${current.protocol}); left as it is and never removed`);
    } else if (current.noPrefixRoute !== a.noPrefixRoute) {
      // The kernel does not change IFA_F_NOPREFIXROUTE on replace: delete and add again.
      del.addresses.push({ kind: 'address', op: 'delete', id: addressId(a), requires: [], address: spec });
      add.addresses.push({ kind: 'address', op: 'create', id: addressId(a), requires: owner === 'link' ? [a.ifname] : [], address: spec });
      addedAddresses.add(`${a.ifname} ${a.address}`);
    }
  }
  for (const a of observedAddresses.values()) {
    if (isOwnedAddress(a) && !wantedAddressKeys.has(addressKey(a))) {
      const spec: AddressSpec = { ifname: a.ifname, address: a.address, prefixLength: a.prefixLength, noPrefixRoute: a.noPrefixRoute };
      del.addresses.push({ kind: 'address', op: 'delete', id: addressId(a), requires: [], address: spec });
    }
  }

  // ---- Neighbours ----
  const observedNeighbours = new Map(
    observed.neighbours.filter((n) => survives(n.ifname) && isOwnedLinkName(n.ifname) && inScope.link(n.ifname)).map((n) => [neighbourKey(n), n]),
  );
  const wantedNeighbourKeys = new Set(want.neighbours.map(neighbourKey));
  for (const n of want.neighbours) {
    if (!usable(n.ifname)) continue;
    const current = observedNeighbours.get(neighbourKey(n));
    if (current?.permanent === true && current.mac === n.mac) continue;
    add.neighbours.push({ kind: 'neighbour', op: 'replace', id: neighbourId(n), requires: [n.ifname], neighbour: n });
  }
  for (const n of observedNeighbours.values()) {
    if (n.permanent && !wantedNeighbourKeys.has(neighbourKey(n))) {
      del.neighbours.push({ kind: 'neighbour', op: 'delete', id: neighbourId(n), requires: [], neighbour: { ifname: n.ifname, address: n.address, mac: n.mac ?? '' } });
    }
  }

  // ---- Routes ----
  const observedRoutes = new Map<string, ObservedRoute[]>();
  for (const r of observed.routes) {
    if (!survives(r.ifname) || !inScope.table(r.table)) continue;
    const key = routeKey(r);
    observedRoutes.set(key, [...(observedRoutes.get(key) ?? []), r]);
  }
  const handledRouteKeys = new Set<string>();
  for (const r of want.routes) {
    if (r.ifname !== undefined && isOwnedLinkName(r.ifname) && !usable(r.ifname)) continue;
    const key = routeKey(r);
    handledRouteKeys.add(key);
    const present = observedRoutes.get(key) ?? [];
    const ours = present.filter(isOwnedRoute);
    // A kernel-made route on an nvgw link (a prefix route of an address added before it had
    // IFA_F_NOPREFIXROUTE) is replaceable; anything else of another protocol is not nvgw's.
    const foreign = present.filter((o) => !isOwnedRoute(o) && !(o.ifname !== undefined && isOwnedLinkName(o.ifname)));
    if (foreign.length > 0) {
      const f = foreign[0];
      conflict(routeId(r), `table ${r.table} already holds a route to ${r.prefix} with metric ${r.metric} that nvgw does not own (protocol ${f?.protocol ?? 0}); left alone`);
      continue;
    }
    if (r.ifname !== undefined && !isOwnedLinkName(r.ifname) && !observedLinks.has(r.ifname)) {
      conflict(routeId(r), `interface ${r.ifname} does not exist`);
      continue;
    }
    const [first] = ours;
    if (present.length === 1 && first !== undefined && routeSatisfies(first, r)) continue;
    if (ours.length > 1) {
      for (const o of ours) del.routes.push(routeDelete(o));
    }
    add.routes.push({ kind: 'route', op: 'replace', id: routeId(r), requires: r.ifname !== undefined && isOwnedLinkName(r.ifname) ? [r.ifname] : [], route: r });
  }
  for (const [key, present] of observedRoutes) {
    if (handledRouteKeys.has(key)) continue;
    for (const o of present) if (isOwnedRoute(o)) del.routes.push(routeDelete(o));
  }

  // Kernel local routes of tenant CAs, moved into the domain table (policy-routing).
  const kernelLocal = new Set(
    observed.routes
      .filter((o) => o.table === TABLE_LOCAL && o.type === 'local' && o.protocol === PROTO_KERNEL && o.ifname !== undefined && survives(o.ifname) && inScope.link(o.ifname))
      .map((o) => `${o.ifname ?? ''} ${o.prefix}`),
  );
  for (const m of want.localRoutesMoved) {
    if (!usable(m.ifname)) continue;
    const prefix = `${m.address}/32`;
    const reAdded =
      kernelLocal.has(`${m.ifname} ${prefix}`) ||
      fresh.has(m.ifname) ||
      broughtUp.has(m.ifname) ||
      addedAddresses.has(`${m.ifname} ${m.address}`);
    if (!reAdded) continue;
    const route: RouteSpec = { table: TABLE_LOCAL, prefix, metric: 0, type: 'local', scope: 'host', protocol: PROTO_KERNEL, ifname: m.ifname };
    add.evictions.push({
      kind: 'route',
      op: 'delete',
      id: `kernel local route ${m.address} on ${m.ifname} (moved to the domain table)`,
      requires: [m.ifname],
      route,
    });
  }

  // ---- Rules ----
  const observedRules = new Map<string, number>();
  const ownedRules = observed.rules.filter((r) => isOwnedRule(r) && inScope.table(r.table));
  for (const r of ownedRules) {
    if (r.action !== 'lookup' || r.otherSelectors) {
      // A delete names selectors and the kernel removes the first rule that has them; with
      // selectors nvgw does not model it could hit a wanted rule instead. Never guess.
      conflict(`rule ${r.priority} lookup ${r.table}`, 'carries nvgw\'s protocol but matches on selectors nvgw never sets; left alone');
      continue;
    }
    const spec = ruleSpecOf(r);
    const key = ruleKey(spec);
    const count = observedRules.get(key) ?? 0;
    observedRules.set(key, count + 1);
    if (count > 0) del.rules.push(ruleDelete(r));
  }
  const wantedRuleKeys = new Set(want.rules.map(ruleKey));
  for (const r of ownedRules) {
    if (r.action === 'lookup' && !r.otherSelectors && !wantedRuleKeys.has(ruleKey(ruleSpecOf(r)))) {
      del.rules.push(ruleDelete(r));
    }
  }
  for (const r of want.rules) {
    if (r.iif !== undefined && !usable(r.iif)) continue;
    if (observedRules.has(ruleKey(r))) continue;
    add.rules.push({ kind: 'rule', op: 'create', id: ruleId(r), requires: [], rule: r });
  }

  const steps = [
    ...del.rules,
    ...del.routes,
    ...del.neighbours,
    ...del.addresses,
    ...del.links,
    ...del.vrfs,
    ...add.globalSysctls,
    ...add.vrfs,
    ...add.links,
    ...add.linkSysctls,
    ...add.vrfUpdates,
    ...add.linkUpdates,
    ...add.addresses,
    ...add.neighbours,
    ...add.routes,
    ...add.evictions,
    ...add.rules,
  ];
  return { backend: intent.backend, steps, conflicts, notes };
}

function routeDelete(o: ObservedRoute): KernelStep {
  const route: RouteSpec = {
    table: o.table,
    prefix: o.prefix,
    metric: o.metric,
    type: o.type,
    scope: o.scope,
    protocol: o.protocol,
  };
  if (o.nextHop !== undefined) route.nextHop = o.nextHop;
  if (o.ifname !== undefined) route.ifname = o.ifname;
  return { kind: 'route', op: 'delete', id: routeId(o), requires: [], route };
}

function ruleSpecOf(r: ObservedRule): RuleSpec {
  const spec: RuleSpec = { priority: r.priority, table: r.table };
  if (r.iif !== undefined) spec.iif = r.iif;
  if (r.fwmark !== undefined) {
    spec.fwmark = r.fwmark;
    spec.fwmask = r.fwmask ?? FWMASK_ALL;
  }
  return spec;
}

function ruleDelete(r: ObservedRule): KernelStep {
  const spec = ruleSpecOf(r);
  return { kind: 'rule', op: 'delete', id: ruleId(spec), requires: [], rule: spec };
}
