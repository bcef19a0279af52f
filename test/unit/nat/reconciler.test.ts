// The reconciler's NAT part with fakes: zones allocated and reported, the external intent
// handed to the kernel and the firewall, resyncs rewriting the firewall whole, and a failed
// firewall apply reported in /v1/status's reconcile section.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeReconciler, startFakeReconciler } from '../../support/fake-reconciler.js';
import { BLUE, GREEN, natConfig, RED } from './fixtures.js';

const setup = (resyncMs = 3_600_000) => startFakeReconciler(natConfig(), { resyncMs });

describe('the reconciler with external networks', () => {
  it('gives every routing domain a conntrack zone equal to its table, and reports both', async () => {
    const { sut } = await setup();
    const status = sut.status();
    for (const rd of [BLUE, RED, GREEN]) assert.equal(status.zones[rd], status.tables[rd], rd);
    assert.deepEqual(new Set(Object.values(status.zones)).size, 3);
    await sut.stop();
  });

  it('keeps a domain\'s zone across a restart and frees it with the domain', async () => {
    const { sut, service, store } = await setup();
    const zone = sut.status().zones[RED];
    await sut.stop();
    service.remove('routingDomains', [RED], true);
    const again = fakeReconciler(service, store).sut;
    await again.start();
    assert.equal(again.status().zones[RED], undefined);
    assert.ok(zone !== undefined && !store.allocations().has(`zone:${RED}`));
    await again.stop();
  });

  it('hands the kernel the uplinks and the firewall the NAT intent', async () => {
    const { sut, firewall, kernelIntents } = await setup();
    assert.deepEqual(kernelIntents.at(-1)!.uplinks!.map((u) => u.ifname).sort(), ['ext0', 'rt0']);
    const nat = firewall.applied.at(-1)!.nat!;
    assert.deepEqual(nat.domains.filter((d) => d.nat).map((d) => d.routingDomainId).sort(), [BLUE, RED].sort());
    assert.equal(nat.domains.find((d) => d.routingDomainId === GREEN)!.routedUplink, 'rt0');
    await sut.stop();
  });

  it('rewrites the firewall whole on a resync, only what changed otherwise', async () => {
    const { sut, service, firewall } = await setup(150);
    service.remove('natConnections', [RED], false);
    await sut.settled();
    const afterChange = firewall.options.at(-1);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await sut.settled();
    assert.deepEqual(afterChange, { full: false });
    assert.ok(firewall.options.some((o) => o.full === true), JSON.stringify(firewall.options));
    await sut.stop();
  });

  it('reports a failed firewall apply in the last pass and keeps going', async () => {
    const { sut, service, firewall } = await setup();
    firewall.failNext = new Error('iptables-restore failed (rolled back; the previous rules stay in force): line 3');
    service.remove('natConnections', [BLUE], false);
    await sut.settled();
    assert.match(sut.status().lastPass!.firewallError ?? '', /previous rules stay in force/);
    service.remove('natConnections', [RED], false);
    await sut.settled();
    assert.equal(sut.status().lastPass!.firewallError, undefined);
    await sut.stop();
  });
});
