// What the API does with bodies and URLs before any resource logic: JSON only (415), a size
// limit (413), broken JSON (400), and no 500 for anything a client can send.
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { assertError, hnvConfig, itemUrl, RD1, routingDomain, seedHnv, setup } from '../support/api.js';

describe('413 PAYLOAD_TOO_LARGE (createApp bodyLimit: 1kb)', () => {
  const big = { ...routingDomain(), name: 'x'.repeat(2000) };

  it('POST of a body over the limit is 413 and creates nothing', async () => {
    const { request } = await setup({ bodyLimit: '1kb' });
    assertError(await request.post('/v1/routing-domains').send(big), 413, 'PAYLOAD_TOO_LARGE');
    assert.equal((await request.get('/v1/routing-domains').expect(200)).body.items.length, 0);
  });

  it('PUT of one item over the limit is 413', async () => {
    const { request } = await setup({ bodyLimit: '1kb' });
    assertError(await request.put(itemUrl('routing-domains', RD1)).send(big), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('PUT /v1/config over the limit is 413', async () => {
    const { request } = await setup({ bodyLimit: '1kb' });
    assertError(await request.put('/v1/config').send(hnvConfig()), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('a body under the limit is accepted', async () => {
    const { request } = await setup({ bodyLimit: '1kb' });
    await request.post('/v1/routing-domains').send(routingDomain()).expect(201);
  });
});

describe('415 UNSUPPORTED_MEDIA_TYPE', () => {
  it('POST with Content-Type text/plain is 415', async () => {
    const { request } = await setup();
    assertError(await request.post('/v1/routing-domains').type('text/plain').send(JSON.stringify(routingDomain())), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('POST of a form is 415', async () => {
    const { request } = await setup();
    assertError(await request.post('/v1/routing-domains').type('form').send({ routingDomainId: RD1 }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('PUT /v1/config without a Content-Type is 415', async () => {
    const { request } = await setup();
    assertError(await request.put('/v1/config'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('PUT of one item with text/plain is 415', async () => {
    const { request } = await setup();
    assertError(await request.put(itemUrl('routing-domains', RD1)).type('text/plain').send('{}'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('JSON in a charset other than UTF-8 is 415', async () => {
    const { request } = await setup();
    assertError(await request.post('/v1/routing-domains').set('Content-Type', 'application/json; charset=latin1').send('{}'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('an unknown Content-Encoding is 415', async () => {
    const { request } = await setup();
    assertError(await request.post('/v1/routing-domains').type('json').set('Content-Encoding', 'x-unknown').send('{}'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('application/json with a charset parameter of utf-8 is fine', async () => {
    const { request } = await setup();
    await request.post('/v1/routing-domains').set('Content-Type', 'application/json; charset=utf-8').send(JSON.stringify(routingDomain())).expect(201);
  });

  it('a gzip-encoded JSON body is accepted', async () => {
    const { request } = await setup();
    const res = await request
      .post('/v1/routing-domains')
      .type('json')
      .set('Content-Encoding', 'gzip')
      // superagent would JSON-encode a Buffer sent as JSON; send its bytes as they are.
      .serialize((bytes: Buffer) => bytes as unknown as string)
      .send(gzipSync(JSON.stringify(routingDomain())));
    assert.equal(res.status, 201, res.text);
  });
});

describe('400 MALFORMED_JSON', () => {
  it('POST of broken JSON is 400', async () => {
    const { request } = await setup();
    assertError(await request.post('/v1/routing-domains').type('json').send('{"routingDomainId":'), 400, 'MALFORMED_JSON');
  });

  it('PUT /v1/config of broken JSON is 400 and changes nothing', async () => {
    const { request } = await setup();
    const etag = await seedHnv(request);
    assertError(await request.put('/v1/config').type('json').send('{"routingDomains": [}'), 400, 'MALFORMED_JSON');
    assert.equal((await request.get('/v1/config').expect(200)).headers.etag, etag);
  });

  it('PUT of one item with broken JSON is 400', async () => {
    const { request } = await setup();
    assertError(await request.put(itemUrl('routing-domains', RD1)).type('json').send("{'single': 'quotes'}"), 400, 'MALFORMED_JSON');
  });

  it('a bare JSON scalar is refused as malformed (only objects and arrays): 400', async () => {
    const { request } = await setup();
    assertError(await request.post('/v1/routing-domains').type('json').send('"{11111111-2222-3333-4444-000000005001}"'), 400, 'MALFORMED_JSON');
  });
});

describe('no 500 for what a client sends', () => {
  it('a gzip Content-Encoding whose body is not gzip is a 4xx with the error body', async () => {
    const { request } = await setup();
    const res = await request.post('/v1/routing-domains').type('json').set('Content-Encoding', 'gzip').send('{"routingDomainId":"x"}');
    assertError(res, 400, 'MALFORMED_REQUEST');
  });

  it('a path segment with broken percent-encoding (/v1/routing-domains/%ZZ) is a 4xx with the error body', async () => {
    const { request } = await setup();
    const res = await request.get('/v1/routing-domains/%ZZ');
    assert.ok(res.status >= 400 && res.status < 500, `got ${res.status}: ${res.text}`);
  });
});
