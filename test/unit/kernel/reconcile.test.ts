// reconcileKernel against the fake kernel: the observe -> plan -> apply loop the control
// plane runs, with kernel side effects, drift, failures and retries. The same behaviours
// are proven against the real kernel in test/system/kernel.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeKernel } from '../../../src/kernel/fake-kernel.js';
import type { Backend } from '../../../src/kernel/intent.js';
import { reconcileKernel } from '../../../src/kernel/kernel-port.js';
import type { KernelObserved } from '../../../src/kernel/kernel-port.js';
import { twoDomains } from './fixtures.js';

function setup(backend: Backend = 'policy-routing'): { sut: FakeKernel } {
  const sut = new FakeKernel({ backend });
  sut.addLink({ name: 'eth0', mac: '525400000001' });
  sut.state.addresses.push({ ifname: 'eth0', address: '10.1.1.40', prefixLength: 24, protocol: 0, noPrefixRoute: false });
  return { sut };
}

/** Everything in the kernel, one line per object, for before/after comparisons. */
function inventory(o: KernelObserved): string[] {
  return [
    ...o.links.map((l) => `link ${l.name} ${l.kind ?? '-'} ${l.master ?? '-'}`),
    ...o.addresses.map((a) => `addr ${a.address}/${a.prefixLength} ${a.ifname}`),
    ...o.neighbours.map((n) => `neigh ${n.address} ${n.ifname} ${n.mac ?? '-'}`),
    ...o.routes.map((r) => `route ${r.type} ${r.prefix} table ${r.table} metric ${r.metric} ${r.ifname ?? '-'} proto ${r.protocol}`),
    ...o.rules.map((r) => `rule ${r.priority} ${r.iif ?? ''}${r.fwmark ?? ''} ${r.table} proto ${r.protocol}`),
  ].sort();
}

for (const backend of ['policy-routing', 'vrf'] as const) {
  describe(`reconcileKernel on the fake kernel (${backend})`, () => {
    it('applies every step of a new configuration without a failure', async () => {
      const { sut } = setup(backend);
      const { plan, report } = await reconcileKernel(sut, twoDomains(backend));
      assert.deepEqual(report.failed, []);
      assert.equal(report.done.length, plan.steps.length);
      assert.ok(report.ok);
    });

    it('plans nothing on the second run', async () => {
      const { sut } = setup(backend);
      await reconcileKernel(sut, twoDomains(backend));
      const second = await reconcileKernel(sut, twoDomains(backend));
      assert.deepEqual(second.plan.steps.map((s) => s.id), []);
    });

    it('removing a domain removes exactly what it added and nothing else', async () => {
      const { sut } = setup(backend);
      const oneDomain = { ...twoDomains(backend), domains: twoDomains(backend).domains.slice(0, 1) };
      await reconcileKernel(sut, oneDomain);
      const before = inventory(await sut.observe());
      await reconcileKernel(sut, twoDomains(backend));
      await reconcileKernel(sut, oneDomain);
      const after = inventory(await sut.observe());
      // VRF: the kernel's own local route of the removed domain's CA went with its link.
      assert.deepEqual(after, before);
    });
  });
}

describe('reconcileKernel on the fake kernel: drift, foreign objects and failures', () => {
  it('leaves foreign links, routes, rules and addresses in place when it removes its own', async () => {
    const { sut } = setup();
    await reconcileKernel(sut, twoDomains());
    sut.addLink({ name: 'veth-ops', kind: 'veth', peer: null });
    sut.state.addresses.push({ ifname: 'eth0', address: '10.9.9.9', prefixLength: 32, protocol: 0, noPrefixRoute: false });
    sut.state.routes.push({ table: 1001, prefix: '10.50.0.0/16', metric: 5, type: 'unicast', protocol: 4, scope: 'universe', nextHop: '10.1.1.1', ifname: 'eth0' });
    sut.state.rules.push({ priority: 1500, protocol: 0, table: 1001, action: 'lookup', fwmark: 7, fwmask: 0xffffffff, otherSelectors: false });
    const { report } = await reconcileKernel(sut, { backend: 'policy-routing', domains: [], provider: { addresses: [], routes: [] } });
    assert.ok(report.ok);
    const left = inventory(await sut.observe());
    assert.ok(left.includes('link veth-ops veth -'));
    assert.ok(left.includes('addr 10.9.9.9/32 eth0'));
    assert.ok(left.includes('route unicast 10.50.0.0/16 table 1001 metric 5 eth0 proto 4'));
    assert.ok(left.includes('rule 1500 7 1001 proto 0'));
    assert.ok(!left.some((line) => line.includes('nvgw') || line.includes('proto 78')));
  });

  it('puts back a route and a rule deleted by hand, and nothing else', async () => {
    const { sut } = setup();
    await reconcileKernel(sut, twoDomains());
    sut.state.routes = sut.state.routes.filter((r) => !(r.table === 1001 && r.prefix === '192.168.1.0/24'));
    sut.state.rules = sut.state.rules.filter((r) => r.fwmark !== 1002);
    const { plan, report } = await reconcileKernel(sut, twoDomains());
    assert.deepEqual(plan.steps.map((s) => s.id), ['route 192.168.1.0/24 table 1001 metric 0', 'rule 1100 fwmark 0x3ea/0xffffffff lookup 1002']);
    assert.ok(report.ok);
  });

  it('resets the data-path end\'s forwarding after someone re-enabled ip_forward', async () => {
    const { sut } = setup();
    await reconcileKernel(sut, twoDomains());
    sut.state.sysctls['net/ipv4/ip_forward'] = '0';
    const { plan } = await reconcileKernel(sut, twoDomains());
    assert.deepEqual(
      plan.steps.map((s) => s.id),
      ['sysctl net/ipv4/ip_forward'],
    );
    const third = await reconcileKernel(sut, twoDomains());
    assert.deepEqual(
      third.plan.steps.map((s) => s.id).sort(),
      [
        'sysctl net/ipv4/conf/nvgw-d5001/forwarding',
        'sysctl net/ipv4/conf/nvgw-d6001/forwarding',
      ],
      'writing ip_forward rewrote every link\'s forwarding; the next pass puts the data-path ends back',
    );
  });

  it('reports a failure under the object\'s name and still applies the independent objects', async () => {
    const { sut } = setup();
    sut.failOn('route 192.168.1.0/24 table 1001 metric 0', 'EINVAL');
    const { plan, report } = await reconcileKernel(sut, twoDomains());
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.failed.map((f) => [f.id, f.error?.errno, f.attempts]),
      [['route 192.168.1.0/24 table 1001 metric 0', 'EINVAL', 1]],
    );
    assert.match(report.failed[0]?.error?.message ?? '', /^route 192\.168\.1\.0\/24 table 1001 metric 0: /);
    assert.equal(report.done.length, plan.steps.length - 1);
    assert.ok((await sut.observe()).routes.some((r) => r.table === 1002 && r.prefix === '192.168.1.0/24'));
  });

  it('skips, without trying, what needs a link whose creation failed, and carries on with the other domain', async () => {
    const { sut } = setup();
    sut.failOn('link nvgw-t5001', 'ENOMEM');
    const { report } = await reconcileKernel(sut, twoDomains());
    assert.deepEqual(report.failed.map((f) => f.id), ['link nvgw-t5001']);
    const skipped = report.skipped.map((s) => s.id);
    assert.ok(skipped.includes('address 192.168.1.1/24 on nvgw-t5001'));
    assert.ok(skipped.includes('neighbour 192.168.1.10 on nvgw-t5001'));
    assert.ok(skipped.includes('sysctl net/ipv4/conf/nvgw-d5001/forwarding'), 'the peer was not made either');
    const address = report.skipped.find((x) => x.id === 'address 192.168.1.1/24 on nvgw-t5001');
    assert.match(address?.error?.message ?? '', /not tried, it needs link nvgw-t5001: link nvgw-t5001: injected ENOMEM/);
    assert.ok(!skipped.some((id) => id.includes('6001')));
    const retry = await reconcileKernel(sut, twoDomains());
    assert.ok(retry.report.failed.length === 1, 'the injected failure persists');
  });

  it('retries a transient EBUSY and reports how many attempts it took', async () => {
    const { sut } = setup();
    sut.failOn('rule 1000 iif nvgw-t5001 lookup 1001', 'EBUSY', 2);
    const { report } = await reconcileKernel(sut, twoDomains());
    assert.ok(report.ok);
    assert.equal(report.done.find((d) => d.id === 'rule 1000 iif nvgw-t5001 lookup 1001')?.attempts, 3);
  });

  it('gives up on a transient error after a bounded number of attempts', async () => {
    const { sut } = setup();
    sut.failOn('rule 1000 iif nvgw-t5001 lookup 1001', 'EBUSY');
    const { report } = await reconcileKernel(sut, twoDomains());
    assert.deepEqual(report.failed.map((f) => [f.id, f.attempts]), [['rule 1000 iif nvgw-t5001 lookup 1001', 4]]);
  });

  it('a VRF cannot be made on a kernel without VRF, and says which', async () => {
    const { sut } = setup('policy-routing');
    assert.equal(await sut.detectBackend(), 'policy-routing');
    const { report } = await reconcileKernel(sut, twoDomains('vrf'));
    assert.deepEqual(report.failed.map((f) => [f.id, f.error?.errno]), [
      ['link nvgw-vrf-1001', 'EOPNOTSUPP'],
      ['link nvgw-vrf-1002', 'EOPNOTSUPP'],
    ]);
    assert.ok(report.skipped.some((x) => x.id === 'route 192.168.1.0/24 table 1001 metric 0'), 'nothing lands in a table whose VRF is missing');
  });

  it('adds a provider address with its ownership mark and later removes only it', async () => {
    const { sut } = setup();
    const withPa = { ...twoDomains(), provider: { addresses: [{ ifname: 'eth0', address: '10.1.1.41', prefixLength: 24 }], routes: [{ prefix: '10.2.0.0/16', type: 'unicast' as const, nextHop: '10.1.1.1', ifname: 'eth0', metric: 0 }] } };
    await reconcileKernel(sut, withPa);
    const added = (await sut.observe()).addresses.find((a) => a.address === '10.1.1.41');
    assert.equal(added?.protocol, 78);
    const { plan } = await reconcileKernel(sut, twoDomains());
    assert.deepEqual(plan.steps.map((s) => s.id), ['route 10.2.0.0/16 table 254 metric 0', 'address 10.1.1.41/24 on eth0']);
    assert.ok((await sut.observe()).addresses.some((a) => a.address === '10.1.1.40'));
  });
});
