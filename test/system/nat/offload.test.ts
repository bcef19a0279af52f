/**
 * Connection offload against the real kernel: an Open vSwitch NVGRE host carries blue's VM
 * to nvgw, which NATs it onto an external network. The kernel opens each connection
 * (nvgw's firewall: zones, marks, SNAT, port forwards); from then on nvgw's data path
 * carries the connection's packets both ways and keeps the kernel's entry alive.
 *
 *   fabric br0 ── h1 10.1.1.20: b1 blue 192.168.1.101 (VSID 5001)
 *              ── gw 10.1.1.40: nvgw
 *   gw ext0 203.0.113.2/24 ── ext 203.0.113.1 (also the network's default gateway)
 *      NAT: blue -> 203.0.113.10; UDP 203.0.113.10:5353 -> b1:53; TCP 203.0.113.10:8080 -> b1:8000
 *
 * The external host's veth keeps its transmit checksum offload, as a local sender's does:
 * its TCP segments reach the gateway with partial checksums, which the uplink port
 * completes before the data path translates them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NsGateway } from '../../support/gateway-ns.js';
import { startGatewayInNs } from '../../support/gateway-ns.js';
import type { Lab } from '../../support/netns.js';
import { createLab } from '../../support/netns.js';
import type { OvsHost } from '../../support/ovs.js';
import { createOvsHost } from '../../support/ovs.js';
import type { OffloadStatus } from './support/offload-scenario.js';
import { B1, BLUE, EXT, GW_PA, H1, NAT_ADDRESS, offloadScenarioState, TCP_ECHO, UDP_ECHO } from './support/offload-scenario.js';

/** The kernel's UDP timeout in the gateway's namespace: short, so a connection outlives it only if nvgw refreshes it. */
const UDP_TIMEOUT = 6;


interface Stream {
  sent: number;
  received: number;
  from: string;
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('connection offload: the data path carries what the kernel opened', { timeout: 300_000 }, () => {
  let lab: Lab;
  let gw: NsGateway;
  let gwNs: string;
  let extNs: string;
  let host: OvsHost;
  const b1 = () => host.vm('b1').ns;
  const gwExec = async (...argv: string[]) => (await lab.exec(gwNs, argv)).stdout;
  const event = async (name: string) => (await gw.stats()).events[name]?.packets ?? 0;
  const offload = async () => (await gw.ok<{ datapath: { offload?: OffloadStatus } }>('GET', '/v1/status')).body.datapath.offload;
  /** Packets counted by an iptables rule that matches and moves on (no target), by its comment. */
  const ruleCount = async (table: string, chain: string, tag: string) => {
    const listing = await gwExec('iptables', '-t', table, '-L', chain, '-v', '-x', '-n');
    return Number(new RegExp(`^\\s*(\\d+)\\s.*/\\* ${tag} \\*/`, 'm').exec(listing)?.[1] ?? Number.NaN);
  };
  /** How many connections nvgw's SNAT has made for blue (each passes the domain's NVGW-S chain once). */
  const snatCount = async () => {
    const table = (await gw.ok<{ datapath: { reconcile: { tables: Record<string, number> } } }>('GET', '/v1/status')).body.datapath.reconcile.tables[BLUE]!;
    const listing = await gwExec('iptables', '-t', 'nat', '-L', `NVGW-S-${table.toString(16)}`, '-v', '-x', '-n');
    return listing.split('\n').slice(2).reduce((sum, row) => sum + Number(/^\s*(\d+)\s/.exec(row)?.[1] ?? 0), 0);
  };
  const stream = async (ns: string, to: string, port: number, count: number, gapMs: number, localPort?: number): Promise<Stream> =>
    JSON.parse((await lab.exec(ns, [process.execPath, UDP_ECHO, 'stream', to, String(port), String(count), String(gapMs), ...(localPort ? [String(localPort)] : [])], { timeoutMs: 120_000 })).stdout) as Stream;

  before(async () => {
    lab = await createLab('nvofl');
    const fabric = await lab.namespace('fabric');
    await lab.bridge(fabric, 'br0');
    gwNs = await lab.namespace('gw');
    extNs = await lab.namespace('ext');
    await lab.veth({ ns: gwNs, ifname: 'fab0' }, { ns: fabric, ifname: 'p-gw', master: 'br0' });
    await lab.veth({ ns: gwNs, ifname: 'ext0' }, { ns: extNs, ifname: 'eth0', addresses: [`${EXT}/24`] });
    await lab.sysctl(gwNs, 'net.netfilter.nf_conntrack_udp_timeout', UDP_TIMEOUT);
    await lab.sysctl(gwNs, 'net.netfilter.nf_conntrack_udp_timeout_stream', UDP_TIMEOUT * 2);
    gw = await startGatewayInNs(lab, gwNs, { fabricIfname: 'fab0', resyncSeconds: 5 });
    await gw.ok('PUT', '/v1/config', offloadScenarioState());
    host = await createOvsHost(lab, {
      name: 'h1',
      pa: H1,
      paPrefixLength: 24,
      fabric: { ns: fabric, bridge: 'br0' },
      vms: [{ name: 'b1', ip: B1.ip, prefixLength: 24, mac: B1.mac, vsid: 5001, gateway: '192.168.1.1' }],
      tunnels: [{ vsid: 5001, remotePa: GW_PA }],
    });
    await host.resolvePeers();
    for (const [ns, port] of [[extNs, 7000], [b1(), 53]] as const) {
      const server = lab.spawn(ns, [process.execPath, UDP_ECHO, 'serve', String(port)]);
      await server.waitForOutput(/listening/);
    }
    for (const [ns, port, name] of [[extNs, 7001, 'ext'], [b1(), 8000, 'b1']] as const) {
      const server = lab.spawn(ns, [process.execPath, TCP_ECHO, 'serve', String(port), name]);
      await server.waitForOutput(/listening/);
    }
    await waitFor('the NAT connection and the uplink in the data path', async () => (await offload())?.inboundUplinks === 1, 30_000);
  });

  after(async () => {
    await lab?.destroy();
  });

  it('carries a tenant\'s UDP connection after its first packet, both ways, and keeps the kernel\'s entry alive past its timeout', async () => {
    const [out0, in0, snat0] = [await event('offloaded-outbound'), await event('offloaded-inbound'), await snatCount()];
    // 3 x the kernel's UDP timeout of traffic on one connection.
    const result = await stream(b1(), EXT, 7000, 360, 50, 41000);
    assert.ok(result.received >= result.sent - 3, JSON.stringify(result));
    const [out, inb] = [(await event('offloaded-outbound')) - out0, (await event('offloaded-inbound')) - in0];
    assert.ok(out >= result.sent - 5, `offloaded out: ${out} of ${result.sent}`);
    assert.ok(inb >= result.received - 5, `offloaded in: ${inb} of ${result.received}`);
    assert.equal((await snatCount()) - snat0, 1, 'one NAT binding for the whole stream: the kernel\'s entry never expired');
    assert.ok((await offload())!.refreshes >= 3, 'the timeout was refreshed while the data path carried the packets');
  });

  it('takes a port forward\'s packets from the uplink before the kernel sees them', async () => {
    await gwExec('iptables', '-t', 'raw', '-I', 'PREROUTING', '-i', 'ext0', '-p', 'udp', '--dport', '5353', '-m', 'comment', '--comment', 'offload-test-in');
    try {
      const result = await stream(extNs, NAT_ADDRESS, 5353, 200, 10, 42000);
      assert.ok(result.received >= result.sent - 3, JSON.stringify(result));
      assert.equal(result.from, `${NAT_ADDRESS}:5353`, 'answers come from the forwarded address');
      const seenByKernel = await ruleCount('raw', 'PREROUTING', 'offload-test-in');
      assert.ok(seenByKernel <= 5, `the kernel saw ${seenByKernel} of ${result.sent} (only the first ones, before the connection was offloaded)`);
    } finally {
      await gwExec('iptables', '-t', 'raw', '-D', 'PREROUTING', '-i', 'ext0', '-p', 'udp', '--dport', '5353', '-m', 'comment', '--comment', 'offload-test-in');
    }
  });

  it('carries a TCP transfer both ways, and the kernel still sees the handshake and the close', async () => {
    const [out0, in0] = [await event('offloaded-outbound'), await event('offloaded-inbound')];
    const iperf = lab.spawn(extNs, ['iperf3', '-s', '-1', '-p', '5201', '--forceflush']);
    await iperf.waitForOutput(/Server listening/);
    const client = await lab.exec(b1(), ['iperf3', '-c', EXT, '-p', '5201', '-t', '3', '-J'], { timeoutMs: 30_000 });
    const report = JSON.parse(client.stdout) as { end: { sum_received: { bytes: number } } };
    assert.ok(report.end.sum_received.bytes > 1_000_000, `received ${report.end.sum_received.bytes} bytes`);
    assert.ok((await event('offloaded-outbound')) - out0 > 500, 'data segments went out through the data path');
    assert.ok((await event('offloaded-inbound')) - in0 > 200, 'acknowledgements came in through the data path');
    // FIN went through the kernel: its entries leave ESTABLISHED and the data path lets go.
    const conntrack = await gwExec('cat', '/proc/net/nf_conntrack');
    const entries = conntrack.split('\n').filter((l) => l.includes(`dst=${EXT}`) && l.includes('dport=5201'));
    assert.ok(entries.length >= 1, conntrack);
    for (const e of entries) assert.doesNotMatch(e, / ESTABLISHED /, `closed in the kernel: ${e}`);
    await waitFor('the data path to hand the closed connections back', async () => (await offload())!.offloaded === 0, 5000);
  });

  it('answers a port-forwarded TCP request whose segments arrive with partial checksums', async () => {
    const answer = (await lab.exec(extNs, [process.execPath, TCP_ECHO, 'send', NAT_ADDRESS, '8080', 'x'.repeat(3000)])).stdout.trim();
    assert.match(answer, new RegExp(`^b1 ${EXT}:\\d+ x{3000}$`));
  });

  it('after a crash, the kernel\'s entries outlive nvgw and the restarted data path takes the same connections back', async () => {
    const streaming = lab.spawn(b1(), [process.execPath, UDP_ECHO, 'stream', EXT, '7000', '400', '25', '41500']);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const snat0 = await snatCount();
    await gw.stop('SIGKILL');
    gw = await startGatewayInNs(lab, gwNs, { fabricIfname: 'fab0', resyncSeconds: 5 });
    await waitFor('the restarted data path to offload the stream again', async () => (await event('offloaded-outbound')) > 20, 15_000);
    await streaming.waitForOutput(/"sent"/, 30_000);
    const result = JSON.parse(streaming.stdout().trim().split('\n').at(-1)!) as Stream;
    assert.ok(result.received >= result.sent * 0.7, `most of the stream arrived across the restart: ${JSON.stringify(result)}`);
    assert.equal((await snatCount()) - snat0, 0, 'the same NAT binding carried on: no new connection in the kernel');
  });
});
