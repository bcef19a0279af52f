import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FlowTable } from '../../../src/datapath/flow-table.js';

type Key = [number, number, number, number];
const text = (k: Key) => k.map((w) => w >>> 0).join(',');

// A small key space makes probe runs collide and wrap, which is where deletion goes wrong.
const key = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(0, 0xc0a8010b, 0xffffffff), fc.integer({ min: 0, max: 5 }), fc.constantFrom(0, -1, 0x80000000)) as fc.Arbitrary<Key>;
const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), key }),
);

describe('FlowTable (four-word exact match, open addressing)', () => {
  it('agrees with a Map under any sequence of inserts, replacements and deletions', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const table = new FlowTable<number>(1000);
        const model = new Map<string, number>();
        const seen = new Map<string, Key>();
        for (const o of ops) {
          seen.set(text(o.key), o.key);
          if (o.kind === 'set') {
            assert.equal(table.set(...o.key, o.value), true);
            model.set(text(o.key), o.value);
          } else {
            assert.equal(table.delete(...o.key), model.delete(text(o.key)));
          }
          assert.equal(table.size, model.size);
        }
        for (const [name, k] of seen) assert.equal(table.get(...k), model.get(name), name);
        assert.deepEqual([...table.entries()].sort(), [...model.values()].sort());
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a new key at its limit but still replaces existing ones', () => {
    const table = new FlowTable<string>(2);
    assert.equal(table.set(1, 2, 3, 4, 'a'), true);
    assert.equal(table.set(5, 6, 7, 8, 'b'), true);
    assert.equal(table.set(9, 9, 9, 9, 'c'), false);
    assert.equal(table.set(1, 2, 3, 4, 'a2'), true);
    assert.equal(table.get(1, 2, 3, 4), 'a2');
    assert.equal(table.get(9, 9, 9, 9), undefined);
  });

  it('keeps every entry across growth from 64 slots to thousands', () => {
    const table = new FlowTable<number>(10_000);
    for (let i = 0; i < 5000; i++) assert.equal(table.set(6, 0xc0a80000 + i, 0x08080808, (i << 16) | 443, i), true);
    for (let i = 0; i < 5000; i += 2) assert.equal(table.delete(6, 0xc0a80000 + i, 0x08080808, (i << 16) | 443), true);
    for (let i = 0; i < 5000; i++) assert.equal(table.get(6, 0xc0a80000 + i, 0x08080808, (i << 16) | 443), i % 2 === 0 ? undefined : i);
    assert.equal(table.size, 2500);
  });

  it('treats a signed and an unsigned spelling of one 32-bit word as the same key', () => {
    const table = new FlowTable<string>(4);
    table.set(0xffffffff, 0, 0, 0, 'x');
    assert.equal(table.get(-1, 0, 0, 0), 'x');
    assert.equal(table.delete(-1, 0, 0, 0), true);
    assert.equal(table.size, 0);
  });
});
