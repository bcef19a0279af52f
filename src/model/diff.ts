/**
 * Differences between two desired states: the plan that turns one into the other
 * (deletes first, dependants before what they depend on; then writes in dependency
 * order) and the human summary that `PUT /v1/config?dryRun=true` returns.
 */
import type { Change, DesiredState } from './desired-state.js';
import type { AnyItem, KindName } from './resources.js';
import { KIND_NAMES } from './resources.js';

export interface KindDiff {
  added: AnyItem[];
  removed: AnyItem[];
  changed: { before: AnyItem; after: AnyItem }[];
}

export type StateDiff = Record<KindName, KindDiff>;

export interface DiffResult {
  changes: Change[];
  diff: StateDiff;
}

export function diffStates(current: DesiredState, next: DesiredState): DiffResult {
  const deletes: Change[] = [];
  const writes: Change[] = [];
  const diff = {} as StateDiff;
  for (const kind of KIND_NAMES) {
    const entry: KindDiff = { added: [], removed: [], changed: [] };
    diff[kind] = entry;
    const before = current.keyedEntries(kind);
    const after = next.keyedEntries(kind);
    for (const [key, item] of before) {
      if (!after.has(key)) {
        deletes.push({ kind, key, item: null });
        entry.removed.push(item);
      }
    }
    for (const [key, item] of after) {
      const old = before.get(key);
      if (!old) {
        writes.push({ kind, key, item });
        entry.added.push(item);
      } else if (JSON.stringify(old) !== JSON.stringify(item)) {
        writes.push({ kind, key, item });
        entry.changed.push({ before: old, after: item });
      }
    }
  }
  // KIND_NAMES is in dependency order: delete in reverse of it, write in it.
  deletes.reverse();
  return { changes: [...deletes, ...writes], diff };
}

/** Counts per kind, for logs and the dry-run summary. */
export function summarizeDiff(diff: StateDiff): Record<KindName, { added: number; removed: number; changed: number }> {
  const out = {} as Record<KindName, { added: number; removed: number; changed: number }>;
  for (const kind of KIND_NAMES) {
    out[kind] = { added: diff[kind].added.length, removed: diff[kind].removed.length, changed: diff[kind].changed.length };
  }
  return out;
}
