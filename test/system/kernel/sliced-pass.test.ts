// A kernel pass in slices on the real kernel: the neighbours and sysctls a slice reads are
// its own links' and no one else's, and a pass in slices (the rest, then one slice per
// domain) leaves the kernel where a whole pass would: nothing left for a whole plan to do,
// also after a domain is removed. Root only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PassScope } from '../../../src/kernel/pass-scope.js';
import { domainA, domainB, gatewayIntent } from './lab-intent.js';
import type { Lab } from './ns.js';
import { adapter, createLab, ip } from './ns.js';

const BY_DOMAIN: PassScope[] = [{ kind: 'rest' }, { kind: 'domains', domains: [domainA().routingDomainId] }, { kind: 'domains', domains: [domainB().routingDomainId] }];

describe('netlink adapter on the real kernel: a pass in slices', () => {
  let lab: Lab;
  let gw: string;

  before(async () => {
    lab = await createLab();
    gw = await lab.namespace('slice');
    await ip(gw, 'link', 'add', 'prov0', 'type', 'veth', 'peer', 'name', 'prov1');
    for (const link of ['prov0', 'prov1']) await ip(gw, 'link', 'set', link, 'up');
  });
  after(async () => {
    await lab.cleanup();
  });

  it('brings an empty namespace to the whole intent: a whole plan afterwards has nothing to do', async () => {
    const result = await adapter.sliced(gw, gatewayIntent(), BY_DOMAIN);
    assert.deepEqual(result.failed, []);
    assert.equal(result.phases.slices, 3);
    assert.ok(result.phases.steps > 0);
    const plan = await adapter.plan(gw, gatewayIntent());
    assert.deepEqual(plan.steps.map((s) => s.id), []);
  });

  it('reads a slice\'s neighbours and sysctls from its own links only', async () => {
    const whole = await adapter.observe(gw);
    const { base, links } = await adapter.linkState(gw, ['nvgw-t5001', 'nvgw-d5001']);
    assert.deepEqual(base.neighbours, [], 'the first read leaves neighbours to the slices');
    assert.ok(!Object.keys(base.sysctls).some((k) => k.includes('/nvgw')), 'and the links\' sysctls');
    const expected = whole.neighbours.filter((n) => n.ifname === 'nvgw-t5001' || n.ifname === 'nvgw-d5001');
    assert.ok(expected.some((n) => n.permanent), 'domain A\'s VM is a permanent neighbour of nvgw-t5001');
    assert.deepEqual(links.neighbours, expected);
    assert.deepEqual(Object.keys(links.sysctls).sort(), Object.keys(whole.sysctls).filter((k) => /\/nvgw-[td]5001\//.test(k)).sort());
  });

  it('removes a domain that is gone from the intent through the rest, and nothing of the other', async () => {
    const result = await adapter.sliced(gw, gatewayIntent([domainA()]), BY_DOMAIN.slice(0, 2));
    assert.deepEqual(result.failed, []);
    const observed = await adapter.observe(gw);
    assert.deepEqual(observed.links.filter((l) => /600\d|1002/.test(l.name)), [], 'domain B\'s links are gone');
    assert.deepEqual(observed.routes.filter((r) => r.table === 1002), [], 'and its table');
    const plan = await adapter.plan(gw, gatewayIntent([domainA()]));
    assert.deepEqual(plan.steps.map((s) => s.id), []);
  });
});
