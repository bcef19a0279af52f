import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BACKGROUND_NICE } from '../../../src/kernel/thread-priority.js';

/** Runs lowerThisThreadsPriority() in a worker thread; resolves with the niceness it reports. */
function inWorker(): Promise<number> {
  const moduleUrl = new URL('../../../src/kernel/thread-priority.js', import.meta.url).href;
  const code = `import('${moduleUrl}').then((m) => require('node:worker_threads').parentPort.postMessage(m.lowerThisThreadsPriority()));`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true });
    worker.once('message', (nice: number) => {
      resolve(nice);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

describe('thread priority of background work', () => {
  it('lowers the calling worker thread to the background niceness and leaves the rest of the process as it was', async () => {
    const before = getPriority(0);
    const nice = await inWorker();
    assert.equal(nice, Math.max(before, BACKGROUND_NICE));
    assert.equal(getPriority(0), before, "the main thread's niceness must not change: the API and the data path keep their share");
    assert.equal(getPriority(process.pid), before, 'the process (its main thread) keeps its niceness');
  });
});
