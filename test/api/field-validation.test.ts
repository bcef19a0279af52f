// Field-level rules with their stable codes: the VSID range of RFC 7637, prefixes with
// host bits set, and unknown fields (a typo must never silently drop intent).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertError, customerRoute, hnvConfig, itemUrl, lookupRecord, providerRoute, RD1, seedHnv, setup, virtualSubnet } from '../support/api.js';

async function seeded() {
  const api = await setup();
  await seedHnv(api.request);
  return api;
}

describe('VSID range (RFC 7637 §3.2: 0-4095 and 0xFFFFFF are reserved)', () => {
  for (const vsid of [4095, 16777215, 0, -1]) {
    it(`rejects a virtual subnet with VSID ${vsid}: 422 VSID_OUT_OF_RANGE`, async () => {
      const { request } = await seeded();
      assertError(await request.post('/v1/virtual-subnets').send(virtualSubnet({ virtualSubnetId: vsid })), 422, 'VSID_OUT_OF_RANGE', '/virtualSubnetId');
    });
  }

  for (const vsid of [4096, 16777214]) {
    it(`accepts a virtual subnet with VSID ${vsid}`, async () => {
      const { request } = await seeded();
      const res = await request.post('/v1/virtual-subnets').send(virtualSubnet({ virtualSubnetId: vsid }));
      assert.equal(res.status, 201, res.text);
      assert.equal((await request.get(itemUrl('virtual-subnets', vsid)).expect(200)).body.virtualSubnetId, vsid);
    });
  }

  it('rejects VSID 16777215 quoted as a string too', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/virtual-subnets').send({ ...virtualSubnet(), virtualSubnetId: '16777215' }), 422, 'VSID_OUT_OF_RANGE');
  });

  it('rejects a lookup record of VSID 4095 for its range, before looking the VSID up', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/lookup-records').send(lookupRecord({ virtualSubnetId: 4095 })), 422, 'VSID_OUT_OF_RANGE', '/virtualSubnetId');
  });

  it('rejects a customer route of VSID 16777215', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/customer-routes').send(customerRoute({ virtualSubnetId: 16777215 })), 422, 'VSID_OUT_OF_RANGE', '/virtualSubnetId');
  });

  it('rejects a VSID outside the range in a URL: GET /v1/virtual-subnets/4095', async () => {
    const { request } = await seeded();
    assertError(await request.get('/v1/virtual-subnets/4095'), 422, 'VSID_OUT_OF_RANGE');
  });

  it('rejects a VSID out of range inside PUT /v1/config, naming its path', async () => {
    const { request } = await seeded();
    const doc = hnvConfig();
    doc.virtualSubnets.push(virtualSubnet({ virtualSubnetId: 16777215 }));
    assertError(await request.put('/v1/config').send(doc), 422, 'VSID_OUT_OF_RANGE', 'virtualSubnets/3/virtualSubnetId');
  });

  it('a VSID that is not an integer is 422 VALIDATION_FAILED, not a range error', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/virtual-subnets').send({ ...virtualSubnet(), virtualSubnetId: 5001.5 }), 422, 'VALIDATION_FAILED', '/virtualSubnetId');
  });
});

describe('prefixes with host bits set', () => {
  it('rejects 192.168.1.5/24 with 422 PREFIX_HOST_BITS_SET and names 192.168.1.0/24 in the message', async () => {
    const { request } = await seeded();
    const body = assertError(
      await request.post('/v1/customer-routes').send(customerRoute({ destinationPrefix: '192.168.1.5/24', nextHop: '192.168.2.250' })),
      422,
      'PREFIX_HOST_BITS_SET',
      '/destinationPrefix',
    );
    assert.match(body.message, /192\.168\.1\.0\/24/);
  });

  it('rejects the IPv6 prefix 2001:db8:0:1::5/64 and names 2001:db8:0:1::/64 in the message', async () => {
    const { request } = await seeded();
    const body = assertError(
      await request.post('/v1/customer-routes').send(customerRoute({ destinationPrefix: '2001:db8:0:1::5/64', nextHop: '::' })),
      422,
      'PREFIX_HOST_BITS_SET',
    );
    assert.match(body.message, /2001:db8:0:1::\/64/);
  });

  it('rejects a provider route prefix with host bits set the same way', async () => {
    const { request } = await seeded();
    const body = assertError(await request.post('/v1/provider-routes').send(providerRoute({ destinationPrefix: '10.3.1.0/16' })), 422, 'PREFIX_HOST_BITS_SET');
    assert.match(body.message, /10\.3\.0\.0\/16/);
  });

  it('rejects a prefix with host bits set in the URL of a customer route', async () => {
    const { request } = await seeded();
    const body = assertError(await request.get(itemUrl('customer-routes', RD1, 5001, '192.168.1.5/24')), 422, 'PREFIX_HOST_BITS_SET');
    assert.match(body.message, /192\.168\.1\.0\/24/);
  });

  it('accepts IPv6 on-link routes and records inside them', async () => {
    const { request } = await seeded();
    await request.post('/v1/customer-routes').send(customerRoute({ destinationPrefix: '2001:db8:0:1::/64', nextHop: '::' })).expect(201);
    const res = await request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '2001:DB8:0:1:0:0:0:65', macAddress: '00155D011499' }));
    assert.equal(res.status, 201, res.text);
    assert.equal((res.body as { customerAddress: string }).customerAddress, '2001:db8:0:1::65');
  });
});

describe('unknown fields', () => {
  it('a misspelt field of a lookup record is 422 VALIDATION_FAILED naming its path', async () => {
    const { request } = await seeded();
    const body = assertError(
      await request.post('/v1/lookup-records').send({ ...lookupRecord({ customerAddress: '192.168.1.103' }), vmname: 'Blue3' }),
      422,
      'VALIDATION_FAILED',
      '/vmname',
    );
    assert.match(body.details.find((d) => d.path === '/vmname')!.problem, /unknown field/);
  });

  it('an unknown field in a PUT of one item is refused the same way', async () => {
    const { request } = await seeded();
    assertError(await request.put(itemUrl('virtual-subnets', 5001)).send({ ...virtualSubnet(), vlan: 7 }), 422, 'VALIDATION_FAILED', '/vlan');
  });

  it('an unknown field inside PUT /v1/config names the item: lookupRecords/2/vmname', async () => {
    const { request } = await seeded();
    const doc = hnvConfig();
    Object.assign(doc.lookupRecords[2]!, { vmname: 'x' });
    assertError(await request.put('/v1/config').send(doc), 422, 'VALIDATION_FAILED', 'lookupRecords/2/vmname');
  });

  it('an unknown collection in PUT /v1/config is refused by name', async () => {
    const { request } = await seeded();
    assertError(await request.put('/v1/config').send({ ...hnvConfig(), lookuprecords: [] }), 422, 'VALIDATION_FAILED', 'lookuprecords');
  });

  it('a missing required field is 422 VALIDATION_FAILED naming it', async () => {
    const { request } = await seeded();
    const { macAddress: _omitted, ...body } = lookupRecord({ customerAddress: '192.168.1.103' });
    assertError(await request.post('/v1/lookup-records').send(body), 422, 'VALIDATION_FAILED', '/macAddress');
  });

  it('collects every problem of one item into details', async () => {
    const { request } = await seeded();
    const body = assertError(
      await request.post('/v1/lookup-records').send({ ...lookupRecord(), macAddress: 'nope', providerAddress: '10.1.1', rule: 'TranslationMethodMagic' }),
      422,
      'VALIDATION_FAILED',
    );
    assert.deepEqual(body.details.map((d) => d.path).sort(), ['/macAddress', '/providerAddress', '/rule']);
  });
});
