// Uplinks in the kernel plan, against the fake kernel: what NAT and routed connections add,
// and that removing them (or their domain) leaves exactly what was there before.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeKernel } from '../../../src/kernel/fake-kernel.js';
import type { Backend, KernelIntent } from '../../../src/kernel/intent.js';
import { reconcileKernel } from '../../../src/kernel/kernel-port.js';
import type { KernelObserved } from '../../../src/kernel/kernel-port.js';
import { planKernel } from '../../../src/kernel/plan.js';
import { EXTERNAL_METRIC } from '../../../src/nat/intent.js';
import { bareKernel, twoDomains } from '../kernel/fixtures.js';

/** Domain 1001 behind NAT on ext0, domain 1002 routed through rt0. */
function withUplinks(backend: Backend = 'policy-routing'): KernelIntent {
  const intent = twoDomains(backend);
  const [a, b] = intent.domains;
  a!.uplinkRoutes = [
    { prefix: '203.0.113.0/24', type: 'unicast', ifname: 'ext0', metric: EXTERNAL_METRIC },
    { prefix: '0.0.0.0/0', type: 'unicast', nextHop: '203.0.113.1', ifname: 'ext0', metric: EXTERNAL_METRIC },
  ];
  a!.markRule = true;
  b!.uplinkRoutes = [{ prefix: '198.18.0.0/30', type: 'unicast', ifname: 'rt0', metric: EXTERNAL_METRIC }];
  intent.uplinks = [
    { ifname: 'ext0', addresses: [{ address: '203.0.113.2', prefixLength: 24 }, { address: '203.0.113.10', prefixLength: 32 }] },
    { ifname: 'rt0', table: 1002, addresses: [{ address: '198.18.0.2', prefixLength: 30 }] },
  ];
  return intent;
}

function setup(backend: Backend = 'policy-routing') {
  const sut = new FakeKernel({ backend });
  sut.addLink({ name: 'eth0', mac: '525400000001' });
  sut.addLink({ name: 'ext0', mac: '525400000002' });
  sut.addLink({ name: 'rt0', mac: '525400000003' });
  return { sut };
}

function inventory(o: KernelObserved): string[] {
  return [
    ...o.links.map((l) => `link ${l.name}`),
    ...o.addresses.map((a) => `addr ${a.address}/${a.prefixLength} ${a.ifname} proto ${a.protocol}`),
    ...o.routes.map((r) => `route ${r.type} ${r.prefix} table ${r.table} ${r.ifname ?? '-'} proto ${r.protocol}`),
    ...o.rules.map((r) => `rule ${r.priority} ${r.iif ?? ''}${r.fwmark ?? ''} ${r.table}`),
  ].sort();
}

describe('uplinks in the kernel plan', () => {
  it('adds the uplink addresses as nvgw\'s, the routed one without a prefix route in main', async () => {
    const { sut } = setup();
    const { report } = await reconcileKernel(sut, withUplinks());
    assert.ok(report.ok, JSON.stringify(report.failed));
    const o = await sut.observe();
    const addr = (ifname: string) => o.addresses.filter((a) => a.ifname === ifname).map((a) => [`${a.address}/${a.prefixLength}`, a.protocol, a.noPrefixRoute]);
    assert.deepEqual(addr('ext0'), [['203.0.113.2/24', 78, false], ['203.0.113.10/32', 78, false]]);
    assert.deepEqual(addr('rt0'), [['198.18.0.2/30', 78, true]]);
  });

  it('routes through the uplinks in the domain tables and puts the routed uplink in its table by iif', async () => {
    const { sut } = setup();
    await reconcileKernel(sut, withUplinks());
    const o = await sut.observe();
    assert.ok(o.routes.some((r) => r.table === 1001 && r.prefix === '0.0.0.0/0' && r.nextHop === '203.0.113.1' && r.ifname === 'ext0' && r.metric === EXTERNAL_METRIC));
    assert.ok(o.routes.some((r) => r.table === 1002 && r.prefix === '198.18.0.0/30' && r.ifname === 'rt0'));
    assert.ok(o.rules.some((r) => r.priority === 1000 && r.iif === 'rt0' && r.table === 1002));
  });

  it('in the vrf backend, a NAT domain gets the fwmark rule its return traffic needs', () => {
    const plan = planKernel(withUplinks('vrf'), bareKernel());
    assert.ok(plan.steps.some((s) => s.kind === 'rule' && s.op === 'create' && s.rule.fwmark === 1001 && s.rule.table === 1001));
    assert.ok(!plan.steps.some((s) => s.kind === 'rule' && s.rule.fwmark === 1002), 'the routed domain needs none');
  });

  it('removing the connections removes exactly what they added, the uplinks stay', async () => {
    const { sut } = setup();
    const before = inventory(await sut.observe());
    await reconcileKernel(sut, twoDomains());
    const domainsOnly = inventory(await sut.observe());
    await reconcileKernel(sut, withUplinks());
    await reconcileKernel(sut, twoDomains());
    assert.deepEqual(inventory(await sut.observe()), domainsOnly);
    await reconcileKernel(sut, { backend: 'policy-routing', domains: [], provider: { addresses: [], routes: [] } });
    assert.deepEqual(inventory(await sut.observe()), before);
  });

  it('plans nothing on the second run', async () => {
    const { sut } = setup();
    await reconcileKernel(sut, withUplinks());
    assert.deepEqual((await reconcileKernel(sut, withUplinks())).plan.steps.map((s) => s.id), []);
  });

  it('refuses an nvgw link as uplink and reports a missing uplink as a conflict', () => {
    const intent = withUplinks();
    intent.uplinks!.push({ ifname: 'nvgw-t5001', addresses: [] });
    const plan = planKernel(intent, bareKernel());
    assert.ok(plan.conflicts.some((c) => c.id === 'uplink nvgw-t5001'));
    assert.ok(plan.conflicts.some((c) => /interface ext0 does not exist/.test(c.reason)), JSON.stringify(plan.conflicts));
  });
});
