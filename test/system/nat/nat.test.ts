/**
 * NAT and external networks end to end: Open vSwitch NVGRE hosts carry two tenants with the
 * same 192.168.1.0/24 (blue and red) and a routed one (green) to nvgw, configured through the
 * provider API; behind the gateway a router and an external host, and a provider edge.
 *
 *   fabric br0 ── h1 10.1.1.20: b1 blue 192.168.1.101, b2 blue .102, r1 red .101, r2 red .102 (same MACs), g1 green 10.20.0.101
 *              ── gw 10.1.1.40: nvgw
 *   gw ext0 203.0.113.2/24 ── rtr 203.0.113.1 | 198.51.100.1 ── ext 198.51.100.5
 *      NAT: blue and red share 203.0.113.10; forwards .10:8080 -> b1:8000, .10:8081 -> r1:8000;
 *      static 1:1 203.0.113.20 <-> b2, 203.0.113.21 <-> r2
 *   gw rt0 198.18.0.2/30 ── pe 198.18.0.1 (routes 10.20.0.0/24 to the gateway): green, routed
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CapturedFrame } from '../../support/capture.js';
import { startCapture } from '../../support/capture.js';
import type { Lab } from '../../support/netns.js';
import { CommandError, createLab } from '../../support/netns.js';
import type { OvsHost } from '../../support/ovs.js';
import { createOvsHost } from '../../support/ovs.js';
import { repoRoot } from '../../support/paths.js';
import { inventory } from '../kernel/kernel-state.js';
import { BLUE, GREEN, RED } from '../../unit/nat/fixtures.js';
import type { NatGateway } from './support/gateway.js';
import { startNatGateway } from './support/gateway.js';

const GW_PA = '10.1.1.40';
const H1 = '10.1.1.20';
const EXT_HOST = '198.51.100.5';
const SHARED = '203.0.113.10';
const ECHO = join(repoRoot, 'dist', 'test', 'system', 'nat', 'support', 'echo.js');
const MAC = { b1: '00:15:5d:01:14:04', b2: '00:15:5d:01:14:05', g1: '00:15:5d:01:70:01', gwBlue: '00:15:5d:14:3c:01', gwRed: '00:15:5d:14:6c:01', gwGreen: '00:15:5d:14:7c:01' };
/** ping -p patterns: what each tenant puts in its echo requests, so a capture can tell whose a reply is. */
const PATTERN = { blue: 'b10eb10e', red: '4ed04ed0' };

const rec = (ca: string, vsid: number, mac: string, pa: string) => ({ customerAddress: ca, virtualSubnetId: vsid, macAddress: mac, providerAddress: pa });
const onLink = (rd: string, vsid: number, prefix: string) => ({ routingDomainId: rd, virtualSubnetId: vsid, destinationPrefix: prefix, nextHop: '0.0.0.0' });

function desiredState() {
  return {
    routingDomains: [{ routingDomainId: BLUE, name: 'blue' }, { routingDomainId: RED, name: 'red' }, { routingDomainId: GREEN, name: 'green' }],
    virtualSubnets: [
      { virtualSubnetId: 5001, routingDomainId: BLUE },
      { virtualSubnetId: 6001, routingDomainId: RED },
      { virtualSubnetId: 7001, routingDomainId: GREEN },
    ],
    customerRoutes: [onLink(BLUE, 5001, '192.168.1.0/24'), onLink(RED, 6001, '192.168.1.0/24'), onLink(GREEN, 7001, '10.20.0.0/24')],
    lookupRecords: [
      rec('192.168.1.1', 5001, MAC.gwBlue, GW_PA),
      rec('192.168.1.101', 5001, MAC.b1, H1),
      rec('192.168.1.102', 5001, MAC.b2, H1),
      rec('192.168.1.1', 6001, MAC.gwRed, GW_PA),
      rec('192.168.1.101', 6001, MAC.b1, H1),
      rec('192.168.1.102', 6001, MAC.b2, H1),
      rec('10.20.0.1', 7001, MAC.gwGreen, GW_PA),
      rec('10.20.0.101', 7001, MAC.g1, H1),
    ],
    providerAddresses: [{ interface: 'fab0', providerAddress: GW_PA, prefixLength: 24 }],
    externalNetworks: [
      { interface: 'ext0', name: 'internet', address: '203.0.113.2', prefixLength: 24, defaultGateway: '203.0.113.1' },
      { interface: 'rt0', name: 'provider edge', address: '198.18.0.2', prefixLength: 30, defaultGateway: '198.18.0.1' },
    ],
    natConnections: [
      {
        routingDomainId: BLUE,
        interface: 'ext0',
        externalAddresses: SHARED,
        rules: [
          { name: 'web', protocol: 'TCP', externalAddress: SHARED, externalPort: 8080, internalAddress: '192.168.1.101', internalPort: 8000 },
          { name: 'b2', protocol: 'Any', externalAddress: '203.0.113.20', internalAddress: '192.168.1.102' },
        ],
      },
      {
        routingDomainId: RED,
        interface: 'ext0',
        externalAddresses: SHARED,
        rules: [
          { name: 'web', protocol: 'TCP', externalAddress: SHARED, externalPort: 8081, internalAddress: '192.168.1.101', internalPort: 8000 },
          { name: 'r2', protocol: 'Any', externalAddress: '203.0.113.21', internalAddress: '192.168.1.102' },
        ],
      },
    ],
    routedConnections: [{ routingDomainId: GREEN, interface: 'rt0' }],
  };
}

interface StatusBody {
  datapath: { reconcile: { passes: number; zones: Record<string, number>; tables: Record<string, number>; lastPass?: { firewallError?: string; failed: unknown[] } } };
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs ping with options lab.ping does not have; returns its output whether or not replies came. */
async function ping(lab: Lab, ns: string, dst: string, extra: string[]): Promise<string> {
  try {
    return (await lab.exec(ns, ['ping', '-n', '-i', '0.2', '-W', '1', ...extra, dst], { timeoutMs: 20_000 })).stdout;
  } catch (error) {
    if (error instanceof CommandError) return error.stdout;
    throw error;
  }
}

const received = (output: string) => Number(/(\d+) received/.exec(output)?.[1] ?? 0);
const hasBytes = (frame: CapturedFrame, hex: string) => frame.data.includes(Buffer.from(hex, 'hex'));
/** The echo id inside an ICMP error's quoted packet: Ethernet 14 + IP 20 + ICMP 8 + quoted IP 20 + 4. */
const quotedEchoId = (frame: CapturedFrame) => frame.data.readUInt16BE(14 + 20 + 8 + 20 + 4);

describe('NAT and external networks with Open vSwitch NVGRE hosts', { timeout: 240_000 }, () => {
  let lab: Lab;
  let gw: NatGateway;
  let gwNs: string;
  let extNs: string;
  let peNs: string;
  let host: OvsHost;
  const vm = (name: string) => host.vm(name).ns;
  const gwExec = async (...argv: string[]) => (await lab.exec(gwNs, argv)).stdout;
  const send = async (ns: string, to: string, port: number, text: string, localPort?: number) =>
    (await lab.exec(ns, [process.execPath, ECHO, 'send', to, String(port), text, ...(localPort ? [String(localPort)] : [])])).stdout.trim();
  const serve = async (ns: string, port: number, name: string) => {
    const server = lab.spawn(ns, [process.execPath, ECHO, 'serve', String(port), name]);
    await server.waitForOutput(/listening/);
  };
  const status = async () => (await gw.ok<StatusBody>('GET', '/v1/status')).body.datapath.reconcile;
  /** Waits for the reconcile pass that follows a change (and one more, so a pass already running does not count). */
  const settled = async () => {
    const start = (await status()).passes;
    await waitFor('two reconcile passes', async () => (await status()).passes >= start + 2);
  };

  before(async () => {
    lab = await createLab('nvnat');
    const fabric = await lab.namespace('fabric');
    await lab.bridge(fabric, 'br0');
    gwNs = await lab.namespace('gw');
    await lab.veth({ ns: gwNs, ifname: 'fab0' }, { ns: fabric, ifname: 'p-gw', master: 'br0' });
    const rtr = await lab.namespace('rtr');
    extNs = await lab.namespace('ext');
    peNs = await lab.namespace('pe');
    await lab.veth({ ns: gwNs, ifname: 'ext0' }, { ns: rtr, ifname: 'to-gw', addresses: ['203.0.113.1/24'] });
    await lab.veth({ ns: rtr, ifname: 'to-ext', addresses: ['198.51.100.1/24'] }, { ns: extNs, ifname: 'eth0', addresses: [`${EXT_HOST}/24`] });
    await lab.sysctl(rtr, 'net.ipv4.ip_forward', 1);
    // Linux rate-limits ICMP errors per destination (a burst of 6): both tenants' errors go to the one shared address.
    await lab.sysctl(rtr, 'net.ipv4.icmp_ratelimit', 0);
    await lab.addRoute(extNs, 'default', { via: '198.51.100.1' });
    await lab.veth({ ns: gwNs, ifname: 'rt0' }, { ns: peNs, ifname: 'to-gw', addresses: ['198.18.0.1/30'] });
    await lab.addRoute(peNs, '10.20.0.0/24', { via: '198.18.0.2' });

    gw = await startNatGateway(lab, gwNs, { fabricIfname: 'fab0', resyncSeconds: 3 });
    await gw.ok('PUT', '/v1/config', desiredState());
    host = await createOvsHost(lab, {
      name: 'h1', pa: H1, paPrefixLength: 24, fabric: { ns: fabric, bridge: 'br0' },
      vms: [
        { name: 'b1', ip: '192.168.1.101', prefixLength: 24, mac: MAC.b1, vsid: 5001, gateway: '192.168.1.1' },
        { name: 'b2', ip: '192.168.1.102', prefixLength: 24, mac: MAC.b2, vsid: 5001, gateway: '192.168.1.1' },
        { name: 'r1', ip: '192.168.1.101', prefixLength: 24, mac: MAC.b1, vsid: 6001, gateway: '192.168.1.1' },
        { name: 'r2', ip: '192.168.1.102', prefixLength: 24, mac: MAC.b2, vsid: 6001, gateway: '192.168.1.1' },
        { name: 'g1', ip: '10.20.0.101', prefixLength: 24, mac: MAC.g1, vsid: 7001, gateway: '10.20.0.1' },
      ],
      tunnels: [{ vsid: 5001, remotePa: GW_PA }, { vsid: 6001, remotePa: GW_PA }, { vsid: 7001, remotePa: GW_PA }],
    });
    await host.resolvePeers();
    await serve(extNs, 7000, 'ext');
    await serve(peNs, 7000, 'pe');
    for (const name of ['b1', 'r1', 'b2', 'r2']) await serve(vm(name), 8000, name);
    await settled();
  });

  after(async () => {
    await lab?.destroy();
  });

  it('two tenants with the same CA reach the external host through one shared address at once, each reply back to its sender', async () => {
    const captures = { b1: await startCapture(lab, vm('b1'), 'eth0', { filter: 'icmp' }), r1: await startCapture(lab, vm('r1'), 'eth0', { filter: 'icmp' }) };
    const outside = await startCapture(lab, extNs, 'eth0', { filter: 'icmp' });
    // The same ICMP id from the same CA in both domains: the two connections differ only by zone.
    const [blue, red] = await Promise.all([
      ping(lab, vm('b1'), EXT_HOST, ['-c', '5', '-e', '4242', '-p', PATTERN.blue]),
      ping(lab, vm('r1'), EXT_HOST, ['-c', '5', '-e', '4242', '-p', PATTERN.red]),
    ]);
    assert.ok(received(blue) >= 4, blue);
    assert.ok(received(red) >= 4, red);
    const seen = { b1: await captures.b1.stop(), r1: await captures.r1.stop() };
    const requests = (await outside.stop()).filter((f) => f.outer.icmp?.type === 8);
    for (const [name, own, other] of [['b1', PATTERN.blue, PATTERN.red], ['r1', PATTERN.red, PATTERN.blue]] as const) {
      const replies = seen[name].filter((f) => f.outer.icmp?.type === 0);
      assert.ok(replies.length >= 4 && replies.every((f) => hasBytes(f, own) && f.outer.icmp?.id === 4242), `${name} got its own replies`);
      assert.deepEqual(seen[name].filter((f) => hasBytes(f, other)), [], `${name} saw the other tenant's traffic`);
    }
    assert.ok(requests.length >= 8 && requests.every((f) => f.outer.ip?.src === SHARED), 'both left from the shared address');
    assert.equal(new Set(requests.map((f) => f.outer.icmp?.id)).size, 2, 'NAT gave the second tenant\'s flow another id');
  });

  it('TCP from the same CA and source port in both domains gets two distinct translations, each answer to its sender', async () => {
    const [blue, red] = await Promise.all([send(vm('b1'), EXT_HOST, 7000, 'from-blue', 40000), send(vm('r1'), EXT_HOST, 7000, 'from-red', 40000)]);
    const peer = (answer: string) => /^ext (\S+) /.exec(answer)?.[1] ?? '';
    assert.match(blue, / from-blue$/);
    assert.match(red, / from-red$/);
    assert.ok(peer(blue).startsWith(`${SHARED}:`) && peer(red).startsWith(`${SHARED}:`), `${blue} / ${red}`);
    assert.notEqual(peer(blue), peer(red));
  });

  it('a port forward on the shared address leads the external host to the right tenant\'s VM', async () => {
    assert.match(await send(extNs, SHARED, 8080, 'hello'), new RegExp(`^b1 ${EXT_HOST}:\\d+ hello$`));
    assert.match(await send(extNs, SHARED, 8081, 'hello'), new RegExp(`^r1 ${EXT_HOST}:\\d+ hello$`));
  });

  it('static 1:1 NAT works in both directions, for each tenant\'s own address', async () => {
    assert.match(await send(extNs, '203.0.113.20', 8000, 'in'), new RegExp(`^b2 ${EXT_HOST}:\\d+ in$`));
    assert.match(await send(extNs, '203.0.113.21', 8000, 'in'), new RegExp(`^r2 ${EXT_HOST}:\\d+ in$`));
    assert.ok(received(await ping(lab, extNs, '203.0.113.21', ['-c', '2'])) >= 1, 'ICMP reaches the mapped VM too');
    assert.match(await send(vm('b2'), EXT_HOST, 7000, 'out'), /^ext 203\.0\.113\.20:\d+ out$/);
    assert.match(await send(vm('r2'), EXT_HOST, 7000, 'out'), /^ext 203\.0\.113\.21:\d+ out$/);
  });

  it('a routed domain reaches the provider edge and back with its own addresses, no NAT', async () => {
    assert.match(await send(vm('g1'), '198.18.0.1', 7000, 'routed'), /^pe 10\.20\.0\.101:\d+ routed$/);
    assert.ok(received(await ping(lab, peNs, '10.20.0.101', ['-c', '2'])) >= 1, 'the edge reaches the VM');
  });

  it('ICMP errors from beyond the gateway reach the tenant whose packet caused them, and only it', async () => {
    const captures = { b1: await startCapture(lab, vm('b1'), 'eth0', { filter: 'icmp[0] = 11' }), r1: await startCapture(lab, vm('r1'), 'eth0', { filter: 'icmp[0] = 11' }) };
    // TTL 2: the gateway forwards with TTL 1, the router behind it answers Time Exceeded to the shared address.
    const [blue, red] = await Promise.all([
      ping(lab, vm('b1'), EXT_HOST, ['-c', '3', '-t', '2', '-e', '4343', '-p', PATTERN.blue]),
      ping(lab, vm('r1'), EXT_HOST, ['-c', '4', '-t', '2', '-e', '4343', '-p', PATTERN.red]),
    ]);
    assert.match(blue, /From 203\.0\.113\.1 .*Time to live exceeded/);
    assert.match(red, /From 203\.0\.113\.1 .*Time to live exceeded/);
    const errors = { b1: await captures.b1.stop(), r1: await captures.r1.stop() };
    // Three requests from blue, four from red: each gets exactly its own count back, with its own id restored.
    assert.deepEqual([errors.b1.length, errors.r1.length], [3, 4]);
    for (const f of [...errors.b1, ...errors.r1]) {
      assert.equal(f.outer.ip?.src, '203.0.113.1');
      assert.equal(quotedEchoId(f), 4343);
    }
  });

  it('shows each domain\'s connections and zone through the API', async () => {
    const reconcile = await status();
    assert.equal(reconcile.zones[BLUE], reconcile.tables[BLUE]);
    await ping(lab, vm('r1'), EXT_HOST, ['-c', '1', '-e', '777']);
    type Listing = { domains: { routingDomainId: string; zone: number; connections: number }[]; items: { routingDomainId: string; protocol: string; zone: number; zoneDirection: string; original: { source: string; icmpId?: number }; reply: { destination: string } }[] };
    const { body } = await gw.ok<Listing>('GET', `/v1/nat/connections?routingDomainId=${encodeURIComponent(RED)}&limit=1000`);
    assert.equal(body.domains[0]!.zone, reconcile.zones[RED]);
    assert.ok(body.domains[0]!.connections >= 1);
    const echo = body.items.find((i) => i.protocol === 'icmp' && i.original.icmpId === 777);
    assert.ok(echo, JSON.stringify(body.items.slice(0, 5)));
    assert.deepEqual([echo.routingDomainId, echo.zone, echo.zoneDirection, echo.original.source, echo.reply.destination], [RED, reconcile.zones[RED], 'original', '192.168.1.101', SHARED]);
  });

  it('translates a connection once, however many packets it carries', async () => {
    const chain = `NVGW-S-${(await status()).tables[BLUE]!.toString(16)}`;
    const count = async () =>
      (await gwExec('iptables', '-t', 'nat', '-L', chain, '-v', '-x', '-n'))
        .split('\n')
        .slice(2)
        .reduce((sum, row) => sum + Number(/^\s*(\d+)\s/.exec(row)?.[1] ?? 0), 0);
    const before = await count();
    assert.ok(received(await ping(lab, vm('b1'), EXT_HOST, ['-c', '5', '-e', '5151'])) >= 4);
    assert.equal((await count()) - before, 1, 'one SNAT for a five-packet connection');
  });

  it('repairs a flushed NVGW chain at the next resync', async () => {
    await gwExec('iptables', '-t', 'nat', '-F', 'NVGW-POSTROUTING');
    await waitFor('the resync to restore NVGW-POSTROUTING', async () => /-A NVGW-POSTROUTING /.test(await gwExec('iptables-save', '-t', 'nat')), 10_000);
    assert.ok(received(await ping(lab, vm('b1'), EXT_HOST, ['-c', '2', '-e', '6161'])) >= 1);
  });

  it('a failed iptables-restore leaves the previous rules in force and is reported through /v1/status and the log', async () => {
    const natRules = async () => (await gwExec('iptables-save', '-t', 'nat')).split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, ''));
    const rules = await natRules();
    gw.failNextRestore();
    const blue = desiredState().natConnections[0]!;
    await gw.ok('PUT', `/v1/nat-connections/${encodeURIComponent(BLUE)}`, { ...blue, rules: [...blue.rules, { protocol: 'UDP', externalAddress: SHARED, externalPort: 5354, internalAddress: '192.168.1.101', internalPort: 54 }] });
    await waitFor('the refused restore', () => Promise.resolve(gw.restoreFailed()));
    await waitFor('the error in /v1/status', async () => /nvgw test refuses/.test((await status()).lastPass?.firewallError ?? ''));
    assert.deepEqual(await natRules(), rules, 'the previous NAT rules are in force');
    assert.match(gw.process.stdout(), /firewall rules not applied; the previous rules stay in force/);
    assert.match(await send(extNs, SHARED, 8080, 'still'), / still$/);
    await waitFor('the next pass to apply the change', async () => /--dport 5354/.test(await gwExec('iptables-save', '-t', 'nat')), 10_000);
    await waitFor('the error to clear', async () => (await status()).lastPass?.firewallError === undefined);
  });

  it('a tenant cannot answer for another tenant\'s connection in the shared default zone', async () => {
    // Blue forwards UDP 203.0.113.10:5353 to b1:53. Red's r1 has blue's address and sends what
    // would be b1's reply; only the connection's own domain may use it.
    const blue = desiredState().natConnections[0]!;
    await gw.ok('PUT', `/v1/nat-connections/${encodeURIComponent(BLUE)}`, { ...blue, rules: [...blue.rules, { protocol: 'UDP', externalAddress: SHARED, externalPort: 5353, internalAddress: '192.168.1.101', internalPort: 53 }] });
    await waitFor('the UDP forward', async () => /--dport 5353/.test(await gwExec('iptables-save', '-t', 'nat')));
    const udp = (from: number, to: string, port: number, text: string) =>
      `import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',${from}));s.sendto(b'${text}',('${to}',${port}))`;
    const outside = await startCapture(lab, extNs, 'eth0', { filter: 'udp and src port 5353' });
    await lab.exec(extNs, ['python3', '-c', udp(41000, SHARED, 5353, 'probe')]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await lab.exec(vm('r1'), ['python3', '-c', udp(53, EXT_HOST, 41000, 'red-injects')]);
    await lab.exec(vm('b1'), ['python3', '-c', udp(53, EXT_HOST, 41000, 'blue-answers')]);
    await outside.waitForPackets(1, 3000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const frames = await outside.stop();
    const text = (t: string) => Buffer.from(t).toString('hex');
    assert.ok(frames.some((f) => hasBytes(f, text('blue-answers')) && f.outer.ip?.src === SHARED), 'blue answers through its forward');
    assert.deepEqual(frames.filter((f) => hasBytes(f, text('red-injects'))), [], 'red\'s packet was dropped');
  });

  it('deleting a routing domain removes every rule, route, ip rule, neighbour, address and device it had, and nothing else', async () => {
    const table = (await status()).tables[RED]!;
    const mark = `0x${table.toString(16)}`;
    const stable = (lines: string[]) => lines.filter((l) => !(l.startsWith('neigh ') && !/PERMANENT/.test(l)));
    const firewall = async () => (await gwExec('iptables-save')).split('\n').filter((l) => /NVGW-/.test(l)).map((l) => l.replace(/\[\d+:\d+\]/g, ''));
    // Red's VSID 6001 is alone in the interface bucket nvgw-t600+, so its bucket chains go with it.
    const isRed = (line: string) =>
      [RED, 'nvgw-t6001', 'nvgw-d6001', 'nvgw-t600+', '-600 ', `table ${table}`, ` ${table} `, mark, `-${table.toString(16)} `, `zone ${table}`, '203.0.113.21'].some((token) => line.includes(token)) ||
      line.endsWith(`-${table.toString(16)}`) ||
      line.endsWith('-600');
    const before = [...stable(await inventory(gwNs)), ...(await firewall())];
    assert.ok(before.filter(isRed).length > 20, `red has objects to remove:\n${before.filter(isRed).join('\n')}`);
    await gw.ok('DELETE', `/v1/routing-domains/${encodeURIComponent(RED)}?cascade=true`);
    await waitFor('red to leave the kernel', async () => !(await inventory(gwNs)).some((l) => l.includes('nvgw-t6001')));
    await settled();
    const afterDelete = [...stable(await inventory(gwNs)), ...(await firewall())];
    assert.deepEqual(afterDelete.filter(isRed), [], 'nothing of red is left');
    assert.deepEqual(
      before.filter((l) => !isRed(l) && !afterDelete.includes(l)),
      [],
      'nothing but red\'s objects went',
    );
    assert.deepEqual(afterDelete.filter((l) => !before.includes(l)), [], 'nothing new appeared');
    assert.match(await send(extNs, SHARED, 8080, 'blue'), /^b1 /, 'blue still has its port forward on the shared address');
  });
});
