/** The in-memory fake of StateStore, for unit tests of the control plane. */
import type { Change } from '../model/desired-state.js';
import type { KindName } from '../model/resources.js';
import type { LoadedState, StateStore } from './state-store.js';

export class MemoryStore implements StateStore {
  private readonly objects = new Map<string, { kind: KindName; key: string; json: string }>();
  private revision = 0;
  /** Set to make the next commit fail, as a full disk would. */
  failNextCommit: Error | undefined;
  commits = 0;

  load(): LoadedState {
    return {
      revision: this.revision,
      objects: [...this.objects.values()].map((o) => ({ kind: o.kind, key: o.key, item: JSON.parse(o.json) as unknown })),
    };
  }

  commit(changes: readonly Change[], revision: number): void {
    if (this.failNextCommit) {
      const error = this.failNextCommit;
      this.failNextCommit = undefined;
      throw error;
    }
    for (const change of changes) {
      const id = `${change.kind}\u0000${change.key}`;
      if (change.item === null) this.objects.delete(id);
      else if (this.objects.has(id)) this.objects.get(id)!.json = JSON.stringify(change.item);
      else this.objects.set(id, { kind: change.kind, key: change.key, json: JSON.stringify(change.item) });
    }
    this.revision = revision;
    this.commits++;
  }

  close(): void {}
}
