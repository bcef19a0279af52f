/**
 * One kernel pass in a worker thread of its own (see isolated-pass.ts): slice by slice,
 * through a fresh netlink socket, asking the main thread for each slice's neighbours;
 * answers with what the reconciler reports, exits.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { reconcileSliced } from './kernel-port.js';
import type { SlicedPass } from './kernel-port.js';
import { createNetlinkKernel } from './netlink-kernel.js';
import type { PassMessage, PassOutcome, PassRequest } from './isolated-pass.js';
import { lowerThisThreadsPriority } from './thread-priority.js';

lowerThisThreadsPriority();

/**
 * A full collection after each slice. V8 collects a fresh isolate's old generation only
 * once it has grown past a limit of its own choosing, so a pass's heap climbed by every
 * slice's garbage (~5 MB each at 4,000 VSIDs) to ~150 MB, though it holds ~25 MB live. A
 * heap limit (resourceLimits) would have V8 collect early, but reaching it terminates the
 * isolate, and the netlink addon then aborts the whole process (a Napi::Error thrown where
 * nothing catches it). --expose-gc at run time, for the context made after it, is how
 * jest's leak detector gets the same function.
 */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const port = parentPort!;
const pending = new Map<number, (entries: PassMessage['entries']) => void>();
let nextId = 0;
port.on('message', (message: PassMessage) => {
  pending.get(message.id)?.(message.entries);
  pending.delete(message.id);
});

const kernel = createNetlinkKernel();
try {
  const result = await reconcileSliced(kernel, workerData as SlicedPass, (vsids) => {
    const id = nextId++;
    return new Promise((resolve) => {
      pending.set(id, (entries) => resolve(new Map(entries)));
      port.postMessage({ type: 'neighbours', id, vsids } satisfies PassRequest);
    });
  }, collectGarbage);
  const outcome: PassOutcome = {
    notes: result.notes,
    failed: [
      ...result.conflicts.map((c) => ({ object: c.id, error: c.reason })),
      ...result.failed.map((f) => ({ object: f.id, error: f.error?.message ?? 'failed' })),
    ],
    phases: result.phases,
  };
  port.postMessage({ type: 'outcome', outcome } satisfies PassRequest);
} finally {
  kernel.close();
  // The message listener kept the thread alive for the answers; nothing is awaited any more.
  port.unref();
}
