// The endpoints around the desired state: status, liveness, readiness, Prometheus metrics,
// the OpenAPI document, and the error body for a route that does not exist.
import assert from 'node:assert/strict';
import { KIND_NAMES } from '../../src/model/resources.js';
import { describe, it } from 'node:test';
import { assertError, itemUrl, RD1, routingDomain, seedHnv, setup } from '../support/api.js';

describe('GET /v1/status', () => {
  it('reports version, uptime, the config ETag and object counts', async () => {
    const { request } = await setup();
    const etag = await seedHnv(request);
    const res = await request.get('/v1/status');
    assert.equal(res.status, 200);
    const body = res.body as { version: string; uptimeSeconds: number; etag: string; counts: Record<string, number> };
    assert.equal(body.version, '0.1.0');
    assert.ok(body.uptimeSeconds >= 0);
    assert.equal(body.etag, etag);
    const seeded = { routingDomains: 2, virtualSubnets: 3, customerRoutes: 4, lookupRecords: 5, providerAddresses: 1, providerRoutes: 1, providerPeers: 1 } as Record<string, number>;
    // Kinds a later issue adds are empty here.
    assert.deepEqual(body.counts, Object.fromEntries(KIND_NAMES.map((kind) => [kind, seeded[kind] ?? 0])));
  });

  it('includes the fields other parts of the gateway contribute', async () => {
    const { request } = await setup({ status: () => ({ datapath: 'fake', reconciled: true }) });
    const body = (await request.get('/v1/status').expect(200)).body as Record<string, unknown>;
    assert.equal(body.datapath, 'fake');
    assert.equal(body.reconciled, true);
  });
});

describe('GET /healthz', () => {
  it('answers 200 {status: ok}', async () => {
    const { request } = await setup();
    assert.deepEqual((await request.get('/healthz').expect(200)).body, { status: 'ok' });
  });
});

describe('GET /readyz', () => {
  it('is 200 {ready: true} once the state is loaded', async () => {
    const { request } = await setup();
    assert.deepEqual((await request.get('/readyz').expect(200)).body, { ready: true });
  });

  it('is 503 {ready: false} while the gateway says it is not ready', async () => {
    const { request } = await setup({ ready: () => false });
    assert.deepEqual((await request.get('/readyz').expect(503)).body, { ready: false });
  });
});

describe('GET /metrics', () => {
  it('is Prometheus text with request counters and object counts', async () => {
    const { request } = await setup();
    await seedHnv(request);
    const res = await request.get('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type']!, /^text\/plain; version=0\.0\.4/);
    assert.match(res.text, /^# TYPE nvgw_api_requests_total counter$/m);
    assert.match(res.text, /^nvgw_api_requests_total\{method="PUT",route="\/v1\/config",status="200"\} 1$/m);
    assert.match(res.text, /^# TYPE nvgw_config_objects gauge$/m);
    assert.match(res.text, /^nvgw_config_objects\{kind="lookupRecords"\} 5$/m);
    assert.match(res.text, /^nvgw_config_objects\{kind="routingDomains"\} 2$/m);
    assert.match(res.text, /^nvgw_api_request_duration_seconds_bucket\{/m);
  });

  it('labels requests by route pattern, never by raw URL, so label cardinality stays bounded', async () => {
    const { request } = await setup();
    await request.post('/v1/routing-domains').send(routingDomain()).expect(201);
    await request.get(itemUrl('routing-domains', RD1)).expect(200);
    await request.get('/v1/no-such-thing').expect(404);
    const text = (await request.get('/metrics').expect(200)).text;
    assert.match(text, /route="\/v1\/routing-domains\/:routingDomainId",status="200"/);
    assert.match(text, /route="unmatched",status="404"/);
    assert.doesNotMatch(text, /11111111-2222/);
    assert.doesNotMatch(text, /no-such-thing/);
  });

  it('counts refused requests with their status', async () => {
    const { request } = await setup();
    await request.withAuthorization(undefined).get('/v1/status').expect(401);
    assert.match((await request.get('/metrics').expect(200)).text, /status="401"\} 1$/m);
  });
});

describe('GET /v1/openapi.json', () => {
  it('serves an OpenAPI 3.1 document', async () => {
    const { request } = await setup();
    const body = (await request.get('/v1/openapi.json').expect(200)).body as { openapi: string; info: { version: string }; paths: object };
    assert.equal(body.openapi, '3.1.0');
    assert.equal(body.info.version, '0.1.0');
    assert.ok(Object.keys(body.paths).length > 0);
  });
});

describe('unknown routes', () => {
  for (const [method, url] of [
    ['get', '/v1/no-such-collection'],
    ['get', '/v2/config'],
    ['patch', '/v1/config'],
    ['delete', '/v1/config'],
    ['post', '/v1/routing-domains/extra/segments/here'],
  ] as const) {
    it(`${method.toUpperCase()} ${url} is 404 NO_SUCH_ROUTE with the error body`, async () => {
      const { request } = await setup();
      const test = request[method](url);
      const body = assertError(await (method === 'get' || method === 'delete' ? test : test.send({})), 404, 'NO_SUCH_ROUTE');
      assert.match(body.message, /openapi\.json/);
      assert.deepEqual(body.details, []);
    });
  }
});
