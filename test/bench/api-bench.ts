/**
 * `npm run bench:api`: the provider API's speed and memory at controller scale, measured
 * on the real `nvgw serve` (SQLite, synchronous=FULL). Each figure is printed beside its
 * goal and beside a reference measured in the same run on the same machine, since the
 * machine is shared and noisy: ratios are what compare across runs.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { call, makeStateDir, startGatewayProcess } from '../support/gateway-process.js';
import type { GatewayProcess } from '../support/gateway-process.js';
import { nthRecord, stateWithRecords } from '../support/fixtures.js';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 100_000);
const RATE = 500;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function steadyLoad(gw: GatewayProcess, path: string, method: 'GET' | 'POST', body?: (n: number) => unknown) {
  let n = RECORDS + 1;
  const result = await autocannon({
    url: gw.url,
    connections: 8,
    overallRate: RATE,
    duration: SECONDS,
    headers: { authorization: `Bearer ${gw.token}`, 'content-type': 'application/json' },
    requests: [
      {
        method,
        path,
        ...(body ? { setupRequest: (req: autocannon.Request) => ({ ...req, body: JSON.stringify(body(n++)) }) } : {}),
      },
    ],
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  return { p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average, bad };
}

const row = (what: string, value: string, goal: string, verdict: boolean | undefined, reference = '') =>
  console.log(`| ${what.padEnd(44)} | ${value.padStart(12)} | ${goal.padEnd(10)} | ${verdict === undefined ? '    ' : verdict ? 'met ' : 'MISS'} | ${reference}`);

async function main() {
  const dir = makeStateDir('nvgw-bench-');
  let gw = await startGatewayProcess(dir);
  try {
    const doc = stateWithRecords(RECORDS);
    const body = JSON.stringify(doc);
    const rssEmpty = rssMb(gw.child.pid!);

    // Reference: the same body's JSON.parse + stringify in this process (pure CPU, no I/O).
    let t = process.hrtime.bigint();
    JSON.stringify(JSON.parse(body));
    const parseMs = Number(process.hrtime.bigint() - t) / 1e6;

    t = process.hrtime.bigint();
    const put = await call(gw, 'PUT', '/v1/config', doc);
    const putMs = Number(process.hrtime.bigint() - t) / 1e6;
    if (put.status !== 200) throw new Error(`PUT /v1/config: ${put.status} ${put.text.slice(0, 300)}`);
    const rssLoaded = rssMb(gw.child.pid!);

    const reference = await steadyLoad(gw, '/healthz', 'GET');
    const post = await steadyLoad(gw, '/v1/lookup-records', 'POST', (n) => nthRecord(n));
    const rssAfterLoad = rssMb(gw.child.pid!);

    // A restart loads the same records from disk: the steady-state footprint, without the
    // garbage a 22 MB request body leaves behind until V8 decides to collect it.
    await gw.stop('SIGTERM');
    t = process.hrtime.bigint();
    gw = await startGatewayProcess(dir);
    const restartMs = Number(process.hrtime.bigint() - t) / 1e6;
    const rssRestarted = rssMb(gw.child.pid!);

    console.log(`\nnvgw bench:api — ${RECORDS} lookup records, ${(body.length / 1e6).toFixed(1)} MB body, POSTs at ${RATE} req/s for ${SECONDS} s\n`);
    console.log(`| ${'figure'.padEnd(44)} | ${'value'.padStart(12)} | ${'goal'.padEnd(10)} | ok?  | reference (same run)`);
    console.log(`|${'-'.repeat(46)}|${'-'.repeat(14)}|${'-'.repeat(12)}|------|---------------------`);
    row(`PUT /v1/config of ${RECORDS} records, to durable 2xx`, `${(putMs / 1000).toFixed(2)} s`, '<= 5 s', putMs <= 5000, `JSON parse+stringify of the body alone: ${parseMs.toFixed(0)} ms (x${(putMs / parseMs).toFixed(1)})`);
    row('single-record POST latency p50', `${post.p50.toFixed(2)} ms`, '', undefined, `GET /healthz p50 ${reference.p50.toFixed(2)} ms`);
    row(`single-record POST latency p99 @ ${RATE}/s`, `${post.p99.toFixed(2)} ms`, '<= 5 ms', post.p99 <= 5, `GET /healthz p99 ${reference.p99.toFixed(2)} ms (x${(post.p99 / Math.max(reference.p99, 0.01)).toFixed(1)})`);
    row('POST throughput sustained', `${post.rps.toFixed(0)} req/s`, `${RATE}/s`, post.rps >= RATE * 0.95, `failed requests: ${post.bad}`);
    row(`gateway RSS with ${RECORDS} records (restarted)`, `${rssRestarted.toFixed(0)} MB`, '<= 200 MB', rssRestarted <= 200, `RSS empty: ${rssEmpty.toFixed(0)} MB`);
    row('gateway RSS right after the PUT / after load', `${rssLoaded.toFixed(0)}/${rssAfterLoad.toFixed(0)} MB`, '', undefined, 'includes not yet collected request garbage');
    row(`restart to listening with ${RECORDS} records`, `${(restartMs / 1000).toFixed(2)} s`, '', undefined, 'process start + SQLite load + validation');
    if (post.bad > 0) process.exitCode = 1;
  } finally {
    await gw.stop('SIGTERM');
    dir.remove();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
