/**
 * The control plane's single writer of desired state. Every mutation is parsed and checked
 * against the whole state, applied in memory, shown to the early listeners (the data
 * path), committed to the store, and only then announced to listeners (the reconciler).
 * A failed commit changes nothing: memory is put back and the early listeners are shown
 * the inverse.
 */
import type { Change } from '../model/desired-state.js';
import { DesiredState } from '../model/desired-state.js';
import type { StateDiff } from '../model/diff.js';
import { diffStates, summarizeDiff } from '../model/diff.js';
import { ErrorCode, FieldError, NvgwError, toValidationError } from '../model/errors.js';
import type { ConfigDocument, ItemOf, KindName } from '../model/resources.js';
import { KIND_NAMES, keyFieldsFromSegments, keyOf, kindOf, parseItem, parseKeySegments } from '../model/resources.js';
import type { StateStore } from '../store/state-store.js';

export type ChangeListener = (changes: readonly Change[], revision: number) => void;

export interface PutConfigResult {
  etag: string;
  applied: boolean;
  summary: ReturnType<typeof summarizeDiff>;
  diff?: StateDiff;
}

export class ConfigService {
  private state: DesiredState;
  private revision: number;
  private readonly listeners: ChangeListener[] = [];
  private readonly earlyListeners: ChangeListener[] = [];

  constructor(private readonly store: StateStore) {
    try {
      this.state = DesiredState.build((add) => {
        for (const name of KIND_NAMES) for (const object of store.objects(name)) add(name, object.item, `${name}/${object.key}`);
      });
    } catch (error) {
      if (error instanceof NvgwError && error.code === ErrorCode.StorageFailed) throw error;
      const detail = error instanceof NvgwError ? `${error.message}` : String(error);
      throw new NvgwError(ErrorCode.StorageFailed, `stored state does not pass validation (${detail}); refusing to start with a state that differs from what the controller pushed`);
    }
    this.revision = store.revision();
  }

  get etag(): string {
    return `"${this.revision}"`;
  }

  /** Read-only view for the data path and the reconciler. */
  get current(): DesiredState {
    return this.state;
  }

  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  /**
   * Called with every change once it is applied in memory: for a change that only
   * replaces existing items (a VM moving to another host), before the store has made it
   * durable (an fsync: 1-30 ms here), and again with its inverse if the store refuses it;
   * for any other change, after the commit. For what must act at once and can be undone
   * as quickly, the data path's tables; everything else belongs in onChange.
   */
  onApplying(listener: ChangeListener): void {
    this.earlyListeners.push(listener);
  }

  counts(): Record<KindName, number> {
    const out = {} as Record<KindName, number>;
    for (const name of KIND_NAMES) out[name] = this.state.count(name);
    return out;
  }

  /** Lists a kind, filtered by any of its fields (`?virtualSubnetId=5001`), values in any accepted spelling. */
  list<K extends KindName>(name: K, filters: Record<string, unknown>): ItemOf<K>[] {
    const kind = kindOf(name);
    const wanted: [string, unknown][] = [];
    const errors: FieldError[] = [];
    for (const [field, raw] of Object.entries(filters)) {
      const spec = Object.hasOwn(kind.fields, field) ? kind.fields[field] : undefined;
      if (!spec || typeof raw !== 'string') {
        errors.push(new FieldError(ErrorCode.ValidationFailed, `?${field}`, `not a filter of ${kind.path}; filter by one of ${Object.keys(kind.fields).join(', ')}`));
        continue;
      }
      const parsed = spec.type.parse(raw, `?${field}`);
      if (parsed instanceof FieldError) errors.push(parsed);
      else wanted.push([field, parsed]);
    }
    if (errors.length > 0) throw toValidationError(errors);
    const vsidFilter = wanted.find(([field]) => field === 'virtualSubnetId');
    const source: Iterable<ItemOf<K>> =
      name === 'lookupRecords' && vsidFilter ? (this.state.recordsOf(vsidFilter[1] as number) as Iterable<ItemOf<K>>) : this.state.list(name);
    const out: ItemOf<K>[] = [];
    for (const item of source) {
      if (wanted.every(([field, value]) => (item as unknown as Record<string, unknown>)[field] === value)) out.push(item);
    }
    return out;
  }

  get<K extends KindName>(name: K, segments: readonly string[]): ItemOf<K> {
    const key = this.keyFrom(name, segments);
    const item = this.state.get(name, key);
    if (!item) throw new NvgwError(ErrorCode.NotFound, `${kindOf(name).singular} ${key.replaceAll('|', ' ')} does not exist`);
    return item;
  }

  create<K extends KindName>(name: K, body: unknown): ItemOf<K> {
    const item = this.parse(name, body);
    this.commit(this.state.planWrite(name, item, 'create'));
    return item;
  }

  /** PUT of one item: creates or replaces it; the URL names the key, the body may repeat it. */
  put<K extends KindName>(name: K, segments: readonly string[], body: unknown): { item: ItemOf<K>; created: boolean } {
    const kind = kindOf(name);
    const key = this.keyFrom(name, segments);
    const merged = typeof body === 'object' && body !== null && !Array.isArray(body) ? { ...keyFieldsFromSegments(kind, segments), ...(body as object) } : body;
    const item = this.parse(name, merged);
    const bodyKey = keyOf(kind, item);
    if (bodyKey !== key) {
      throw new NvgwError(ErrorCode.KeyMismatch, `the body names ${kind.singular} ${bodyKey.replaceAll('|', ' ')} but the URL names ${key.replaceAll('|', ' ')}`);
    }
    const created = this.state.get(name, key) === undefined;
    this.commit(this.state.planWrite(name, item, 'upsert'));
    return { item, created };
  }

  remove(name: KindName, segments: readonly string[], cascade: boolean): Change[] {
    const plan = this.state.planRemove(name, this.keyFrom(name, segments), cascade);
    this.commit(plan);
    return plan;
  }

  getConfig(): { document: ConfigDocument; etag: string } {
    return { document: this.state.toDocument(), etag: this.etag };
  }

  /**
   * Replaces the whole desired state atomically. `ifMatch` guards against a controller
   * overwriting a change it has not seen; `dryRun` returns the diff and changes nothing.
   */
  putConfig(body: unknown, options: { ifMatch?: string | undefined; dryRun?: boolean }): PutConfigResult {
    // RFC 9110 section 13.2.2: preconditions are evaluated before the request is processed.
    if (options.ifMatch !== undefined && !etagMatches(options.ifMatch, this.etag)) {
      throw new NvgwError(ErrorCode.PreconditionFailed, `If-Match ${options.ifMatch} does not match the current ETag ${this.etag}; read the configuration again`);
    }
    const next = DesiredState.fromDocument(body);
    const { changes, diff } = diffStates(this.state, next);
    const summary = summarizeDiff(diff);
    if (options.dryRun) return { etag: this.etag, applied: false, summary, diff };
    if (changes.length > 0) this.commit(changes);
    return { etag: this.etag, applied: changes.length > 0, summary };
  }

  private parse<K extends KindName>(name: K, body: unknown): ItemOf<K> {
    const parsed = parseItem(kindOf(name), body, '');
    if (Array.isArray(parsed)) throw toValidationError(parsed);
    return parsed;
  }

  private keyFrom(name: KindName, segments: readonly string[]): string {
    const key = parseKeySegments(kindOf(name), segments);
    if (Array.isArray(key)) throw toValidationError(key);
    return key;
  }

  private commit(changes: Change[]): void {
    const revision = this.revision + 1;
    // Early (before the fsync) only when every change replaces an item that exists: then
    // putting the previous items back restores memory exactly, listing order included (a
    // Map keeps a replaced key where it was). A VM's record moving to another host is
    // such a change; creations and deletions are committed first, as before.
    const previous = changes.map((c) => (c.item === null ? undefined : this.state.get(c.kind, c.key)));
    const early = this.earlyListeners.length > 0 && previous.every((item) => item !== undefined);
    if (early) {
      this.state.apply(changes);
      for (const listener of this.earlyListeners) listener(changes, revision);
    }
    try {
      this.store.commit(changes, revision);
    } catch (error) {
      if (early) {
        const inverse: Change[] = changes.map((c, i) => ({ kind: c.kind, key: c.key, item: previous[i]! })).reverse();
        this.state.apply(inverse);
        for (const listener of this.earlyListeners) listener(inverse, this.revision);
      }
      if (error instanceof NvgwError) throw error;
      throw new NvgwError(ErrorCode.StorageFailed, `the state store failed, nothing was changed: ${(error as Error).message}`);
    }
    if (!early) {
      this.state.apply(changes);
      for (const listener of this.earlyListeners) listener(changes, revision);
    }
    this.revision = revision;
    for (const listener of this.listeners) listener(changes, revision);
  }
}

/** RFC 9110 §13.1.1: If-Match is "*" or a list of entity tags, compared strongly. */
export function etagMatches(header: string, etag: string): boolean {
  return header
    .split(',')
    .map((tag) => tag.trim())
    .some((tag) => tag === '*' || tag === etag);
}
