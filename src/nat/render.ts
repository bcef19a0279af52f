/**
 * NAT, conntrack zones and uplink marks as iptables rules: a pure function of the
 * NatFirewallIntent, merged by src/firewall/rules.ts into the one rule set nvgw applies.
 * Every chain is an NVGW-* chain, every rule has a comment tag.
 *
 * Zones (raw, before conntrack looks the packet up). Every routing domain has its own zone, so
 * the same 192.168.1.0/24 flows of two tenants are two connections. A packet from a tenant
 * interface goes to its domain's NVGW-Z-<mark> chain, where the first CT rule that matches
 * decides (CT attaches a template only to a packet without one):
 *   - towards the domain's own prefixes: `CT --zone Z`, both directions in the domain's zone;
 *   - outward through NAT: `CT --zone-orig Z`. The original direction (tenant addresses,
 *     which overlap) is in zone Z; the reply direction (external addresses after NAT) is in
 *     the shared default zone, where SNAT makes every reply tuple unique, so a reply arriving
 *     on the uplink finds its connection without knowing the domain. This is the case the
 *     kernel's zone directions were made for (Linux 4.4, "netfilter: nf_conntrack: add
 *     direction support for zones"). Port forwards arrive on the uplink in the default zone
 *     too, so the tenant's replies (zone-orig template, reply zone 0) find them;
 *   - a statically mapped CA and its external address: `CT --zone Z` both ways, since the
 *     external address identifies the domain; no reply of it ever meets another domain's;
 *   - routed domains, and domains without a connection: `CT --zone Z`.
 *   Packets the gateway itself sends to a tenant (raw OUTPUT) take the same chain.
 *
 * Marks (mangle). The mark of a domain is its table number (the policy-routing backend's
 * fwmark rule selects the table by it). For NAT domains, NVGW-C-<mark> marks the tenant's
 * packet, records the domain in the connection mark when it opens a connection, and drops a
 * packet whose connection belongs to another domain: the default zone is shared, so a tenant
 * could otherwise send a packet that matches another tenant's reply tuple. On a NAT uplink,
 * connections opened from outside (port forwards, static NAT) get their domain's connection
 * mark, and every packet gets its connection's mark back (CONNMARK --restore-mark): replies,
 * forwarded connections and ICMP errors about them (RELATED) are routed in the right table.
 *
 * NAT (nat table, consulted only for a connection's first packet). DNAT matches `-i <uplink>`
 * and SNAT `-o <uplink>` with the domain's mark, so a packet that crosses netfilter twice
 * (a VRF device and its slave) is translated once: the VRF device is never the uplink, and a
 * connection's NAT binding is made once and only applied afterwards.
 *
 * Filter. INVALID packets never cross a NAT uplink (they would leave with a tenant's private
 * source address); a packet for a NAT address that no translation claimed is dropped rather
 * than delivered to the gateway's own sockets.
 *
 * Scale. Rules keyed by a tenant interface, an external address or a mark are dispatched in
 * two levels (interface name without its last digit, external /29, mark without its low 4
 * bits), so no chain holds more than a few dozen rules and one domain's change rewrites a
 * few small chains, not lists of a thousand domains (iptables-restore rewrites whole chains).
 */
import type { FirewallDomainIntent, NatFirewallIntent } from './intent.js';

export type Table = 'raw' | 'mangle' | 'nat' | 'filter';

/** Chains in order, each with its rules (complete `-A CHAIN ...` lines). */
export type Chains = Map<string, string[]>;

/** The built-in chains that jump into nvgw's NAT chains. */
export const NAT_CHAINS = [
  { table: 'raw', chain: 'NVGW-ZONES', from: 'PREROUTING' },
  { table: 'raw', chain: 'NVGW-ZONES-OUT', from: 'OUTPUT' },
  { table: 'mangle', chain: 'NVGW-CONNMARK', from: 'PREROUTING' },
  { table: 'nat', chain: 'NVGW-PREROUTING', from: 'PREROUTING' },
  { table: 'nat', chain: 'NVGW-POSTROUTING', from: 'POSTROUTING' },
  { table: 'filter', chain: 'NVGW-FORWARD', from: 'FORWARD' },
  { table: 'filter', chain: 'NVGW-NAT-INPUT', from: 'INPUT' },
] as const;

const ALL = '0xffffffff';
const hex = (n: number) => `0x${n.toString(16)}`;
const comment = (text: string) => `-m comment --comment "nvgw: ${text.includes('"') ? text.replaceAll('"', "'") : text}"`;
const zoneChain = (d: FirewallDomainIntent) => `NVGW-Z-${d.mark.toString(16)}`;
const connChain = (d: FirewallDomainIntent) => `NVGW-C-${d.mark.toString(16)}`;
const snatChain = (d: FirewallDomainIntent) => `NVGW-S-${d.mark.toString(16)}`;
const rdText = new WeakMap<FirewallDomainIntent, string>();
/** "rd {guid}", made once per domain: it is in most comments. */
function rd(d: FirewallDomainIntent): string {
  let text = rdText.get(d);
  if (text === undefined) rdText.set(d, (text = `rd ${d.routingDomainId}`));
  return text;
}

/** Dotted quad (canonical, from the model) to a number; a scanner, as sorting calls it a lot. */
function ipv4(text: string): number {
  let n = 0;
  let octet = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + octet;
      octet = 0;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
    } else {
      break;
    }
  }
  return n * 256 + octet;
}

const prefixLength = (prefix: string) => Number(prefix.slice(prefix.indexOf('/') + 1));

interface Bucket {
  /** Chain-name suffix. */
  id: string;
  /** What selects the bucket in the top chain. */
  match: string;
  /** More specific buckets first (interface wildcards are prefixes of each other). */
  rank: number;
}

/** Tenant interfaces: nvgw-t5001 and nvgw-t5009 share bucket `-i nvgw-t500+` (`-o` for output). */
function ifBucket(ifname: string, dir: '-i' | '-o' = '-i'): Bucket {
  const stem = ifname.length > 1 ? ifname.slice(0, -1) : ifname;
  return { id: stem.replace(/^nvgw-t/, '').replace(/[^A-Za-z0-9]/g, '_'), match: `${dir} ${stem}+`, rank: -stem.length };
}

/** External addresses: by /29 (a shared address carries many domains' forwards, so buckets stay small). */
function addressBucket(address: string): Bucket {
  const net = (ipv4(address) & 0xfffffff8) >>> 0;
  return { id: net.toString(16).padStart(8, '0'), match: `-d ${[net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255].join('.')}/29`, rank: 0 };
}

/** Marks: by all but the low 4 bits. */
function markBucket(mark: number): Bucket {
  const base = (mark & 0xfffffff0) >>> 0;
  return { id: (base >>> 4).toString(16), match: `-m mark --mark ${hex(base)}/0xfffffff0`, rank: 0 };
}

/** A rule of a dispatch list: its bucket, a sort key within the list, and its complete line. */
interface Line {
  bucket: Bucket;
  key: number;
  line: string;
}

/** The dispatch lists: the top chain each feeds, the bucket chains' prefix, and why (for the top rules' comments). */
const LISTS = {
  zi: { table: 'raw', top: 'NVGW-ZONES', prefix: 'NVGW-ZI', why: 'tenant interfaces' },
  zo: { table: 'raw', top: 'NVGW-ZONES-OUT', prefix: 'NVGW-ZO', why: 'tenant interfaces' },
  zs: { table: 'raw', top: 'NVGW-ZONES', prefix: 'NVGW-ZS', why: 'static NAT addresses' },
  ci: { table: 'mangle', top: 'NVGW-CONNMARK', prefix: 'NVGW-CI', why: 'tenant interfaces of NAT domains' },
  cn: { table: 'mangle', top: 'NVGW-CONNMARK-NEW', prefix: 'NVGW-CN', why: 'external addresses' },
  dn: { table: 'nat', top: 'NVGW-PREROUTING', prefix: 'NVGW-DN', why: 'external addresses' },
  sm: { table: 'nat', top: 'NVGW-POSTROUTING', prefix: 'NVGW-SM', why: 'NAT domains by mark' },
  ni: { table: 'filter', top: 'NVGW-NAT-INPUT', prefix: 'NVGW-NI', why: 'NAT addresses' },
} as const;
type ListName = keyof typeof LISTS;

/** What one routing domain contributes: its own chains, its lines in the dispatch lists, rules straight into top chains. */
interface DomainPart {
  chains: Record<'raw' | 'mangle' | 'nat', [string, string[]][]>;
  lists: Partial<Record<ListName, Line[]>>;
  direct: { table: Table; chain: string; line: string }[];
}

function line(list: ListName, bucket: Bucket, key: number, rule: string): Line {
  return { bucket, key, line: `-A ${LISTS[list].prefix}-${bucket.id} ${rule}` };
}

/** Address, then protocol, then port, as one number (32 + 1 + 16 bits fit a double exactly). */
const tupleKey = (address: string, protocol: 'tcp' | 'udp' | 'any', port: number) => (ipv4(address) * 2 + (protocol === 'udp' ? 1 : 0)) * 65536 + port;

/** Everything one routing domain contributes; a pure function of the domain, memoized across renders. */
function renderDomain(d: FirewallDomainIntent): DomainPart {
  const part: DomainPart = { chains: { raw: [], mangle: [], nat: [] }, lists: {}, direct: [] };
  const add = (list: ListName, l: Line) => (part.lists[list] ??= []).push(l);
  const z = d.zone;
  const zc = zoneChain(d);
  for (const [list, dir] of [['zi', '-i'], ['zo', '-o']] as const) {
    for (const ifname of d.ifnames) add(list, line(list, ifBucket(ifname, dir), 0, `${dir} ${ifname} ${comment(`${rd(d)} zone ${z}`)} -g ${zc}`));
  }
  if (d.routedUplink) {
    part.direct.push(
      { table: 'raw', chain: 'NVGW-ZONES', line: `-A NVGW-ZONES -i ${d.routedUplink} ${comment(`routed uplink of ${rd(d)} zone ${z}`)} -g ${zc}` },
      { table: 'raw', chain: 'NVGW-ZONES-OUT', line: `-A NVGW-ZONES-OUT -o ${d.routedUplink} ${comment(`routed uplink of ${rd(d)} zone ${z}`)} -g ${zc}` },
      { table: 'mangle', chain: 'NVGW-CONNMARK', line: `-A NVGW-CONNMARK -i ${d.routedUplink} ${comment(`routed uplink of ${rd(d)} mark ${d.mark}`)} -j MARK --set-xmark ${hex(d.mark)}/${ALL}` },
    );
  }
  const nat = d.nat;
  if (!nat) {
    part.chains.raw.push([zc, [`-A ${zc} ${comment(`${rd(d)} zone ${z}`)} -j CT --zone ${z}`]]);
    return part;
  }

  // raw: the domain's zone chain; its static addresses on the uplink.
  const zone: string[] = [];
  const staticsByCa = sortedBy(nat.statics, (s) => ipv4(s.internalAddress));
  for (const s of staticsByCa) zone.push(`-A ${zc} -s ${s.internalAddress}/32 ${comment(`static NAT ${s.internalAddress}: zone ${z} both ways`)} -j CT --zone ${z}`);
  // Longest prefix first, as the domain's table decides; on a tie the customer route wins (lower metric).
  const destinations = [...[...new Set(nat.internalPrefixes)].map((prefix) => ({ prefix, inside: true })), { prefix: nat.uplinkPrefix, inside: false }].sort(
    (a, b) => prefixLength(b.prefix) - prefixLength(a.prefix) || Number(b.inside) - Number(a.inside) || ipv4(a.prefix) - ipv4(b.prefix),
  );
  for (const { prefix, inside } of destinations) {
    zone.push(
      inside
        ? `-A ${zc} -d ${prefix} ${comment(`inside ${rd(d)}: zone ${z} both ways`)} -j CT --zone ${z}`
        : `-A ${zc} -d ${prefix} ${comment(`uplink ${nat.uplink} subnet: zone ${z} original direction`)} -j CT --zone-orig ${z}`,
    );
  }
  zone.push(`-A ${zc} ${comment(`${rd(d)} to the outside: zone ${z} original direction, replies by NAT tuple`)} -j CT --zone-orig ${z}`);
  part.chains.raw.push([zc, zone]);
  for (const s of nat.statics) {
    add('zs', line('zs', addressBucket(s.externalAddress), ipv4(s.externalAddress), `-d ${s.externalAddress}/32 -i ${nat.uplink} ${comment(`static NAT ${s.externalAddress} of ${rd(d)} zone ${z}`)} -j CT --zone ${z}`));
  }

  // mangle: the domain's mark on its packets and connections; connections opened from outside.
  const cc = connChain(d);
  for (const ifname of d.ifnames) add('ci', line('ci', ifBucket(ifname), 0, `-i ${ifname} ${comment(`${rd(d)} mark ${d.mark}`)} -g ${cc}`));
  part.chains.mangle.push([
    cc,
    [
      `-A ${cc} ${comment(`${rd(d)} mark ${d.mark}`)} -j MARK --set-xmark ${hex(d.mark)}/${ALL}`,
      `-A ${cc} -m connmark --mark 0x0/${ALL} ${comment(`a new connection of ${rd(d)}`)} -j CONNMARK --set-xmark ${hex(d.mark)}/${ALL}`,
      `-A ${cc} -m connmark ! --mark ${hex(d.mark)}/${ALL} ${comment(`not a connection of ${rd(d)}`)} -j DROP`,
    ],
  ]);
  for (const s of nat.statics) {
    add('cn', line('cn', addressBucket(s.externalAddress), tupleKey(s.externalAddress, 'any', 0), `-d ${s.externalAddress}/32 -i ${nat.uplink} ${comment(`static NAT ${s.externalAddress} opens a connection of ${rd(d)}`)} -j CONNMARK --set-xmark ${hex(d.mark)}/${ALL}`));
    add('dn', line('dn', addressBucket(s.externalAddress), tupleKey(s.externalAddress, 'any', 0), `-d ${s.externalAddress}/32 -i ${nat.uplink} ${comment(`${rd(d)} static NAT ${s.externalAddress} to ${s.internalAddress}${s.name ? ` (${s.name})` : ''}`)} -j DNAT --to-destination ${s.internalAddress}`));
  }
  for (const f of nat.forwards) {
    const key = tupleKey(f.externalAddress, f.protocol, f.externalPort);
    const match = `-d ${f.externalAddress}/32 -i ${nat.uplink} -p ${f.protocol} -m ${f.protocol} --dport ${f.externalPort}`;
    add('cn', line('cn', addressBucket(f.externalAddress), key, `${match} ${comment(`${f.protocol} ${f.externalAddress}:${f.externalPort} opens a connection of ${rd(d)}`)} -j CONNMARK --set-xmark ${hex(d.mark)}/${ALL}`));
    add('dn', line('dn', addressBucket(f.externalAddress), key, `${match} ${comment(`${rd(d)} ${f.protocol} ${f.externalAddress}:${f.externalPort} to ${f.internalAddress}:${f.internalPort}${f.name ? ` (${f.name})` : ''}`)} -j DNAT --to-destination ${f.internalAddress}:${f.internalPort}`));
  }

  // nat: SNAT, statics first.
  const sc = snatChain(d);
  add('sm', line('sm', markBucket(d.mark), d.mark, `-o ${nat.uplink} -m mark --mark ${hex(d.mark)}/${ALL} ${comment(`${rd(d)} leaves through ${nat.uplink}`)} -g ${sc}`));
  // --persistent: a CA keeps one external address of a range, whatever it talks to (RFC 4787 REQ-2).
  const persistent = nat.snat.includes('-') ? ' --persistent' : '';
  part.chains.nat.push([
    sc,
    [
      ...staticsByCa.map((s) => `-A ${sc} -s ${s.internalAddress}/32 ${comment(`static NAT ${s.internalAddress} to ${s.externalAddress}`)} -j SNAT --to-source ${s.externalAddress}`),
      `-A ${sc} ${comment(`${rd(d)} SNAT to ${nat.snat}`)} -j SNAT --to-source ${nat.snat}${persistent}`,
    ],
  ]);
  return part;
}

/** Sorts by a numeric key computed once per item; stable. */
function sortedBy<T>(items: readonly T[], key: (item: T) => number): T[] {
  return items
    .map((item, index) => ({ item, index, k: key(item) }))
    .sort((a, b) => a.k - b.k || a.index - b.index)
    .map((e) => e.item);
}

/** Appends a dispatch list to its top chain (one goto per bucket, most specific first) and adds the bucket chains. */
function dispatch(chains: Chains, list: ListName, lines: readonly Line[]): void {
  const { top, prefix, why } = LISTS[list];
  const buckets = new Map<string, { bucket: Bucket; lines: string[] }>();
  for (const l of sortedBy(lines, (x) => x.key)) {
    let b = buckets.get(l.bucket.id);
    if (!b) buckets.set(l.bucket.id, (b = { bucket: l.bucket, lines: [] }));
    b.lines.push(l.line);
  }
  const sorted = [...buckets.values()].sort((a, b) => a.bucket.rank - b.bucket.rank || (a.bucket.id < b.bucket.id ? -1 : a.bucket.id > b.bucket.id ? 1 : 0));
  const topRules = chains.get(top)!;
  for (const { bucket, lines: bucketLines } of sorted) {
    const chain = `${prefix}-${bucket.id}`;
    topRules.push(`-A ${top} ${bucket.match} ${comment(why)} -g ${chain}`);
    chains.set(chain, bucketLines);
  }
}

/** Per-domain parts of the last render, by the domain's intent: a change to one domain renders one domain. */
let memo = new Map<string, DomainPart>();

/** The NAT part of nvgw's rules, per table, chains in order. */
export function renderNat(intent: NatFirewallIntent): Record<Table, Chains> {
  const domains = [...intent.domains].sort((a, b) => a.mark - b.mark);
  const uplinks = [...intent.uplinks].sort((a, b) => (a.ifname < b.ifname ? -1 : 1));
  const used = new Map<string, DomainPart>();
  const parts = domains.map((d) => {
    const key = JSON.stringify(d);
    const part = used.get(key) ?? memo.get(key) ?? renderDomain(d);
    used.set(key, part);
    return part;
  });
  memo = used;
  const tables: Record<Table, Chains> = {
    raw: new Map([['NVGW-ZONES', []], ['NVGW-ZONES-OUT', []]]),
    mangle: new Map([['NVGW-CONNMARK', []]]),
    nat: new Map([['NVGW-PREROUTING', []], ['NVGW-POSTROUTING', []]]),
    filter: new Map([['NVGW-FORWARD', []], ['NVGW-NAT-INPUT', []]]),
  };
  const lists = (name: ListName) => parts.flatMap((p) => p.lists[name] ?? []);
  const direct = (table: Table, chain: string) => {
    for (const p of parts) for (const d of p.direct) if (d.table === table && d.chain === chain) tables[table].get(chain)!.push(d.line);
  };

  // raw: tenant interfaces, routed uplinks, static addresses; then each domain's zone chain.
  dispatch(tables.raw, 'zi', lists('zi'));
  direct('raw', 'NVGW-ZONES');
  dispatch(tables.raw, 'zs', lists('zs'));
  dispatch(tables.raw, 'zo', lists('zo'));
  direct('raw', 'NVGW-ZONES-OUT');
  for (const p of parts) for (const [chain, rules] of p.chains.raw) tables.raw.set(chain, rules);

  // mangle: tenant interfaces of NAT domains, routed uplinks, then per NAT uplink the
  // connections opened from outside (by external address) and the mark restore.
  dispatch(tables.mangle, 'ci', lists('ci'));
  direct('mangle', 'NVGW-CONNMARK');
  if (uplinks.length > 0) {
    const connmark = tables.mangle.get('NVGW-CONNMARK')!;
    for (const uplink of uplinks) {
      connmark.push(`-A NVGW-CONNMARK -i ${uplink.ifname} -m conntrack --ctstate NEW ${comment(`connections opened from uplink ${uplink.ifname}`)} -j NVGW-CONNMARK-NEW`);
      connmark.push(`-A NVGW-CONNMARK -i ${uplink.ifname} ${comment(`uplink ${uplink.ifname}: each connection's domain mark selects its table`)} -j CONNMARK --restore-mark --nfmask ${ALL} --ctmask ${ALL}`);
    }
    tables.mangle.set('NVGW-CONNMARK-NEW', []);
    dispatch(tables.mangle, 'cn', lists('cn'));
  }
  for (const p of parts) for (const [chain, rules] of p.chains.mangle) tables.mangle.set(chain, rules);

  // nat: port forwards and static NAT in, SNAT out.
  dispatch(tables.nat, 'dn', lists('dn'));
  dispatch(tables.nat, 'sm', lists('sm'));
  for (const p of parts) for (const [chain, rules] of p.chains.nat) tables.nat.set(chain, rules);

  // filter: nothing invalid crosses a NAT uplink; untranslated packets to NAT addresses stop.
  const forward = tables.filter.get('NVGW-FORWARD')!;
  for (const uplink of uplinks) {
    forward.push(`-A NVGW-FORWARD -i ${uplink.ifname} -m conntrack --ctstate INVALID ${comment(`invalid packets from NAT uplink ${uplink.ifname}`)} -j DROP`);
    forward.push(`-A NVGW-FORWARD -o ${uplink.ifname} -m conntrack --ctstate INVALID ${comment(`invalid packets to NAT uplink ${uplink.ifname} would leave untranslated`)} -j DROP`);
  }
  dispatch(
    tables.filter,
    'ni',
    uplinks.flatMap((u) =>
      u.natOnlyAddresses.map((address) => line('ni', addressBucket(address), ipv4(address), `-d ${address}/32 -i ${u.ifname} ${comment(`NAT address ${address} is not the gateway's own`)} -j DROP`)),
    ),
  );
  return tables;
}
