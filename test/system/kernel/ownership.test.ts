// What nvgw owns, proven on the real kernel: removing a routing domain removes exactly the
// links, addresses, routes, rules and neighbours it added, and objects planted by someone
// else — a link, a route and a rule in nvgw's own table, an address, a neighbour — survive
// every reconcile, including the one that removes everything of nvgw's. Root only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { domainA, gatewayIntent } from './lab-intent.js';
import { inventory, minus } from './kernel-state.js';
import type { Lab } from './ns.js';
import { adapter, createLab, ip } from './ns.js';

const FOREIGN = [
  'link ops0 veth master -',
  'addr 10.9.9.9/32 dev ops0',
  'route unicast 10.50.0.0/16 table 1001 via 10.1.1.1 dev prov0 proto static',
  'rule 1500: fwmark 0x7 lookup 1001 proto -',
  'neigh 10.1.1.1 dev prov0 52:54:00:00:00:01 PERMANENT',
];

describe('netlink adapter on the real kernel: ownership', () => {
  let lab: Lab;
  let gw: string;
  let onlyA: string[];

  before(async () => {
    lab = await createLab();
    gw = await lab.namespace('own');
    await ip(gw, 'link', 'add', 'prov0', 'type', 'veth', 'peer', 'name', 'prov1');
    await ip(gw, 'link', 'add', 'ops0', 'type', 'veth', 'peer', 'name', 'ops1');
    for (const link of ['prov0', 'prov1', 'ops0', 'ops1']) await ip(gw, 'link', 'set', link, 'up');
    await ip(gw, 'addr', 'add', '10.1.1.40/24', 'dev', 'prov0');
    // Someone else's objects, some of them in nvgw's own table and priority range.
    await ip(gw, 'addr', 'add', '10.9.9.9/32', 'dev', 'ops0');
    await ip(gw, 'route', 'add', '10.50.0.0/16', 'via', '10.1.1.1', 'dev', 'prov0', 'table', '1001', 'proto', 'static');
    await ip(gw, 'rule', 'add', 'pref', '1500', 'fwmark', '7', 'lookup', '1001');
    await ip(gw, 'neigh', 'add', '10.1.1.1', 'lladdr', '52:54:00:00:00:01', 'dev', 'prov0', 'nud', 'permanent');

    const first = await adapter.reconcile(gw, gatewayIntent([domainA()]));
    assert.ok(first.report.ok, JSON.stringify(first.report.failed));
    onlyA = await inventory(gw);
  });
  after(async () => {
    await lab.cleanup();
  });

  it('holds the foreign objects next to domain A\'s', () => {
    for (const line of FOREIGN) assert.ok(onlyA.includes(line), `${line} in\n${onlyA.join('\n')}`);
  });

  it('adding domain B adds only objects of domain B', async () => {
    const { report } = await adapter.reconcile(gw, gatewayIntent());
    assert.ok(report.ok, JSON.stringify(report.failed));
    const added = minus(await inventory(gw), onlyA);
    assert.deepEqual(minus(onlyA, await inventory(gw)), [], 'nothing of A or of anyone else changed');
    assert.ok(added.length > 0);
    for (const line of added) assert.match(line, /nvgw-[td]600\d|table 1002|lookup 1002|0x3ea/, `${line} belongs to domain B`);
  });

  it('removing domain B leaves the kernel exactly as it was with domain A alone', async () => {
    const { plan, report } = await adapter.reconcile(gw, gatewayIntent([domainA()]));
    assert.ok(report.ok, JSON.stringify(report.failed));
    assert.ok(plan.steps.every((s) => s.op === 'delete'), 'removal only deletes');
    assert.deepEqual(await inventory(gw), onlyA);
  });

  it('removing everything of nvgw\'s leaves only what nvgw did not create', async () => {
    const { report } = await adapter.reconcile(gw, { backend: 'policy-routing', domains: [], provider: { addresses: [], routes: [] } });
    assert.ok(report.ok, JSON.stringify(report.failed));
    const left = await inventory(gw);
    assert.deepEqual(left.filter((line) => /nvgw|proto 78/.test(line)), []);
    for (const line of FOREIGN) assert.ok(left.includes(line), `${line} survived`);
    assert.ok(left.includes('addr 10.1.1.40/24 dev prov0'), 'the operator\'s address on the provider link survived');
    assert.ok(!left.includes('addr 10.1.1.41/24 dev prov0'), 'the PA nvgw added is gone');
    const observed = await adapter.observe(gw);
    assert.deepEqual(observed.addresses.filter((a) => a.protocol === 78), []);
  });

  it('a crash-restart reconcile against its own leftovers creates nothing twice', async () => {
    await adapter.reconcile(gw, gatewayIntent());
    const before = await inventory(gw);
    // A fresh process (each adapter call is one) sees the kernel as the last one left it.
    const { plan } = await adapter.reconcile(gw, gatewayIntent());
    assert.deepEqual(plan.steps, []);
    assert.deepEqual(await inventory(gw), before);
  });
});
