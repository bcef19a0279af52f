/**
 * Runs a kernel pass (observe, plan, apply, slice by slice) in a short-lived worker thread
 * instead of on the API's event loop. At thousands of VSIDs a pass builds and diffs
 * hundreds of thousands of objects: seconds of synchronous planning that would hold every
 * API request behind it, and garbage that V8 keeps as heap once it has grown. A worker's
 * heap goes back to the system when it exits, and the API answers while the pass plans.
 * The worker asks for each slice's neighbours as it reaches it (pass-worker.ts), so the
 * main thread never builds or copies all of them at once.
 */
import { Worker } from 'node:worker_threads';
import { loadNative } from '../datapath/io/native.js';
import type { NeighbourLookup, SlicedPass, SlicedResult } from './kernel-port.js';

/** What a pass reports back: the planner's notes, every object that failed, the timings. */
export interface PassOutcome {
  notes: string[];
  failed: { object: string; error: string }[];
  phases: SlicedResult['phases'];
}

/** Worker -> main thread. */
export type PassRequest = { type: 'neighbours'; id: number; vsids: number[] } | { type: 'outcome'; outcome: PassOutcome };
/** Main thread -> worker: the answer to a 'neighbours' request. */
export interface PassMessage {
  id: number;
  entries: ReturnType<NeighbourLookup>;
}

const PASS_YOUNG_GENERATION_MB = 4;

function trimMemory(): void {
  try {
    loadNative().trimMemory();
  } catch {
    // Without the addon (a control-plane-only build) there is nothing to trim with.
  }
}

export function reconcileInWorker(pass: SlicedPass, neighboursOf: NeighbourLookup): Promise<PassOutcome> {
  return new Promise<PassOutcome>((resolve, reject) => {
    // A small young generation: a pass's objects mostly live for a slice or for the whole
    // pass, so a large nursery only holds more garbage between scavenges (peak RSS of a pass
    // at 4,000 VSIDs: ~80 -> ~55 MB over the process's own). Unlike an old-generation limit,
    // this one cannot end the worker (see pass-worker.ts).
    const worker = new Worker(new URL('./pass-worker.js', import.meta.url), { workerData: pass, resourceLimits: { maxYoungGenerationSizeMb: PASS_YOUNG_GENERATION_MB } });
    let outcome: PassOutcome | undefined;
    worker.on('message', (message: PassRequest) => {
      if (message.type === 'outcome') outcome = message.outcome;
      else worker.postMessage({ id: message.id, entries: neighboursOf(message.vsids) } satisfies PassMessage);
    });
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
