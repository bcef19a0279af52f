/**
 * `npm run bench`: nvgw (A) against Open vSwitch userspace with kernel routing (B) and the
 * kernel routing the same inner traffic without encapsulation (C), on one generator
 * set-up, in one run, printed as one table. Root only; run by hand, never in CI (it takes
 * about half an hour, needs trafgen from Debian's netsniff-ng, and the more of the machine
 * it has to itself the better).
 *
 *   npm run bench                         everything, 3 rounds
 *   BENCH_ROUNDS=5 BENCH_SECONDS=5 npm run bench
 *   BENCH_PHASES=rows,latency npm run bench     any of rows, nat, latency, tcp, scale (or hold; hold,nat holds the NAT set-up)
 *   BENCH_GATEWAYS=A,C                          a subset of the gateways (not for scale)
 *   BENCH_SCALE=10,100,1000,4000                VSID counts of the scale steps (nvgw only)
 *   BENCH_ROUTE_BETWEEN_VSIDS=false             nvgw leaves VSID-to-VSID routing to the kernel
 *   BENCH_SHARED_TENANT_PORT=on|off             nvgw's datapath.sharedTenantPort (default auto)
 *
 * `hold` builds the three topologies, prints their namespaces and trafgen command lines,
 * and waits for Ctrl-C: for profiling by hand.
 *
 * Topology, CPU placement and the meaning of every figure: units.ts (top), and
 * docs/performance.md section 4. Everything the run makes lives in one namespace lab
 * (prefix "nvb"), which removes its namespaces, ends its processes by PID and deletes its
 * temp directory on the way out, also on an error or Ctrl-C.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NsGateway } from '../../support/gateway-ns.js';
import type { Lab } from '../../support/netns.js';
import { createLab, linkMac, run } from '../../support/netns.js';
import type { OvsHost } from '../../support/ovs.js';
import { createOvsHost } from '../../support/ovs.js';
import type { Trafgen } from './probes.js';
import {
  backlogDrops,
  encapsulatedFrame,
  kernelThreads,
  linkCounters,
  machineCpu,
  measureLatency,
  median,
  percentile,
  plainFrame,
  processCpuSeconds,
  startTrafgen,
  trafgenDone,
  writeTrafgenConfig,
} from './probes.js';
import { runScale } from './scale.js';
import type { Direction, FrameKind, GatewayId, Unit } from './units.js';
import { buildKernel, buildNvgw, buildOvs, EXT_HOST, GATEWAY_CPU, ROUTE_BETWEEN_VSIDS, SHARED_TENANT_PORT, GATEWAY_NAMES, GEN_PA, GW_MAC, GW_PA, H1_PA, H2_PA, neighbour, VM } from './units.js';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const ROUNDS = Number(env('BENCH_ROUNDS', '3'));
const SECONDS = Number(env('BENCH_SECONDS', '4'));
const WARMUP_MS = 1000;
const PHASES = new Set(env('BENCH_PHASES', 'rows,nat,latency,tcp,scale').split(','));
const GATEWAYS = env('BENCH_GATEWAYS', 'A,B,C').split(',') as GatewayId[];
const SCALE = env('BENCH_SCALE', '10,100,1000,4000').split(',').map(Number);
/** Gap between latency probes: trafgen paces one frame per gap (about 900-1000 pps here). */
const LATENCY_GAP_US = 1000;
const LATENCY_PROBES = Number(env('BENCH_LATENCY_PROBES', '3000'));
const TCP_SECONDS = Number(env('BENCH_TCP_SECONDS', '5'));
const SIZES = [64, 1400] as const;

const log = (message: string): void => void process.stderr.write(`# ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Round {
  rxPps: number;
  offeredPps: number;
  loss: number;
  /**
   * CPU seconds per million received packets: the gateway's own processes (nvgw, with its
   * worker thread and the kernel work done inside its system calls; ovs-vswitchd), and the
   * kernel's receive work that ran in trafgen's send calls or in ksoftirqd, beyond what
   * trafgen costs when its frames are simply dropped (the generator-alone baseline).
   */
  procCpu: number;
  kernelCpu: number;
  /** Softirq time of the whole machine (/proc/stat, both CPUs, anyone's) per million received packets. */
  softirq: number;
  /** trafgen's worker: CPU seconds per second (1.0 = it had CPU 0 to itself and used it all). */
  generatorBusy: number;
  /** Where packets were lost over the whole round (warm-up and drain included), and what was offered then. */
  lost: Record<string, number>;
  offeredTotal: number;
}

interface Snapshot {
  at: number;
  genTx: number;
  sinkRx: number;
  proc: number;
  generator: number;
  softirqd: number;
  softirq: number;
}

/** trafgen's own cost (CPU seconds per packet, its worker plus ksoftirqd) per frame kind and size, measured alone. */
type Baseline = Map<string, number>;
const baselineKey = (kind: FrameKind, length: number) => `${kind} ${length}`;

function ksoftirqd(): number[] {
  return kernelThreads(/^ksoftirqd\/\d+$/);
}

function snapshot(unit: Unit, direction: Direction, generatorPid: number): Snapshot {
  const path = unit.path(direction);
  return {
    at: performance.now(),
    genTx: linkCounters(unit.genPid, path.dev).txPackets,
    sinkRx: linkCounters(path.sink.pid, path.sink.dev).rxPackets,
    proc: unit.gatewayPids().reduce((s, pid) => s + processCpuSeconds(pid), 0),
    generator: processCpuSeconds(generatorPid),
    softirqd: ksoftirqd().reduce((s, pid) => s + processCpuSeconds(pid), 0),
    softirq: machineCpu().softirq,
  };
}

async function startedTrafgen(lab: Lab, ns: string, dev: string, config: string): Promise<{ t: Trafgen; worker: number }> {
  const t = startTrafgen(lab, ns, dev, config);
  await sleep(WARMUP_MS);
  const worker = t.worker();
  if (!t.process.running() || worker === undefined) {
    await t.stop();
    throw new Error(`trafgen on ${dev} in ${ns} did not keep running: ${t.process.stderr().slice(-1000)}`);
  }
  return { t, worker };
}

/** One round of one row: trafgen at full speed, a window after the warm-up, counters and CPU around it. */
async function measureRow(lab: Lab, unit: Unit, direction: Direction, length: number, baseline: Baseline): Promise<Round> {
  const path = unit.path(direction);
  const config = writeTrafgenConfig(join(lab.tmpDir, `${unit.id}-${direction}-${length}.cfg`), path.frame(length));
  const gen0 = linkCounters(unit.genPid, path.dev);
  const sink0 = linkCounters(path.sink.pid, path.sink.dev).rxPackets;
  const drops0 = await unit.drops();
  const stages0 = await path.stages();
  const backlog0 = backlogDrops();
  const { t, worker } = await startedTrafgen(lab, unit.genNs, path.dev, config);
  try {
    const a = snapshot(unit, direction, worker);
    await sleep(SECONDS * 1000);
    const b = snapshot(unit, direction, worker);
    if (!t.process.running()) throw new Error(`trafgen exited during the window: ${t.process.stderr().slice(-1000)}`);
    await t.stop();
    await sleep(300);
    const gen1 = linkCounters(unit.genPid, path.dev);
    const sink1 = linkCounters(path.sink.pid, path.sink.dev).rxPackets;
    const drops1 = await unit.drops();
    const stages1 = await path.stages();
    const seconds = (b.at - a.at) / 1000;
    const received = b.sinkRx - a.sinkRx;
    const offered = b.genTx - a.genTx;
    const mpkt = Math.max(received, 1) / 1e6;
    const offeredTotal = gen1.txPackets - gen0.txPackets + (gen1.txDropped - gen0.txDropped);
    const lost: Record<string, number> = {};
    const refused = gen1.txDropped - gen0.txDropped;
    if (refused > 0) lost['refused by the receiving veth'] = refused;
    const backlog = backlogDrops() - backlog0;
    if (backlog > 0) lost['kernel input backlog (any netns)'] = backlog;
    for (const [reason, n] of Object.entries(drops1)) if (n - (drops0[reason] ?? 0) > 0) lost[`counted drop ${reason}`] = n - (drops0[reason] ?? 0);
    // Between two stages, what the first saw and the second did not (a few ARP frames aside).
    for (let i = 1; i < stages1.length; i++) {
      const prev = stages1[i - 1]![1] - stages0[i - 1]![1];
      const next = stages1[i]![1] - stages0[i]![1];
      if (prev - next > Math.max(10, prev * 0.001)) lost[`${stages1[i - 1]![0]} → ${stages1[i]![0]}`] = prev - next;
    }
    const own = (baseline.get(baselineKey(path.kind, length)) ?? 0) * offered;
    return {
      rxPps: received / seconds,
      offeredPps: offered / seconds,
      loss: Math.max(0, 1 - (sink1 - sink0) / Math.max(offeredTotal, 1)),
      procCpu: (b.proc - a.proc) / mpkt,
      kernelCpu: Math.max(0, b.generator - a.generator + b.softirqd - a.softirqd - own) / mpkt,
      softirq: (b.softirq - a.softirq) / mpkt,
      generatorBusy: (b.generator - a.generator) / seconds,
      lost,
      offeredTotal,
    };
  } finally {
    await t.stop();
  }
}

/**
 * trafgen alone: the same kinds of frames into a veth whose receiving namespace drops them
 * at once (raw PREROUTING). Gives the offered rate the generator can reach and its own CPU
 * cost per packet, which measureRow subtracts.
 */
async function generatorAlone(lab: Lab, unit: Unit, baseline: Baseline) {
  const nullNs = await lab.namespace('null');
  await lab.veth({ ns: unit.genNs, ifname: 'nul' }, { ns: nullNs, ifname: 'nbn', addresses: ['10.255.0.1/24'] });
  for (const proto of ['gre', 'udp']) await lab.exec(nullNs, ['iptables', '-t', 'raw', '-A', 'PREROUTING', '-p', proto, '-j', 'DROP']);
  const mac = await linkMac(nullNs, 'nbn');
  const kinds: { kind: FrameKind; frame: (n: number) => Buffer }[] = [
    { kind: 'plain', frame: (n) => plainFrame({ srcMac: '02:00:00:00:00:01', dstMac: mac, srcIp: EXT_HOST, dstIp: '10.255.0.1' }, n) },
    {
      kind: 'nvgre',
      frame: (n) =>
        encapsulatedFrame({ srcMac: '02:00:00:00:00:01', dstMac: mac, srcPa: GEN_PA, dstPa: '10.255.0.1', vsid: 5001 }, plainFrame({ srcMac: VM.src.mac, dstMac: GW_MAC[5001], srcIp: VM.src.ip, dstIp: VM.dst.ip }, n)),
    },
  ];
  const result: { kind: FrameKind; length: number; pps: number[]; cpu: number }[] = [];
  for (const f of kinds) {
    for (const length of SIZES) {
      const config = writeTrafgenConfig(join(lab.tmpDir, `null-${f.kind}-${length}.cfg`), f.frame(length));
      const pps: number[] = [];
      const cpu: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const { t, worker } = await startedTrafgen(lab, unit.genNs, 'nul', config);
        const sample = () => ({ at: performance.now(), n: linkCounters(unit.genPid, 'nul').txPackets, cpu: processCpuSeconds(worker) + ksoftirqd().reduce((s, pid) => s + processCpuSeconds(pid), 0) });
        const a = sample();
        await sleep(SECONDS * 1000);
        const b = sample();
        await t.stop();
        pps.push((b.n - a.n) / ((b.at - a.at) / 1000));
        cpu.push((b.cpu - a.cpu) / Math.max(1, b.n - a.n));
      }
      baseline.set(baselineKey(f.kind, length), median(cpu));
      result.push({ kind: f.kind, length, pps, cpu: median(cpu) });
      log(`generator alone, ${f.kind} ${length} B: ${pps.map(k).join(' ')} pps, ${(median(cpu) * 1e6).toFixed(2)} µs CPU per packet`);
    }
  }
  return result;
}

/**
 * 200 frames at 1000 pps must reach the sink (this also lets every gateway resolve the
 * sink's PA before anything is timed), or the run stops here with the gateway's counters.
 */
async function preflight(lab: Lab, unit: Unit, directions: Direction[]): Promise<void> {
  for (const direction of directions) {
    const path = unit.path(direction);
    const config = writeTrafgenConfig(join(lab.tmpDir, `${unit.id}-${direction}-preflight.cfg`), path.frame(64));
    let got = 0;
    for (let attempt = 0; attempt < 3 && got < 180; attempt++) {
      const before = linkCounters(path.sink.pid, path.sink.dev).rxPackets;
      await trafgenDone(startTrafgen(lab, unit.genNs, path.dev, config, { count: 200, gap: '1ms' }), 10_000);
      await sleep(300);
      got = linkCounters(path.sink.pid, path.sink.dev).rxPackets - before;
    }
    if (got < 180) {
      const stages = (await path.stages()).map(([name, n]) => `${name} ${n}`).join(', ');
      throw new Error(`gateway ${unit.id} does not forward the ${direction} frames: ${got} of 200 reached the sink; counted drops ${JSON.stringify(await unit.drops())}; stages so far: ${stages}`);
    }
  }
}

interface TcpResult {
  gbps: number;
  retransmits: number;
  rttMs: number;
}

/** iperf3 from clientNs to serverIp (a server started in serverNs for this one test). */
async function iperf(lab: Lab, clientNs: string, serverNs: string, serverIp: string): Promise<TcpResult> {
  const server = lab.spawn(serverNs, ['iperf3', '-s', '-1', '--forceflush', '-B', serverIp]);
  await server.waitForOutput(/listening/i);
  try {
    const { stdout } = await lab.exec(clientNs, ['iperf3', '-c', serverIp, '-t', String(TCP_SECONDS), '-J'], { timeoutMs: (TCP_SECONDS + 30) * 1000 });
    const report = JSON.parse(stdout) as {
      end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number }; streams?: { sender?: { mean_rtt?: number } }[] };
    };
    return {
      gbps: report.end.sum_received.bits_per_second / 1e9,
      retransmits: report.end.sum_sent.retransmits ?? NaN,
      rttMs: (report.end.streams?.[0]?.sender?.mean_rtt ?? NaN) / 1000,
    };
  } finally {
    await server.stop('SIGTERM', 1000);
  }
}

interface TcpSetup {
  clientNs: string;
  vmServerNs: string;
}

/** OVS NVGRE hosts with one VM each in VSIDs 5001 and 5002, on the fabric of gateway A or B. */
async function tcpHosts(lab: Lab, unit: Unit, x: string): Promise<TcpSetup> {
  const fabric = { ns: unit.fabNs, bridge: 'br0' };
  const h1: OvsHost = await createOvsHost(lab, {
    name: `h1${x}`,
    pa: H1_PA,
    paPrefixLength: 24,
    fabric: { ...fabric, port: `nbh1${x}` },
    vms: [{ name: `t1${x}`, ip: VM.tcp1.ip, prefixLength: 24, mac: VM.tcp1.mac, vsid: 5001, gateway: '192.168.1.1' }],
    tunnels: [{ vsid: 5001, remotePa: GW_PA }],
  });
  const h2: OvsHost = await createOvsHost(lab, {
    name: `h2${x}`,
    pa: H2_PA,
    paPrefixLength: 24,
    fabric: { ...fabric, port: `nbh2${x}` },
    vms: [{ name: `t3${x}`, ip: VM.tcp3.ip, prefixLength: 24, mac: VM.tcp3.mac, vsid: 5002, gateway: '192.168.2.1' }],
    tunnels: [{ vsid: 5002, remotePa: GW_PA }],
  });
  await h1.resolvePeers();
  await h2.resolvePeers();
  return { clientNs: h1.vm(`t1${x}`).ns, vmServerNs: h2.vm(`t3${x}`).ns };
}

async function tcpSetup(lab: Lab, unit: Unit & { host?: OvsHost }): Promise<TcpSetup> {
  let setup: TcpSetup;
  if (unit.id === 'C') {
    const vm1 = await lab.namespace('t1c');
    await lab.veth({ ns: vm1, ifname: 'eth0', mtu: 1458, addresses: [`${VM.tcp1.ip}/24`] }, { ns: unit.gwNs, ifname: 'nbvc', addresses: ['192.168.1.1/24'] });
    await lab.addRoute(vm1, 'default', { via: '192.168.1.1' });
    const vm3 = await lab.namespace('t3c');
    await lab.veth({ ns: vm3, ifname: 'eth0', mtu: 1458, addresses: [`${VM.tcp3.ip}/24`] }, { ns: unit.fabNs, ifname: 'nbh2c', master: 'br0' });
    await lab.addRoute(vm3, 'default', { via: '192.168.2.1' });
    setup = { clientNs: vm1, vmServerNs: vm3 };
  } else {
    setup = await tcpHosts(lab, unit, unit.id.toLowerCase());
    if (unit.id === 'B' && unit.host) {
      await unit.host.addTunnel({ vsid: 5001, remotePa: H1_PA });
      await unit.host.addTunnel({ vsid: 5002, remotePa: H2_PA });
      await neighbour(lab, unit.gwNs, VM.tcp1.ip, VM.tcp1.mac, 'v5001');
      await neighbour(lab, unit.gwNs, VM.tcp3.ip, VM.tcp3.mac, 'v5002');
      await unit.host.resolvePeers();
    }
  }
  // The first packet towards a PA the gateway has not resolved yet is dropped; prime both ways.
  await lab.ping(setup.clientNs, VM.tcp3.ip, { count: 3, interval: 0.2 });
  await lab.ping(setup.clientNs, EXT_HOST, { count: 3, interval: 0.2 });
  return setup;
}

// ---------------------------------------------------------------------------------------
// Formatting

const k = (pps: number): string => (!Number.isFinite(pps) ? '-' : pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} M` : `${(pps / 1e3).toFixed(0)} k`);
const f2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '-');
const spread = (values: number[], fmt: (v: number) => string): string => {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return '-';
  return finite.length === 1 ? fmt(finite[0]!) : `${fmt(median(finite))} [${fmt(Math.min(...finite))}–${fmt(Math.max(...finite))}]`;
};

interface TableRow {
  figure: string;
  cells: Partial<Record<GatewayId, string>>;
  ab?: string;
  ac?: string;
  goal?: string;
}

/** Per-round ratios (rounds alternate A, B, C within seconds), summarised as median [min–max]. */
function ratios(a: number[], b: number[]): string {
  const n = Math.min(a.length, b.length);
  return n === 0 ? '' : spread(Array.from({ length: n }, (_, i) => a[i]! / b[i]!), f2);
}

function printTable(rows: TableRow[], ids: GatewayId[]): void {
  const lines = [
    `| figure | ${ids.map((g) => `${g}: ${GATEWAY_NAMES[g]}`).join(' | ')} | A/B | A/C | goal |`,
    `|---|${ids.map(() => '---').join('|')}|---|---|---|`,
    ...rows.map((r) => `| ${r.figure} | ${ids.map((g) => r.cells[g] ?? '-').join(' | ')} | ${r.ab ?? ''} | ${r.ac ?? ''} | ${r.goal ?? ''} |`),
  ];
  console.log(lines.join('\n'));
}

async function toolVersion(argv: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(argv);
    return (stdout || stderr).split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  } catch {
    return 'unknown';
  }
}

const LABEL: Record<Direction, string> = {
  decap: 'decap: fabric → VSID 5001 → 5002 → fabric',
  encap: 'encap: external → VSID 5002 → fabric (routed)',
  'decap-nat': 'decap → external through NAT (SNAT)',
  'encap-nat': 'encap from external through NAT (port forward)',
};

/** What nvgw's connection offload holds and has handed back (/v1/status datapath.offload), for the log: a row that loses at the uplink is read against it. */
async function offloadSummary(gw: NsGateway): Promise<string> {
  try {
    const { body } = await gw.ok<{ datapath?: { offload?: Record<string, unknown> } }>('GET', '/v1/status');
    return JSON.stringify(body.datapath?.offload ?? 'not reported');
  } catch (e) {
    return `status unavailable: ${(e as Error).message.split('\n')[0]}`;
  }
}

/** Runs rounds of rows (A, B, C alternating inside each round) and turns them into table rows and notes. */
async function forwardingRows(lab: Lab, units: (Unit & { gateway?: () => NsGateway })[], directions: Direction[], baseline: Baseline, rows: TableRow[], notes: string[]): Promise<void> {
  const results = new Map<string, Round[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const direction of directions) {
      for (const length of SIZES) {
        for (const u of units) {
          const key = `${u.id} ${direction} ${length}`;
          const res = await measureRow(lab, u, direction, length, baseline);
          results.set(key, [...(results.get(key) ?? []), res]);
          const where = Object.entries(res.lost).map(([w, n]) => `${w} ${n}`).join('; ');
          log(`round ${r + 1}/${ROUNDS} ${key}: rx ${k(res.rxPps)}pps offered ${k(res.offeredPps)}pps loss ${(res.loss * 100).toFixed(1)} % cpu ${f2(res.procCpu)}+${f2(res.kernelCpu)} s/Mpkt (softirq ${f2(res.softirq)}), generator busy ${f2(res.generatorBusy)}${where ? `; lost: ${where}` : ''}`);
          if (u.gateway) log(`round ${r + 1}/${ROUNDS} ${key}: nvgw's connection offload after it: ${await offloadSummary(u.gateway())}`);
          await sleep(300);
        }
      }
    }
  }
  for (const direction of directions) {
    for (const length of SIZES) {
      const of = (id: GatewayId) => results.get(`${id} ${direction} ${length}`) ?? [];
      const pps = (id: GatewayId) => of(id).map((x) => x.rxPps);
      const what = `${LABEL[direction]}, ${length} B`;
      const cells = (fn: (rounds: Round[]) => string): Partial<Record<GatewayId, string>> => Object.fromEntries(units.map((u) => [u.id, fn(of(u.id))]));
      rows.push({
        figure: `${what}: received pps`,
        cells: cells((x) => spread(x.map((y) => y.rxPps), k)),
        ab: ratios(pps('A'), pps('B')),
        ac: ratios(pps('A'), pps('C')),
        goal: length === 1400 ? 'A/B ≥ 2, A/C ≥ 0.5' : 'A/B ≥ 2',
      });
      rows.push({ figure: `${what}: Gbit/s of inner frames`, cells: cells((x) => f2((median(x.map((y) => y.rxPps)) * length * 8) / 1e9)) });
      rows.push({ figure: `${what}: offered pps`, cells: cells((x) => spread(x.map((y) => y.offeredPps), k)) });
      rows.push({ figure: `${what}: loss %`, cells: cells((x) => spread(x.map((y) => y.loss * 100), (v) => v.toFixed(1))), goal: 'A < B' });
      const cpu = (id: GatewayId) => of(id).map((y) => y.procCpu + y.kernelCpu);
      rows.push({
        figure: `${what}: CPU s per Mpkt, gateway process + kernel (ratios: lower is cheaper)`,
        cells: cells((x) => {
          const p = median(x.map((y) => y.procCpu));
          const kk = median(x.map((y) => y.kernelCpu));
          return `${f2(p + kk)} (${f2(p)} + ${f2(kk)})`;
        }),
        ab: ratios(cpu('A'), cpu('B')),
        ac: ratios(cpu('A'), cpu('C')),
      });
      for (const u of units) {
        const sorted = [...of(u.id)].sort((x, y) => x.loss - y.loss);
        const mid = sorted[Math.floor(sorted.length / 2)];
        if (!mid || mid.loss < 0.001) continue;
        const where = Object.entries(mid.lost)
          .sort((x, y) => y[1] - x[1])
          .map(([why, n]) => `${why}: ${((n / mid.offeredTotal) * 100).toFixed(1)} %`)
          .join('; ');
        notes.push(`Where ${what} was lost in ${u.id}'s median round (${(mid.loss * 100).toFixed(1)} % of what trafgen sent): ${where || 'nowhere counted'}.`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('npm run bench needs root (network namespaces, trafgen, Open vSwitch)');
  for (const tool of ['trafgen', 'ovs-vswitchd', 'iperf3', 'tcpdump', 'ethtool', 'taskset']) {
    await run(['sh', '-c', `command -v ${tool}`]).catch(() => {
      throw new Error(`${tool} is missing (scripts/setup installs it)`);
    });
  }
  const started = new Date();
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const lab = await createLab('nvb');
  const rows: TableRow[] = [];
  const notes: string[] = [];
  const baseline: Baseline = new Map();
  try {
    const units: (Unit & { host?: OvsHost; gateway?: () => NsGateway })[] = [];
    if (['rows', 'nat', 'latency', 'tcp', 'hold'].some((p) => PHASES.has(p))) {
      for (const id of GATEWAYS) {
        log(`setting up gateway ${id} (${GATEWAY_NAMES[id]})`);
        const u = id === 'A' ? await buildNvgw(lab) : id === 'B' ? await buildOvs(lab) : await buildKernel(lab);
        await preflight(lab, u, ['decap', 'encap']);
        units.push(u);
      }
    }

    if (PHASES.has('hold')) {
      // hold with nat: the NAT rows' set-up (the gateways NAT the external network).
      const held: Direction[] = PHASES.has('nat') ? ['decap-nat', 'encap-nat'] : ['decap', 'encap'];
      for (const u of units) {
        if (PHASES.has('nat')) await u.enableNat();
        log(`${u.id}: gen ${u.genNs} (pid ${u.genPid}), gateway ${u.gwNs}, sink ${u.sinkNs}, fabric ${u.fabNs}; gateway pids ${u.gatewayPids().join(' ')}`);
        for (const direction of held) {
          for (const length of SIZES) {
            const path = u.path(direction);
            const config = writeTrafgenConfig(join(lab.tmpDir, `${u.id}-${direction}-${length}.cfg`), path.frame(length));
            log(`  ${direction} ${length}: ip netns exec ${u.genNs} trafgen -o ${path.dev} -i ${config} -P 1 -C`);
          }
        }
      }
      log(`lab temp dir ${lab.tmpDir}; Ctrl-C to clean up`);
      await new Promise(() => undefined);
    }

    if (PHASES.has('rows') || PHASES.has('nat')) {
      const gen = await generatorAlone(lab, units[0]!, baseline);
      notes.push(
        `Generator alone (trafgen's worker on CPU 0 -> veth -> a namespace that drops at once), pps median [min–max] and its CPU µs per packet, which the kernel CPU column excludes: ${gen.map((g) => `${g.kind} ${g.length} B ${spread(g.pps, k)}, ${(g.cpu * 1e6).toFixed(2)} µs`).join('; ')}.`,
      );
    }

    if (PHASES.has('rows')) await forwardingRows(lab, units, ['decap', 'encap'], baseline, rows, notes);

    if (PHASES.has('latency')) {
      for (const direction of ['decap', 'encap'] as const) {
        const res = new Map<GatewayId, { p50: number; p99: number; matched: number; sent: number }>();
        for (const u of units) {
          const path = u.path(direction);
          const l = await measureLatency(lab, { ns: u.genNs, dev: path.dev }, { ns: u.sinkNs, dev: 'fab' }, path.frame(64), 64, {
            gapUs: LATENCY_GAP_US,
            count: LATENCY_PROBES,
            configDir: lab.tmpDir,
          });
          res.set(u.id, { p50: percentile(l.micros, 50), p99: percentile(l.micros, 99), matched: l.matched, sent: l.sent });
          log(`latency ${u.id} ${direction}: ${l.matched}/${l.sent} probes, p50 ${f2(percentile(l.micros, 50))} µs p99 ${f2(percentile(l.micros, 99))} µs`);
        }
        const c = res.get('C');
        const a = res.get('A');
        rows.push({
          figure: `${LABEL[direction]}, 64 B one every ${LATENCY_GAP_US} µs: one-way latency p50 / p99 µs (probes that arrived)`,
          cells: Object.fromEntries([...res].map(([id, v]) => [id, `${v.p50.toFixed(0)} / ${v.p99.toFixed(0)} (${v.matched}/${v.sent})`])),
          ...(a && c ? { ac: `A − C: +${(a.p50 - c.p50).toFixed(0)} / +${(a.p99 - c.p99).toFixed(0)} µs` } : {}),
        });
      }
    }

    if (PHASES.has('tcp')) {
      const setups = new Map<GatewayId, TcpSetup>();
      for (const u of units) setups.set(u.id, await tcpSetup(lab, u));
      const results = new Map<string, TcpResult[]>();
      const tests = (u: Unit) =>
        [
          ['VM → external', u.genNs, EXT_HOST],
          ['VM → VM (VSID 5001 → 5002)', setups.get(u.id)!.vmServerNs, VM.tcp3.ip],
        ] as const;
      for (let r = 0; r < ROUNDS; r++) {
        for (const u of units) {
          for (const [what, serverNs, ip] of tests(u)) {
            const res = await iperf(lab, setups.get(u.id)!.clientNs, serverNs, ip).catch((e: unknown): TcpResult => {
              log(`iperf3 ${u.id} ${what} failed: ${(e as Error).message.slice(0, 500)}`);
              return { gbps: NaN, retransmits: NaN, rttMs: NaN };
            });
            results.set(`${u.id} ${what}`, [...(results.get(`${u.id} ${what}`) ?? []), res]);
            log(`round ${r + 1} TCP ${u.id} ${what}: ${f2(res.gbps)} Gbit/s, ${res.retransmits} retransmits, mean RTT ${f2(res.rttMs)} ms`);
          }
        }
      }
      for (const what of ['VM → external', 'VM → VM (VSID 5001 → 5002)']) {
        const of = (id: GatewayId) => results.get(`${id} ${what}`) ?? [];
        rows.push({
          figure: `TCP ${what}, iperf3 ${TCP_SECONDS} s: Gbit/s (retransmits, mean RTT ms)`,
          cells: Object.fromEntries(units.map((u) => [u.id, `${spread(of(u.id).map((x) => x.gbps), f2)} (${median(of(u.id).map((x) => x.retransmits)).toFixed(0)}, ${f2(median(of(u.id).map((x) => x.rttMs)))})`])),
          ab: ratios(of('A').map((x) => x.gbps), of('B').map((x) => x.gbps)),
          ac: ratios(of('A').map((x) => x.gbps), of('C').map((x) => x.gbps)),
        });
      }
      notes.push(
        "TCP: for A and B the VMs sit behind Open vSwitch userspace NVGRE hosts (test/support/ovs.ts, MTU 1458, checksum offload off), which take their share of the two cores; for C the VMs are plain veths with the kernel's offloads (TSO/GRO), the kernel's own routed path.",
      );
    }

    // Last of the gateway phases: nvgw's NAT connection replaces its routed connection (one
    // external connection per domain), so routed external traffic (the encap rows, latency)
    // no longer enters.
    if (PHASES.has('nat')) {
      const nvgw = units.find((u) => u.id === 'A');
      let natPaths: string[] = [];
      if (nvgw?.gateway) {
        const { body } = await nvgw.gateway().ok<{ paths?: Record<string, unknown> }>('GET', '/v1/openapi.json');
        natPaths = Object.keys(body.paths ?? {}).filter((p) => /^\/v1\/nat[a-z-]*$/i.test(p));
      }
      if (natPaths.length === 0) {
        rows.push({ figure: `${LABEL['decap-nat']}; ${LABEL['encap-nat']}`, cells: { A: 'NAT: not available in this build' } });
      } else {
        try {
          for (const u of units) {
            await u.enableNat();
            await preflight(lab, u, ['decap-nat', 'encap-nat']);
          }
          await forwardingRows(lab, units, ['decap-nat', 'encap-nat'], baseline, rows, notes);
          notes.push(`NAT rows: nvgw's NAT connection through ${natPaths.join(', ')} (SNAT to 172.16.0.10, UDP port forward 172.16.0.10:5001 -> 192.168.2.11:5001); B and C: the same two iptables NAT rules.`);
        } catch (e) {
          log(`NAT rows: ${(e as Error).stack ?? String(e)}`);
          rows.push({ figure: `${LABEL['decap-nat']}; ${LABEL['encap-nat']}`, cells: { A: `NAT: the API lists it, but: ${(e as Error).message.split('\n')[0]!.slice(0, 160)}` } });
        }
      }
    }

    if (PHASES.has('scale')) {
      for (const step of await runScale(lab, SCALE, log)) rows.push(...step.rows.map((r) => ({ figure: r.figure, cells: { A: r.value }, goal: r.goal ?? '' })));
    }
  } finally {
    await lab.destroy();
  }

  const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const ids = PHASES.has('rows') || PHASES.has('nat') || PHASES.has('latency') || PHASES.has('tcp') ? GATEWAYS : (['A'] as GatewayId[]);
  console.log(
    `\nnvgw gateway bench, ${started.toISOString()}: ${await toolVersion(['uname', '-sr'])}, ${await toolVersion(['nproc'])} CPUs, node ${process.version}, ${await toolVersion(['ovs-vswitchd', '--version'])}, ${await toolVersion(['sh', '-c', 'trafgen -v 2>&1'])}`,
  );
  console.log(`${ROUNDS} rounds (A, B, C alternate inside each round), ${SECONDS} s window after ${WARMUP_MS / 1000} s warm-up; trafgen's worker on CPU 0, each gateway's processes on CPU ${GATEWAY_CPU}.`);
  console.log(`A routes VSID 5001 -> 5002 ${ROUTE_BETWEEN_VSIDS ? 'in its data path (datapath.routeBetweenVsids, the default)' : 'through the kernel (BENCH_ROUTE_BETWEEN_VSIDS=false)'}.`);
  console.log(`A's datapath.sharedTenantPort: ${SHARED_TENANT_PORT} (auto: a packet port per VSID below 64 VSIDs, one shared port from there).`);
  console.log(`Load average ${load0} before, ${load1} after: other sessions share this VM, so ratios within this run are what count, not absolute rates.\n`);
  printTable(rows, ids);
  console.log('');
  for (const n of notes) console.log(`- ${n}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
