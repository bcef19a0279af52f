/**
 * A whole kernel intent as a sliced pass takes it (kernel-port.ts reconcileSliced): every
 * subnet's neighbours left out, and a source that hands them back by VSID, as the
 * reconciler does from the desired state.
 */
import type { KernelIntent } from '../../src/kernel/intent.js';
import type { NeighbourSource } from '../../src/kernel/kernel-port.js';

export function withoutNeighbours(intent: KernelIntent): { intent: KernelIntent; neighboursOf: NeighbourSource; asked: number[][] } {
  const byVsid = new Map(intent.domains.flatMap((d) => d.subnets.map((s) => [s.vsid, s.neighbours] as const)));
  const asked: number[][] = [];
  return {
    intent: { ...intent, domains: intent.domains.map((d) => ({ ...d, subnets: d.subnets.map((s) => ({ ...s, neighbours: [] })) })) },
    neighboursOf: (vsids) => {
      asked.push(vsids);
      return Promise.resolve(new Map(vsids.map((vsid) => [vsid, byVsid.get(vsid) ?? []])));
    },
    asked,
  };
}
