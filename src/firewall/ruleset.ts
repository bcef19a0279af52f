/**
 * nvgw's rules as data (table -> NVGW-* chain -> rule lines) and the iptables-restore text
 * that turns one rule set into another. Pure; the adapter (iptables.ts) observes with
 * iptables-save and applies with iptables-restore --noflush.
 *
 * Two kinds of apply, both touching NVGW-* chains only:
 * - incremental (after a change): only the chains whose rules differ are declared (which
 *   flushes them) and refilled, removed chains are flushed and deleted. A change to one routing
 *   domain rewrites its own chains and the dispatch chains it appears in, not the thousand
 *   other domains' chains.
 * - full (at start and at every resync): the kernel's rules (iptables-save) are compared with
 *   the wanted ones, and every chain that differs is rewritten, chains nvgw no longer wants
 *   are deleted with any jump into them, and missing jumps from the built-in chains are put
 *   back. Whatever drifted (a flushed chain, a deleted jump) is repaired; when nothing did,
 *   nothing is written.
 */

/** Table -> chain -> its rules, each a complete `-A CHAIN ...` line. */
export type Ruleset = Map<string, Map<string, string[]>>;

export interface Hook {
  table: string;
  chain: string;
  /** The built-in chain that jumps into `chain`. */
  from: string;
}

/** What iptables-save shows of nvgw: its chains with their rules, and the built-in chains' jumps into them. */
export interface SavedState {
  ruleset: Ruleset;
  /** Table -> the `-A <built-in> ... -j|-g NVGW-*` lines, as saved. */
  jumps: Map<string, string[]>;
}

const OWNED = /^NVGW-/;
const chainOfRule = (line: string): string => line.split(' ', 3)[1] ?? '';

/** Parses iptables-restore input as nvgw renders it (or iptables-save output) into its NVGW-* chains. */
export function parseRuleset(text: string): Ruleset {
  return parseSaved(text).ruleset;
}

/** Parses iptables-save output: nvgw's chains, their rules, and the jumps into them. */
export function parseSaved(text: string): SavedState {
  const ruleset: Ruleset = new Map();
  const jumps = new Map<string, string[]>();
  let table: Map<string, string[]> | undefined;
  let tableName = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) {
      tableName = line.slice(1);
      table = ruleset.get(tableName) ?? new Map<string, string[]>();
      ruleset.set(tableName, table);
    } else if (line.startsWith(':') && table) {
      const chain = line.slice(1).split(' ')[0] ?? '';
      if (OWNED.test(chain) && !table.has(chain)) table.set(chain, []);
    } else if (line.startsWith('-A ') && table) {
      const chain = chainOfRule(line);
      if (OWNED.test(chain)) {
        const rules = table.get(chain) ?? [];
        rules.push(line);
        table.set(chain, rules);
      } else if (/ -[jg] NVGW-[^ ]+( |$)/.test(line)) {
        jumps.set(tableName, [...(jumps.get(tableName) ?? []), line]);
      }
    }
  }
  for (const [name, chains] of ruleset) if (chains.size === 0 && !jumps.has(name)) ruleset.delete(name);
  return { ruleset, jumps };
}

/** A rule set as iptables-restore input that declares (flushes) and fills every chain of it. */
export function restoreText(ruleset: Ruleset): string {
  const lines: string[] = [];
  for (const [table, chains] of ruleset) {
    lines.push(`*${table}`);
    for (const chain of chains.keys()) lines.push(`:${chain} - [0:0]`);
    for (const rules of chains.values()) lines.push(...rules);
    lines.push('COMMIT');
  }
  lines.push('');
  return lines.join('\n');
}

/** Number of rules in a rule set (the benchmark's rule count). */
export function ruleCount(ruleset: Ruleset): number {
  let n = 0;
  for (const chains of ruleset.values()) for (const rules of chains.values()) n += rules.length;
  return n;
}

const sameRules = (a: readonly string[] | undefined, b: readonly string[]): boolean =>
  a !== undefined && a.length === b.length && a.every((line, i) => line === b[i]);

/**
 * A rule as iptables-save prints it: a mark match with the full mask loses the mask, and an
 * apostrophe in a comment is escaped. nvgw renders options in iptables-save's order, so
 * nothing else differs; should something, the chain is merely rewritten at each resync.
 */
export function savedForm(rule: string): string {
  return rule.replace(/(--mark 0x[0-9a-f]+)\/0xffffffff/g, '$1').replace(/(?<!\\)'/g, "\\'");
}

const TABLE_ORDER = ['raw', 'mangle', 'nat', 'filter', 'security'];
const tableOrder = (names: Iterable<string>) => [...new Set(names)].sort((a, b) => TABLE_ORDER.indexOf(a) - TABLE_ORDER.indexOf(b) || a.localeCompare(b));

/**
 * The restore text from `previous` to `next`, rewriting only changed chains. With `keep`, a
 * chain `next` does not have is flushed but not deleted (a rollback cannot know whether a jump
 * into it was committed). Empty when nothing changes.
 */
export function planIncremental(previous: Ruleset, next: Ruleset, options: { keepRemoved?: boolean } = {}): string {
  const out: string[] = [];
  for (const table of tableOrder([...previous.keys(), ...next.keys()])) {
    const before = previous.get(table) ?? new Map<string, string[]>();
    const after = next.get(table) ?? new Map<string, string[]>();
    const changed = [...after].filter(([chain, rules]) => !sameRules(before.get(chain), rules));
    const removed = [...before.keys()].filter((chain) => !after.has(chain));
    if (changed.length === 0 && removed.length === 0) continue;
    out.push(`*${table}`);
    for (const [chain] of changed) out.push(`:${chain} - [0:0]`);
    for (const chain of removed) out.push(`:${chain} - [0:0]`);
    for (const [, rules] of changed) out.push(...rules);
    if (!options.keepRemoved) for (const chain of removed) out.push(`-X ${chain}`);
    out.push('COMMIT');
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/**
 * The restore text that makes the kernel hold exactly `next`: every chain rewritten, chains
 * the kernel has but `next` does not deleted (with the jumps into them), and one jump from
 * each hook's built-in chain (missing ones inserted first, duplicates removed).
 */
export function planFull(next: Ruleset, observed: SavedState, hooks: readonly Hook[]): string {
  const out: string[] = [];
  for (const table of tableOrder([...next.keys(), ...observed.ruleset.keys(), ...observed.jumps.keys(), ...hooks.map((h) => h.table)])) {
    const want = next.get(table) ?? new Map<string, string[]>();
    const have = observed.ruleset.get(table) ?? new Map<string, string[]>();
    const stale = [...have.keys()].filter((chain) => !want.has(chain));
    const jumps = observed.jumps.get(table) ?? [];
    const deletes: string[] = [];
    const inserts: string[] = [];
    for (const line of jumps) {
      const target = / -[jg] (NVGW-[^ ]+)/.exec(line)?.[1];
      if (target !== undefined && !want.has(target)) deletes.push(`-D${line.slice(2)}`);
    }
    for (const hook of hooks.filter((h) => h.table === table)) {
      const exact = `-A ${hook.from} -j ${hook.chain}`;
      const count = jumps.filter((line) => line === exact).length;
      if (count === 0) inserts.push(`-I ${hook.from} 1 -j ${hook.chain}`);
      for (let extra = 1; extra < count; extra++) deletes.push(`-D ${hook.from} -j ${hook.chain}`);
    }
    const drifted = [...want].filter(([chain, rules]) => !sameRules(have.get(chain), rules.map(savedForm)));
    if (drifted.length === 0 && stale.length === 0 && deletes.length === 0 && inserts.length === 0) continue;
    out.push(`*${table}`);
    for (const chain of [...drifted.map(([chain]) => chain), ...stale]) out.push(`:${chain} - [0:0]`);
    for (const [, rules] of drifted) out.push(...rules);
    out.push(...deletes, ...inserts);
    for (const chain of stale) out.push(`-X ${chain}`);
    out.push('COMMIT');
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** The restore text that removes every NVGW-* chain and every jump into one. */
export function planRemoveAll(observed: SavedState): string {
  return planFull(new Map(), observed, []);
}
