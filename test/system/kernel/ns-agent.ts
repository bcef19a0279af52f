/**
 * Runs the netlink kernel adapter inside whatever network namespace it is started in (the
 * tests start it with `ip netns exec <ns>`), so the rtnetlink socket, /proc/sys and the
 * `ip` fallback all act on that namespace and never on the host's.
 *
 * Input: one JSON request on stdin. Output: one JSON answer on stdout.
 *   {"op":"detect"}                       -> {"backend": ...}
 *   {"op":"observe"}                      -> KernelObserved
 *   {"op":"plan","intent":...}            -> KernelPlan (observe + plan, nothing applied)
 *   {"op":"reconcile","intent":...}       -> {"plan": ..., "report": ...}
 *   {"op":"linkState","ifnames":[...]}   -> {"base": observe({linkState:false}), "links": observeLinkState(ifnames)}
 *   {"op":"sliced","intent":...,"slices":[...]} -> SlicedResult; the neighbours come from the
 *                                            intent's own subnets, asked for slice by slice
 */
import { text } from 'node:stream/consumers';
import type { KernelIntent } from '../../../src/kernel/intent.js';
import { reconcileKernel, reconcileSliced } from '../../../src/kernel/kernel-port.js';
import type { PassScope } from '../../../src/kernel/pass-scope.js';
import { createNetlinkKernel } from '../../../src/kernel/netlink-kernel.js';
import { planKernel } from '../../../src/kernel/plan.js';
import { withoutNeighbours } from '../../support/sliced-intent.js';

export type AgentRequest =
  | { op: 'detect' }
  | { op: 'observe' }
  | { op: 'plan'; intent: KernelIntent }
  | { op: 'reconcile'; intent: KernelIntent }
  | { op: 'linkState'; ifnames: string[] }
  | { op: 'sliced'; intent: KernelIntent; slices: PassScope[] };

async function main(): Promise<void> {
  const request = JSON.parse(await text(process.stdin)) as AgentRequest;
  const kernel = createNetlinkKernel();
  try {
    let answer: unknown;
    switch (request.op) {
      case 'detect':
        answer = { backend: await kernel.detectBackend() };
        break;
      case 'observe':
        answer = await kernel.observe();
        break;
      case 'plan':
        answer = planKernel(request.intent, await kernel.observe());
        break;
      case 'reconcile':
        answer = await reconcileKernel(kernel, request.intent);
        break;
      case 'linkState': {
        const base = await kernel.observe({ linkState: false });
        answer = { base, links: await kernel.observeLinkState(request.ifnames) };
        break;
      }
      case 'sliced': {
        const { intent, neighboursOf } = withoutNeighbours(request.intent);
        answer = await reconcileSliced(kernel, { intent, slices: request.slices }, neighboursOf);
        break;
      }
    }
    process.stdout.write(JSON.stringify(answer));
  } finally {
    kernel.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
