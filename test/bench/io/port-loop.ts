/**
 * One side of the tap-vs-veth measurement, run by tap-vs-veth.ts inside the port
 * namespace and pinned to one core: opens a port and receives (or transmits) as fast as
 * one JavaScript thread can, the way the data path's worker would, then prints one JSON
 * line with the counts inside the measurement window.
 *
 *   node port-loop.js <rx|tx> <packet|tap> <ifname> <warmupMs> <durationMs> [frameHex]
 *
 * Per frame the loop does what the data path minimally must: on receive, read the
 * Ethernet type (so every frame's cache line is touched); on transmit, copy a whole
 * frame into the slot (the encapsulation step writes every byte it sends).
 */
import { readFileSync } from 'node:fs';
import { createRxBatch, createTxBatch, type FramePort } from '../../../src/datapath/io/frame-port.js';
import { openPacketPort } from '../../../src/datapath/io/packet-port.js';
import { openTapPort } from '../../../src/datapath/io/tap-port.js';
import { waitReadable } from '../../../src/datapath/io/wait.js';

const BATCH = 256;

interface Snapshot {
  at: bigint;
  frames: number;
  cpuUs: number;
  busy: number;
  total: number;
  kernel: number;
}

/**
 * Machine-wide jiffies from /proc/stat (all cores): busy, total, and kernel (system +
 * irq + softirq), the part that is the network stack's work on either core.
 */
function machineJiffies(): { busy: number; total: number; kernel: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const kernel = (fields[2] ?? 0) + (fields[5] ?? 0) + (fields[6] ?? 0);
  return { busy: total - idle, total, kernel };
}

function snapshot(frames: number): Snapshot {
  const usage = process.cpuUsage();
  return { at: process.hrtime.bigint(), frames, cpuUs: usage.user + usage.system, ...machineJiffies() };
}

function main(): void {
  const [mode, kind, ifname, warmupText, durationText, frameHex] = process.argv.slice(2);
  if (mode === undefined || kind === undefined || ifname === undefined) return;
  const warmupMs = Number(warmupText);
  const durationMs = Number(durationText);
  const port: FramePort = kind === 'tap' ? openTapPort(ifname, { create: false }) : openPacketPort(ifname);
  process.stdout.write('READY\n');

  let frames = 0;
  let sink = 0;
  const start = Date.now();
  const windowStart = start + warmupMs;
  const windowEnd = windowStart + durationMs;
  let first: Snapshot | undefined;
  let last: Snapshot | undefined;
  const tick = (): boolean => {
    const now = Date.now();
    if (first === undefined && now >= windowStart) first = snapshot(frames);
    if (now >= windowEnd) {
      last = snapshot(frames);
      return false;
    }
    return true;
  };

  if (mode === 'rx') {
    const batch = createRxBatch(port, BATCH);
    while (tick()) {
      if (waitReadable([port], 5) === 0) continue;
      const n = port.receive(batch);
      const buffer = batch.buffer;
      for (let i = 0; i < n; i++) sink += buffer[(batch.offsets[i] ?? 0) + 12] ?? 0;
      frames += n;
      port.releaseRx();
    }
  } else {
    const frame = Buffer.from(frameHex ?? '', 'hex');
    const batch = createTxBatch(port, BATCH);
    let calls = 0;
    while ((calls++ & 15) !== 0 || tick()) {
      const got = port.reserveTx(batch, BATCH);
      const buffer = batch.buffer;
      for (let i = 0; i < got; i++) {
        buffer.set(frame, batch.offsets[i] ?? 0);
        batch.lengths[i] = frame.length;
      }
      port.sendTx(batch, got);
      frames += got;
    }
  }
  const stats = port.stats();
  port.close();
  if (first === undefined || last === undefined) throw new Error('measurement window never opened');
  const seconds = Number(last.at - first.at) / 1e9;
  process.stdout.write(
    `${JSON.stringify({
      seconds,
      frames: last.frames - first.frames,
      pps: (last.frames - first.frames) / seconds,
      processCpuSeconds: (last.cpuUs - first.cpuUs) / 1e6,
      machineBusyShare: (last.busy - first.busy) / Math.max(1, last.total - first.total),
      // USER_HZ is 100 on Linux: jiffies / 100 = seconds.
      machineKernelSeconds: (last.kernel - first.kernel) / 100,
      stats,
      sink: sink & 1,
    })}\n`,
  );
}

main();
