/**
 * Tap or veth for the tenant side? One-core receive and transmit rates of a FramePort
 * on each, for 64-byte and 1400-byte frames, in fresh namespaces. Run by hand, as root,
 * not in CI (it needs trafgen from Debian's netsniff-ng, and minutes of a quiet machine):
 *
 *   npm run build && node dist/test/bench/io/tap-vs-veth.js [--rounds 5] [--seconds 3]
 *
 * Cases (the port process is pinned to CPU 1, trafgen pins itself to CPU 0):
 *   rx tap    trafgen writes into tap bt0 (AF_PACKET TX ring, qdisc bypass): the kernel
 *             queues each frame to the tap, the port read()s it.
 *   rx veth   trafgen sends on g0; the frame crosses the veth to p0, where the port's
 *             TPACKET_V3 ring takes it. The veth's receive work (netif_rx, packet
 *             socket delivery) runs on the sender's core, as it would in production.
 *   tx tap    the port write()s frames into bt0; the kernel takes them in.
 *   tx veth   the port's TPACKET_V2 ring sends on p0; g0 receives.
 * Frames go to a MAC nobody has (see OTHER_HOST), so every receiving stack drops them
 * at the same cheap point.
 * Reported per case: min/median/max packets per second over the rounds, the port
 * process's CPU seconds per million packets, the whole machine's busy share, and loss.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

type Direction = 'rx' | 'tx';
type Kind = 'tap' | 'veth';

interface LoopResult {
  seconds: number;
  frames: number;
  pps: number;
  processCpuSeconds: number;
  machineBusyShare: number;
  machineKernelSeconds: number;
  stats: Record<string, number>;
}

interface Round extends LoopResult {
  offeredPps?: number;
  lossShare: number;
}

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROUNDS = option('rounds', 5);
const SECONDS = option('seconds', 3);
const WARMUP_MS = 1000;
const PORT_CPU = '1';
/**
 * Every frame is addressed to a MAC no device has: a receiving kernel stack drops it
 * first thing in ip_rcv (PACKET_OTHERHOST), which is the cheapest sink there is, and
 * the same in every case; packet sockets and taps take frames for any MAC.
 */
const OTHER_HOST = '02:00:00:00:00:09';

const nsG = `nvgwio-bench-${process.pid}-g`;
const nsP = `nvgwio-bench-${process.pid}-p`;
const loopScript = fileURLToPath(new URL('./port-loop.js', import.meta.url));
const children = new Set<ChildProcess>();
let torn = false;

const run = (cmd: string, ...argv: string[]): string => execFileSync(cmd, argv, { encoding: 'utf8' });
const ipn = (ns: string, ...argv: string[]): string => run('ip', '-n', ns, ...argv);

function counter(ns: string, dev: string, name: string): number {
  return Number(run('ip', 'netns', 'exec', ns, 'cat', `/sys/class/net/${dev}/statistics/${name}`).trim());
}

function setup(): void {
  run('ip', 'netns', 'add', nsG);
  run('ip', 'netns', 'add', nsP);
  const tmpG = `nvb${process.pid}g`.slice(-15);
  const tmpP = `nvb${process.pid}p`.slice(-15);
  run('ip', 'link', 'add', tmpG, 'type', 'veth', 'peer', 'name', tmpP);
  run('ip', 'link', 'set', tmpG, 'netns', nsG);
  run('ip', 'link', 'set', tmpP, 'netns', nsP);
  ipn(nsG, 'link', 'set', tmpG, 'name', 'g0');
  ipn(nsP, 'link', 'set', tmpP, 'name', 'p0');
  ipn(nsP, 'tuntap', 'add', 'dev', 'bt0', 'mode', 'tap');
  for (const [ns, dev] of [[nsG, 'g0'], [nsP, 'p0'], [nsP, 'bt0']] as const) {
    ipn(ns, 'link', 'set', dev, 'up');
  }
}

function teardown(): void {
  if (torn) return;
  torn = true;
  for (const child of children) if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
  for (const ns of [nsG, nsP]) {
    try {
      run('ip', 'netns', 'del', ns);
    } catch {
      // not created
    }
  }
}

/** An Ethernet/IPv4/UDP frame of exactly `length` bytes (no FCS), as hex. */
function frame(dstMac: string, length: number): string {
  const bytes = new Uint8Array(length).fill(0x41);
  bytes.set(dstMac.split(':').map((h) => parseInt(h, 16)), 0);
  bytes.set([0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00], 6);
  const ipLength = length - 14;
  bytes.set([0x45, 0, ipLength >> 8, ipLength & 0xff, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1], 14);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  bytes.set([(~sum >> 8) & 0xff, ~sum & 0xff], 24);
  const udpLength = ipLength - 20;
  bytes.set([0x30, 0x39, 0x30, 0x39, udpLength >> 8, udpLength & 0xff, 0, 0], 34);
  return Buffer.from(bytes).toString('hex');
}

function startDetached(cmd: string, argv: string[]): ChildProcess {
  const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal === null && !torn) console.error(`${cmd} ${argv.join(' ')} exited ${code}: ${stderr}`);
  });
  child.on('exit', () => children.delete(child));
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(-child.pid, 'SIGINT'); // its own process group: trafgen and its fork
  const timer = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, 'SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

async function round(direction: Direction, kind: Kind, length: number): Promise<Round> {
  const dev = kind === 'tap' ? 'bt0' : 'p0';
  const loopArgs = [direction, kind === 'tap' ? 'tap' : 'packet', dev, String(WARMUP_MS), String(SECONDS * 1000)];
  if (direction === 'tx') loopArgs.push(frame(OTHER_HOST, length));
  const sinkCounter = (): number => (kind === 'tap' ? counter(nsP, 'bt0', 'rx_packets') : counter(nsG, 'g0', 'rx_packets'));
  const sinkBefore = direction === 'tx' ? sinkCounter() : 0;
  const loop = spawn('ip', ['netns', 'exec', nsP, 'taskset', '-c', PORT_CPU, process.execPath, loopScript, ...loopArgs], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(loop);
  const lines = createInterface({ input: loop.stdout });
  const output: string[] = [];
  const ready = new Promise<void>((resolve) => lines.on('line', (line) => (line === 'READY' ? resolve() : output.push(line))));
  const done = new Promise<void>((resolve) => loop.once('exit', () => resolve()));
  await ready;

  let generator: ChildProcess | undefined;
  let offered = 0;
  let generatorStart = 0;
  const offeredCounters = (): number =>
    kind === 'tap' ? counter(nsP, 'bt0', 'tx_packets') + counter(nsP, 'bt0', 'tx_dropped') : counter(nsG, 'g0', 'tx_packets');
  if (direction === 'rx') {
    const config = `/tmp/nvgwio-bench-${process.pid}.cfg`;
    const bytes = Buffer.from(frame(OTHER_HOST, length), 'hex');
    writeFileSync(config, `{ ${Array.from(bytes, (b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')} }\n`);
    const before = offeredCounters();
    generatorStart = Date.now();
    generator = startDetached('ip', ['netns', 'exec', kind === 'tap' ? nsP : nsG, 'trafgen', '-o', kind === 'tap' ? 'bt0' : 'g0', '-i', config, '-P', '1', '-C']);
    await done;
    await stop(generator);
    offered = (offeredCounters() - before) / ((Date.now() - generatorStart) / 1000);
    rmSync(config, { force: true });
  } else {
    await done;
  }
  children.delete(loop);
  const result = JSON.parse(output.at(-1) ?? '{}') as LoopResult;
  let lossShare: number;
  if (direction === 'rx') {
    const drops = result.stats.rxKernelDrops ?? 0;
    lossShare = drops / Math.max(1, drops + (result.stats.rxPackets ?? 0));
  } else {
    // Everything the port sent over the whole run against what the peer took in.
    const sent = result.stats.txPackets ?? 0;
    lossShare = Math.max(0, 1 - (sinkCounter() - sinkBefore) / Math.max(1, sent));
  }
  return { ...result, ...(direction === 'rx' ? { offeredPps: offered } : {}), lossShare };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};
const fmt = (pps: number): string => (pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} M` : `${(pps / 1e3).toFixed(0)} k`);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (namespaces, taps, trafgen)');
  run('sh', '-c', 'command -v trafgen >/dev/null || { echo "trafgen is missing: apt-get install netsniff-ng" >&2; exit 1; }');
  setup();
  const rows: string[] = [];
  try {
    for (const direction of ['rx', 'tx'] as const) {
      for (const length of [64, 1400]) {
        for (const kind of ['tap', 'veth'] as const) {
          const rounds: Round[] = [];
          for (let i = 0; i < ROUNDS; i++) rounds.push(await round(direction, kind, length));
          const pps = rounds.map((r) => r.pps);
          const cpuPerMpps = median(rounds.map((r) => (r.processCpuSeconds / r.frames) * 1e6));
          const busy = median(rounds.map((r) => r.machineBusyShare * 2));
          const kernelPerMpps = median(rounds.map((r) => (r.machineKernelSeconds / r.frames) * 1e6));
          const offered = direction === 'rx' ? fmt(median(rounds.map((r) => r.offeredPps ?? 0))) : '-';
          const loss = `${(median(rounds.map((r) => r.lossShare)) * 100).toFixed(1)} %`;
          const gbps = ((median(pps) * length * 8) / 1e9).toFixed(2);
          const row = `| ${direction} | ${kind} | ${length} | ${fmt(Math.min(...pps))} | ${fmt(median(pps))} | ${fmt(Math.max(...pps))} | ${gbps} | ${cpuPerMpps.toFixed(2)} | ${kernelPerMpps.toFixed(2)} | ${busy.toFixed(2)} | ${offered} | ${loss} |`;
          console.log(row);
          rows.push(row);
        }
      }
    }
  } finally {
    teardown();
  }
  console.log(`\n${ROUNDS} rounds of ${SECONDS} s; port process pinned to CPU ${PORT_CPU}`);
  console.log('| dir | port | bytes | min pps | median pps | max pps | Gbit/s (median) | port process CPU s/Mpkt | kernel CPU s/Mpkt (both cores) | cores busy (of 2) | offered (median) | loss (median) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
}

process.on('SIGINT', () => {
  teardown();
  process.exit(130);
});

main().catch((error: unknown) => {
  console.error(error);
  teardown();
  process.exitCode = 1;
});
