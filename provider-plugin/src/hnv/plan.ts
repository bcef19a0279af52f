/**
 * Runs a compiled script's operations against one gateway's configuration, in memory:
 * the result is the whole desired document to PUT with If-Match, what each Get- shows,
 * and the problems that stop the script. Pure, so the sync loop can run it again on a
 * re-read state after a 412.
 *
 * HNV semantics kept here:
 *   - New- over an existing identical object changes nothing (a script repeated once per
 *     -CimSession applies once); over a different one it is an error naming both lines,
 *     or the object on the gateway (HNV's New- never replaces: Remove- or Set- first).
 *   - Get-/Remove-/Set- select by their parameters; with none, Remove- removes all.
 *   - Virtual subnets and routing domains are implied by customer routes, which carry
 *     RoutingDomainID and VirtualSubnetID; a lookup record carries only a VSID, so its
 *     subnet must come from a route in the script or exist on the gateway. When a script
 *     removes the last routes of an unnamed subnet or domain, it goes with them.
 */
import { keyOf, sortItems } from '../client/keys.js';
import type { AnyItem, ConfigDocument, KindName } from '../client/types.js';
import { KIND_NAMES, RESOURCES } from '../client/types.js';
import type { NounSpec } from './cmdlets.js';
import type { Filter, Operation, Origin, ScriptProblem } from './script.js';
import { listLines } from './script.js';

export interface GetOutput {
  operation: Operation;
  noun: NounSpec;
  items: AnyItem[];
}

export interface PlanResult {
  document: ConfigDocument;
  /** Origin of each item of `document`, by kind and index; undefined for what was on the gateway. */
  origins: Record<KindName, (Origin | undefined)[]>;
  outputs: GetOutput[];
  notes: ScriptProblem[];
  errors: ScriptProblem[];
  /** Some operation created, changed or removed something. */
  changed: boolean;
}

interface Entry {
  item: AnyItem;
  origin?: Origin;
}

type Store = Record<KindName, Map<string, Entry>>;

/** HNV's name for an API field of a kind, for messages: macAddress → MACAddress. */
function hnvName(noun: NounSpec, field: string): string {
  return noun.params.find((p) => p.field === field)?.name ?? field;
}

function differingField(kind: KindName, a: AnyItem, b: AnyItem): string | undefined {
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  return Object.keys(RESOURCES[kind].fields).find((f) => x[f] !== y[f]);
}

function matches(item: AnyItem, filters: readonly Filter[]): boolean {
  const record = item as unknown as Record<string, unknown>;
  return filters.every((f) => {
    const value = record[f.field];
    return f.values.some((v) => v === value) || f.patterns.some((p) => p.test(String(value)));
  });
}

export function planScript(operations: readonly Operation[], current: ConfigDocument, target: string): PlanResult {
  const store = {} as Store;
  for (const kind of KIND_NAMES) {
    store[kind] = new Map();
    for (const item of current[kind] ?? []) store[kind].set(keyOf(kind, item), { item });
  }
  const errors: ScriptProblem[] = [];
  const notes: ScriptProblem[] = [];
  const outputs: GetOutput[] = [];
  const repeats: string[] = [];
  const unchangedOnGateway: number[] = [];
  const routesRemovedIn = new Set<number>();
  let changed = false;
  const error = (at: { line: number; col: number }, message: string) => errors.push({ line: at.line, col: at.col, message });

  for (const op of operations) {
    if (!op.targets.includes(target)) continue;
    const kind = op.ref.noun.kind;
    const entries = store[kind];
    switch (op.op) {
      case 'new': {
        const key = keyOf(kind, op.item);
        const existing = entries.get(key);
        if (!existing) {
          entries.set(key, { item: op.item, origin: op.origin });
          changed = true;
          break;
        }
        const field = differingField(kind, existing.item, op.item);
        if (field === undefined) {
          if (existing.origin) repeats.push(`${op.origin.line} = ${existing.origin.line}`);
          else unchangedOnGateway.push(op.origin.line);
          break;
        }
        const name = hnvName(op.ref.noun, field);
        const theirs = String((existing.item as unknown as Record<string, unknown>)[field]);
        const ours = String((op.item as unknown as Record<string, unknown>)[field]);
        const what = `${op.ref.noun.singular} ${key.replaceAll('|', ' ')}`;
        if (existing.origin) {
          error(op.origin.fields[field] ?? op.origin, `${what} conflicts with line ${existing.origin.line}: -${name} is ${ours} here but ${theirs} on line ${existing.origin.line}`);
        } else {
          error(
            op.origin.fields[field] ?? op.origin,
            `${what} already exists on the gateway with -${name} ${theirs}; HNV's New- does not replace an object: Remove- it first, or use Set-`,
          );
        }
        break;
      }
      case 'get': {
        const items = [...entries.values()].filter((e) => matches(e.item, op.filters)).map((e) => e.item);
        if (op.show) outputs.push({ operation: op, noun: op.ref.noun, items: sortItems(kind, items) });
        break;
      }
      case 'remove': {
        const removed: AnyItem[] = [];
        for (const [key, entry] of entries) {
          if (!matches(entry.item, op.filters)) continue;
          entries.delete(key);
          removed.push(entry.item);
          if (kind === 'customerRoutes') routesRemovedIn.add((entry.item as { virtualSubnetId: number }).virtualSubnetId);
        }
        if (removed.length === 0) notes.push({ line: op.origin.line, col: op.origin.col, message: `${op.origin.cmdlet} matched nothing` });
        else changed = true;
        if (op.passThru) outputs.push({ operation: op, noun: op.ref.noun, items: sortItems(kind, removed) });
        break;
      }
      case 'set': {
        const updated: AnyItem[] = [];
        for (const [key, entry] of entries) {
          if (!matches(entry.item, op.filters)) continue;
          const next = { ...entry.item, ...op.changes } as AnyItem;
          if (differingField(kind, entry.item, next) !== undefined) {
            entries.set(key, { item: next, origin: op.origin });
            changed = true;
          }
          updated.push(next);
        }
        if (updated.length === 0) notes.push({ line: op.origin.line, col: op.origin.col, message: `${op.origin.cmdlet} matched nothing` });
        if (op.passThru) outputs.push({ operation: op, noun: op.ref.noun, items: sortItems(kind, updated) });
        break;
      }
    }
  }

  imply(store, error, notes);
  collectEmptied(store, routesRemovedIn, notes);
  for (const [, entry] of store.lookupRecords) {
    if (!entry.origin) continue;
    const vsid = (entry.item as { virtualSubnetId: number }).virtualSubnetId;
    if (!store.virtualSubnets.has(String(vsid))) {
      error(
        entry.origin.fields.virtualSubnetId ?? entry.origin,
        `VSID ${vsid} has no routing domain: no customer route in the script or on the gateway names -VirtualSubnetID ${vsid} (HNV implies a VSID's routing domain from its customer routes)`,
      );
    }
  }

  if (repeats.length > 0) notes.push({ line: 0, col: 0, message: `identical repeats apply once (line = earlier line): ${repeats.join(', ')}` });
  if (unchangedOnGateway.length > 0) notes.push({ line: 0, col: 0, message: `already on the gateway, unchanged: ${listLines(unchangedOnGateway)}` });

  const document = {} as ConfigDocument;
  const origins = {} as Record<KindName, (Origin | undefined)[]>;
  for (const kind of KIND_NAMES) {
    const list = [...store[kind].values()];
    (document as unknown as Record<KindName, AnyItem[]>)[kind] = list.map((e) => e.item);
    origins[kind] = list.map((e) => e.origin);
  }
  errors.sort((a, b) => a.line - b.line || a.col - b.col);
  return { document, origins, outputs, notes, errors, changed };
}

/** Creates the subnets and domains that customer routes imply, and checks VSIDs stay in one domain. */
function imply(store: Store, error: (at: { line: number; col: number }, message: string) => void, notes: ScriptProblem[]): void {
  const impliedDomains: string[] = [];
  const impliedSubnets: number[] = [];
  for (const [, entry] of store.customerRoutes) {
    const route = entry.item as { routingDomainId: string; virtualSubnetId: number };
    const origin = entry.origin;
    if (!origin) continue;
    if (!store.routingDomains.has(route.routingDomainId)) {
      store.routingDomains.set(route.routingDomainId, { item: { routingDomainId: route.routingDomainId, name: '', customerId: '' }, origin });
      impliedDomains.push(route.routingDomainId);
    }
    const subnet = store.virtualSubnets.get(String(route.virtualSubnetId));
    if (!subnet) {
      store.virtualSubnets.set(String(route.virtualSubnetId), { item: { virtualSubnetId: route.virtualSubnetId, routingDomainId: route.routingDomainId, name: '' }, origin });
      impliedSubnets.push(route.virtualSubnetId);
      continue;
    }
    const domain = (subnet.item as { routingDomainId: string }).routingDomainId;
    if (domain !== route.routingDomainId) {
      const where = subnet.origin ? `by line ${subnet.origin.line}` : 'on the gateway';
      error(
        origin.fields.routingDomainId ?? origin,
        `VSID ${route.virtualSubnetId} is in routing domain ${domain} ${where}, not ${route.routingDomainId}; a VSID belongs to one routing domain`,
      );
    }
  }
  if (impliedDomains.length > 0) notes.push({ line: 0, col: 0, message: `routing domains implied by customer routes: ${impliedDomains.join(', ')}` });
  if (impliedSubnets.length > 0) notes.push({ line: 0, col: 0, message: `virtual subnets implied by customer routes: ${impliedSubnets.join(', ')}` });
}

/** An unnamed subnet or domain whose last routes the script removed goes with them, as in HNV. */
function collectEmptied(store: Store, routesRemovedIn: Set<number>, notes: ScriptProblem[]): void {
  const domainsToCheck = new Set<string>();
  const gone: string[] = [];
  for (const vsid of routesRemovedIn) {
    const subnet = store.virtualSubnets.get(String(vsid));
    if (!subnet) continue;
    const item = subnet.item as { routingDomainId: string; name: string };
    const stillUsed =
      [...store.customerRoutes.values()].some((e) => (e.item as { virtualSubnetId: number }).virtualSubnetId === vsid) ||
      [...store.lookupRecords.values()].some((e) => (e.item as { virtualSubnetId: number }).virtualSubnetId === vsid);
    if (stillUsed || item.name !== '') continue;
    store.virtualSubnets.delete(String(vsid));
    domainsToCheck.add(item.routingDomainId);
    gone.push(`virtual subnet ${vsid}`);
  }
  for (const id of domainsToCheck) {
    const domain = store.routingDomains.get(id);
    if (!domain) continue;
    const item = domain.item as { name: string; customerId: string };
    const stillUsed =
      [...store.virtualSubnets.values()].some((e) => (e.item as { routingDomainId: string }).routingDomainId === id) ||
      [...store.customerRoutes.values()].some((e) => (e.item as { routingDomainId: string }).routingDomainId === id);
    if (stillUsed || item.name !== '' || item.customerId !== '') continue;
    store.routingDomains.delete(id);
    gone.push(`routing domain ${id}`);
  }
  if (gone.length > 0) notes.push({ line: 0, col: 0, message: `removed with their last customer routes: ${gone.join(', ')}` });
}
