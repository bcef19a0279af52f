/**
 * Runs in a worker_thread of an agent: opens a packet port there (so the addon is loaded
 * a second time, in another environment of the same process), receives frames, reports.
 */
import { isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import { createRxBatch } from '../../../../src/datapath/io/frame-port.js';
import { openPacketPort } from '../../../../src/datapath/io/packet-port.js';
import { waitReadable } from '../../../../src/datapath/io/wait.js';

interface WorkerArgs {
  ifname: string;
  expect: number;
  timeoutMs: number;
  marker: string;
}

function run(args: WorkerArgs): void {
  const port = openPacketPort(args.ifname);
  parentPort!.postMessage({ type: 'ready', threadId });
  const batch = createRxBatch(port, 64);
  const marker = Buffer.from(args.marker, 'latin1');
  const deadline = Date.now() + args.timeoutMs;
  let matched = 0;
  let batches = 0;
  while (matched < args.expect && Date.now() < deadline) {
    if (waitReadable([port], 20) === 0) continue;
    const n = port.receive(batch);
    if (n > 0) batches++;
    for (let i = 0; i < n; i++) {
      const start = batch.offsets[i] ?? 0;
      const frame = batch.buffer.subarray(start, start + (batch.lengths[i] ?? 0));
      if (Buffer.from(frame.buffer, frame.byteOffset, frame.length).includes(marker)) matched++;
    }
    port.releaseRx();
  }
  const stats = port.stats();
  port.close();
  parentPort!.postMessage({ type: 'result', threadId, matched, batches, rxPackets: stats.rxPackets });
}

if (!isMainThread && parentPort !== null) run(workerData as WorkerArgs);
