/**
 * Keys and order of items, as the API defines them: an item's key is its key fields
 * joined with '|' (the form DELETE answers with), and lists print in key order with
 * numbers and addresses compared numerically.
 */
import { compareIp } from './canonical.js';
import type { AnyItem, KindName } from './types.js';
import { RESOURCES } from './types.js';

export function keyOf(kind: KindName, item: AnyItem): string {
  return RESOURCES[kind].keyFields.map((f) => String((item as unknown as Record<string, unknown>)[f])).join('|');
}

export function sortItems<T extends AnyItem>(kind: KindName, items: readonly T[]): T[] {
  const fields = RESOURCES[kind].keyFields as readonly string[];
  return [...items].sort((a, b) => {
    for (const f of fields) {
      const x = (a as unknown as Record<string, unknown>)[f];
      const y = (b as unknown as Record<string, unknown>)[f];
      if (x === y) continue;
      if (typeof x === 'number' && typeof y === 'number') return x - y;
      const c = compareIp(String(x), String(y));
      if (c !== 0) return c;
    }
    return 0;
  });
}
