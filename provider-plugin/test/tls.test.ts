/**
 * https gateways: the client trusts the CA it is given, authenticates with a client
 * certificate (mTLS) instead of a token, and does not retry a certificate that fails.
 * The certificates are throwaway test material (fixtures/tls/README.md).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { NvgwClient } from '../src/client/client.js';
import { NvgwApiError, NvgwConnectionError } from '../src/client/errors.js';
import type { TestGateway } from './support/gateway.js';
import { cliEnv, fixture, spawnCli, startTestGateway } from './support/gateway.js';

describe('https and mTLS', () => {
  let gateway: TestGateway;
  let ca: string;
  let cert: string;
  let key: string;

  before(async () => {
    gateway = await startTestGateway({
      NVGW_API_TLS_CERT: fixture('tls/server.pem'),
      NVGW_API_TLS_KEY: fixture('tls/server.key'),
      NVGW_API_TLS_CLIENT_CA: fixture('tls/ca.pem'),
    });
    [ca, cert, key] = await Promise.all(['tls/ca.pem', 'tls/client.pem', 'tls/client.key'].map((f) => readFile(fixture(f), 'utf8'))) as [string, string, string];
  });
  after(() => gateway.close());

  it('serves https and is reached with the bearer token and the CA', async () => {
    assert.match(gateway.url, /^https:/);
    const status = await new NvgwClient({ url: gateway.url, token: gateway.token, tls: { ca } }).status();
    assert.equal(typeof status.version, 'string');
  });

  it('authenticates with a client certificate and no token (mTLS)', async () => {
    const config = await new NvgwClient({ url: gateway.url, tls: { ca, cert, key } }).getConfig();
    assert.match(config.etag, /^"\d+"$/);
  });

  it('is refused without a token or certificate', async () => {
    await assert.rejects(new NvgwClient({ url: gateway.url, tls: { ca } }).status(), (error: unknown) => error instanceof NvgwApiError && error.code === 'UNAUTHORIZED');
  });

  it('fails with TLS_FAILED, without retrying, when the CA is not given', async () => {
    let retries = 0;
    const client = new NvgwClient({ url: gateway.url, token: gateway.token, onRetry: () => retries++, sleep: async () => {} });
    await assert.rejects(client.status(), (error: unknown) => error instanceof NvgwConnectionError && error.code === 'TLS_FAILED');
    assert.equal(retries, 0);
  });

  it('takes --ca, --cert and --key on the command line', async () => {
    const result = await spawnCli(['status', '-o', 'json', '--ca', fixture('tls/ca.pem'), '--cert', fixture('tls/client.pem'), '--key', fixture('tls/client.key')], { env: { NVGW_URL: cliEnv(gateway).NVGW_URL! } });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(JSON.parse(result.stdout).counts);
  });
});
