/**
 * The bench's instruments: frames for trafgen, trafgen itself (started and stopped by PID),
 * interface counters and CPU time read straight from /proc (no process spawned inside a
 * measuring window), and the one-way latency of tagged probes captured at both ends.
 *
 * Counters of a namespace are read through /proc/<pid>/net/dev of a process that lives in
 * it (a `sleep` the bench parks there, or the gateway itself): a read costs microseconds,
 * where `ip netns exec ... cat` would cost a fork and an exec on the cores being measured.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackgroundProcess, Lab } from '../../support/netns.js';
import { run } from '../../support/netns.js';
import { nvgreFrame, udpFrame } from '../../support/frames.js';
import type { Capture } from '../../support/capture.js';
import { startCapture } from '../../support/capture.js';

/** UDP payload offset inside an untagged Ethernet/IPv4/UDP frame. */
export const UDP_PAYLOAD_OFFSET = 42;
/** Bytes of the per-probe random tag (trafgen `drnd()`), at the start of the UDP payload. */
export const TAG_LENGTH = 4;

export interface InnerFlow {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
}

/** An Ethernet/IPv4/UDP frame of exactly `length` bytes (no FCS). */
export function plainFrame(flow: InnerFlow, length: number): Buffer {
  return udpFrame({ ...flow, srcPort: 40000, dstPort: 5001, payload: length - UDP_PAYLOAD_OFFSET });
}

/** The same inner frame as an NVGRE host would send it: 42 bytes of outer header in front. */
export function encapsulatedFrame(outer: { srcMac: string; dstMac: string; srcPa: string; dstPa: string; vsid: number }, inner: Buffer): Buffer {
  return nvgreFrame({ ...outer, flowId: 0x2a }, inner);
}

/**
 * Writes a trafgen packet configuration for one frame. With `tagAt`, TAG_LENGTH bytes from
 * that offset become `drnd()` (a fresh random byte per packet), so that each probe can be
 * found again at the far end.
 */
export function writeTrafgenConfig(path: string, frame: Buffer, tagAt?: number): string {
  const bytes = Array.from(frame, (b, i) => (tagAt !== undefined && i >= tagAt && i < tagAt + TAG_LENGTH ? 'drnd()' : `0x${b.toString(16).padStart(2, '0')}`));
  writeFileSync(path, `{ ${bytes.join(', ')} }\n`);
  return path;
}

export interface Trafgen {
  readonly process: BackgroundProcess;
  /** The PID of trafgen's worker (the process that sends, pinned to CPU 0), once it has forked. */
  worker(): number | undefined;
  /** SIGINT to trafgen's worker (the forked child that pins itself to CPU 0), then to trafgen; SIGKILL after 3 s. */
  stop(): Promise<void>;
}

/** The PIDs of pid's children (a kernel with CONFIG_PROC_CHILDREN), or [] if none or unknown. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Starts trafgen in ns on dev: one worker (`-P 1`, which trafgen pins to CPU 0), AF_PACKET
 * TX ring with qdisc bypass unless `qdisc` (the qdisc path lets a capture on dev see what
 * was sent, for latency probes), as fast as it can unless `gap` (e.g. '1ms': one frame,
 * then a pause). Never trafgen's `-b <rate>`: it sends a second's worth of frames in one
 * burst of a few milliseconds and then sleeps for the rest of the second, which turns a
 * "1000 pps" latency probe into a 1000-frame burst every second.
 */
export function startTrafgen(lab: Lab, ns: string, dev: string, config: string, opts: { gap?: string; count?: number; qdisc?: boolean } = {}): Trafgen {
  const argv = ['trafgen', '-o', dev, '-i', config, '-P', '1', '-C'];
  if (opts.gap) argv.push('-t', opts.gap);
  if (opts.count !== undefined) argv.push('-n', String(opts.count));
  if (opts.qdisc) argv.push('-q');
  const proc = lab.spawn(ns, argv);
  return {
    process: proc,
    worker: () => childrenOf(proc.pid)[0],
    async stop() {
      if (!proc.running()) return;
      // trafgen's parent only waits for its worker; a SIGINT to the parent alone stops nothing.
      for (const child of childrenOf(proc.pid)) signal(child, 'SIGINT');
      signal(proc.pid, 'SIGINT');
      const timer = setTimeout(() => {
        for (const child of childrenOf(proc.pid)) signal(child, 'SIGKILL');
        signal(proc.pid, 'SIGKILL');
      }, 3000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}

/** Waits until trafgen (started with a count) has exited by itself. */
export async function trafgenDone(t: Trafgen, timeoutMs: number): Promise<void> {
  const timer = setTimeout(() => void t.stop(), timeoutMs);
  await t.process.exited;
  clearTimeout(timer);
}

export interface LinkCounters {
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  txPackets: number;
  txDropped: number;
}

/** One interface's counters from /proc/<pid>/net/dev, pid being any process in its namespace. */
export function linkCounters(pid: number, ifname: string): LinkCounters {
  const text = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== ifname) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    // rx: bytes packets errs drop fifo frame compressed multicast | tx: bytes packets errs drop ...
    return { rxBytes: f[0] ?? 0, rxPackets: f[1] ?? 0, rxDropped: f[3] ?? 0, txPackets: f[9] ?? 0, txDropped: f[11] ?? 0 };
  }
  throw new Error(`no interface ${ifname} in the namespace of PID ${pid}`);
}

const CLK_TCK = 100; // USER_HZ: what /proc/<pid>/stat counts in, fixed at 100 on Linux

/** User + system CPU seconds of a process, all its threads included (0 if it is gone). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces; the fields after it start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Machine-wide CPU seconds by /proc/stat category, summed over all CPUs. */
export interface MachineCpu {
  busy: number;
  softirq: number;
}

export function machineCpu(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = v;
  return { busy: (user + nice + system + irq + softirq) / CLK_TCK, softirq: softirq / CLK_TCK };
}

/** Packets the kernel dropped because a CPU's input backlog was full (/proc/net/softnet_stat, all CPUs). */
export function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8')
    .split('\n')
    .filter(Boolean)
    .reduce((sum, line) => sum + parseInt(line.split(/\s+/)[1] ?? '0', 16), 0);
}

/** PIDs of kernel threads whose name matches (e.g. /^napi\/nbga-\d+$/, /^ksoftirqd\//). */
export function kernelThreads(name: RegExp): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (name.test(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Pins every thread of pid (and the threads it creates later) to one CPU. */
export async function pin(pid: number, cpu: number): Promise<void> {
  await run(['taskset', '-a', '-p', '-c', String(cpu), String(pid)]);
}

export interface LatencyResult {
  sent: number;
  matched: number;
  /** One-way latencies in microseconds, sorted. */
  micros: number[];
}

/**
 * One-way latency of tagged probes: trafgen sends `count` copies of `frame`, `gapUs` apart (each
 * with a random tag at tagAt) through the qdisc path, so tcpdump on the sending interface
 * timestamps them as they leave; a second tcpdump timestamps them as they reach the sink.
 * Probes are matched on the tag, found at the same distance from the end of the frame at
 * both ends (the inner frame is the tail of an NVGRE frame).
 */
export async function measureLatency(
  lab: Lab,
  from: { ns: string; dev: string },
  to: { ns: string; dev: string },
  frame: Buffer,
  innerLength: number,
  opts: { gapUs: number; count: number; configDir: string },
): Promise<LatencyResult> {
  const tagAt = frame.length - innerLength + UDP_PAYLOAD_OFFSET;
  const config = writeTrafgenConfig(join(opts.configDir, `latency-${process.hrtime.bigint()}.cfg`), frame, tagAt);
  const fromTail = innerLength - UDP_PAYLOAD_OFFSET;
  const snaplen = 200;
  const sent: Capture = await startCapture(lab, from.ns, from.dev, { direction: 'out', filter: 'udp or ip proto 47', snaplen });
  const got: Capture = await startCapture(lab, to.ns, to.dev, { direction: 'in', filter: 'udp or ip proto 47', snaplen });
  const t = startTrafgen(lab, from.ns, from.dev, config, { gap: `${opts.gapUs}us`, count: opts.count, qdisc: true });
  await trafgenDone(t, (opts.count * opts.gapUs) / 1000 + 20_000);
  await sent.stop({ settleMs: 300, maxFrames: 1 });
  await got.stop({ settleMs: 300, maxFrames: 1 });
  const key = (data: Buffer, originalLength: number): string | undefined => {
    const at = originalLength - fromTail;
    return at >= 0 && at + TAG_LENGTH <= data.length ? data.subarray(at, at + TAG_LENGTH).toString('hex') : undefined;
  };
  const departures = new Map<string, bigint>();
  const duplicates = new Set<string>();
  const out = sent.packets();
  for (const p of out) {
    const k = key(p.data, p.originalLength);
    if (k === undefined) continue;
    if (departures.has(k)) duplicates.add(k);
    departures.set(k, p.timestampNs);
  }
  const micros: number[] = [];
  for (const p of got.packets()) {
    const k = key(p.data, p.originalLength);
    if (k === undefined || duplicates.has(k)) continue;
    const t0 = departures.get(k);
    if (t0 !== undefined) micros.push(Number(p.timestampNs - t0) / 1000);
  }
  micros.sort((a, b) => a - b);
  return { sent: out.length, matched: micros.length, micros };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
