/**
 * The port through which the control plane makes desired state durable. `commit` returns
 * only once the changes are on disk: the API answers 2xx after it, never before.
 */
import type { Change } from '../model/desired-state.js';
import type { KindName } from '../model/resources.js';

export interface StoredObject {
  kind: KindName;
  key: string;
  item: unknown;
}

export interface LoadedState {
  revision: number;
  /** In the order they were first written, per kind. */
  objects: StoredObject[];
}

export interface StateStore {
  load(): LoadedState;
  commit(changes: readonly Change[], revision: number): void;
  close(): void;
}
