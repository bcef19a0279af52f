// A 2xx means the change is on disk; when the store fails, the API answers 503
// STORAGE_FAILED and nothing changed, in memory or on disk.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, NvgwError } from '../../src/model/errors.js';
import type { Test } from 'supertest';
import type { ApiRequest } from '../support/api.js';
import { assertError, hnvConfig, itemUrl, lookupRecord, RD1, routingDomain, seedHnv, setup } from '../support/api.js';

/** What SqliteStore throws when its write fails (e.g. SQLITE_FULL). */
const diskFull = () => new NvgwError(ErrorCode.StorageFailed, 'state database /var/lib/nvgw/state.db: write failed, nothing was changed: database or disk is full.');

async function snapshot(request: ApiRequest) {
  const res = await request.get('/v1/config').expect(200);
  return { body: res.body as unknown, etag: res.headers.etag };
}

const WRITES: { name: string; send: (request: ApiRequest) => Test }[] = [
  { name: 'POST of a lookup record', send: (r) => r.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '192.168.1.103', macAddress: '00155D011405' })) },
  { name: 'PUT replacing a lookup record', send: (r) => r.put(itemUrl('lookup-records', 5001, '192.168.1.101')).send(lookupRecord({ providerAddress: '10.1.1.30' })) },
  { name: 'DELETE ?cascade=true of a routing domain', send: (r) => r.delete(`${itemUrl('routing-domains', RD1)}?cascade=true`) },
  { name: 'PUT /v1/config', send: (r) => r.put('/v1/config').send({ ...hnvConfig(), lookupRecords: [] }) },
];

describe('a failing store (MemoryStore.failNextCommit)', () => {
  for (const write of WRITES) {
    it(`${write.name} is 503 STORAGE_FAILED and GET is unchanged`, async () => {
      const { request, store } = await setup();
      await seedHnv(request);
      const before = await snapshot(request);
      const commits = store.commits;
      store.failNextCommit = diskFull();
      assertError(await write.send(request), 503, 'STORAGE_FAILED');
      assert.deepEqual(await snapshot(request), before);
      assert.equal(store.commits, commits);
    });
  }

  it('the failure is not sticky: the same POST succeeds once the store works again', async () => {
    const { request, store } = await setup();
    store.failNextCommit = diskFull();
    assertError(await request.post('/v1/routing-domains').send(routingDomain()), 503, 'STORAGE_FAILED');
    await request.post('/v1/routing-domains').send(routingDomain()).expect(201);
  });

  it('a store that throws a plain Error (not an NvgwError) still yields 503 STORAGE_FAILED, state unchanged', async () => {
    const { request, store } = await setup();
    await seedHnv(request);
    const before = await snapshot(request);
    store.failNextCommit = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    assertError(await request.post('/v1/routing-domains').send(routingDomain({ routingDomainId: '{11111111-2222-3333-4444-000000007001}' })), 503, 'STORAGE_FAILED');
    assert.deepEqual(await snapshot(request), before);
  });
});

describe('SQLite store', () => {
  it('a write to a database that can no longer be written is 503 STORAGE_FAILED and GET is unchanged', async () => {
    const api = await setup({ sqlite: true });
    try {
      await seedHnv(api.request);
      const before = await snapshot(api.request);
      api.store.close();
      assertError(await api.request.post('/v1/routing-domains').send(routingDomain({ routingDomainId: '{11111111-2222-3333-4444-000000007001}' })), 503, 'STORAGE_FAILED');
      assert.deepEqual(await snapshot(api.request), before);
    } finally {
      api.close();
    }
  });

  it('what got a 2xx is there after a restart, with the same ETag', async () => {
    const first = await setup({ sqlite: true });
    await seedHnv(first.request);
    await first.request.post('/v1/lookup-records').send(lookupRecord({ customerAddress: '192.168.1.103', macAddress: '00-15-5D-01-14-05' })).expect(201);
    await first.request.delete(itemUrl('lookup-records', 5001, '192.168.1.102')).expect(200);
    const before = await snapshot(first.request);
    const second = await first.restart();
    try {
      assert.deepEqual(await snapshot(second.request), before);
    } finally {
      second.close();
    }
  });
});
