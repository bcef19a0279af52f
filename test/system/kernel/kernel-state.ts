/**
 * The IPv4 state of a namespace as `ip -j` reports it — iproute2 reading the kernel on its
 * own, independently of the adapter under test — one line per object, sorted, so tests
 * compare states before and after with a plain diff.
 */
import { ipJson } from './ns.js';

interface IpLink {
  ifname: string;
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string } };
}
interface IpAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}
export interface IpRoute {
  type?: string;
  dst: string;
  table?: string;
  dev?: string;
  gateway?: string;
  protocol?: string;
  metric?: number;
  prefsrc?: string;
  scope?: string;
}
export interface IpRule {
  priority: number;
  iif?: string;
  fwmark?: string;
  table: string;
  protocol?: string;
}
export interface IpNeigh {
  dst: string;
  dev: string;
  lladdr?: string;
  state?: string[];
  protocol?: string;
}

/** Routes of one table or all; iproute2 leaves "table" out for the table asked for and for main. */
export async function routes(ns: string, table = 'all'): Promise<IpRoute[]> {
  const list = await ipJson<IpRoute[]>(ns, '-4', 'route', 'show', 'table', table);
  return list.map((r) => ({ ...r, table: r.table ?? (table === 'all' ? 'main' : table) }));
}
export const rules = (ns: string): Promise<IpRule[]> => ipJson<IpRule[]>(ns, '-4', 'rule', 'show');
export const neighbours = (ns: string): Promise<IpNeigh[]> => ipJson<IpNeigh[]>(ns, '-4', 'neigh', 'show');

export function routeLine(r: IpRoute): string {
  return [
    r.type ?? 'unicast',
    r.dst,
    `table ${r.table ?? 'main'}`,
    r.gateway !== undefined ? `via ${r.gateway}` : '',
    r.dev !== undefined ? `dev ${r.dev}` : '',
    `proto ${r.protocol ?? '?'}`,
    r.metric !== undefined ? `metric ${r.metric}` : '',
    r.prefsrc !== undefined ? `src ${r.prefsrc}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

export function ruleLine(r: IpRule): string {
  return [`${r.priority}:`, r.iif !== undefined ? `iif ${r.iif}` : '', r.fwmark !== undefined ? `fwmark ${r.fwmark}` : '', `lookup ${r.table}`, `proto ${r.protocol ?? '-'}`]
    .filter(Boolean)
    .join(' ');
}

/** Links, IPv4 addresses, routes of every table, rules and neighbours. */
export async function inventory(ns: string): Promise<string[]> {
  const links = await ipJson<IpLink[]>(ns, '-d', 'link', 'show');
  const addrs = await ipJson<IpAddr[]>(ns, '-4', 'addr', 'show');
  const lines = [
    ...links.map((l) => `link ${l.ifname} ${l.linkinfo?.info_kind ?? '-'}${l.linkinfo?.info_data?.type !== undefined ? `/${l.linkinfo.info_data.type}` : ''} master ${l.master ?? '-'}`),
    ...addrs.flatMap((a) => a.addr_info.filter((i) => i.family === 'inet').map((i) => `addr ${i.local}/${i.prefixlen} dev ${a.ifname}`)),
    ...(await routes(ns)).map((r) => `route ${routeLine(r)}`),
    ...(await rules(ns)).map((r) => `rule ${ruleLine(r)}`),
    ...(await neighbours(ns)).map((n) => `neigh ${n.dst} dev ${n.dev} ${n.lladdr ?? '-'} ${(n.state ?? []).join(',')}`),
  ];
  return lines.sort();
}

/** Lines in `a` and not in `b`. */
export const minus = (a: string[], b: string[]): string[] => a.filter((line) => !b.includes(line));
