// A kernel pass in slices (pass-scope.ts): the slices of a pass plan together exactly what
// one whole plan would, whatever the kernel holds (fresh, stale domains, drift, uplinks), and
// a sliced pass on the fake kernel reads and asks for no more than each slice's own part.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeKernel } from '../../../src/kernel/fake-kernel.js';
import type { Backend, KernelIntent } from '../../../src/kernel/intent.js';
import { reconcileKernel, reconcileSliced } from '../../../src/kernel/kernel-port.js';
import type { KernelObserved } from '../../../src/kernel/kernel-port.js';
import { NeighbourSnapshot } from '../../../src/kernel/neighbour-snapshot.js';
import { sliceDomains } from '../../../src/kernel/pass-scope.js';
import type { PassScope } from '../../../src/kernel/pass-scope.js';
import { planKernel } from '../../../src/kernel/plan.js';
import { withoutNeighbours } from '../../support/sliced-intent.js';
import { domain, subnet, twoDomains } from './fixtures.js';

/** Two domains, a third with two subnets, NAT on ext0 for the first, the third routed through rt0, a PA. */
function gateway(backend: Backend): KernelIntent {
  const intent = twoDomains(backend);
  intent.domains.push(domain(1003, [subnet(7001), subnet(7002, { addresses: [{ address: '192.168.2.1', prefixLength: 24 }], neighbours: [{ address: '192.168.2.10', mac: '00155d0a0b01' }] })]));
  const [a, , c] = intent.domains;
  a!.uplinkRoutes = [{ prefix: '0.0.0.0/0', type: 'unicast', nextHop: '203.0.113.1', ifname: 'ext0', metric: 100 }];
  a!.markRule = true;
  a!.routes = [{ prefix: '10.20.0.0/16', type: 'unicast', nextHop: '192.168.1.254', metric: 0 }];
  c!.uplinkRoutes = [{ prefix: '198.18.0.0/30', type: 'unicast', ifname: 'rt0', metric: 100 }];
  intent.uplinks = [
    { ifname: 'ext0', addresses: [{ address: '203.0.113.2', prefixLength: 24 }] },
    { ifname: 'rt0', table: 1003, addresses: [{ address: '198.18.0.2', prefixLength: 30 }] },
  ];
  intent.provider = { addresses: [{ ifname: 'eth0', address: '10.1.1.41', prefixLength: 24 }], routes: [{ ifname: 'eth0', prefix: '10.2.0.0/16', type: 'unicast', nextHop: '10.1.1.1', metric: 0 }] };
  return intent;
}

function kernel(backend: Backend): FakeKernel {
  const sut = new FakeKernel({ backend });
  for (const name of ['eth0', 'ext0', 'rt0']) sut.addLink({ name });
  return sut;
}

const idsOf = (domains: KernelIntent['domains']) => domains.map((d) => d.routingDomainId);
const everySlicing = (intent: KernelIntent): PassScope[][] => [
  [{ kind: 'rest' }, ...idsOf(intent.domains).map((id): PassScope => ({ kind: 'domains', domains: [id] }))],
  [{ kind: 'rest' }, { kind: 'domains', domains: idsOf(intent.domains) }],
];

function assertSlicesPlanTheWhole(intent: KernelIntent, observed: KernelObserved): void {
  const whole = planKernel(intent, observed);
  for (const slices of everySlicing(intent)) {
    const plans = slices.map((scope) => planKernel(intent, observed, scope));
    assert.deepEqual(plans.flatMap((p) => p.steps.map((s) => s.id)).sort(), whole.steps.map((s) => s.id).sort(), `steps of ${slices.length} slices`);
    assert.deepEqual(plans.flatMap((p) => p.conflicts.map((c) => c.id)).sort(), whole.conflicts.map((c) => c.id).sort(), `conflicts of ${slices.length} slices`);
  }
}

for (const backend of ['policy-routing', 'vrf'] as const) {
  describe(`the slices of a pass plan what the whole plans (${backend})`, () => {
    it('on an empty kernel', async () => {
      const intent = gateway(backend);
      const observed = await kernel(backend).observe();
      assert.ok(planKernel(intent, observed).steps.length > 40);
      assertSlicesPlanTheWhole(intent, observed);
    });

    it('with a domain removed, another changed, a route deleted by hand and a foreign object in the way', async () => {
      const sut = kernel(backend);
      await reconcileKernel(sut, gateway(backend));
      sut.state.routes = sut.state.routes.filter((r) => !(r.table === 1001 && r.prefix === '10.20.0.0/16'));
      sut.addLink({ name: 'nvgw-stale0' });
      const next = gateway(backend);
      next.domains.splice(1, 1); // domain 1002 is gone
      next.domains[0]!.subnets[0]!.neighbours = [{ address: '192.168.1.10', mac: '00155d0aff01' }, { address: '192.168.1.11', mac: '00155d0aff02' }];
      next.domains[1]!.subnets.pop(); // a VSID of domain 1003 is gone
      next.uplinks = [next.uplinks![0]!]; // and its routed uplink
      const observed = await sut.observe();
      const whole = planKernel(next, observed);
      assert.ok(whole.steps.some((s) => s.op === 'delete'), 'the whole plan deletes');
      assertSlicesPlanTheWhole(next, observed);
    });

    it('with an intent that conflicts with itself (a table used twice)', async () => {
      const intent = gateway(backend);
      intent.domains[2]!.table = 1001;
      assertSlicesPlanTheWhole(intent, await kernel(backend).observe());
    });
  });
}

describe('sliceDomains', () => {
  const intent = (sizes: number[][]) => ({ domains: sizes.map((vsids, i) => domain(1001 + i, vsids.map((v) => subnet(v)))) });
  const records = new Map([[1, 5], [2, 5], [3, 4], [4, 20], [5, 1]]);
  const count = (vsid: number) => records.get(vsid) ?? 0;

  it('puts the rest first, then consecutive domains up to the neighbour budget', () => {
    const slices = sliceDomains(intent([[1], [2], [3], [5]]), count, 10);
    assert.deepEqual(slices, [{ kind: 'rest' }, { kind: 'domains', domains: [domain(1001, []).routingDomainId, domain(1002, []).routingDomainId] }, { kind: 'domains', domains: [domain(1003, []).routingDomainId, domain(1004, []).routingDomainId] }]);
  });

  it('gives a domain larger than the budget a slice of its own', () => {
    const slices = sliceDomains(intent([[1], [4], [5]]), count, 10);
    assert.deepEqual(slices.map((s) => (s.kind === 'rest' ? 'rest' : s.domains.length)), ['rest', 1, 1, 1]);
  });

  it('is the rest alone without domains', () => {
    assert.deepEqual(sliceDomains({ domains: [] }, count, 10), [{ kind: 'rest' }]);
  });
});

describe('reconcileSliced on the fake kernel', () => {
  it('leaves the kernel where a whole pass has nothing to do, asking each slice\'s neighbours and reading its links only', async () => {
    const sut = kernel('policy-routing');
    const whole = gateway('policy-routing');
    const { intent, neighboursOf, asked } = withoutNeighbours(whole);
    const slices = everySlicing(whole)[0]!;
    const result = await reconcileSliced(sut, { intent, slices }, neighboursOf);
    assert.deepEqual(result.failed, []);
    assert.equal(result.phases.slices, 4);
    assert.deepEqual(asked, [[5001], [6001], [7001, 7002]]);
    assert.deepEqual(sut.linkStateReads.at(-1), [], 'an empty kernel has no links to read');
    assert.deepEqual(planKernel(whole, await sut.observe()).steps.map((s) => s.id), []);

    await reconcileSliced(sut, { intent, slices }, neighboursOf);
    assert.deepEqual(sut.linkStateReads.at(-1), ['nvgw-t5001', 'nvgw-d5001', 'nvgw-t6001', 'nvgw-d6001', 'nvgw-t7001', 'nvgw-d7001', 'nvgw-t7002', 'nvgw-d7002']);
  });

  it('runs a hook after each slice (where the worker collects its garbage)', async () => {
    const { intent, neighboursOf } = withoutNeighbours(gateway('vrf'));
    let after = 0;
    await reconcileSliced(kernel('vrf'), { intent, slices: everySlicing(intent)[1]! }, neighboursOf, () => after++);
    assert.equal(after, 2);
  });
});

describe('the fake kernel\'s link state', () => {
  it('gives the neighbours as the last observe() found them, with or without them in the snapshot', async () => {
    const sut = kernel('policy-routing');
    await reconcileKernel(sut, twoDomains());
    for (const linkState of [true, false]) {
      const observed = await sut.observe({ linkState });
      const before = (await sut.observe()).neighbours.filter((n) => n.ifname === 'nvgw-t5001');
      await sut.observe({ linkState });
      sut.state.neighbours = sut.state.neighbours.filter((n) => n.ifname !== 'nvgw-t5001');
      assert.equal(observed.neighbours.length > 0, linkState);
      assert.ok(before.length > 0);
      assert.deepEqual((await sut.observeLinkState(['nvgw-t5001'])).neighbours, before);
      await reconcileKernel(sut, twoDomains());
    }
  });
});

describe('NeighbourSnapshot', () => {
  it('gives back each link\'s entries as they were added, and none for a link without', () => {
    const snapshot = new NeighbourSnapshot();
    snapshot.add(7, { address: '192.168.1.10', mac: '00155d0a0101', permanent: true });
    snapshot.add(9, { address: '10.0.0.1', mac: null, permanent: false });
    snapshot.add(7, { address: '255.255.255.254', mac: 'ffffffffff00', permanent: false });
    assert.deepEqual(snapshot.entriesOf(7, 'nvgw-t1'), [
      { ifname: 'nvgw-t1', address: '192.168.1.10', mac: '00155d0a0101', permanent: true },
      { ifname: 'nvgw-t1', address: '255.255.255.254', mac: 'ffffffffff00', permanent: false },
    ]);
    assert.deepEqual(snapshot.entriesOf(9, 'eth0'), [{ ifname: 'eth0', address: '10.0.0.1', mac: null, permanent: false }]);
    assert.deepEqual(snapshot.entriesOf(8, 'lo'), []);
  });
});
