/**
 * NAT with connection offload on the VRF backend, in the test VM (`npm run test:vrf`),
 * against an NVGRE host made of the Linux kernel's gretap (gretap-host.ts). The guest's
 * kernel (Debian's 6.1) has VRF but not tcx (Linux >= 6.6), so the uplink's flow claim has
 * no kernel half: nvgw offloads the outbound direction of each connection (tenant ->
 * uplink, translated right after decapsulation) and leaves the inbound one to the kernel's
 * conntrack and NAT, and /v1/status says so. On a kernel with tcx the same file expects
 * both directions offloaded, as the namespace tier (test/system/nat/offload.test.ts) does.
 *
 *   fabric br0 ── h1 10.1.1.20 (gretap, any FlowID): b1 blue 5001 192.168.1.101
 *              ── gw 10.1.1.40: nvgw, VRF backend; gateway CA 192.168.1.1
 *   gw ext0 203.0.113.2/24 ── ext 203.0.113.1 (the external host, also the network's default gateway)
 *      NAT: blue -> 203.0.113.10; UDP 203.0.113.10:5353 -> b1:53; TCP 203.0.113.10:8080 -> b1:8000
 *
 * What the kernel itself forwarded is counted by rules without a target that the test puts
 * first in the built-in chains (they match and move on; nvgw's resync leaves them alone).
 *
 * The gateway's API listens on its namespace's loopback and is called with curl run in that
 * namespace, not through gateway.ts's management veth: that one gives the VM's root
 * namespace the same 172.31.255.1/30 in every file that uses it, and the suite runs two
 * files at once, so the later file's requests would reach the earlier file's gateway.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Lab } from '../../support/netns.js';
import { createLab } from '../../support/netns.js';
import { repoRoot } from '../../support/paths.js';
import type { GretapHost } from './gretap-host.js';
import { createGretapHost, ipBatch } from './gretap-host.js';
import type { OffloadStatus } from '../nat/support/offload-scenario.js';
import { B1, BLUE, EXT, GW_PA, H1, NAT_ADDRESS, offloadScenarioState, UDP_ECHO } from '../nat/support/offload-scenario.js';

/** tcx (bpf_link on tc ingress) came with Linux 6.6; before it, inbound offload is the kernel's. */
function hasTcx(kernelRelease: string): boolean {
  const [major = 0, minor = 0] = kernelRelease.split('.').map((n) => parseInt(n, 10));
  return major > 6 || (major === 6 && minor >= 6);
}
const INBOUND = hasTcx(release());


/** Rules without a target, first in built-in chains of the gateway: they count what the kernel itself forwarded. */
const COUNTERS = [
  { tag: 'kernel-in-7000', table: 'raw', chain: 'PREROUTING', match: '-i ext0 -p udp --sport 7000' },
  { tag: 'kernel-out-7000', table: 'filter', chain: 'FORWARD', match: '-o ext0 -p udp --dport 7000' },
  { tag: 'kernel-in-5353', table: 'raw', chain: 'PREROUTING', match: '-i ext0 -p udp --dport 5353' },
  { tag: 'kernel-out-5353', table: 'filter', chain: 'FORWARD', match: '-o ext0 -p udp --sport 53' },
] as const;
type CounterTag = (typeof COUNTERS)[number]['tag'];

interface StatusBody {
  backend: string;
  datapath: { portErrors: { ifname: string; message: string }[]; offload?: OffloadStatus; reconcile: { tables: Record<string, number> } };
}
interface StatsBody {
  events: Record<string, { packets: number }>;
}
interface Stream {
  sent: number;
  received: number;
  from: string;
}

interface Api {
  /** Fails the test on a non-2xx answer. */
  ok<T>(method: string, path: string, body?: unknown): Promise<T>;
}

/** `nvgw serve` in `ns` (the VM suite's settings: no periodic resync, no routing between VSIDs in the data path). */
async function startGateway(lab: Lab, ns: string, fabricIfname: string): Promise<Api> {
  const tokenFile = join(lab.tmpDir, 'api-token');
  const configFile = join(lab.tmpDir, 'nvgw.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      api: { host: '127.0.0.1', port: 8470, tokenFile },
      state: { path: join(lab.tmpDir, 'state.db') },
      log: { level: 'info' },
      datapath: { fabricInterface: fabricIfname, resyncSeconds: 3600, routeBetweenVsids: false },
    }),
  );
  const child = lab.spawn(ns, [process.execPath, join(repoRoot, 'bin', 'nvgw.js'), 'serve', '--config', configFile]);
  // Under TCG the gateway takes tens of seconds to load.
  await child.waitForOutput(/provider API listening/, 180_000);
  const token = readFileSync(tokenFile, 'utf8').trim();
  return {
    async ok<T>(method: string, path: string, body?: unknown): Promise<T> {
      const argv = ['curl', '-sS', '-X', method, '-H', `authorization: Bearer ${token}`, '-w', '\n%{http_code}', `http://127.0.0.1:8470${path}`];
      if (body !== undefined) argv.push('-H', 'content-type: application/json', '--data-binary', '@-');
      const { stdout } = await lab.exec(ns, argv, body === undefined ? {} : { input: JSON.stringify(body) });
      const cut = stdout.lastIndexOf('\n');
      const status = Number(stdout.slice(cut + 1));
      if (status < 200 || status > 299) throw new Error(`${method} ${path}: ${status} ${stdout.slice(0, cut)}`);
      return JSON.parse(stdout.slice(0, cut)) as T;
    },
  };
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe(`NAT with connection offload on the VRF backend, kernel ${release()} (${INBOUND ? 'tcx: both directions' : 'no tcx: outbound offload only'})`, { timeout: 540_000 }, () => {
  let lab: Lab;
  let gwNs: string;
  let extNs: string;
  let gw: Api;
  let h1: GretapHost;
  const b1 = (): string => h1.vms.b1!;

  const gwExec = async (...argv: string[]): Promise<string> => (await lab.exec(gwNs, argv)).stdout;
  const status = () => gw.ok<StatusBody>('GET', '/v1/status');
  const offload = async (): Promise<OffloadStatus | undefined> => (await status()).datapath.offload;
  const event = async (name: string): Promise<number> => (await gw.ok<StatsBody>('GET', '/v1/stats')).events[name]?.packets ?? 0;
  const events = async (): Promise<{ out: number; in: number }> => ({ out: await event('offloaded-outbound'), in: await event('offloaded-inbound') });
  /** Packets one of the COUNTERS rules counted. */
  const counted = async (tag: CounterTag): Promise<number> => {
    const { table, chain } = COUNTERS.find((c) => c.tag === tag)!;
    const listing = await gwExec('iptables', '-t', table, '-L', chain, '-v', '-x', '-n');
    return Number(new RegExp(`^\\s*(\\d+)\\s.*/\\* ${tag} \\*/`, 'm').exec(listing)?.[1] ?? Number.NaN);
  };
  /** Connections nvgw's SNAT made for blue: each passes the domain's NVGW-S chain once. */
  const snatCount = async (): Promise<number> => {
    const chain = `NVGW-S-${(await status()).datapath.reconcile.tables[BLUE]!.toString(16)}`;
    const listing = await gwExec('iptables', '-t', 'nat', '-L', chain, '-v', '-x', '-n');
    return listing.split('\n').slice(2).reduce((sum, row) => sum + Number(/^\s*(\d+)\s/.exec(row)?.[1] ?? 0), 0);
  };
  const stream = async (ns: string, to: string, port: number, count: number, gapMs: number, localPort: number): Promise<Stream> =>
    JSON.parse((await lab.exec(ns, [process.execPath, UDP_ECHO, 'stream', to, String(port), String(count), String(gapMs), String(localPort)], { timeoutMs: 120_000 })).stdout) as Stream;
  /**
   * iperf3 -n `size` from `client` to `to`:`port`, its server in `serverNs` on `serverPort`;
   * the server's log names the peer it accepted, i.e. the address NAT left it.
   */
  const iperf = async (serverNs: string, serverPort: number, client: string, to: string, port: number, size: string) => {
    const server = lab.spawn(serverNs, ['iperf3', '-s', '-1', '-p', String(serverPort), '--forceflush']);
    await server.waitForOutput(/listening/i, 60_000);
    const { stdout } = await lab.exec(client, ['iperf3', '-c', to, '-p', String(port), '-n', size, '--connect-timeout', '5000', '-J'], { timeoutMs: 120_000 });
    await server.stop();
    const { end } = JSON.parse(stdout) as { end: { sum_sent: { bytes: number }; sum_received: { bytes: number; bits_per_second: number } } };
    return { sent: end.sum_sent.bytes, received: end.sum_received.bytes, mbps: end.sum_received.bits_per_second / 1e6, peer: /Accepted connection from ([\d.]+)/.exec(server.stdout())?.[1] };
  };

  before(async () => {
    const started = Date.now();
    lab = await createLab('nvvnat');
    const fabric = await lab.namespace('fabric', { ipv6: true });
    gwNs = await lab.namespace('gw', { ipv6: true });
    extNs = await lab.namespace('ext', { ipv6: true });
    await ipBatch(lab, undefined, [
      `link add fab0 netns ${gwNs} type veth peer name p-gw netns ${fabric}`,
      `link add ext0 netns ${gwNs} type veth peer name eth0 netns ${extNs}`,
    ]);
    await ipBatch(lab, fabric, ['link add br0 type bridge', 'link set br0 up', 'link set p-gw master br0 up']);
    await ipBatch(lab, gwNs, ['link set fab0 up', 'link set ext0 up']);
    await ipBatch(lab, extNs, [`addr add ${EXT}/24 dev eth0`, 'link set eth0 up']);
    h1 = await createGretapHost(lab, {
      name: 'h1', pa: H1, paPrefixLength: 24, gatewayPa: GW_PA, fabric: { ns: fabric, bridge: 'br0' }, flowIds: 'any',
      vms: [{ name: 'b1', vsid: 5001, address: `${B1.ip}/24`, mac: B1.mac, gateway: '192.168.1.1' }],
    });
    const built = Date.now();
    gw = await startGateway(lab, gwNs, 'fab0');
    const up = Date.now();
    await gw.ok('PUT', '/v1/config', offloadScenarioState());
    const servers = [
      lab.spawn(extNs, [process.execPath, UDP_ECHO, 'serve', '7000']),
      lab.spawn(b1(), [process.execPath, UDP_ECHO, 'serve', '53']),
    ];
    await Promise.all(servers.map((s) => s.waitForOutput(/listening/, 120_000)));
    // The NAT connection in the kernel and the uplink in the data path (with or without its tcx half).
    await waitFor('the uplink attached for connection offload', async () => {
      const body = await status();
      return body.datapath.offload !== undefined && (INBOUND ? body.datapath.offload.inboundUplinks === 1 : body.datapath.portErrors.some((e) => e.ifname === 'ext0'));
    }, 120_000);
    // The gateway resolves h1's PA on the first packet it encapsulates to it, dropping that one.
    for (let tries = 0; (await lab.ping(b1(), '192.168.1.1', { count: 1, waitSeconds: 2 })).received === 0; tries++) assert.ok(tries < 10, 'b1 never reached its gateway CA');
    // Counters of what the kernel forwarded itself, by the test's comments, in one process start.
    const counters = { raw: COUNTERS.filter((c) => c.table === 'raw'), filter: COUNTERS.filter((c) => c.table === 'filter') };
    await lab.exec(gwNs, ['iptables-restore', '--noflush', '-w'], {
      input: Object.entries(counters).map(([table, rules]) => [`*${table}`, ...rules.map((c) => `-I ${c.chain} ${c.match} -m comment --comment ${c.tag}`), 'COMMIT'].join('\n')).join('\n') + '\n',
    });
    const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
    console.log(`# set-up: namespaces and links ${s(built - started)}, nvgw serve start ${s(up - built)}, configuration, servers and first packets ${s(Date.now() - up)}`);
  });

  after(async () => {
    await lab?.destroy();
  });

  it(`runs the VRF backend and ${INBOUND ? 'claims inbound frames on the uplink' : 'reports the uplink\'s inbound offload as unavailable (no tcx)'}`, async () => {
    const body = await status();
    assert.equal(body.backend, 'vrf');
    const [link] = JSON.parse((await lab.exec(gwNs, ['ip', '-j', '-d', 'link', 'show', 'nvgw-t5001'])).stdout) as { master?: string }[];
    assert.match(link?.master ?? '', /^nvgwv/, 'VSID 5001\'s tenant interface is a VRF slave');
    const uplinkErrors = body.datapath.portErrors.filter((e) => e.ifname === 'ext0');
    console.log(`# /v1/status datapath.portErrors: ${JSON.stringify(body.datapath.portErrors)}; offload ${JSON.stringify(body.datapath.offload)}`);
    if (INBOUND) {
      assert.deepEqual(uplinkErrors, []);
      assert.equal(body.datapath.offload?.inboundUplinks, 1);
    } else {
      assert.equal(uplinkErrors.length, 1, JSON.stringify(body.datapath.portErrors));
      assert.match(uplinkErrors[0]!.message, /^inbound connection offload unavailable \(outbound only\): .*Linux >= 6\.6/);
      assert.equal(body.datapath.offload?.inboundUplinks, 0);
    }
  });

  it('SNATs a UDP stream from the VM to the external host: the data path carries it out, answers come back', async () => {
    const [e0, snat0, kin0, kout0] = [await events(), await snatCount(), await counted('kernel-in-7000'), await counted('kernel-out-7000')];
    const result = await stream(b1(), EXT, 7000, 100, 30, 41000);
    const e1 = await events();
    const [out, inb] = [e1.out - e0.out, e1.in - e0.in];
    const kernelIn = (await counted('kernel-in-7000')) - kin0;
    const kernelOut = (await counted('kernel-out-7000')) - kout0;
    const conntrack = (await gwExec('cat', '/proc/net/nf_conntrack')).split('\n').filter((l) => / sport=41000 dport=7000 /.test(l));
    console.log(`# UDP b1 -> ${EXT}:7000: ${JSON.stringify(result)}; offloaded-outbound ${out}, offloaded-inbound ${inb}; the kernel forwarded ${kernelOut} out and took ${kernelIn} in\n#   ${conntrack.join('\n#   ')}`);
    assert.ok(result.received >= result.sent - 3, JSON.stringify(result));
    assert.equal(result.from, `${EXT}:7000`);
    assert.equal(conntrack.length, 1, 'one connection in the kernel');
    assert.match(conntrack[0]!, new RegExp(`src=${B1.ip} dst=${EXT} sport=41000 dport=7000 .*src=${EXT} dst=${NAT_ADDRESS} sport=7000 `), 'translated to the NAT address');
    assert.equal((await snatCount()) - snat0, 1, 'one NAT binding for the whole stream');
    // The first packets go through the kernel (it opens the connection and resolves the next
    // hop; how many depends on how fast the guest runs), the rest through the data path.
    assert.ok(out >= result.sent * 0.8, `offloaded out: ${out} of ${result.sent}`);
    assert.ok(out + kernelOut >= result.received, `${out} offloaded and ${kernelOut} forwarded by the kernel, ${result.received} answered`);
    if (INBOUND) {
      assert.ok(inb >= result.received * 0.8, `offloaded in: ${inb} of ${result.received}`);
    } else {
      assert.equal(inb, 0, 'nothing offloaded inbound without tcx');
      assert.ok(kernelIn >= result.received, `the kernel took ${kernelIn} answers in, ${result.received} arrived`);
    }
  });

  it('SNATs TCP: an iperf3 transfer from the NAT address, whose segments the data path carries out', async () => {
    const [e0, returned0] = [await events(), (await offload())!.returned];
    const result = await iperf(extNs, 5201, b1(), EXT, 5201, '1M');
    const e1 = await events();
    const [out, inb] = [e1.out - e0.out, e1.in - e0.in];
    console.log(`# iperf3 b1 -> ${EXT} through NAT, seen from ${result.peer}: ${result.sent} bytes sent, ${result.received} counted by the receiver, ${result.mbps.toFixed(1)} Mbit/s; offloaded-outbound ${out}, offloaded-inbound ${inb}`);
    assert.equal(result.peer, NAT_ADDRESS, 'the external host saw the NAT address');
    assert.ok(result.sent >= 1 << 20 && result.received >= 1 << 18, JSON.stringify(result));
    // 1 MiB is some 720 full segments: most of them left through the data path.
    assert.ok(out >= 300, `offloaded out: ${out}`);
    if (INBOUND) assert.ok(inb > 0, 'acknowledgements came in through the data path');
    else assert.equal(inb, 0, 'nothing offloaded inbound without tcx');
    // The close (FIN) went through the kernel: its connections leave ESTABLISHED and are handed back.
    await waitFor('the closed iperf3 connections handed back to the kernel', async () => (await offload())!.returned > returned0, 15_000);
  });

  it('forwards a UDP port to the VM: the kernel carries it in, the data path carries the VM\'s answers out', async () => {
    const [e0, kin0, kout0] = [await events(), await counted('kernel-in-5353'), await counted('kernel-out-5353')];
    const result = await stream(extNs, NAT_ADDRESS, 5353, 60, 30, 42000);
    const e1 = await events();
    const [out, inb] = [e1.out - e0.out, e1.in - e0.in];
    const kernelIn = (await counted('kernel-in-5353')) - kin0;
    const kernelOut = (await counted('kernel-out-5353')) - kout0;
    console.log(`# UDP ${EXT} -> ${NAT_ADDRESS}:5353 (b1:53): ${JSON.stringify(result)}; offloaded-outbound ${out}, offloaded-inbound ${inb}; the kernel took ${kernelIn} in and forwarded ${kernelOut} answers out`);
    assert.ok(result.received >= result.sent - 3, JSON.stringify(result));
    assert.equal(result.from, `${NAT_ADDRESS}:5353`, 'answers come from the forwarded address');
    assert.ok(out >= result.received * 0.8, `answers offloaded out: ${out} of ${result.received}`);
    assert.ok(out + kernelOut >= result.received, `${out} answers offloaded and ${kernelOut} forwarded by the kernel, ${result.received} arrived`);
    if (INBOUND) {
      assert.ok(inb >= result.sent * 0.8, `offloaded in: ${inb} of ${result.sent}`);
    } else {
      assert.equal(inb, 0, 'nothing offloaded inbound without tcx');
      assert.ok(kernelIn >= result.received, `the kernel took ${kernelIn} in, ${result.received} were answered`);
    }
  });

  it('forwards a TCP port to the VM: an iperf3 transfer in, the VM\'s acknowledgements out through the data path', async () => {
    const e0 = await events();
    const result = await iperf(b1(), 8000, extNs, NAT_ADDRESS, 8080, '1M');
    const e1 = await events();
    const [out, inb] = [e1.out - e0.out, e1.in - e0.in];
    console.log(`# iperf3 ${EXT} -> ${NAT_ADDRESS}:8080 (b1:8000), seen from ${result.peer}: ${result.sent} bytes sent, ${result.received} counted by the receiver; offloaded-outbound ${out}, offloaded-inbound ${inb}`);
    assert.equal(result.peer, EXT, 'b1 saw the external host\'s own address');
    assert.ok(result.sent >= 1 << 20 && result.received >= 1 << 18, JSON.stringify(result));
    assert.ok(out > 0, 'no acknowledgement of b1 left through the data path');
    if (INBOUND) assert.ok(inb > 0, 'the segments came in through the data path');
    else assert.equal(inb, 0, 'nothing offloaded inbound without tcx');
  });
});
