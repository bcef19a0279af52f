// GET /v1/nat/connections: counts per routing domain and a bounded listing, from an injected
// connection table; every answer checked against the OpenAPI document.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import supertest from 'supertest';
import { createApp } from '../../../src/api/app.js';
import { ConfigService } from '../../../src/control/config-service.js';
import type { NatConnectionsQuery } from '../../../src/nat/conntrack.js';
import { summarizeConntrack } from '../../../src/nat/conntrack.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import type { OpenApiDocument } from '../../support/api.js';
import { assertError, responseChecker, setup, TEST_TOKEN } from '../../support/api.js';
import { BLUE, natConfig, RED } from './fixtures.js';

const TABLE = [
  'ipv4     2 icmp     1 29 src=192.168.1.101 dst=198.51.100.5 type=8 code=0 id=4242 zone-orig=1000 src=198.51.100.5 dst=203.0.113.10 type=0 code=0 id=4242 mark=1000 use=1',
  'ipv4     2 icmp     1 28 src=192.168.1.101 dst=198.51.100.5 type=8 code=0 id=4242 zone-orig=1001 src=198.51.100.5 dst=203.0.113.10 type=0 code=0 id=12 mark=1001 use=1',
  'ipv4     2 tcp      6 431999 ESTABLISHED src=198.51.100.5 dst=203.0.113.10 sport=40000 dport=8081 src=192.168.1.101 dst=198.51.100.5 sport=8000 dport=40000 [ASSURED] mark=1001 use=1',
];

async function withTable() {
  const service = new ConfigService(new MemoryStore());
  service.putConfig(natConfig(), {});
  const queries: NatConnectionsQuery[] = [];
  const domains = [
    { routingDomainId: BLUE, zone: 1000, mark: 1000 },
    { routingDomainId: RED, zone: 1001, mark: 1001 },
  ];
  const app = createApp({
    service,
    token: TEST_TOKEN,
    logger: pino({ level: 'silent' }),
    natConnections: (query) => {
      queries.push(query);
      return summarizeConntrack(TABLE, domains, query);
    },
  });
  const openapi = (await supertest(app).get('/v1/openapi.json').set('Authorization', `Bearer ${TEST_TOKEN}`)).body as OpenApiDocument;
  const checker = responseChecker(openapi);
  const get = async (url: string) => {
    const res = await supertest(app).get(url).set('Authorization', `Bearer ${TEST_TOKEN}`);
    checker.check('get', url, res);
    return res;
  };
  return { get, queries };
}

describe('GET /v1/nat/connections', () => {
  it('counts every routing domain\'s connections and lists them, 100 at most by default', async () => {
    const { get, queries } = await withTable();
    const res = await get('/v1/nat/connections');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.domains, [
      { routingDomainId: BLUE, zone: 1000, mark: 1000, connections: 1 },
      { routingDomainId: RED, zone: 1001, mark: 1001, connections: 2 },
    ]);
    assert.equal(res.body.items.length, 3);
    assert.equal(queries[0]!.limit, 100);
  });

  it('lists one domain\'s connections, any spelling of its GUID, bounded by limit', async () => {
    const { get } = await withTable();
    const res = await get(`/v1/nat/connections?routingDomainId=${RED.slice(1, -1).toUpperCase()}&limit=1`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.domains.map((d: { connections: number }) => d.connections), [2]);
    assert.deepEqual([res.body.items.length, res.body.truncated, res.body.items[0].zoneDirection], [1, true, 'original']);
  });

  it('an unknown routing domain is 404 NOT_FOUND; a bad limit or parameter is 422 VALIDATION_FAILED', async () => {
    const { get } = await withTable();
    assertError(await get('/v1/nat/connections?routingDomainId={11111111-2222-3333-4444-0000000000aa}'), 404, 'NOT_FOUND');
    assertError(await get('/v1/nat/connections?limit=0'), 422, 'VALIDATION_FAILED', '?limit');
    assertError(await get('/v1/nat/connections?zone=1000'), 422, 'VALIDATION_FAILED', '?zone');
  });

  it('without a data path there is no connection table: 501 DATAPATH_DISABLED', async () => {
    const { request } = await setup();
    assertError(await request.get('/v1/nat/connections'), 501, 'DATAPATH_DISABLED');
  });
});
