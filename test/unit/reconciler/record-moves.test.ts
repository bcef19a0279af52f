// Which lookup-record changes cost a kernel pass: only those the kernel or the firewall
// sees (a CA, a MAC, a record becoming the gateway's own); a VM moving to another host's
// PA reaches the data path alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startFakeReconciler } from '../../support/fake-reconciler.js';
import { hnvPart } from '../nat/fixtures.js';

const record = (providerAddress: string, macAddress = '00155d011404') => ({ customerAddress: '192.168.1.101', virtualSubnetId: 5001, macAddress, providerAddress });
const neighbourMac = (intent: { domains: { subnets: { vsid: number; neighbours: { address: string; mac: string }[] }[] }[] }) =>
  intent.domains.flatMap((d) => d.subnets).find((s) => s.vsid === 5001)!.neighbours.find((n) => n.address === '192.168.1.101')?.mac;

describe('kernel passes after a lookup-record change', () => {
  it('runs none when a VM moves to another host, and still updates the data path', async () => {
    const { sut, service, kernelIntents, datapath } = await startFakeReconciler(hnvPart());
    await sut.settled();
    const passes = kernelIntents.length;
    const updates = datapath.updates.length;
    service.put('lookupRecords', ['5001', '192.168.1.101'], record('10.1.1.21'));
    await sut.settled();
    assert.equal(kernelIntents.length, passes, 'no kernel pass for a PA move');
    assert.equal(datapath.updates.length, updates + 1, 'the data path got the new PA');
    const table = datapath.updates.at(-1)!.vsids.find((v) => v.vsid === 5001)!;
    const moved = table.records.find((r) => r.ca === ((192 << 24) | (168 << 16) | (1 << 8) | 101) >>> 0);
    assert.equal(moved?.pa, ((10 << 24) | (1 << 16) | (1 << 8) | 21) >>> 0, 'the update carries the new PA');
    await sut.stop();
  });

  it('runs one when the MAC changes, and the kernel gets the new neighbour', async () => {
    const { sut, service, kernelIntents } = await startFakeReconciler(hnvPart());
    await sut.settled();
    const passes = kernelIntents.length;
    service.put('lookupRecords', ['5001', '192.168.1.101'], record('10.1.1.20', '00155d0114ff'));
    await sut.settled();
    assert.equal(kernelIntents.length, passes + 1);
    assert.equal(neighbourMac(kernelIntents.at(-1)!), '00155d0114ff');
    await sut.stop();
  });

  it('runs one when a record moves onto the gateway\'s own PA (the CA becomes the gateway\'s)', async () => {
    const { sut, service, kernelIntents } = await startFakeReconciler(hnvPart());
    await sut.settled();
    const passes = kernelIntents.length;
    service.put('lookupRecords', ['5001', '192.168.1.101'], record('10.1.1.40'));
    await sut.settled();
    assert.equal(kernelIntents.length, passes + 1);
    assert.equal(neighbourMac(kernelIntents.at(-1)!), undefined, 'no longer a neighbour: an address of the gateway');
    await sut.stop();
  });

  it('runs one when another kind of object changes along with a record', async () => {
    const { sut, service, kernelIntents } = await startFakeReconciler(hnvPart());
    await sut.settled();
    const passes = kernelIntents.length;
    const config = hnvPart();
    config.lookupRecords = config.lookupRecords.map((r) => (r.customerAddress === '192.168.1.101' && r.virtualSubnetId === 5001 ? record('10.1.1.21') : r));
    config.customerRoutes.push({ routingDomainId: config.customerRoutes[0]!.routingDomainId, virtualSubnetId: 5001, destinationPrefix: '172.16.9.0/24', nextHop: '192.168.1.101', metric: 10 } as (typeof config.customerRoutes)[number]);
    service.putConfig(config, {});
    await sut.settled();
    assert.equal(kernelIntents.length, passes + 1);
    await sut.stop();
  });
});
