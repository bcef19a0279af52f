// The spellings HNV administrators and PowerShell scripts use are all accepted and stored
// in one canonical form, so one object is never stored twice under two spellings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertError, customerRoute, itemUrl, lookupRecord, providerAddress, routingDomain, seedHnv, setup } from '../support/api.js';

async function seeded() {
  const api = await setup();
  await seedHnv(api.request);
  return api;
}

const CANONICAL_GUID = '{11111111-2222-3333-4444-00000000abcd}';

describe('routing domain GUIDs', () => {
  for (const spelling of ['{11111111-2222-3333-4444-00000000ABCD}', '11111111-2222-3333-4444-00000000abcd', '11111111-2222-3333-4444-00000000AbCd', CANONICAL_GUID]) {
    it(`accepts ${spelling} and stores ${CANONICAL_GUID}`, async () => {
      const { request } = await seeded();
      const res = await request.post('/v1/routing-domains').send(routingDomain({ routingDomainId: spelling }));
      assert.equal(res.status, 201, res.text);
      assert.equal((res.body as { routingDomainId: string }).routingDomainId, CANONICAL_GUID);
      assert.equal((await request.get(itemUrl('routing-domains', CANONICAL_GUID)).expect(200)).body.routingDomainId, CANONICAL_GUID);
    });
  }

  it('treats two spellings of one GUID as the same routing domain: 409 ALREADY_EXISTS', async () => {
    const { request } = await seeded();
    await request.post('/v1/routing-domains').send(routingDomain({ routingDomainId: '11111111-2222-3333-4444-00000000ABCD' })).expect(201);
    assertError(await request.post('/v1/routing-domains').send(routingDomain({ routingDomainId: CANONICAL_GUID })), 409, 'ALREADY_EXISTS');
  });

  it('finds a routing domain by any spelling of its GUID in the URL', async () => {
    const { request } = await seeded();
    await request.post('/v1/routing-domains').send(routingDomain({ routingDomainId: CANONICAL_GUID })).expect(201);
    assert.equal((await request.get('/v1/routing-domains/11111111-2222-3333-4444-00000000ABCD').expect(200)).body.routingDomainId, CANONICAL_GUID);
  });

  for (const bad of ['{11111111-2222-3333-4444-00000000abcd', '11111111222233334444000000005001', '{11111111-2222-3333-4444-00000000abcg}']) {
    it(`refuses ${bad}: 422 VALIDATION_FAILED`, async () => {
      const { request } = await seeded();
      assertError(await request.post('/v1/routing-domains').send(routingDomain({ routingDomainId: bad })), 422, 'VALIDATION_FAILED', '/routingDomainId');
    });
  }

  it('stores a customer GUID canonically too', async () => {
    const { request } = await seeded();
    const res = await request.post('/v1/routing-domains').send(routingDomain({ routingDomainId: CANONICAL_GUID, customerId: 'AAAAAAAA-2222-3333-4444-000000000001' }));
    assert.equal((res.body as { customerId: string }).customerId, '{aaaaaaaa-2222-3333-4444-000000000001}');
  });
});

describe('MAC addresses', () => {
  for (const spelling of ['00155D011499', '00-15-5D-01-14-99', '00:15:5d:01:14:99']) {
    it(`accepts ${spelling} and stores 00155d011499`, async () => {
      const { request } = await seeded();
      const res = await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '192.168.1.103', macAddress: spelling }));
      assert.equal(res.status, 201, res.text);
      assert.equal((res.body as { macAddress: string }).macAddress, '00155d011499');
      const stored = await request.get(itemUrl('lookup-records', 5001, '192.168.1.103')).expect(200);
      assert.equal((stored.body as { macAddress: string }).macAddress, '00155d011499');
    });
  }

  for (const [bad, why] of [
    ['00-15-5D:01-14-99', 'mixed separators'],
    ['00155D0114', 'too short'],
    ['01005E000001', 'a multicast MAC'],
    ['FFFFFFFFFFFF', 'the broadcast MAC'],
  ]) {
    it(`refuses ${bad} (${why}): 422 VALIDATION_FAILED`, async () => {
      const { request } = await seeded();
      assertError(await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '192.168.1.103', macAddress: bad })), 422, 'VALIDATION_FAILED', '/macAddress');
    });
  }
});

describe('numbers and booleans as strings (PowerShell scripts quote them)', () => {
  it('accepts a VSID as "5001" in a virtual subnet, a record and a route', async () => {
    const { request } = await seeded();
    const subnet = await request.post('/v1/virtual-subnets').send({ virtualSubnetId: '5003', routingDomainId: '{11111111-2222-3333-4444-000000005001}' });
    assert.equal(subnet.status, 201, subnet.text);
    assert.equal((subnet.body as { virtualSubnetId: unknown }).virtualSubnetId, 5003);
    const route = await request.post('/v1/customer-routes').send({ ...customerRoute({ destinationPrefix: '192.168.3.0/24' }), virtualSubnetId: '5003', metric: '100' });
    assert.equal(route.status, 201, route.text);
    assert.deepEqual([(route.body as { virtualSubnetId: unknown }).virtualSubnetId, (route.body as { metric: unknown }).metric], [5003, 100]);
    const record = await request.post('/v1/lookup-records').send({ ...lookupRecord({ customerAddress: '192.168.3.4' }), virtualSubnetId: '5003', useVmMacAddress: 'True' });
    assert.equal(record.status, 201, record.text);
    assert.equal((record.body as { virtualSubnetId: unknown }).virtualSubnetId, 5003);
    assert.equal((record.body as { useVmMacAddress: unknown }).useVmMacAddress, true);
  });

  it('accepts a provider address prefix length and VLAN as strings', async () => {
    const { request } = await seeded();
    const res = await request.post('/v1/provider-addresses').send({ ...providerAddress({ providerAddress: '10.2.2.10' }), prefixLength: '24', vlanId: '20' });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual([(res.body as { prefixLength: unknown }).prefixLength, (res.body as { vlanId: unknown }).vlanId], [24, 20]);
  });

  it('refuses a number with anything but digits: " 5001" is 422 VALIDATION_FAILED', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/lookup-records').send({ ...lookupRecord({ customerAddress: '192.168.1.103' }), virtualSubnetId: ' 5001' }), 422, 'VALIDATION_FAILED', '/virtualSubnetId');
  });
});

describe('IP addresses', () => {
  it('stores IPv6 in RFC 5952 form and finds it by any spelling', async () => {
    const { request } = await seeded();
    const res = await request.post('/v1/provider-addresses').send(providerAddress({ providerAddress: '2001:DB8:0:0:0:0:0:10', prefixLength: 64 }));
    assert.equal(res.status, 201, res.text);
    assert.equal((res.body as { providerAddress: string }).providerAddress, '2001:db8::10');
    await request.get(itemUrl('provider-addresses', '2001:0db8::0010')).expect(200);
  });

  it('refuses an IPv4 address with a leading zero (octal to some parsers): 422 VALIDATION_FAILED', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '192.168.1.010' })), 422, 'VALIDATION_FAILED', '/customerAddress');
  });
});
