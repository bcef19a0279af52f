// GET/PUT /v1/config: the whole desired state as one document, its ETag (the state
// revision), If-Match (RFC 9110 §13.1.1), ?dryRun and all-or-nothing application.
import assert from 'node:assert/strict';
import { KIND_NAMES } from '../../src/model/resources.js';
import { describe, it } from 'node:test';
import type { ConfigDocument } from '../../src/model/resources.js';
import { assertError, hnvConfig, lookupRecord, routingDomain, seedHnv, setup } from '../support/api.js';

async function seeded() {
  const api = await setup();
  const etag = await seedHnv(api.request);
  return { ...api, etag };
}

interface PutResult {
  etag: string;
  applied: boolean;
  summary: Record<string, { added: number; removed: number; changed: number }>;
  diff?: Record<string, { added: unknown[]; removed: unknown[]; changed: { before: unknown; after: unknown }[] }>;
}

describe('GET /v1/config', () => {
  it('returns every collection, empty on a fresh gateway, with an ETag', async () => {
    const { request } = await setup();
    const res = await request.get('/v1/config');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, Object.fromEntries(KIND_NAMES.map((kind) => [kind, []])));
    assert.match(res.headers.etag!, /^"\d+"$/);
  });

  it('returns what was PUT, in canonical form (MACs lower case)', async () => {
    const { request } = await seeded();
    const doc = (await request.get('/v1/config').expect(200)).body as ConfigDocument;
    const sent = hnvConfig();
    for (const name of Object.keys(sent) as (keyof ConfigDocument)[]) assert.equal(doc[name].length, sent[name].length, name);
    assert.deepEqual(
      doc.lookupRecords.map((r) => r.macAddress).sort(),
      sent.lookupRecords.map((r) => r.macAddress.toLowerCase()).sort(),
    );
  });
});

describe('PUT /v1/config', () => {
  it('applies a document and answers with the new ETag in the header and the body', async () => {
    const { request } = await setup();
    const res = await request.put('/v1/config').send(hnvConfig());
    assert.equal(res.status, 200, res.text);
    const result = res.body as PutResult;
    assert.equal(result.applied, true);
    assert.equal(res.headers.etag, result.etag);
    assert.deepEqual(result.summary.lookupRecords, { added: 5, removed: 0, changed: 0 });
    assert.equal((await request.get('/v1/config').expect(200)).headers.etag, result.etag);
  });

  it('a missing collection means empty: PUT {} clears the state', async () => {
    const { request } = await seeded();
    const res = await request.put('/v1/config').send({});
    assert.equal(res.status, 200, res.text);
    assert.deepEqual((res.body as PutResult).summary.routingDomains, { added: 0, removed: 2, changed: 0 });
    assert.equal((await request.get('/v1/config').expect(200)).body.lookupRecords.length, 0);
  });

  it('PUTting back what GET returned changes nothing: applied false, ETag unchanged', async () => {
    const { request, etag } = await seeded();
    const current = await request.get('/v1/config').expect(200);
    const res = await request.put('/v1/config').send(current.body);
    assert.equal(res.status, 200, res.text);
    assert.equal((res.body as PutResult).applied, false);
    assert.equal(res.headers.etag, etag);
  });

  it('a body that is not an object is 422 VALIDATION_FAILED', async () => {
    const { request } = await seeded();
    assertError(await request.put('/v1/config').send([]), 422, 'VALIDATION_FAILED', '/');
  });

  it('a collection that is not an array is 422 VALIDATION_FAILED naming it', async () => {
    const { request } = await seeded();
    assertError(await request.put('/v1/config').send({ ...hnvConfig(), lookupRecords: {} }), 422, 'VALIDATION_FAILED', 'lookupRecords');
  });
});

describe('ETag', () => {
  it('changes after a PUT /v1/config that changes something', async () => {
    const { request, etag } = await seeded();
    const doc = hnvConfig();
    doc.lookupRecords[0]!.providerAddress = '10.1.1.30';
    const res = await request.put('/v1/config').send(doc).expect(200);
    assert.notEqual(res.headers.etag, etag);
    assert.equal((await request.get('/v1/config').expect(200)).headers.etag, res.headers.etag);
  });

  it('changes after a write through a collection route', async () => {
    const { request, etag } = await seeded();
    await request.post('/v1/routing-domains').send(routingDomain({ routingDomainId: '{11111111-2222-3333-4444-000000007001}' })).expect(201);
    assert.notEqual((await request.get('/v1/config').expect(200)).headers.etag, etag);
  });

  it('does not change after a refused write', async () => {
    const { request, etag } = await seeded();
    await request.post('/v1/lookup-records').send(lookupRecord()).expect(409);
    assert.equal((await request.get('/v1/config').expect(200)).headers.etag, etag);
  });
});

describe('If-Match', () => {
  it('a stale ETag is 412 PRECONDITION_FAILED and changes nothing', async () => {
    const { request, etag } = await seeded();
    await request.post('/v1/routing-domains').send(routingDomain({ routingDomainId: '{11111111-2222-3333-4444-000000007001}' })).expect(201);
    const before = await request.get('/v1/config').expect(200);
    assertError(await request.put('/v1/config').set('If-Match', etag).send(hnvConfig()), 412, 'PRECONDITION_FAILED');
    const after = await request.get('/v1/config').expect(200);
    assert.deepEqual(after.body, before.body);
    assert.equal(after.headers.etag, before.headers.etag);
  });

  it('the current ETag succeeds', async () => {
    const { request, etag } = await seeded();
    const res = await request.put('/v1/config').set('If-Match', etag).send({});
    assert.equal(res.status, 200, res.text);
    assert.equal((res.body as PutResult).applied, true);
  });

  it('* succeeds', async () => {
    const { request } = await seeded();
    await request.put('/v1/config').set('If-Match', '*').send({}).expect(200);
  });

  it('a list of ETags that includes the current one succeeds', async () => {
    const { request, etag } = await seeded();
    await request.put('/v1/config').set('If-Match', `"999", ${etag}`).send({}).expect(200);
  });

  it('a weak ETag never matches (If-Match compares strongly): 412', async () => {
    const { request, etag } = await seeded();
    assertError(await request.put('/v1/config').set('If-Match', `W/${etag}`).send({}), 412, 'PRECONDITION_FAILED');
  });

  it('a stale ETag is 412 even when the document is also invalid (RFC 9110 §13.2.2: preconditions before content)', async () => {
    const { request } = await seeded();
    assertError(await request.put('/v1/config').set('If-Match', '"0"').send({ lookuprecords: [] }), 412, 'PRECONDITION_FAILED');
  });

  it('stops a lost update: the second of two controllers that read the same ETag gets 412', async () => {
    const { request, etag } = await seeded();
    const first = hnvConfig();
    first.lookupRecords[0]!.providerAddress = '10.1.1.30';
    await request.put('/v1/config').set('If-Match', etag).send(first).expect(200);
    const second = hnvConfig();
    second.lookupRecords[0]!.providerAddress = '10.1.1.50';
    assertError(await request.put('/v1/config').set('If-Match', etag).send(second), 412, 'PRECONDITION_FAILED');
    const records = (await request.get('/v1/lookup-records?virtualSubnetId=5001').expect(200)).body as { items: { customerAddress: string; providerAddress: string }[] };
    assert.equal(records.items.find((r) => r.customerAddress === '192.168.1.101')!.providerAddress, '10.1.1.30');
  });
});

describe('?dryRun=true', () => {
  function edited(): ConfigDocument {
    const doc = hnvConfig();
    doc.lookupRecords = doc.lookupRecords.filter((r) => r.customerAddress !== '192.168.1.102');
    doc.lookupRecords[0]!.providerAddress = '10.1.1.30';
    doc.lookupRecords.push(lookupRecord({ customerAddress: '192.168.1.103', macAddress: '00155D011405' }));
    return doc;
  }

  it('returns the diff: added, removed and changed items in canonical form', async () => {
    const { request, etag } = await seeded();
    const res = await request.put('/v1/config?dryRun=true').send(edited());
    assert.equal(res.status, 200, res.text);
    const result = res.body as PutResult;
    assert.equal(result.applied, false);
    assert.equal(result.etag, etag);
    assert.equal(res.headers.etag, etag);
    assert.deepEqual(result.summary.lookupRecords, { added: 1, removed: 1, changed: 1 });
    assert.deepEqual(result.summary.routingDomains, { added: 0, removed: 0, changed: 0 });
    const diff = result.diff!.lookupRecords!;
    assert.equal((diff.added[0] as { macAddress: string }).macAddress, '00155d011405');
    assert.equal((diff.removed[0] as { customerAddress: string }).customerAddress, '192.168.1.102');
    assert.deepEqual(
      diff.changed.map((c) => [(c.before as { providerAddress: string }).providerAddress, (c.after as { providerAddress: string }).providerAddress]),
      [['10.1.1.20', '10.1.1.30']],
    );
  });

  it('changes nothing: GET and its ETag are the same afterwards', async () => {
    const { request } = await seeded();
    const before = await request.get('/v1/config').expect(200);
    await request.put('/v1/config?dryRun=true').send(edited()).expect(200);
    const after = await request.get('/v1/config').expect(200);
    assert.deepEqual(after.body, before.body);
    assert.equal(after.headers.etag, before.headers.etag);
  });

  it('validates like a real PUT: an invalid document is refused with its error', async () => {
    const { request } = await seeded();
    const doc = edited();
    doc.lookupRecords.push(lookupRecord({ customerAddress: '192.168.9.9' }));
    assertError(await request.put('/v1/config?dryRun=true').send(doc), 422, 'CUSTOMER_ADDRESS_NOT_ON_LINK');
  });

  it('honours If-Match: a stale ETag is 412 even for a dry run', async () => {
    const { request } = await seeded();
    assertError(await request.put('/v1/config?dryRun=true').set('If-Match', '"0"').send(edited()), 412, 'PRECONDITION_FAILED');
  });

  it('?dryRun=false applies', async () => {
    const { request, etag } = await seeded();
    const res = await request.put('/v1/config?dryRun=false').send(edited()).expect(200);
    assert.equal((res.body as PutResult).applied, true);
    assert.notEqual(res.headers.etag, etag);
  });

  it('?dryRun=perhaps is 422 VALIDATION_FAILED', async () => {
    const { request } = await seeded();
    assertError(await request.put('/v1/config?dryRun=perhaps').send(edited()), 422, 'VALIDATION_FAILED', '?dryRun');
  });
});

describe('atomicity: all or nothing', () => {
  it('one bad record among valid ones changes nothing and names lookupRecords/N/... in details', async () => {
    const { request } = await seeded();
    const before = await request.get('/v1/config').expect(200);
    const doc = hnvConfig();
    doc.lookupRecords.push(
      lookupRecord({ customerAddress: '192.168.1.103', macAddress: '00155D011405' }),
      lookupRecord({ customerAddress: '192.168.1.104', macAddress: 'not-a-mac' }),
      lookupRecord({ customerAddress: '192.168.1.105', macAddress: '00155D011407' }),
    );
    doc.routingDomains.push(routingDomain({ routingDomainId: '{11111111-2222-3333-4444-000000007001}' }));
    const bad = doc.lookupRecords.length - 2;
    assertError(await request.put('/v1/config').send(doc), 422, 'VALIDATION_FAILED', `lookupRecords/${bad}/macAddress`);
    const after = await request.get('/v1/config').expect(200);
    assert.deepEqual(after.body, before.body);
    assert.equal(after.headers.etag, before.headers.etag);
  });

  it('reports every bad item, not only the first', async () => {
    const { request } = await seeded();
    const doc = hnvConfig();
    doc.lookupRecords[0]!.macAddress = 'bad';
    doc.lookupRecords[2]!.providerAddress = 'bad';
    const body = assertError(await request.put('/v1/config').send(doc), 422, 'VALIDATION_FAILED');
    assert.deepEqual(body.details.map((d) => d.path).sort(), ['lookupRecords/0/macAddress', 'lookupRecords/2/providerAddress']);
  });
});
