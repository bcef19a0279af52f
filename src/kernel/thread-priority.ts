/**
 * Background work yields the core: a kernel pass at thousands of VSIDs plans for seconds,
 * and on a gateway pinned to one core it would otherwise take its share from the data
 * path's worker and the API's thread (a lookup-record change waited behind it).
 *
 * Linux keeps a nice value per thread, and setpriority(PRIO_PROCESS, 0) (what
 * os.setPriority(0, n) calls) sets the calling thread's alone, so a worker thread can lower
 * itself without touching the rest of the process.
 */
import { getPriority, setPriority } from 'node:os';

/** Niceness of the kernel pass's worker thread: CFS gives it ~1/10 of a contended core. */
export const BACKGROUND_NICE = 10;

/** Lowers the calling thread's priority to `nice`; returns the niceness it runs at (unchanged if the kernel refused). */
export function lowerThisThreadsPriority(nice: number = BACKGROUND_NICE): number {
  try {
    // Raising niceness needs no privilege; only going back below it would.
    if (getPriority(0) < nice) setPriority(0, nice);
  } catch {
    // A sandbox without setpriority: the pass runs at normal priority, as before.
  }
  return getPriority(0);
}
