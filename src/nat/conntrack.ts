/**
 * NAT visibility: the kernel's connection table, read as /proc/net/nf_conntrack prints it
 * (net/netfilter/nf_conntrack_standalone.c, ct_seq_show), attributed to routing domains and
 * counted. Pure: the lines come from an injected source (conntrack-proc.ts reads the file of
 * the namespace the gateway runs in).
 *
 * A line, fields in the kernel's order:
 *   ipv4 2 tcp 6 431999 ESTABLISHED src=.. dst=.. sport=.. dport=.. [zone-orig=Z] [UNREPLIED]
 *     src=.. dst=.. sport=.. dport=.. [zone-reply=Z] [ASSURED] [mark=M] [zone=Z] use=N
 * ICMP tuples carry type=, code=, id= instead of ports. A connection belongs to the routing
 * domain whose zone it is in (any direction), or, in the shared default zone (port forwards),
 * whose mark it carries: nvgw gives every NAT connection its domain's mark.
 */

export interface ConntrackTuple {
  source: string;
  destination: string;
  sourcePort?: number;
  destinationPort?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
}

export interface ConntrackEntry {
  protocol: string;
  /** TCP/SCTP/DCCP state; empty for stateless protocols. */
  state: string;
  timeoutSeconds: number;
  original: ConntrackTuple;
  reply: ConntrackTuple;
  mark: number;
  zone: number;
  /** Which direction the zone applies to: both, original only (zone-orig), reply only, or none (the default zone). */
  zoneDirection: 'both' | 'original' | 'reply' | 'none';
  assured: boolean;
  unreplied: boolean;
}

const NUMERIC: Record<string, keyof ConntrackTuple> = { sport: 'sourcePort', dport: 'destinationPort', type: 'icmpType', code: 'icmpCode', id: 'icmpId' };

/** One line of /proc/net/nf_conntrack; undefined for anything else (IPv6 lines included). */
export function parseConntrackLine(line: string): ConntrackEntry | undefined {
  const tokens = line.trim().split(/\s+/);
  if (tokens[0] !== 'ipv4' || tokens.length < 6) return undefined;
  const entry: ConntrackEntry = {
    protocol: tokens[2] ?? '',
    state: '',
    timeoutSeconds: Number(tokens[4]),
    original: { source: '', destination: '' },
    reply: { source: '', destination: '' },
    mark: 0,
    zone: 0,
    zoneDirection: 'none',
    assured: false,
    unreplied: false,
  };
  let tuple: ConntrackTuple | undefined;
  let sources = 0;
  for (const token of tokens.slice(5)) {
    const eq = token.indexOf('=');
    if (eq < 0) {
      if (token === '[ASSURED]') entry.assured = true;
      else if (token === '[UNREPLIED]') entry.unreplied = true;
      else if (!token.startsWith('[') && sources === 0) entry.state = token;
      continue;
    }
    const key = token.slice(0, eq);
    const value = token.slice(eq + 1);
    if (key === 'src') {
      sources++;
      tuple = sources === 1 ? entry.original : sources === 2 ? entry.reply : undefined;
      if (tuple) tuple.source = value;
    } else if (key === 'dst') {
      if (tuple) tuple.destination = value;
    } else if (key in NUMERIC) {
      if (tuple) (tuple as unknown as Record<string, number>)[NUMERIC[key]!] = Number(value);
    } else if (key === 'mark') {
      entry.mark = Number(value);
    } else if (key === 'zone' || key === 'zone-orig' || key === 'zone-reply') {
      entry.zone = Number(value);
      entry.zoneDirection = key === 'zone' ? 'both' : key === 'zone-orig' ? 'original' : 'reply';
    }
  }
  if (entry.zone === 0) entry.zoneDirection = 'none';
  return sources >= 2 && Number.isFinite(entry.timeoutSeconds) ? entry : undefined;
}

export interface DomainRef {
  routingDomainId: string;
  zone: number;
  mark: number;
}

export interface NatConnectionsQuery {
  /** Only this routing domain's connections (and count). */
  routingDomainId?: string;
  /** At most this many items. */
  limit: number;
}

export interface NatConnectionsResult {
  /** Connections per routing domain (every domain, or the one asked for). */
  domains: (DomainRef & { connections: number })[];
  /** Every IPv4 connection the kernel tracks, whoever it belongs to. */
  total: number;
  items: (ConntrackEntry & { routingDomainId: string })[];
  /** More connections matched than `limit`. */
  truncated: boolean;
}

/** Reads the whole table once: counts per domain, and up to `limit` connections of the domain(s) asked for. */
export async function summarizeConntrack(lines: AsyncIterable<string> | Iterable<string>, domains: readonly DomainRef[], query: NatConnectionsQuery): Promise<NatConnectionsResult> {
  const byZone = new Map(domains.filter((d) => d.zone !== 0).map((d) => [d.zone, d]));
  const byMark = new Map(domains.filter((d) => d.mark !== 0).map((d) => [d.mark, d]));
  const counts = new Map(domains.map((d) => [d.routingDomainId, 0]));
  const items: NatConnectionsResult['items'] = [];
  let total = 0;
  let matched = 0;
  for await (const line of lines) {
    const entry = parseConntrackLine(line);
    if (!entry) continue;
    total++;
    const domain = (entry.zone !== 0 ? byZone.get(entry.zone) : undefined) ?? byMark.get(entry.mark);
    if (!domain) continue;
    counts.set(domain.routingDomainId, (counts.get(domain.routingDomainId) ?? 0) + 1);
    if (query.routingDomainId !== undefined && domain.routingDomainId !== query.routingDomainId) continue;
    matched++;
    if (items.length < query.limit) items.push({ routingDomainId: domain.routingDomainId, ...entry });
  }
  const wanted = query.routingDomainId === undefined ? domains : domains.filter((d) => d.routingDomainId === query.routingDomainId);
  return {
    domains: wanted.map((d) => ({ ...d, connections: counts.get(d.routingDomainId) ?? 0 })),
    total,
    items,
    truncated: matched > items.length,
  };
}
