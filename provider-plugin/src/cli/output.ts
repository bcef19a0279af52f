/**
 * Human output of nvgwctl: aligned tables (kubectl style), key/value listings for nested
 * documents, and the one-line summaries of a configuration change. Pure functions from
 * data to text.
 */
import type { AnyItem, ConfigDiff, ConfigSummary, Counter, GatewayStats, KindName } from '../client/types.js';
import { KIND_NAMES, RESOURCES, VSID_COUNTERS } from '../client/types.js';

export type OutputFormat = 'table' | 'wide' | 'json';

interface Column {
  header: string;
  field: string;
  wide?: boolean;
}

const COLUMNS: Record<KindName, Column[]> = {
  routingDomains: [
    { header: 'ROUTING DOMAIN', field: 'routingDomainId' },
    { header: 'NAME', field: 'name' },
    { header: 'CUSTOMER ID', field: 'customerId' },
  ],
  virtualSubnets: [
    { header: 'VSID', field: 'virtualSubnetId' },
    { header: 'ROUTING DOMAIN', field: 'routingDomainId' },
    { header: 'NAME', field: 'name' },
  ],
  customerRoutes: [
    { header: 'ROUTING DOMAIN', field: 'routingDomainId' },
    { header: 'VSID', field: 'virtualSubnetId' },
    { header: 'DESTINATION', field: 'destinationPrefix' },
    { header: 'NEXT HOP', field: 'nextHop' },
    { header: 'METRIC', field: 'metric' },
  ],
  lookupRecords: [
    { header: 'VSID', field: 'virtualSubnetId' },
    { header: 'CUSTOMER ADDRESS', field: 'customerAddress' },
    { header: 'MAC', field: 'macAddress' },
    { header: 'PROVIDER ADDRESS', field: 'providerAddress' },
    { header: 'RULE', field: 'rule' },
    { header: 'VM NAME', field: 'vmName' },
    { header: 'USE VM MAC', field: 'useVmMacAddress', wide: true },
    { header: 'CUSTOMER ID', field: 'customerId', wide: true },
    { header: 'CONTEXT', field: 'context', wide: true },
  ],
  providerAddresses: [
    { header: 'INTERFACE', field: 'interface' },
    { header: 'PROVIDER ADDRESS', field: 'providerAddress' },
    { header: 'PREFIX LENGTH', field: 'prefixLength' },
    { header: 'VLAN', field: 'vlanId' },
  ],
  providerRoutes: [
    { header: 'INTERFACE', field: 'interface' },
    { header: 'DESTINATION', field: 'destinationPrefix' },
    { header: 'NEXT HOP', field: 'nextHop' },
    { header: 'METRIC', field: 'metric' },
  ],
  providerPeers: [
    { header: 'PROVIDER ADDRESS', field: 'providerAddress' },
    { header: 'GRE KEY FORMAT', field: 'greKeyFormat' },
    { header: 'DESCRIPTION', field: 'description', wide: true },
  ],
};

/** Columns padded to their widest cell, three spaces apart, no trailing blanks. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

function cell(value: unknown): string {
  if (value === '' || value === undefined || value === null) return '-';
  return String(value);
}

export function renderItems(kind: KindName, items: readonly AnyItem[], format: Exclude<OutputFormat, 'json'>): string {
  const columns = COLUMNS[kind].filter((c) => format === 'wide' || !c.wide);
  return renderTable(
    columns.map((c) => c.header),
    items.map((item) => columns.map((c) => cell((item as unknown as Record<string, unknown>)[c.field]))),
  );
}

/** Nested JSON as aligned "a.b.c  value" lines; arrays of objects become tables. */
export function renderDocument(value: unknown): string {
  const pairs: [string, string][] = [];
  const tables: string[] = [];
  const walk = (node: unknown, path: string) => {
    if (Array.isArray(node) && node.length > 0 && node.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e))) {
      const headers = [...new Set(node.flatMap((e) => Object.keys(e as object)))];
      tables.push(
        `${path}:\n` +
          renderTable(
            headers.map((h) => h.toUpperCase()),
            node.map((e) => headers.map((h) => cell(formatScalar((e as Record<string, unknown>)[h])))),
          ),
      );
      return;
    }
    if (typeof node === 'object' && node !== null && !Array.isArray(node)) {
      const entries = Object.entries(node);
      if (entries.length === 0 && path) pairs.push([path, '{}']);
      for (const [k, v] of entries) walk(v, path ? `${path}.${k}` : k);
      return;
    }
    pairs.push([path, formatScalar(node)]);
  };
  walk(value, '');
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  const head = pairs.map(([k, v]) => `${k.padEnd(width)}   ${v}`.trimEnd()).join('\n');
  return [head, ...tables].filter((s) => s !== '').join('\n\n').replace(/\n*$/, '\n');
}

function formatScalar(value: unknown): string {
  if (Array.isArray(value)) return value.map(formatScalar).join(', ');
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return value === undefined ? '' : String(value);
}

const plural = (kind: KindName, n: number) => `${RESOURCES[kind].singular}${n === 1 ? '' : 's'}`;

/** "+2 lookup records, ~1 customer route, -1 provider route", or undefined when nothing changes. */
export function describeSummary(summary: ConfigSummary): string | undefined {
  const parts: string[] = [];
  for (const kind of KIND_NAMES) {
    const s = summary[kind];
    if (!s) continue;
    const bits = [s.added ? `+${s.added}` : '', s.changed ? `~${s.changed}` : '', s.removed ? `-${s.removed}` : ''].filter(Boolean);
    if (bits.length > 0) parts.push(`${bits.join(' ')} ${plural(kind, s.added + s.changed + s.removed)}`);
  }
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function keyText(kind: KindName, item: AnyItem): string {
  return RESOURCES[kind].keyFields.map((f) => String((item as unknown as Record<string, unknown>)[f])).join(' ');
}

/** A dry-run diff: "+ lookup record 5001 192.168.1.101  macAddress=… providerAddress=…". */
export function renderDiff(diff: ConfigDiff): string {
  const lines: string[] = [];
  for (const kind of KIND_NAMES) {
    const entry = diff[kind];
    if (!entry) continue;
    const keyFields = RESOURCES[kind].keyFields as readonly string[];
    const rest = (item: AnyItem) =>
      Object.entries(item as unknown as Record<string, unknown>)
        .filter(([f, v]) => !keyFields.includes(f) && v !== '')
        .map(([f, v]) => `${f}=${String(v)}`)
        .join(' ');
    for (const item of entry.removed) lines.push(`- ${RESOURCES[kind].singular} ${keyText(kind, item)}`);
    for (const { before, after } of entry.changed) {
      const b = before as unknown as Record<string, unknown>;
      const a = after as unknown as Record<string, unknown>;
      const changes = Object.keys(a)
        .filter((f) => a[f] !== b[f])
        .map((f) => `${f} ${cell(b[f])} -> ${cell(a[f])}`);
      lines.push(`~ ${RESOURCES[kind].singular} ${keyText(kind, after)}: ${changes.join(', ')}`);
    }
    for (const item of entry.added) lines.push(`+ ${RESOURCES[kind].singular} ${keyText(kind, item)}  ${rest(item)}`.trimEnd());
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

const isCounter = (v: unknown): v is Counter => typeof v === 'object' && v !== null && typeof (v as Counter).packets === 'number' && typeof (v as Counter).bytes === 'number';

/**
 * Data-path counters: a table per VSID, then the drop reasons and events that counted
 * anything (all of them with `wide`). A shape this version does not know is shown as is.
 */
export function renderStats(stats: GatewayStats, all: boolean): string {
  const known =
    Array.isArray(stats.vsids) &&
    typeof stats.drops === 'object' &&
    stats.drops !== null &&
    Object.values(stats.drops).every(isCounter) &&
    typeof stats.events === 'object' &&
    stats.events !== null &&
    Object.values(stats.events).every(isCounter);
  if (!known) return renderDocument(stats);
  const headers = ['VSID', ...VSID_COUNTERS.map((c) => c.replace(/([A-Z])/g, ' $1').toUpperCase())];
  const vsids = [...stats.vsids].sort((a, b) => a.virtualSubnetId - b.virtualSubnetId);
  const parts = [vsids.length > 0 ? renderTable(headers, vsids.map((v) => [String(v.virtualSubnetId), ...VSID_COUNTERS.map((c) => String(v[c] ?? 0))])) : 'no VSIDs\n'];
  const counters = (title: string, entries: Record<string, Counter>) => {
    const rows = Object.entries(entries)
      .filter(([, c]) => all || c.packets > 0)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, c]) => [name, String(c.packets), String(c.bytes)]);
    parts.push(rows.length > 0 ? renderTable([title, 'PACKETS', 'BYTES'], rows) : `no ${title.toLowerCase()}s counted\n`);
  };
  counters('DROP REASON', stats.drops);
  counters('EVENT', stats.events);
  return parts.join('\n');
}
