/**
 * The port through which the control plane makes desired state durable. `commit` returns
 * only once the changes are on disk: the API answers 2xx after it, never before.
 */
import type { Change } from '../model/desired-state.js';
import type { KindName } from '../model/resources.js';

export interface StoredObject {
  key: string;
  item: unknown;
}

export interface StateStore {
  /** The revision of the last commit (0 for a new store). */
  revision(): number;
  /** The objects of one kind, in the order they were first written. */
  objects(kind: KindName): Iterable<StoredObject>;
  /** Every change, or none, is on disk when this returns. */
  commit(changes: readonly Change[], revision: number): void;
  close(): void;
}

/** Numbers allocated once and kept across restarts (routing tables per routing domain). */
export interface AllocationStore {
  allocations(): ReadonlyMap<string, number>;
  /** Sets (number) or frees (null) allocations; durable when it returns. */
  saveAllocations(changes: readonly [name: string, value: number | null][]): void;
}
