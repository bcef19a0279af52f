/**
 * A kernel pass in slices. At thousands of VSIDs one pass over everything observes and
 * plans ~170,000 objects (100,000 of them permanent neighbours) at once: seconds of
 * planning and a few hundred MB of memory at its peak. A sliced pass plans the same diff
 * a part at a time, so what it holds at once is bounded by the slice, not the gateway:
 *
 * - the rest: everything that belongs to no routing domain of the intent — the
 *   namespace-wide objects (PAs, provider routes, uplink addresses, global sysctls) and
 *   nvgw's links and tables that no domain names any more (left by deleted domains);
 * - one slice per group of domains: their links and all that is on them (addresses,
 *   neighbours, per-link sysctls, iif rules, local-route evictions) and their tables (routes
 *   and rules).
 *
 * The slices of one pass partition what nvgw owns, so each plans only objects no other
 * slice touches, and their plans together are the plan of the whole (plan.ts; tested as
 * such). Pure: no I/O.
 */
import type { KernelIntent } from './intent.js';

export type PassScope = { kind: 'rest' } | { kind: 'domains'; domains: readonly string[] };

/** What a scope covers, resolved against the names and tables the intent gives its domains. */
export interface ScopeTest {
  /** Owned (nvgw) links this slice manages, with everything on them. */
  link(name: string): boolean;
  /** Routing tables whose routes and rules this slice manages. */
  table(table: number): boolean;
  /** The domain's own problems (invalid table, names) are reported by this slice. */
  domain(routingDomainId: string): boolean;
  /** Namespace-wide objects: addresses on foreign links, provider routes, global sysctls. */
  global: boolean;
  /**
   * A link no domain claims, which the rest deletes: what is on it goes with it, so a
   * domain's slice leaves alone its routes through such a link, as the whole plan does.
   */
  unclaimed(name: string): boolean;
}

/** The test of the whole: an unsliced pass. */
export const WHOLE: ScopeTest = { link: () => true, table: () => true, domain: () => true, global: true, unclaimed: () => false };

/**
 * `domainOfLink` and `domainOfTable` map each name and table a valid domain of the intent
 * claims to that domain (plan.ts desiredKernel fills them while it validates).
 */
export function scopeTest(scope: PassScope | undefined, domainOfLink: ReadonlyMap<string, string>, domainOfTable: ReadonlyMap<number, string>): ScopeTest {
  if (scope === undefined) return WHOLE;
  const unclaimed = (name: string): boolean => !domainOfLink.has(name);
  if (scope.kind === 'rest') {
    return { link: unclaimed, table: (table) => !domainOfTable.has(table), domain: () => false, global: true, unclaimed };
  }
  const domains = new Set(scope.domains);
  const inScope = (owner: string | undefined): boolean => owner !== undefined && domains.has(owner);
  return {
    link: (name) => inScope(domainOfLink.get(name)),
    table: (table) => inScope(domainOfTable.get(table)),
    domain: (id) => domains.has(id),
    global: false,
    unclaimed,
  };
}

/**
 * The slices of a whole pass, the rest first (it adds the uplink addresses that domain
 * routes leave through): consecutive domains grouped so a slice holds at most
 * `maxNeighbours` permanent neighbours (a domain larger than that is a slice of its own).
 */
export function sliceDomains(intent: Pick<KernelIntent, 'domains'>, neighboursOf: (vsid: number) => number, maxNeighbours: number): PassScope[] {
  const slices: PassScope[] = [{ kind: 'rest' }];
  let current: string[] = [];
  let held = 0;
  for (const domain of intent.domains) {
    const count = domain.subnets.reduce((sum, s) => sum + neighboursOf(s.vsid), 0);
    if (current.length > 0 && held + count > maxNeighbours) {
      slices.push({ kind: 'domains', domains: current });
      current = [];
      held = 0;
    }
    current.push(domain.routingDomainId);
    held += count;
  }
  if (current.length > 0) slices.push({ kind: 'domains', domains: current });
  return slices;
}
