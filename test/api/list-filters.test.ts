// GET of a collection filtered by any field (`?virtualSubnetId=5001`), values in any
// accepted spelling; a filter that is not a field, or a value that does not parse, is 422.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertError, RD1, RD2, seedHnv, setup } from '../support/api.js';

async function seeded() {
  const api = await setup();
  await seedHnv(api.request);
  return api;
}

async function list(url: string): Promise<Record<string, unknown>[]> {
  const { request } = await seeded();
  const res = await request.get(url);
  assert.equal(res.status, 200, res.text);
  return (res.body as { items: Record<string, unknown>[] }).items;
}

describe('list filters', () => {
  it('?virtualSubnetId=5001 lists the lookup records of VSID 5001 only, the wildcard included', async () => {
    const items = await list('/v1/lookup-records?virtualSubnetId=5001');
    assert.deepEqual(items.map((r) => r.customerAddress).sort(), ['0.0.0.0', '192.168.1.101', '192.168.1.102']);
    assert.ok(items.every((r) => r.virtualSubnetId === 5001));
  });

  it('combines filters: ?virtualSubnetId=6001&customerAddress=192.168.1.101 finds the second tenant\'s record only', async () => {
    const items = await list('/v1/lookup-records?virtualSubnetId=6001&customerAddress=192.168.1.101');
    assert.equal(items.length, 1);
    assert.equal(items[0]!.macAddress, '00155d016001');
  });

  it('matches a MAC filter in another spelling than the stored one', async () => {
    const items = await list('/v1/lookup-records?macAddress=00-15-5D-14-3C-02');
    assert.deepEqual(items.map((r) => r.customerAddress).sort(), ['0.0.0.0', '192.168.2.250']);
  });

  it('matches a routing-domain filter without braces and in upper case', async () => {
    const items = await list(`/v1/virtual-subnets?routingDomainId=${RD1.slice(1, -1).toUpperCase()}`);
    assert.deepEqual(items.map((s) => s.virtualSubnetId).sort(), [5001, 5002]);
  });

  it('filters customer routes by prefix across routing domains', async () => {
    const items = await list('/v1/customer-routes?destinationPrefix=192.168.1.0/24');
    assert.deepEqual(items.map((r) => r.routingDomainId).sort(), [RD1, RD2].sort());
  });

  it('filters customer routes by on-link next hop', async () => {
    const items = await list('/v1/customer-routes?nextHop=0.0.0.0');
    assert.equal(items.length, 3);
  });

  it('filters routing domains, provider addresses and provider routes by their fields', async () => {
    assert.deepEqual((await list('/v1/routing-domains?name=Fabrikam')).map((d) => d.routingDomainId), [RD2]);
    assert.equal((await list('/v1/provider-addresses?interface=eth1')).length, 1);
    assert.equal((await list('/v1/provider-routes?interface=eth2')).length, 0);
  });

  it('a numeric filter accepts the value as the string it always is in a URL: ?metric=255', async () => {
    assert.equal((await list('/v1/customer-routes?metric=255')).length, 3);
  });
});

describe('bad list filters', () => {
  it('a filter that is not a field of the collection is 422 VALIDATION_FAILED naming it', async () => {
    const { request } = await seeded();
    assertError(await request.get('/v1/lookup-records?vsid=5001'), 422, 'VALIDATION_FAILED', '?vsid');
  });

  it('a filter value that does not parse is 422 VALIDATION_FAILED', async () => {
    const { request } = await seeded();
    assertError(await request.get('/v1/virtual-subnets?virtualSubnetId=abc'), 422, 'VALIDATION_FAILED', '?virtualSubnetId');
  });

  it('a VSID filter outside 4096..16777214 is 422 VSID_OUT_OF_RANGE', async () => {
    const { request } = await seeded();
    assertError(await request.get('/v1/lookup-records?virtualSubnetId=4095'), 422, 'VSID_OUT_OF_RANGE', '?virtualSubnetId');
  });

  it('a prefix filter with host bits set is 422 PREFIX_HOST_BITS_SET', async () => {
    const { request } = await seeded();
    assertError(await request.get('/v1/customer-routes?destinationPrefix=192.168.1.5/24'), 422, 'PREFIX_HOST_BITS_SET');
  });

  it('a filter given twice is 422 VALIDATION_FAILED, not silently one of the two', async () => {
    const { request } = await seeded();
    assertError(await request.get('/v1/virtual-subnets?virtualSubnetId=5001&virtualSubnetId=6001'), 422, 'VALIDATION_FAILED');
  });

  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    it(`a filter named like an Object.prototype member (?${name}=1) is 422 VALIDATION_FAILED, not 500`, async () => {
      const { request } = await seeded();
      assertError(await request.get(`/v1/routing-domains?${name}=1`), 422, 'VALIDATION_FAILED', `?${name}`);
    });
  }
});
