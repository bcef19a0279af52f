/**
 * Runs a kernel pass (observe, plan, apply) in a short-lived worker thread instead of on
 * the API's event loop. At thousands of VSIDs a pass builds and diffs hundreds of
 * thousands of objects: seconds of synchronous planning that would hold every API request
 * behind it, and a few hundred MB of garbage that V8 keeps as heap once it has grown (the
 * process's RSS stayed at the pass's peak). A worker's heap goes back to the system when
 * it exits, and the API answers while the pass plans.
 */
import { Worker } from 'node:worker_threads';
import { loadNative } from '../datapath/io/native.js';
import type { KernelIntent } from './intent.js';
import type { ReconcileResult } from './kernel-port.js';

/** What a pass reports back: the planner's notes, every object that failed, the timings. */
export interface PassOutcome {
  notes: string[];
  failed: { object: string; error: string }[];
  phases: ReconcileResult['phases'];
}

function trimMemory(): void {
  try {
    loadNative().trimMemory();
  } catch {
    // Without the addon (a control-plane-only build) there is nothing to trim with.
  }
}

export function reconcileInWorker(intent: KernelIntent): Promise<PassOutcome> {
  return new Promise<PassOutcome>((resolve, reject) => {
    const worker = new Worker(new URL('./pass-worker.js', import.meta.url), { workerData: intent });
    let outcome: PassOutcome | undefined;
    worker.once('message', (message: PassOutcome) => (outcome = message));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      // What the worker malloc'd and freed stays in its thread's malloc arena (RSS) until
      // trimmed; its V8 heap already went with it.
      trimMemory();
      if (outcome) resolve(outcome);
      else reject(new Error(`the kernel pass worker exited with code ${code} before it reported`));
    });
  });
}
