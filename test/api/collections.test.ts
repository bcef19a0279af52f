// CRUD of the six HNV collections, one table row per collection: POST, GET list and one,
// PUT (create, replace, key mismatch), DELETE, on top of the HNV example.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertError,
  customerRoute,
  itemUrl,
  lookupRecord,
  providerAddress,
  providerRoute,
  RD1,
  routingDomain,
  seedHnv,
  setup,
  virtualSubnet,
} from '../support/api.js';

interface CollectionCase {
  collection: string;
  /** A new item, POSTed, and its URL key. */
  body: Record<string, unknown>;
  key: (string | number)[];
  /** Non-key fields that a PUT replaces. */
  change: Record<string, unknown>;
  /** Another new item, created by PUT, and its URL key. */
  other: { body: Record<string, unknown>; key: (string | number)[] };
  /** Key fields naming an item other than `key`. */
  mismatch: Record<string, unknown>;
  duplicateCode: string;
}

const RD3 = '{11111111-2222-3333-4444-000000007001}';
const RD4 = '{11111111-2222-3333-4444-000000007002}';

const CASES: CollectionCase[] = [
  {
    collection: 'routing-domains',
    body: { ...routingDomain({ routingDomainId: RD3, name: 'Woodgrove' }) },
    key: [RD3],
    change: { name: 'Woodgrove Bank' },
    other: { body: { ...routingDomain({ routingDomainId: RD4 }) }, key: [RD4] },
    mismatch: { routingDomainId: RD4 },
    duplicateCode: 'ALREADY_EXISTS',
  },
  {
    collection: 'virtual-subnets',
    body: { ...virtualSubnet({ virtualSubnetId: 5003, name: 'Contoso back end' }) },
    key: [5003],
    change: { name: 'Contoso databases' },
    other: { body: { ...virtualSubnet({ virtualSubnetId: 5004 }) }, key: [5004] },
    mismatch: { virtualSubnetId: 5004 },
    duplicateCode: 'ALREADY_EXISTS',
  },
  {
    collection: 'lookup-records',
    body: { ...lookupRecord({ customerAddress: '192.168.1.103', macAddress: '00155D011405', vmName: 'Blue3' }) },
    key: [5001, '192.168.1.103'],
    // A live migration: the CA moves to another host's PA.
    change: { providerAddress: '10.1.1.30' },
    other: { body: { ...lookupRecord({ customerAddress: '192.168.2.11', virtualSubnetId: 5002, macAddress: '00155D020B01' }) }, key: [5002, '192.168.2.11'] },
    mismatch: { customerAddress: '192.168.1.104' },
    duplicateCode: 'DUPLICATE_LOOKUP_RECORD',
  },
  {
    collection: 'customer-routes',
    body: { ...customerRoute({ destinationPrefix: '10.0.0.0/8', nextHop: '192.168.2.250', metric: 10 }) },
    key: [RD1, 5001, '10.0.0.0/8'],
    change: { metric: 20 },
    other: { body: { ...customerRoute({ virtualSubnetId: 5002, destinationPrefix: '10.0.0.0/8', nextHop: '192.168.2.1' }) }, key: [RD1, 5002, '10.0.0.0/8'] },
    mismatch: { destinationPrefix: '10.0.0.0/16' },
    duplicateCode: 'ALREADY_EXISTS',
  },
  {
    collection: 'provider-addresses',
    body: { ...providerAddress({ interface: 'eth2', providerAddress: '10.2.2.10', vlanId: 20 }) },
    key: ['10.2.2.10'],
    change: { vlanId: 21 },
    other: { body: { ...providerAddress({ providerAddress: '2001:db8:1::10', prefixLength: 64 }) }, key: ['2001:db8:1::10'] },
    mismatch: { providerAddress: '10.2.2.11' },
    duplicateCode: 'ALREADY_EXISTS',
  },
  {
    collection: 'provider-routes',
    body: { ...providerRoute({ destinationPrefix: '10.3.0.0/16', nextHop: '10.1.1.254', metric: 100 }) },
    key: ['eth1', '10.3.0.0/16'],
    change: { nextHop: '10.1.1.253' },
    other: { body: { ...providerRoute({ interface: 'eth2', destinationPrefix: '2001:db8:2::/48', nextHop: '2001:db8:1::1' }) }, key: ['eth2', '2001:db8:2::/48'] },
    mismatch: { interface: 'eth3' },
    duplicateCode: 'ALREADY_EXISTS',
  },
];

/** What the API returns for a body: the fixtures are canonical except the HNV upper-case MACs. */
function canonical(body: Record<string, unknown>): Record<string, unknown> {
  return typeof body.macAddress === 'string' ? { ...body, macAddress: body.macAddress.toLowerCase() } : body;
}

async function seeded() {
  const api = await setup();
  await seedHnv(api.request);
  return api;
}

for (const c of CASES) {
  const url = itemUrl(c.collection, ...c.key);
  const otherUrl = itemUrl(c.collection, ...c.other.key);

  describe(`/v1/${c.collection}`, () => {
    it('POST creates the item: 201 with its canonical form and a Location that GETs it', async () => {
      const { request } = await seeded();
      const res = await request.post(`/v1/${c.collection}`).send(c.body);
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(res.body, canonical(c.body));
      assert.equal(res.headers.location, url);
      const again = await request.get(res.headers.location!);
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, canonical(c.body));
    });

    it('GET lists every item, the new one included', async () => {
      const { request } = await seeded();
      const before = await request.get(`/v1/${c.collection}`);
      assert.equal(before.status, 200);
      await request.post(`/v1/${c.collection}`).send(c.body).expect(201);
      const after = await request.get(`/v1/${c.collection}`);
      assert.equal(after.status, 200);
      const items = (after.body as { items: unknown[] }).items;
      assert.equal(items.length, (before.body as { items: unknown[] }).items.length + 1);
      assert.deepEqual(items.at(-1), canonical(c.body));
    });

    it('GET of an item that does not exist is 404 NOT_FOUND', async () => {
      const { request } = await seeded();
      assertError(await request.get(url), 404, 'NOT_FOUND');
    });

    it('PUT of a new key creates the item: 201', async () => {
      const { request } = await seeded();
      const res = await request.put(otherUrl).send(c.other.body);
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(res.body, canonical(c.other.body));
      assert.deepEqual((await request.get(otherUrl).expect(200)).body, canonical(c.other.body));
    });

    it('PUT of an existing key replaces the item: 200, and GET shows the replacement', async () => {
      const { request } = await seeded();
      await request.post(`/v1/${c.collection}`).send(c.body).expect(201);
      const replacement = { ...c.body, ...c.change };
      const res = await request.put(url).send(replacement);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, canonical(replacement));
      assert.deepEqual((await request.get(url).expect(200)).body, canonical(replacement));
    });

    it('PUT whose body names another key than the URL is 400 KEY_MISMATCH and changes nothing', async () => {
      const { request } = await seeded();
      await request.post(`/v1/${c.collection}`).send(c.body).expect(201);
      const before = await request.get('/v1/config').expect(200);
      assertError(await request.put(url).send({ ...c.body, ...c.mismatch }), 400, 'KEY_MISMATCH');
      const after = await request.get('/v1/config').expect(200);
      assert.deepEqual(after.body, before.body);
      assert.equal(after.headers.etag, before.headers.etag);
    });

    it(`POST of an existing key is 409 ${c.duplicateCode}`, async () => {
      const { request } = await seeded();
      await request.post(`/v1/${c.collection}`).send(c.body).expect(201);
      assertError(await request.post(`/v1/${c.collection}`).send({ ...c.body, ...c.change }), 409, c.duplicateCode);
      assert.deepEqual((await request.get(url).expect(200)).body, canonical(c.body));
    });

    it('DELETE removes the item: 200 names it, then GET is 404', async () => {
      const { request } = await seeded();
      await request.post(`/v1/${c.collection}`).send(c.body).expect(201);
      const res = await request.delete(url);
      assert.equal(res.status, 200, res.text);
      const deleted = (res.body as { deleted: { kind: string; key: string }[] }).deleted;
      assert.equal(deleted.length, 1);
      assert.equal(deleted[0]!.key, c.key.map(String).join('|'));
      assertError(await request.get(url), 404, 'NOT_FOUND');
    });

    it('DELETE of an item that does not exist is 404 NOT_FOUND', async () => {
      const { request } = await seeded();
      assertError(await request.delete(url), 404, 'NOT_FOUND');
    });
  });
}

describe('PUT of one item', () => {
  it('takes the key fields from the URL when the body leaves them out', async () => {
    const { request } = await seeded();
    const res = await request.put(itemUrl('lookup-records', 5001, '192.168.1.103')).send({ macAddress: '00155D011405', providerAddress: '10.1.1.20' });
    assert.equal(res.status, 201, res.text);
    assert.equal((res.body as { customerAddress: string }).customerAddress, '192.168.1.103');
    assert.equal((res.body as { virtualSubnetId: number }).virtualSubnetId, 5001);
  });

  it('finds the item whatever spelling the URL uses for its key', async () => {
    const { request } = await seeded();
    // No braces, upper case: still the domain stored as {11111111-2222-3333-4444-000000005001}.
    const res = await request.put(`/v1/routing-domains/${RD1.slice(1, -1).toUpperCase()}`).send({ name: 'Contoso renamed' });
    assert.equal(res.status, 200, res.text);
    assert.equal((res.body as { routingDomainId: string }).routingDomainId, RD1);
  });
});
