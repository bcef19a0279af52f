// The netlink adapter's VRF backend on a kernel that has VRF (the test VM: `npm run
// test:vrf`; this machine's own kernel has no vrf module, so *.vm.ts files are left out of
// the host's system tier by name). The same two routing domains as test/system/kernel/
// (domains A and B reuse 192.168.1.0/24 and 192.168.2.0/24), with the VRF backend: one VRF
// device per domain, tenant links enslaved, no ip rules of nvgw's. Read back with `ip -j`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KernelIntent } from '../../../src/kernel/intent.js';
import { inventory, routeLine, routes, ruleLine, rules } from '../kernel/kernel-state.js';
import { domainA, gatewayIntent } from '../kernel/lab-intent.js';
import type { Lab } from '../kernel/ns.js';
import { createLab, ip, ipJson, run } from '../kernel/ns.js';
import type { AdapterAgent } from './adapter-client.js';
import { startAdapterAgent } from './adapter-client.js';

const vrfIntent = (intent: KernelIntent): KernelIntent => ({ ...intent, backend: 'vrf' });
const bothDomains = (): KernelIntent => vrfIntent(gatewayIntent());
const onlyDomainA = (): KernelIntent => vrfIntent(gatewayIntent([domainA()]));
const nothing: KernelIntent = { backend: 'vrf', domains: [], provider: { addresses: [], routes: [] } };

interface IpLinkDetail {
  ifname: string;
  master?: string;
  flags: string[];
  linkinfo?: { info_kind?: string; info_data?: { table?: number } };
}

/** Someone else's objects, including a VRF: nvgw must never touch them. */
const FOREIGN = [
  'link ops-vrf vrf master -',
  'link ops0 veth master ops-vrf',
  'addr 10.9.9.9/32 dev ops0',
  'route unicast 10.50.0.0/16 table 1001 via 10.1.1.1 dev prov0 proto static',
  'neigh 10.1.1.1 dev prov0 52:54:00:00:00:01 PERMANENT',
];

/** The inventory without what the kernel learns by itself (ARP cache entries). */
const stable = async (ns: string): Promise<string[]> => (await inventory(ns)).filter((line) => !line.startsWith('neigh ') || line.endsWith('PERMANENT'));
const ofDomainA = (lines: string[]): string[] => lines.filter((line) => /nvgw-[td]500\d|nvgw-vrf-1001|table 1001/.test(line));
const ofDomainB = (lines: string[]): string[] => lines.filter((line) => /nvgw-[td]600\d|nvgw-vrf-1002|table 1002/.test(line));

/** `ip -n <ns> -batch -`: one process for many commands (a process start costs much under TCG). */
const ipBatch = (ns: string, commands: string[]): Promise<string> => run('ip', ['-n', ns, '-batch', '-'], `${commands.join('\n')}\n`);

describe('netlink adapter, VRF backend, on a kernel with VRF', { timeout: 540_000 }, () => {
  let lab: Lab;
  let gw: string;
  let agent: AdapterAgent;

  before(async () => {
    lab = await createLab();
    gw = await lab.namespace('vrf');
    await ipBatch(gw, [
      'link add prov0 type veth peer name prov1',
      'link set prov0 up',
      'link set prov1 up',
      'addr add 10.1.1.40/24 dev prov0',
      // The operator's own VRF and objects, some in nvgw's table 1001.
      'link add ops-vrf type vrf table 1500',
      'link add ops0 type veth peer name ops1',
      'link set ops0 master ops-vrf',
      'link set ops-vrf up',
      'link set ops0 up',
      'link set ops1 up',
      'addr add 10.9.9.9/32 dev ops0',
      'route add 10.50.0.0/16 via 10.1.1.1 dev prov0 table 1001 proto static',
      'neigh add 10.1.1.1 lladdr 52:54:00:00:00:01 dev prov0 nud permanent',
    ]);

    agent = startAdapterAgent(gw);
    const { report } = await agent.reconcile(bothDomains());
    assert.deepEqual(report.failed, [], 'the first reconcile applies every step');
  });
  after(async () => {
    await agent?.stop();
    await lab?.cleanup();
  });

  it('detects VRF support and leaves no probe behind', async () => {
    assert.deepEqual(await agent.detect(), { backend: 'vrf' });
    const names = (await ipJson<{ ifname: string }[]>(gw, 'link', 'show')).map((l) => l.ifname);
    assert.ok(!names.includes('nvgw-probe'), names.join(' '));
  });

  it('creates one VRF device per routing domain, up, bound to the domain\'s table', async () => {
    console.log(`# ip -d link show type vrf (adapter namespace)\n${(await ip(gw, '-d', 'link', 'show', 'type', 'vrf')).replace(/^/gm, '#   ')}`);
    const vrfs = await ipJson<IpLinkDetail[]>(gw, '-d', 'link', 'show', 'type', 'vrf');
    assert.deepEqual(
      vrfs.map((l) => [l.ifname, l.linkinfo?.info_data?.table, l.flags.includes('UP')]).sort(),
      [
        ['nvgw-vrf-1001', 1001, true],
        ['nvgw-vrf-1002', 1002, true],
        ['ops-vrf', 1500, true],
      ],
    );
  });

  it('enslaves each tenant interface to its domain\'s VRF and leaves the data-path ends and the provider link alone', async () => {
    const links = await ipJson<IpLinkDetail[]>(gw, '-d', 'link', 'show');
    const master = new Map(links.map((l) => [l.ifname, l.master ?? '-']));
    assert.deepEqual(
      ['nvgw-t5001', 'nvgw-t5002', 'nvgw-t6001', 'nvgw-t6002', 'nvgw-t6003', 'nvgw-d5001', 'nvgw-d6001', 'prov0', 'ops0'].map((name) => `${name} ${master.get(name)}`),
      [
        'nvgw-t5001 nvgw-vrf-1001',
        'nvgw-t5002 nvgw-vrf-1001',
        'nvgw-t6001 nvgw-vrf-1002',
        'nvgw-t6002 nvgw-vrf-1002',
        'nvgw-t6003 nvgw-vrf-1002',
        'nvgw-d5001 -',
        'nvgw-d6001 -',
        'prov0 -',
        'ops0 ops-vrf',
      ],
    );
  });

  it('keeps each domain\'s routes in its VRF table, the same 192.168.1.0/24 in both, each ending unreachable', async () => {
    const a = (await routes(gw, '1001')).map(routeLine);
    const b = (await routes(gw, '1002')).map(routeLine);
    assert.ok(a.includes('unicast 192.168.1.0/24 table 1001 dev nvgw-t5001 proto 78 src 192.168.1.1'), a.join('\n'));
    assert.ok(b.includes('unicast 192.168.1.0/24 table 1002 dev nvgw-t6001 proto 78 src 192.168.1.1'), b.join('\n'));
    assert.ok(a.includes('unicast 10.20.0.0/16 table 1001 via 192.168.1.254 dev nvgw-t5001 proto 78'), a.join('\n'));
    assert.ok(a.includes('unreachable default table 1001 proto 78 metric 4278198272'), a.join('\n'));
    assert.ok(b.includes('unreachable default table 1002 proto 78 metric 4278198272'), b.join('\n'));
    // The kernel itself puts a VRF slave's local routes into the VRF's table, never into table local.
    assert.ok(b.includes('local 192.168.1.2 table 1002 dev nvgw-t6001 proto kernel src 192.168.1.1'), b.join('\n'));
    const local = (await routes(gw, 'local')).filter((r) => r.dst.startsWith('192.168.'));
    assert.deepEqual(local, []);
    assert.ok(!(await routes(gw, 'main')).some((r) => r.dst.startsWith('192.168.')), 'no tenant prefix in main');
  });

  it('adds no ip rule of its own: the kernel\'s l3mdev rule selects the VRF tables', async () => {
    assert.deepEqual((await rules(gw)).map(ruleLine).filter((r) => r.endsWith('proto 78')), []);
    // iproute2 prints the l3mdev selector as `"l3mdev": null`.
    const l3mdev = (await ipJson<{ priority: number }[]>(gw, '-4', 'rule', 'show')).filter((r) => Object.hasOwn(r, 'l3mdev'));
    assert.deepEqual(l3mdev.map((r) => r.priority), [1000], 'the rule the kernel adds with the first VRF');
  });

  it('plans nothing on a second run', async () => {
    const plan = await agent.plan(bothDomains());
    assert.deepEqual(plan.steps.map((s) => s.id), []);
    assert.deepEqual(plan.conflicts, []);
  });

  it('removing domain B deletes its VRF and everything in it, and leaves domain A and the operator\'s objects as they were', async () => {
    const withBoth = await stable(gw);
    const { plan, report } = await agent.reconcile(onlyDomainA());
    assert.deepEqual(report.failed, []);
    assert.ok(plan.steps.every((s) => s.op === 'delete'), 'removal only deletes');
    assert.ok(plan.steps.some((s) => s.id === 'link nvgw-vrf-1002'));
    const now = await stable(gw);
    assert.deepEqual(ofDomainB(now), [], 'nothing of domain B is left');
    assert.deepEqual(ofDomainA(now), ofDomainA(withBoth), 'domain A is untouched');
    for (const line of FOREIGN) assert.ok(now.includes(line), `${line} survived`);
  });

  it('removing every domain leaves no VRF, link, route, rule or address of nvgw\'s, and everything it did not create', async () => {
    const { report } = await agent.reconcile(nothing);
    assert.deepEqual(report.failed, []);
    const left = await stable(gw);
    assert.deepEqual(left.filter((line) => /nvgw|proto 78/.test(line)), []);
    for (const line of FOREIGN) assert.ok(left.includes(line), `${line} survived`);
    assert.deepEqual((await ipJson<IpLinkDetail[]>(gw, 'link', 'show', 'type', 'vrf')).map((l) => l.ifname), ['ops-vrf']);
    assert.ok(left.includes('addr 10.1.1.40/24 dev prov0'), 'the operator\'s address on the provider link survived');
    assert.ok(!left.includes('addr 10.1.1.41/24 dev prov0'), 'the PA nvgw added is gone');
  });

  it('a restart\'s reconcile against its own leftovers creates nothing twice', async () => {
    await agent.reconcile(bothDomains());
    const plan = await agent.plan(bothDomains());
    assert.deepEqual(plan.steps.map((s) => s.id), []);
  });
});
