// Deleting something still referenced is 409 STILL_REFERENCED, unless ?cascade=true, which
// deletes every dependant first and nothing else.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigDocument } from '../../src/model/resources.js';
import type { ApiRequest } from '../support/api.js';
import { assertError, customerRoute, itemUrl, RD1, RD2, seedHnv, setup } from '../support/api.js';

async function seeded() {
  const api = await setup();
  await seedHnv(api.request);
  return api;
}

async function config(request: ApiRequest): Promise<ConfigDocument> {
  return (await request.get('/v1/config').expect(200)).body as ConfigDocument;
}

const ON_LINK_5001 = itemUrl('customer-routes', RD1, 5001, '192.168.1.0/24');

describe('deleting what is still referenced', () => {
  for (const [what, url] of [
    ['routing domain', itemUrl('routing-domains', RD1)],
    ['virtual subnet', itemUrl('virtual-subnets', 5001)],
    ['on-link customer route that lookup records rely on', ON_LINK_5001],
  ] as const) {
    it(`DELETE of a referenced ${what} is 409 STILL_REFERENCED and changes nothing`, async () => {
      const { request } = await seeded();
      const before = await request.get('/v1/config').expect(200);
      const body = assertError(await request.delete(url), 409, 'STILL_REFERENCED');
      assert.ok(body.details.length > 0, 'details name what still refers to it');
      const after = await request.get('/v1/config').expect(200);
      assert.deepEqual(after.body, before.body);
      assert.equal(after.headers.etag, before.headers.etag);
    });
  }

  it('names the dependants in details: deleting VSID 5001 lists its records and routes', async () => {
    const { request } = await seeded();
    const body = assertError(await request.delete(itemUrl('virtual-subnets', 5001)), 409, 'STILL_REFERENCED');
    assert.ok(body.details.some((d) => d.path === 'lookupRecords/5001 192.168.1.101'), JSON.stringify(body.details));
    assert.ok(body.details.some((d) => d.path.startsWith('customerRoutes/')), JSON.stringify(body.details));
  });

  it('a route that is not on-link can go without cascade: 0.0.0.0/0 via the gateway', async () => {
    const { request } = await seeded();
    await request.delete(itemUrl('customer-routes', RD1, 5001, '0.0.0.0/0')).expect(200);
  });

  it('an on-link route can go when another on-link route still covers its records', async () => {
    const { request } = await seeded();
    await request.post('/v1/customer-routes').send(customerRoute({ destinationPrefix: '192.168.0.0/16' })).expect(201);
    await request.delete(ON_LINK_5001).expect(200);
    assert.equal((await config(request)).lookupRecords.length, 5);
  });

  it('replacing an on-link route with one via a next hop, while records rely on it, is 409 STILL_REFERENCED', async () => {
    const { request } = await seeded();
    assertError(await request.put(ON_LINK_5001).send(customerRoute({ nextHop: '192.168.2.250' })), 409, 'STILL_REFERENCED', 'nextHop');
  });

  it('?cascade=maybe is 422 VALIDATION_FAILED', async () => {
    const { request } = await seeded();
    assertError(await request.delete(`${itemUrl('virtual-subnets', 5001)}?cascade=maybe`), 422, 'VALIDATION_FAILED', '?cascade');
  });
});

describe('?cascade=true', () => {
  it('deleting routing domain 5001 removes its subnets, routes and records, and leaves the other tenant alone', async () => {
    const { request } = await seeded();
    const res = await request.delete(`${itemUrl('routing-domains', RD1)}?cascade=true`);
    assert.equal(res.status, 200, res.text);
    const deleted = (res.body as { deleted: { kind: string; key: string }[] }).deleted;
    assert.equal(deleted.at(-1)!.kind, 'routingDomains', 'what was asked for goes last, after its dependants');
    assert.deepEqual(
      deleted.map((d) => d.kind).sort(),
      ['customerRoutes', 'customerRoutes', 'customerRoutes', 'lookupRecords', 'lookupRecords', 'lookupRecords', 'lookupRecords', 'routingDomains', 'virtualSubnets', 'virtualSubnets'],
    );
    const doc = await config(request);
    assert.deepEqual(doc.routingDomains.map((d) => d.routingDomainId), [RD2]);
    assert.deepEqual(doc.virtualSubnets.map((s) => s.virtualSubnetId), [6001]);
    assert.deepEqual(doc.customerRoutes.map((r) => r.virtualSubnetId), [6001]);
    assert.deepEqual(doc.lookupRecords.map((r) => r.virtualSubnetId), [6001]);
    assert.equal(doc.providerAddresses.length, 1);
  });

  it('deleting virtual subnet 5001 removes its routes and records, and keeps VSID 5002', async () => {
    const { request } = await seeded();
    await request.delete(`${itemUrl('virtual-subnets', 5001)}?cascade=true`).expect(200);
    const doc = await config(request);
    assert.deepEqual(doc.virtualSubnets.map((s) => s.virtualSubnetId).sort(), [5002, 6001]);
    assert.ok(doc.lookupRecords.every((r) => r.virtualSubnetId !== 5001));
    assert.ok(doc.customerRoutes.every((r) => r.virtualSubnetId !== 5001));
    assert.equal(doc.lookupRecords.length, 2);
  });

  it('deleting the on-link route of 5001 removes the records inside it but keeps the wildcard', async () => {
    const { request } = await seeded();
    const res = await request.delete(`${ON_LINK_5001}?cascade=true`);
    assert.equal(res.status, 200, res.text);
    const records5001 = (await request.get('/v1/lookup-records?virtualSubnetId=5001').expect(200)).body as { items: { customerAddress: string }[] };
    assert.deepEqual(records5001.items.map((r) => r.customerAddress), ['0.0.0.0']);
  });

  it('?cascade=true on something nothing refers to deletes just that', async () => {
    const { request } = await seeded();
    const res = await request.delete(`${itemUrl('lookup-records', 5001, '192.168.1.101')}?cascade=true`).expect(200);
    assert.deepEqual((res.body as { deleted: unknown[] }).deleted, [{ kind: 'lookupRecords', key: '5001|192.168.1.101' }]);
  });

  it('the cascaded state is valid: PUTting it back is accepted and changes nothing', async () => {
    const { request } = await seeded();
    await request.delete(`${itemUrl('routing-domains', RD1)}?cascade=true`).expect(200);
    const current = await request.get('/v1/config').expect(200);
    const res = await request.put('/v1/config').set('If-Match', current.headers.etag!).send(current.body);
    assert.equal(res.status, 200, res.text);
    assert.equal((res.body as { applied: boolean }).applied, false);
  });
});
