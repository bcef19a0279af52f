import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ErrorCode, NvgwError } from '../../../src/model/errors.js';
import { SCHEMA_VERSION, SqliteStore } from '../../../src/store/sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'nvgw-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `state-${n++}.db`);
/** The store is schema-agnostic: any JSON object stands in for an item. */
const obj = (value: object) => value as never;
const isStorageError = (e: unknown) => e instanceof NvgwError && e.code === ErrorCode.StorageFailed;

describe('the SQLite store', () => {
  it('keeps committed objects, their order and the revision across reopen', () => {
    const path = freshPath();
    const store = new SqliteStore(path);
    store.commit(
      [
        { kind: 'routingDomains', key: 'b', item: obj({ id: 'b' }) },
        { kind: 'routingDomains', key: 'a', item: obj({ id: 'a' }) },
      ],
      1,
    );
    store.commit([{ kind: 'routingDomains', key: 'b', item: obj({ id: 'b', name: 'renamed' }) }], 2);
    store.close();
    const reopened = new SqliteStore(path);
    const revision = reopened.revision();
    const items = [...reopened.objects('routingDomains')].map((o) => o.item);
    reopened.close();
    assert.equal(revision, 2);
    assert.deepEqual(
      items,
      [{ id: 'b', name: 'renamed' }, { id: 'a' }],
    );
  });

  it('refuses a file that is not a database instead of starting empty', () => {
    const path = freshPath();
    writeFileSync(path, 'this is not sqlite, but it is somebody\'s state'.repeat(200));
    assert.throws(() => new SqliteStore(path), (e: unknown) => isStorageError(e) && /not a usable nvgw database/.test((e as Error).message));
  });

  it('refuses a database written by a newer schema', () => {
    const path = freshPath();
    new SqliteStore(path).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(() => new SqliteStore(path), (e: unknown) => isStorageError(e) && /newer than this nvgw understands/.test((e as Error).message));
  });

  it('refuses a second opener while the first holds the database', () => {
    const path = freshPath();
    const first = new SqliteStore(path);
    first.commit([], 1);
    assert.throws(() => new SqliteStore(path), isStorageError);
    first.close();
  });

  it('rolls back a whole commit when one statement fails', () => {
    const path = freshPath();
    const store = new SqliteStore(path);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic; // JSON.stringify throws inside the transaction
    assert.throws(() =>
      store.commit(
        [
          { kind: 'routingDomains', key: 'a', item: obj({ id: 'a' }) },
          { kind: 'routingDomains', key: 'b', item: cyclic as never },
        ],
        1,
      ),
    );
    const loaded = { revision: store.revision(), objects: [...store.objects('routingDomains')] };
    store.close();
    assert.deepEqual(loaded, { revision: 0, objects: [] });
  });
});
