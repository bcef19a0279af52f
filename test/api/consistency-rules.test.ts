// Rules that look at the whole desired state: a VSID belongs to one routing domain, (VSID,
// CA) is unique, a CA lies in an on-link route of its VSID (the wildcard excepted), and
// references exist. Each with its stable code, through single-item writes and PUT /v1/config.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertError, customerRoute, hnvConfig, itemUrl, lookupRecord, RD1, RD2, seedHnv, setup, virtualSubnet } from '../support/api.js';

async function seeded() {
  const api = await setup();
  await seedHnv(api.request);
  return api;
}

describe('a VSID belongs to exactly one routing domain', () => {
  it('POST of virtual subnet 5001 into the second routing domain is 409 VSID_IN_OTHER_DOMAIN', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/virtual-subnets').send(virtualSubnet({ routingDomainId: RD2 })), 409, 'VSID_IN_OTHER_DOMAIN');
  });

  it('PUT moving virtual subnet 5001 to another routing domain is 409 VSID_IN_OTHER_DOMAIN', async () => {
    const { request } = await seeded();
    assertError(await request.put(itemUrl('virtual-subnets', 5001)).send(virtualSubnet({ routingDomainId: RD2 })), 409, 'VSID_IN_OTHER_DOMAIN', 'virtualSubnetId');
    assert.equal((await request.get(itemUrl('virtual-subnets', 5001)).expect(200)).body.routingDomainId, RD1);
  });

  it('a customer route naming VSID 5001 in the second routing domain is 409 VSID_IN_OTHER_DOMAIN', async () => {
    const { request } = await seeded();
    assertError(
      await request.post('/v1/customer-routes').send(customerRoute({ routingDomainId: RD2, destinationPrefix: '172.16.0.0/16' })),
      409,
      'VSID_IN_OTHER_DOMAIN',
      'virtualSubnetId',
    );
  });

  it('one VSID in two routing domains inside PUT /v1/config is 409 VSID_IN_OTHER_DOMAIN', async () => {
    const { request } = await seeded();
    const doc = hnvConfig();
    doc.virtualSubnets.push(virtualSubnet({ virtualSubnetId: 6001, routingDomainId: RD1 }));
    assertError(await request.put('/v1/config').send(doc), 409, 'VSID_IN_OTHER_DOMAIN', 'virtualSubnets/3');
  });

  it('the same address space in two routing domains is fine: 192.168.1.0/24 in VSID 5001 and 6001', async () => {
    const { request } = await seeded();
    const res = await request.get('/v1/lookup-records?customerAddress=192.168.1.101').expect(200);
    assert.deepEqual((res.body as { items: { virtualSubnetId: number }[] }).items.map((r) => r.virtualSubnetId).sort(), [5001, 6001]);
  });
});

describe('(VSID, CA) is unique', () => {
  it('POST of a second record for 5001/192.168.1.101 is 409 DUPLICATE_LOOKUP_RECORD', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/lookup-records').send(lookupRecord({ macAddress: '00155D0114FF', providerAddress: '10.1.1.99' })), 409, 'DUPLICATE_LOOKUP_RECORD');
    assert.equal((await request.get(itemUrl('lookup-records', 5001, '192.168.1.101')).expect(200)).body.providerAddress, '10.1.1.20');
  });

  it('a CA spelt differently is still the same record: IPv6 2001:db8:0:1::65 vs 2001:DB8:0:1:0:0:0:65', async () => {
    const { request } = await seeded();
    await request.post('/v1/customer-routes').send(customerRoute({ destinationPrefix: '2001:db8:0:1::/64', nextHop: '::' })).expect(201);
    await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '2001:db8:0:1::65' })).expect(201);
    assertError(await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '2001:DB8:0:1:0:0:0:65' })), 409, 'DUPLICATE_LOOKUP_RECORD');
  });

  it('duplicates inside one PUT /v1/config are 409 DUPLICATE_LOOKUP_RECORD naming the second', async () => {
    const { request } = await seeded();
    const doc = hnvConfig();
    doc.lookupRecords.push(lookupRecord({ customerAddress: '192.168.1.102', macAddress: '00-15-5D-01-1E-05' }));
    const index = doc.lookupRecords.length - 1;
    assertError(await request.put('/v1/config').send(doc), 409, 'DUPLICATE_LOOKUP_RECORD', `lookupRecords/${index}`);
  });
});

describe('a CA lies in an on-link customer route of its VSID', () => {
  it('a record of VSID 5001 with a CA in 192.168.2.0/24 (on-link for 5002 only) is 422 CUSTOMER_ADDRESS_NOT_ON_LINK', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '192.168.2.7' })), 422, 'CUSTOMER_ADDRESS_NOT_ON_LINK', 'customerAddress');
  });

  it('a route via a next hop does not make a CA on-link: 10.9.9.9 under 0.0.0.0/0 via 192.168.2.250 is refused', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '10.9.9.9' })), 422, 'CUSTOMER_ADDRESS_NOT_ON_LINK');
  });

  it('the wildcard record 0.0.0.0 is exempt, even for a VSID without any route', async () => {
    const { request } = await seeded();
    await request.post('/v1/virtual-subnets').send(virtualSubnet({ virtualSubnetId: 5003 })).expect(201);
    const res = await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '0.0.0.0', virtualSubnetId: 5003, providerAddress: '10.1.1.40' }));
    assert.equal(res.status, 201, res.text);
    assertError(await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '192.168.1.101', virtualSubnetId: 5003 })), 422, 'CUSTOMER_ADDRESS_NOT_ON_LINK');
  });

  it('the IPv6 wildcard :: is exempt too', async () => {
    const { request } = await seeded();
    await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '::', macAddress: '00155D143C02', providerAddress: '10.1.1.40' })).expect(201);
  });

  it('a CA not on-link inside PUT /v1/config names lookupRecords/N/customerAddress', async () => {
    const { request } = await seeded();
    const doc = hnvConfig();
    doc.lookupRecords.push(lookupRecord({ customerAddress: '192.168.9.9' }));
    assertError(await request.put('/v1/config').send(doc), 422, 'CUSTOMER_ADDRESS_NOT_ON_LINK', `lookupRecords/${doc.lookupRecords.length - 1}/customerAddress`);
  });

  it('a provider address of 0.0.0.0 in a record is 422 VALIDATION_FAILED', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '192.168.1.103', providerAddress: '0.0.0.0' })), 422, 'VALIDATION_FAILED', '/providerAddress');
  });
});

describe('references must exist', () => {
  const UNKNOWN_RD = '{11111111-2222-3333-4444-00000000dead}';

  it('a virtual subnet in an unknown routing domain is 422 UNKNOWN_REFERENCE', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/virtual-subnets').send(virtualSubnet({ virtualSubnetId: 5003, routingDomainId: UNKNOWN_RD })), 422, 'UNKNOWN_REFERENCE', 'routingDomainId');
  });

  it('a lookup record of an unknown VSID is 422 UNKNOWN_REFERENCE', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/lookup-records').send(lookupRecord({ virtualSubnetId: 5003 })), 422, 'UNKNOWN_REFERENCE', 'virtualSubnetId');
  });

  it('a customer route in an unknown routing domain is 422 UNKNOWN_REFERENCE', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/customer-routes').send(customerRoute({ routingDomainId: UNKNOWN_RD })), 422, 'UNKNOWN_REFERENCE', 'routingDomainId');
  });

  it('a customer route of an unknown VSID is 422 UNKNOWN_REFERENCE', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/customer-routes').send(customerRoute({ virtualSubnetId: 5003 })), 422, 'UNKNOWN_REFERENCE', 'virtualSubnetId');
  });

  it('a PUT of one record naming an unknown VSID is 422 UNKNOWN_REFERENCE', async () => {
    const { request } = await seeded();
    assertError(await request.put(itemUrl('lookup-records', 5003, '192.168.1.101')).send(lookupRecord({ virtualSubnetId: 5003 })), 422, 'UNKNOWN_REFERENCE');
  });

  it('a reference to an object missing from PUT /v1/config is 422 UNKNOWN_REFERENCE at its path', async () => {
    const { request } = await seeded();
    const doc = hnvConfig();
    doc.virtualSubnets = doc.virtualSubnets.filter((s) => s.virtualSubnetId !== 6001);
    doc.customerRoutes = doc.customerRoutes.filter((r) => r.virtualSubnetId !== 6001);
    const index = doc.lookupRecords.findIndex((r) => r.virtualSubnetId === 6001);
    assertError(await request.put('/v1/config').send(doc), 422, 'UNKNOWN_REFERENCE', `lookupRecords/${index}/virtualSubnetId`);
  });
});
