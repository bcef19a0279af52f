/**
 * https gateways: the client trusts the CA it is given, authenticates with a client
 * certificate (mTLS) instead of a token, and does not retry a certificate that fails.
 * The certificates are made with openssl at test time (the root's test/support/pki.ts).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NvgwClient } from '../src/client/client.js';
import { NvgwApiError, NvgwConnectionError } from '../src/client/errors.js';
import type { TestGateway } from './support/gateway.js';
import { cliEnv, ROOT, spawnCli, startTestGateway } from './support/gateway.js';

describe('https and mTLS', () => {
  let gateway: TestGateway;
  let ca: string;
  let cert: string;
  let key: string;

  let pkiDir: string;
  const pkiFiles: Record<string, string> = {};

  before(async () => {
    pkiDir = await mkdtemp(join(tmpdir(), 'nvgwctl-pki-'));
    const { makeTestPki } = (await import(new URL('dist/test/support/pki.js', ROOT).href)) as { makeTestPki: (dir: string) => Record<string, string> };
    Object.assign(pkiFiles, makeTestPki(pkiDir));
    gateway = await startTestGateway({
      NVGW_API_TLS_CERT: pkiFiles.serverCert!,
      NVGW_API_TLS_KEY: pkiFiles.serverKey!,
      NVGW_API_TLS_CLIENT_CA: pkiFiles.ca!,
    });
    [ca, cert, key] = (await Promise.all([pkiFiles.ca!, pkiFiles.clientCert!, pkiFiles.clientKey!].map((f) => readFile(f, 'utf8')))) as [string, string, string];
  });
  after(async () => {
    await gateway.close();
    await rm(pkiDir, { recursive: true, force: true });
  });

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
    const result = await spawnCli(['status', '-o', 'json', '--ca', pkiFiles.ca!, '--cert', pkiFiles.clientCert!, '--key', pkiFiles.clientKey!], { env: { NVGW_URL: cliEnv(gateway).NVGW_URL! } });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(JSON.parse(result.stdout).counts);
  });
});
