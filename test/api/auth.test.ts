// Every route but /healthz needs the bearer token (issue 2, security). The routes come from
// the OpenAPI document the app serves, so a new route is covered the day it is documented.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OpenApiOperation } from '../support/api.js';
import { assertError, hnvConfig, RD1, routingDomain, setup, TEST_TOKEN } from '../support/api.js';

const { openapi } = await setup();

/** A concrete value for each path parameter the document uses. */
const SAMPLE_PARAMS: Record<string, string> = {
  routingDomainId: encodeURIComponent(RD1),
  virtualSubnetId: '5001',
  customerAddress: '192.168.1.101',
  destinationPrefix: '192.168.1.0',
  destinationPrefixLength: '24',
  providerAddress: '10.1.1.10',
  interface: 'eth1',
};

function concrete(template: string): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = SAMPLE_PARAMS[name];
    assert.ok(value, `no sample value for path parameter {${name}}; add one to SAMPLE_PARAMS`);
    return value;
  });
}

const operations: { method: 'get' | 'post' | 'put' | 'delete' | 'patch'; template: string; operation: OpenApiOperation }[] = [];
for (const [template, item] of Object.entries(openapi.paths)) {
  for (const method of ['get', 'post', 'put', 'delete', 'patch'] as const) {
    const operation = item[method];
    if (operation) operations.push({ method, template, operation });
  }
}

const isPublic = (operation: OpenApiOperation) => Array.isArray(operation.security) && operation.security.length === 0;

describe('authentication on every protected route', () => {
  it('the document lists the routes this test loops over', () => {
    assert.ok(operations.length >= 6 * 5 + 6, `only ${operations.length} operations`);
  });

  for (const { method, template, operation } of operations.filter((o) => !isPublic(o.operation))) {
    const label = `${method.toUpperCase()} ${template}`;
    const send = method === 'post' || method === 'put' || method === 'patch';

    for (const [how, authorization] of [
      ['without a token', undefined],
      ['with a wrong token', 'Bearer not-the-token'],
      ['with the right token under another scheme', `Basic ${TEST_TOKEN}`],
      ['with the token followed by more text', `Bearer ${TEST_TOKEN} extra`],
    ] as const) {
      it(`${label} ${how} is 401 UNAUTHORIZED, as the document says`, async () => {
        assert.ok(operation.responses['401'], `the OpenAPI document lists no 401 for ${label}`);
        const { request } = await setup();
        const test = request.withAuthorization(authorization)[method](concrete(template));
        assertError(await (send ? test.send({}) : test), 401, 'UNAUTHORIZED');
      });
    }
  }
});

describe('authentication', () => {
  it('/healthz answers without a token', async () => {
    const { request } = await setup();
    const res = await request.withAuthorization(undefined).get('/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
  });

  it('/healthz answers with a wrong token too', async () => {
    const { request } = await setup();
    await request.withAuthorization('Bearer wrong').get('/healthz').expect(200);
  });

  it('the scheme name is case-insensitive (RFC 9110 §11.1): "bearer <token>" is accepted', async () => {
    const { request } = await setup();
    await request.withAuthorization(`bearer ${TEST_TOKEN}`).get('/v1/status').expect(200);
  });

  it('a refused write changes nothing', async () => {
    const { request } = await setup();
    const before = await request.get('/v1/config').expect(200);
    assertError(await request.withAuthorization('Bearer wrong').post('/v1/routing-domains').send(routingDomain()), 401, 'UNAUTHORIZED');
    assertError(await request.withAuthorization(undefined).put('/v1/config').send(hnvConfig()), 401, 'UNAUTHORIZED');
    const after = await request.get('/v1/config').expect(200);
    assert.deepEqual(after.body, before.body);
    assert.equal(after.headers.etag, before.headers.etag);
  });

  it('authentication comes before body parsing: broken JSON without a token is 401, not 400', async () => {
    const { request } = await setup();
    assertError(await request.withAuthorization(undefined).post('/v1/routing-domains').type('json').send('{"broken'), 401, 'UNAUTHORIZED');
  });

  it('the 401 message never echoes the token that was sent', async () => {
    const { request } = await setup();
    const res = await request.withAuthorization('Bearer s3cret-guess').get('/v1/status');
    assert.equal(res.status, 401);
    assert.doesNotMatch(res.text, /s3cret-guess/);
  });

  it('a 401 carries WWW-Authenticate: Bearer (RFC 9110 §15.5.2, RFC 6750 §3)', async () => {
    const { request } = await setup();
    const res = await request.withAuthorization(undefined).get('/v1/status');
    assert.equal(res.status, 401);
    assert.match(res.headers['www-authenticate'] ?? '', /^Bearer\b/);
  });
});
