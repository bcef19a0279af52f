/** The in-memory fake of StateStore, for unit tests of the control plane. */
import type { Change } from '../model/desired-state.js';
import type { KindName } from '../model/resources.js';
import type { AllocationStore, StateStore, StoredObject } from './state-store.js';

export class MemoryStore implements StateStore, AllocationStore {
  private readonly allocated = new Map<string, number>();
  private readonly rows = new Map<string, { kind: KindName; key: string; json: string }>();
  private lastRevision = 0;
  /** Set to make the next commit fail, as a full disk would. */
  failNextCommit: Error | undefined;
  commits = 0;

  revision(): number {
    return this.lastRevision;
  }

  *objects(kind: KindName): Iterable<StoredObject> {
    for (const o of this.rows.values()) if (o.kind === kind) yield { key: o.key, item: JSON.parse(o.json) as unknown };
  }

  commit(changes: readonly Change[], revision: number): void {
    if (this.failNextCommit) {
      const error = this.failNextCommit;
      this.failNextCommit = undefined;
      throw error;
    }
    for (const change of changes) {
      const id = `${change.kind}\u0000${change.key}`;
      if (change.item === null) this.rows.delete(id);
      else if (this.rows.has(id)) this.rows.get(id)!.json = JSON.stringify(change.item);
      else this.rows.set(id, { kind: change.kind, key: change.key, json: JSON.stringify(change.item) });
    }
    this.lastRevision = revision;
    this.commits++;
  }

  allocations(): ReadonlyMap<string, number> {
    return this.allocated;
  }

  saveAllocations(changes: readonly [string, number | null][]): void {
    for (const [name, value] of changes) {
      if (value === null) this.allocated.delete(name);
      else this.allocated.set(name, value);
    }
  }

  close(): void {}
}
