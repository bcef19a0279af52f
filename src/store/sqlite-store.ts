/**
 * Desired state in embedded SQLite (better-sqlite3). WAL with synchronous=FULL: a commit
 * returns after the WAL is fsynced, so a 2xx survives a crash or power loss. The database
 * is opened in exclusive locking mode so a second nvgw on the same file fails at start
 * instead of two gateways fighting over one state.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Change } from '../model/desired-state.js';
import { ErrorCode, NvgwError } from '../model/errors.js';
import type { KindName } from '../model/resources.js';
import type { AllocationStore, StateStore, StoredObject } from './state-store.js';

export type Synchronous = 'full' | 'normal';

/** Versioned schema migrations; index + 1 is the user_version after each. Append only. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE objects (
     kind TEXT NOT NULL,
     key  TEXT NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (kind, key)
   );
   CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
   INSERT INTO meta (name, value) VALUES ('revision', '0');`,
  `CREATE TABLE allocations (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

function storageError(path: string, what: string, cause: unknown): NvgwError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const code = (cause as { code?: string } | undefined)?.code;
  let hint = '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') hint = ' The file is not a usable nvgw database; restore it from a backup or move it aside. nvgw will not start empty over it.';
  else if (code === 'SQLITE_BUSY') hint = ' Another process (another nvgw?) holds this database.';
  else if (code === 'SQLITE_CANTOPEN') hint = ' Check that the directory exists and is writable by nvgw.';
  return new NvgwError(ErrorCode.StorageFailed, `state database ${path}: ${what}: ${reason}.${hint}`);
}

export class SqliteStore implements StateStore, AllocationStore {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly setRevision: Database.Statement;
  private readonly selectKind: Database.Statement;
  private readonly cachedAllocations = new Map<string, number>();
  private readonly allocationTx: Database.Transaction<(changes: readonly [string, number | null][]) => void>;
  private readonly commitTx: Database.Transaction<(changes: readonly Change[], revision: number) => void>;

  constructor(
    readonly path: string,
    synchronous: Synchronous = 'full',
  ) {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // A short busy timeout: the only other holder can be a second nvgw, which must fail fast.
      this.db = new Database(path, { fileMustExist: false, timeout: 1000 });
    } catch (error) {
      throw storageError(path, 'cannot open', error);
    }
    try {
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      const check = this.db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw Object.assign(new Error(`integrity check says: ${String(check)}`), { code: 'SQLITE_CORRUPT' });
      this.migrate();
      this.upsert = this.db.prepare('INSERT INTO objects (kind, key, body) VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body');
      this.remove = this.db.prepare('DELETE FROM objects WHERE kind = ? AND key = ?');
      this.setRevision = this.db.prepare("UPDATE meta SET value = ? WHERE name = 'revision'");
      this.selectKind = this.db.prepare('SELECT key, body FROM objects WHERE kind = ? ORDER BY rowid');
    } catch (error) {
      this.db.close();
      if (error instanceof NvgwError) throw error;
      throw storageError(path, 'cannot use', error);
    }
    for (const row of this.db.prepare('SELECT name, value FROM allocations').all() as { name: string; value: number }[]) this.cachedAllocations.set(row.name, row.value);
    const setAllocation = this.db.prepare('INSERT INTO allocations (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value');
    const freeAllocation = this.db.prepare('DELETE FROM allocations WHERE name = ?');
    this.allocationTx = this.db.transaction((changes: readonly [string, number | null][]) => {
      for (const [name, value] of changes) {
        if (value === null) freeAllocation.run(name);
        else setAllocation.run(name, value);
      }
    });
    this.commitTx = this.db.transaction((changes: readonly Change[], revision: number) => {
      for (const change of changes) {
        if (change.item === null) this.remove.run(change.kind, change.key);
        else this.upsert.run(change.kind, change.key, JSON.stringify(change.item));
      }
      this.setRevision.run(String(revision));
    });
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new NvgwError(ErrorCode.StorageFailed, `state database ${this.path} has schema version ${version}, newer than this nvgw understands (${SCHEMA_VERSION}); refusing to start rather than misread it`);
    }
    for (let v = version; v < SCHEMA_VERSION; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  }

  revision(): number {
    try {
      const row = this.db.prepare("SELECT value FROM meta WHERE name = 'revision'").get() as { value: string } | undefined;
      return Number(row?.value ?? 0);
    } catch (error) {
      throw storageError(this.path, 'cannot read', error);
    }
  }

  /** Streams rows (iterate, not all) so loading 100k records never holds them all twice. */
  *objects(kind: KindName): Iterable<StoredObject> {
    let rows: IterableIterator<unknown>;
    try {
      rows = this.selectKind.iterate(kind);
    } catch (error) {
      throw storageError(this.path, 'cannot read', error);
    }
    for (const row of rows as IterableIterator<{ key: string; body: string }>) {
      let item: unknown;
      try {
        item = JSON.parse(row.body);
      } catch (error) {
        throw storageError(this.path, `object ${kind} ${row.key} is not valid JSON`, Object.assign(error as Error, { code: 'SQLITE_CORRUPT' }));
      }
      yield { key: row.key, item };
    }
  }

  commit(changes: readonly Change[], revision: number): void {
    try {
      this.commitTx.immediate(changes, revision);
    } catch (error) {
      throw storageError(this.path, 'write failed, nothing was changed', error);
    }
  }

  allocations(): ReadonlyMap<string, number> {
    return this.cachedAllocations;
  }

  saveAllocations(changes: readonly [string, number | null][]): void {
    try {
      this.allocationTx.immediate(changes);
    } catch (error) {
      throw storageError(this.path, 'allocation write failed, nothing was changed', error);
    }
    for (const [name, value] of changes) {
      if (value === null) this.cachedAllocations.delete(name);
      else this.cachedAllocations.set(name, value);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
