/**
 * The desired state a controller pushed, held in memory with the indexes that the
 * consistency rules need. Every change is first *planned* (checked, nothing mutated) into
 * a list of Changes; the caller makes the plan durable and only then *applies* it, so a
 * failed write never leaves memory ahead of the disk.
 */
import { ErrorCode, FieldError, NvgwError, toValidationError } from './errors.js';
import type { IpPrefix } from './ip.js';
import { parseIp, parsePrefix, prefixContains } from './ip.js';
import type { StateView } from './external-index.js';
import { ExternalIndex } from './external-index.js';
import type { AnyItem, CustomerRoute, DesiredDocument, ItemOf, KindName, LookupRecord, ResourceKind, VirtualSubnet } from './resources.js';
import { isOnLink, isWildcardRecord, KIND_NAMES, KINDS, keyOf, kindOf, parseItem } from './resources.js';

/** One durable step: `item` null means the object with that key is deleted. */
export interface Change {
  kind: KindName;
  key: string;
  item: AnyItem | null;
}

export type WriteMode = 'create' | 'replace' | 'upsert';

type Stores = { [K in KindName]: Map<string, ItemOf<K>> };

function addToIndex<I, V>(index: Map<I, Set<V>>, at: I, value: V): void {
  let set = index.get(at);
  if (!set) index.set(at, (set = new Set()));
  set.add(value);
}

function removeFromIndex<I, V>(index: Map<I, Set<V>>, at: I, value: V): void {
  const set = index.get(at);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(at);
}

const conflict = (code: ErrorCode, path: string, problem: string) => new FieldError(code, path, problem);

export class DesiredState {
  private readonly stores: Stores = {
    routingDomains: new Map(),
    virtualSubnets: new Map(),
    customerRoutes: new Map(),
    lookupRecords: new Map(),
    providerAddresses: new Map(),
    providerRoutes: new Map(),
    providerPeers: new Map(),
    externalNetworks: new Map(),
    natConnections: new Map(),
    routedConnections: new Map(),
  };
  /** Rules and indexes of external networks and NAT (src/model/external-index.ts). */
  private readonly external = new ExternalIndex();
  private readonly view: StateView = {
    has: (kind, key) => this.stores[kind].has(key),
    get: (kind, key) => this.stores[kind].get(key),
    list: (kind) => this.stores[kind].values(),
  };
  private readonly subnetsByDomain = new Map<string, Set<number>>();
  private readonly routesByDomain = new Map<string, Set<string>>();
  private readonly routesByVsid = new Map<number, Set<string>>();
  private readonly recordsByVsid = new Map<number, Set<string>>();
  /** Parsed on-link prefixes per VSID, so checking a CA costs no string parsing. */
  private readonly onLinkByVsid = new Map<number, Map<string, IpPrefix>>();

  /**
   * Builds a state from a whole document (PUT /v1/config), collecting every problem with
   * its path (`lookupRecords/3/macAddress`). Missing collections are empty.
   */
  static fromDocument(input: unknown): DesiredState {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw toValidationError([new FieldError(ErrorCode.ValidationFailed, '/', 'the configuration must be a JSON object')]);
    }
    const doc = input as Record<string, unknown>;
    const shapeErrors: FieldError[] = [];
    for (const name of Object.keys(doc)) {
      if (!KIND_NAMES.includes(name as KindName)) shapeErrors.push(new FieldError(ErrorCode.ValidationFailed, name, `unknown collection; expected ${KIND_NAMES.join(', ')}`));
    }
    for (const name of KIND_NAMES) {
      if (doc[name] !== undefined && !Array.isArray(doc[name])) shapeErrors.push(new FieldError(ErrorCode.ValidationFailed, name, 'must be an array'));
    }
    if (shapeErrors.length > 0) throw toValidationError(shapeErrors);
    return DesiredState.build((add) => {
      for (const name of KIND_NAMES) {
        const list = (doc[name] ?? []) as unknown[];
        for (let index = 0; index < list.length; index++) add(name, list[index], `${name}/${index}`);
      }
    });
  }

  /**
   * Builds a state from items fed one at a time, kinds in dependency order (KIND_NAMES),
   * so a large state is validated while it streams in (from a request or the store)
   * without an intermediate copy. Throws one NvgwError listing the problems.
   */
  static build(feed: (add: (name: KindName, raw: unknown, path: string) => void) => void): DesiredState {
    const state = new DesiredState();
    const errors: FieldError[] = [];
    feed((name, raw, path) => {
      if (errors.length > 1000) return; // enough to act on; the rest would only repeat
      const kind = kindOf(name);
      const parsed = parseItem(kind, raw, path);
      if (Array.isArray(parsed)) {
        errors.push(...parsed);
        return;
      }
      const key = keyOf(kind, parsed);
      if (state.stores[name].has(key)) {
        const code = name === 'lookupRecords' ? ErrorCode.DuplicateLookupRecord : name === 'virtualSubnets' ? ErrorCode.VsidInOtherDomain : ErrorCode.AlreadyExists;
        errors.push(conflict(code, path, `duplicate ${kind.singular} ${key.replaceAll('|', ' ')}`));
        return;
      }
      const problems = state.checkWrite(name, parsed, key, path);
      if (problems.length > 0) errors.push(...problems);
      else state.applyOne({ kind: name, key, item: parsed });
    });
    if (errors.length > 0) throw toValidationError(errors);
    return state;
  }

  get<K extends KindName>(kind: K, key: string): ItemOf<K> | undefined {
    return this.stores[kind].get(key) as ItemOf<K> | undefined;
  }

  list<K extends KindName>(kind: K): IterableIterator<ItemOf<K>> {
    return this.stores[kind].values() as IterableIterator<ItemOf<K>>;
  }

  /** Customer routes of one VSID. */
  *routesOf(vsid: number): Generator<CustomerRoute> {
    for (const key of this.routesByVsid.get(vsid) ?? []) yield this.stores.customerRoutes.get(key)!;
  }

  /** The items of a kind by key, read-only, for diffs. */
  keyedEntries<K extends KindName>(kind: K): ReadonlyMap<string, ItemOf<K>> {
    return this.stores[kind] as ReadonlyMap<string, ItemOf<K>>;
  }

  count(kind: KindName): number {
    return this.stores[kind].size;
  }

  /** How many lookup records one VSID has. */
  recordCountOf(vsid: number): number {
    return this.recordsByVsid.get(vsid)?.size ?? 0;
  }

  /** Lookup records of one VSID, for the data path and filters. */
  *recordsOf(vsid: number): Generator<LookupRecord> {
    for (const key of this.recordsByVsid.get(vsid) ?? []) yield this.stores.lookupRecords.get(key)!;
  }

  toDocument(): DesiredDocument {
    return {
      routingDomains: [...this.stores.routingDomains.values()],
      virtualSubnets: [...this.stores.virtualSubnets.values()],
      lookupRecords: [...this.stores.lookupRecords.values()],
      customerRoutes: [...this.stores.customerRoutes.values()],
      providerAddresses: [...this.stores.providerAddresses.values()],
      providerRoutes: [...this.stores.providerRoutes.values()],
      providerPeers: [...this.stores.providerPeers.values()],
      externalNetworks: [...this.stores.externalNetworks.values()],
      natConnections: [...this.stores.natConnections.values()],
      routedConnections: [...this.stores.routedConnections.values()],
    };
  }

  /** Plans a create/replace/upsert of one already-parsed item; throws NvgwError when refused. */
  planWrite<K extends KindName>(name: K, item: ItemOf<K>, mode: WriteMode): Change[] {
    const kind = kindOf(name);
    const key = keyOf(kind, item);
    const exists = this.stores[name].has(key);
    if (mode === 'create' && exists) {
      const code = name === 'lookupRecords' ? ErrorCode.DuplicateLookupRecord : name === 'virtualSubnets' ? ErrorCode.VsidInOtherDomain : ErrorCode.AlreadyExists;
      const existing = this.stores[name].get(key) as AnyItem;
      // Re-creating a VSID in the same domain is still a duplicate, but in another domain it is the VSID rule.
      const sameDomainVsid = name === 'virtualSubnets' && (existing as VirtualSubnet).routingDomainId === (item as VirtualSubnet).routingDomainId;
      throw new NvgwError(sameDomainVsid ? ErrorCode.AlreadyExists : code, `${kind.singular} ${key.replaceAll('|', ' ')} already exists`);
    }
    if (mode === 'replace' && !exists) throw new NvgwError(ErrorCode.NotFound, `${kind.singular} ${key.replaceAll('|', ' ')} does not exist`);
    const problems = this.checkWrite(name, item, key, '');
    if (problems.length > 0) throw toValidationError(problems);
    return [{ kind: name, key, item }];
  }

  /**
   * Plans deleting one item. Anything still referring to it makes this a 409 unless
   * `cascade`, in which case the dependants are deleted first (they come first in the plan).
   */
  planRemove(name: KindName, key: string, cascade: boolean): Change[] {
    const kind = KINDS[name];
    if (!this.stores[name].has(key)) throw new NvgwError(ErrorCode.NotFound, `${kind.singular} ${key.replaceAll('|', ' ')} does not exist`);
    const plan: Change[] = [];
    const seen = new Set<string>();
    const visit = (k: KindName, itemKey: string): void => {
      const id = `${k}\u0000${itemKey}`;
      if (seen.has(id)) return;
      seen.add(id);
      for (const dep of this.dependantsOf(k, itemKey)) visit(dep.kind, dep.key);
      plan.push({ kind: k, key: itemKey, item: null });
    };
    const direct = this.dependantsOf(name, key);
    if (direct.length > 0 && !cascade) {
      const sample = direct.slice(0, 5).map((d) => ({ path: `${d.kind}/${d.key.replaceAll('|', ' ')}`, problem: 'still refers to it' }));
      throw new NvgwError(
        ErrorCode.StillReferenced,
        `${kind.singular} ${key.replaceAll('|', ' ')} is still referenced by ${direct.length} object(s); delete them first or use ?cascade=true`,
        sample,
      );
    }
    visit(name, key);
    return plan;
  }

  /** Applies a plan that planWrite/planRemove or a diff produced; never fails. */
  apply(changes: readonly Change[]): void {
    for (const change of changes) this.applyOne(change);
  }

  /** What refers to an item, directly. */
  private dependantsOf(name: KindName, key: string): { kind: KindName; key: string }[] {
    const out: { kind: KindName; key: string }[] = [];
    switch (name) {
      case 'routingDomains':
        for (const vsid of this.subnetsByDomain.get(key) ?? []) out.push({ kind: 'virtualSubnets', key: String(vsid) });
        for (const routeKey of this.routesByDomain.get(key) ?? []) out.push({ kind: 'customerRoutes', key: routeKey });
        break;
      case 'virtualSubnets': {
        const vsid = Number(key);
        for (const routeKey of this.routesByVsid.get(vsid) ?? []) out.push({ kind: 'customerRoutes', key: routeKey });
        for (const recordKey of this.recordsByVsid.get(vsid) ?? []) out.push({ kind: 'lookupRecords', key: recordKey });
        break;
      }
      case 'customerRoutes': {
        const route = this.stores.customerRoutes.get(key)!;
        if (!isOnLink(route)) break;
        for (const record of this.recordsOf(route.virtualSubnetId)) {
          if (!isWildcardRecord(record) && !this.caIsOnLink(record, key)) out.push({ kind: 'lookupRecords', key: keyOf(KINDS.lookupRecords, record) });
        }
        break;
      }
      default:
        break;
    }
    out.push(...this.external.dependantsOf(name, key, this.view));
    return out;
  }

  /** Is the record's CA inside an on-link route of its VSID, not counting route `except`? */
  private caIsOnLink(record: LookupRecord, except?: string): boolean {
    const ca = parseIp(record.customerAddress);
    if (!ca) return false;
    for (const [routeKey, prefix] of this.onLinkByVsid.get(record.virtualSubnetId) ?? []) {
      if (routeKey !== except && prefixContains(prefix, ca)) return true;
    }
    return false;
  }

  /** Referential rules for writing `item` under `key` (new or replacing). */
  private checkWrite<K extends KindName>(name: K, item: ItemOf<K>, key: string, path: string): FieldError[] {
    const at = (field: string) => (path ? `${path}/${field}` : field);
    if (name === 'providerAddresses' || ExternalIndex.handles(name)) return this.external.check(name, item as AnyItem, key, at, this.view);
    switch (name) {
      case 'virtualSubnets': {
        const subnet = item as VirtualSubnet;
        if (!this.stores.routingDomains.has(subnet.routingDomainId)) {
          return [conflict(ErrorCode.UnknownReference, at('routingDomainId'), `routing domain ${subnet.routingDomainId} does not exist`)];
        }
        const existing = this.stores.virtualSubnets.get(key);
        if (existing && existing.routingDomainId !== subnet.routingDomainId) {
          return [conflict(ErrorCode.VsidInOtherDomain, at('virtualSubnetId'), `VSID ${subnet.virtualSubnetId} already belongs to routing domain ${existing.routingDomainId}`)];
        }
        return [];
      }
      case 'customerRoutes': {
        const route = item as CustomerRoute;
        if (!this.stores.routingDomains.has(route.routingDomainId)) {
          return [conflict(ErrorCode.UnknownReference, at('routingDomainId'), `routing domain ${route.routingDomainId} does not exist`)];
        }
        const subnet = this.stores.virtualSubnets.get(String(route.virtualSubnetId));
        if (!subnet) return [conflict(ErrorCode.UnknownReference, at('virtualSubnetId'), `virtual subnet ${route.virtualSubnetId} does not exist`)];
        if (subnet.routingDomainId !== route.routingDomainId) {
          return [conflict(ErrorCode.VsidInOtherDomain, at('virtualSubnetId'), `VSID ${route.virtualSubnetId} belongs to routing domain ${subnet.routingDomainId}, not ${route.routingDomainId}`)];
        }
        const existing = this.stores.customerRoutes.get(key);
        if (existing && isOnLink(existing) && !isOnLink(route)) {
          const stranded = this.dependantsOf('customerRoutes', key);
          if (stranded.length > 0) {
            return [conflict(ErrorCode.StillReferenced, at('nextHop'), `${stranded.length} lookup record(s) rely on this route being on-link`)];
          }
        }
        return [];
      }
      case 'lookupRecords': {
        const record = item as LookupRecord;
        if (!this.stores.virtualSubnets.has(String(record.virtualSubnetId))) {
          return [conflict(ErrorCode.UnknownReference, at('virtualSubnetId'), `virtual subnet ${record.virtualSubnetId} does not exist`)];
        }
        if (!isWildcardRecord(record) && !this.caIsOnLink(record)) {
          return [
            conflict(
              ErrorCode.CustomerAddressNotOnLink,
              at('customerAddress'),
              `${record.customerAddress} is not inside an on-link customer route (next hop 0.0.0.0) of VSID ${record.virtualSubnetId}`,
            ),
          ];
        }
        return [];
      }
      default:
        return [];
    }
  }

  private applyOne(change: Change): void {
    const store = this.stores[change.kind] as Map<string, AnyItem>;
    const previous = store.get(change.key);
    if (previous) this.unindex(change.kind, change.key, previous);
    if (change.item === null) {
      store.delete(change.key);
      return;
    }
    store.set(change.key, change.item);
    this.index(change.kind, change.key, change.item);
  }

  private index(kind: KindName, key: string, item: AnyItem): void {
    if (ExternalIndex.handles(kind)) this.external.index(kind, key, item);
    if (kind === 'virtualSubnets') {
      const subnet = item as VirtualSubnet;
      addToIndex(this.subnetsByDomain, subnet.routingDomainId, subnet.virtualSubnetId);
    } else if (kind === 'customerRoutes') {
      const route = item as CustomerRoute;
      addToIndex(this.routesByDomain, route.routingDomainId, key);
      addToIndex(this.routesByVsid, route.virtualSubnetId, key);
      if (isOnLink(route)) {
        const parsed = parsePrefix(route.destinationPrefix);
        if (parsed.ok) {
          let byKey = this.onLinkByVsid.get(route.virtualSubnetId);
          if (!byKey) this.onLinkByVsid.set(route.virtualSubnetId, (byKey = new Map()));
          byKey.set(key, parsed.prefix);
        }
      }
    } else if (kind === 'lookupRecords') {
      addToIndex(this.recordsByVsid, (item as LookupRecord).virtualSubnetId, key);
    }
  }

  private unindex(kind: KindName, key: string, item: AnyItem): void {
    if (ExternalIndex.handles(kind)) this.external.unindex(kind, key, item);
    if (kind === 'virtualSubnets') {
      const subnet = item as VirtualSubnet;
      removeFromIndex(this.subnetsByDomain, subnet.routingDomainId, subnet.virtualSubnetId);
    } else if (kind === 'customerRoutes') {
      const route = item as CustomerRoute;
      removeFromIndex(this.routesByDomain, route.routingDomainId, key);
      removeFromIndex(this.routesByVsid, route.virtualSubnetId, key);
      const byKey = this.onLinkByVsid.get(route.virtualSubnetId);
      byKey?.delete(key);
      if (byKey?.size === 0) this.onLinkByVsid.delete(route.virtualSubnetId);
    } else if (kind === 'lookupRecords') {
      removeFromIndex(this.recordsByVsid, (item as LookupRecord).virtualSubnetId, key);
    }
  }
}

export type { ResourceKind };
