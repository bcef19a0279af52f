// The OpenAPI document is kept true two ways: every response in this tier passes the
// checker in test/support/api.ts, and this file checks the checker itself and that the
// document and the app's routes list the same operations.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckedResponse } from '../support/api.js';
import { responseChecker, setup } from '../support/api.js';

function response(status: number, body: unknown, headers: Record<string, string> = {}): CheckedResponse {
  return { status, type: 'application/json', body, text: JSON.stringify(body), headers };
}

describe('the OpenAPI response checker', () => {
  it('accepts a response that fits the document', async () => {
    const { openapi } = await setup();
    responseChecker(openapi).check('get', '/v1/routing-domains', response(200, { items: [] }));
  });

  it('fails a body that breaks the response schema, naming the problem', async () => {
    const { openapi } = await setup();
    const checker = responseChecker(openapi);
    assert.throws(
      () => checker.check('get', '/v1/virtual-subnets/5001', response(200, { virtualSubnetId: '5001', routingDomainId: 'x', name: '' })),
      /virtualSubnetId must be integer/,
    );
  });

  it('fails a status the document does not list for the operation', async () => {
    const { openapi } = await setup();
    assert.throws(
      () => responseChecker(openapi).check('get', '/v1/config', response(500, { code: 'INTERNAL', message: 'x', details: [] }, { etag: '"1"' })),
      /not documented/,
    );
  });

  it('fails a documented header that is missing: GET /v1/config without ETag', async () => {
    const { openapi } = await setup();
    const doc = { routingDomains: [], virtualSubnets: [], lookupRecords: [], customerRoutes: [], providerAddresses: [], providerRoutes: [] };
    assert.throws(() => responseChecker(openapi).check('get', '/v1/config', response(200, doc)), /header ETag is missing/);
  });

  it('fails an error body with an unknown code', async () => {
    const { openapi } = await setup();
    assert.throws(() => responseChecker(openapi).check('post', '/v1/lookup-records', response(409, { code: 'OOPS', message: 'x', details: [] })), /must be equal to one of the allowed values/);
  });

  it('fails anything but a 404 error body for a route outside the document', async () => {
    const { openapi } = await setup();
    const checker = responseChecker(openapi);
    checker.check('get', '/v1/nothing', response(404, { code: 'NO_SUCH_ROUTE', message: 'x', details: [] }));
    assert.throws(() => checker.check('get', '/v1/nothing', response(200, {})), /not in the OpenAPI document/);
  });

  it('maps concrete URLs to their templates, a customer route prefix taking two segments', async () => {
    const { openapi } = await setup();
    const checker = responseChecker(openapi);
    assert.equal(
      checker.templateOf('/v1/customer-routes/%7B11111111-2222-3333-4444-000000005001%7D/5001/192.168.1.0/24?cascade=true'),
      '/v1/customer-routes/{routingDomainId}/{virtualSubnetId}/{destinationPrefix}/{destinationPrefixLength}',
    );
    assert.equal(checker.templateOf('/v1/openapi.json'), '/v1/openapi.json');
  });
});

describe('the OpenAPI document and the app', () => {
  it('list the same operations: nothing mounted is undocumented, nothing documented is missing', async () => {
    const { app, openapi } = await setup();
    const stack = (app as unknown as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } }).router.stack;
    const mounted = stack
      .filter((layer) => layer.route)
      .flatMap((layer) => Object.keys(layer.route!.methods).map((m) => `${m.toUpperCase()} ${layer.route!.path.replace(/:(\w+)/g, '{$1}')}`))
      .sort();
    const documented = Object.entries(openapi.paths)
      .flatMap(([template, item]) => (['get', 'post', 'put', 'delete', 'patch'] as const).filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${template}`))
      .sort();
    assert.deepEqual(mounted, documented);
  });

  it('every operation documents its error responses with the Error schema', async () => {
    const { openapi } = await setup();
    for (const [template, item] of Object.entries(openapi.paths)) {
      for (const method of ['get', 'post', 'put', 'delete', 'patch'] as const) {
        for (const [status, res] of Object.entries(item[method]?.responses ?? {})) {
          if (Number(status) < 400 || template === '/readyz') continue;
          assert.deepEqual(res.content?.['application/json']?.schema, { $ref: '#/components/schemas/Error' }, `${method} ${template} ${status}`);
        }
      }
    }
  });
});
