/**
 * One kernel pass in a worker thread of its own (see isolated-pass.ts): observe, plan and
 * apply through a fresh netlink socket, answer with what the reconciler reports, exit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { KernelIntent } from './intent.js';
import { reconcileKernel } from './kernel-port.js';
import { createNetlinkKernel } from './netlink-kernel.js';
import type { PassOutcome } from './isolated-pass.js';
import { lowerThisThreadsPriority } from './thread-priority.js';

lowerThisThreadsPriority();
const kernel = createNetlinkKernel();
try {
  const { plan, report, phases } = await reconcileKernel(kernel, workerData as KernelIntent);
  const outcome: PassOutcome = {
    notes: plan.notes,
    failed: [
      ...plan.conflicts.map((c) => ({ object: c.id, error: c.reason })),
      ...report.failed.map((f) => ({ object: f.id, error: f.error?.message ?? 'failed' })),
    ],
    phases,
  };
  parentPort!.postMessage(outcome);
} finally {
  kernel.close();
}
