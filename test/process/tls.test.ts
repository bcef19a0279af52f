import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GatewayProcess, StateDir } from '../support/gateway-process.js';
import { makeStateDir, startGatewayProcess } from '../support/gateway-process.js';
import { makeTestPki } from '../support/pki.js';

function get(url: string, options: https.RequestOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(`${url}/v1/status`, options, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('the API over TLS with client certificates (mTLS)', () => {
  let pki: StateDir;
  let rogue: StateDir;
  let dir: StateDir;
  let gw: GatewayProcess;
  const pem = (name: string, from = pki) => readFileSync(join(from.path, name));
  before(async () => {
    pki = makeStateDir('nvgw-pki-');
    makeTestPki(pki.path);
    rogue = makeStateDir('nvgw-rogue-pki-');
    makeTestPki(rogue.path, 'rogue-ca');
    dir = makeStateDir('nvgw-tls-', { api: { tls: { cert: join(pki.path, 'server.pem'), key: join(pki.path, 'server.key'), clientCa: join(pki.path, 'ca.pem') } } });
    gw = await startGatewayProcess(dir);
  });
  after(async () => {
    await gw?.stop();
    for (const d of [dir, pki, rogue]) d?.remove();
  });

  it('accepts a client certificate signed by the configured CA without a token', async () => {
    assert.match(gw.url, /^https:/);
    assert.equal(await get(gw.url, { ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key') }), 200);
  });

  it('refuses a client certificate from another CA unless the token is sent', async () => {
    const options = { ca: pem('ca.pem'), cert: pem('client.pem', rogue), key: pem('client.key', rogue) };
    assert.equal(await get(gw.url, options), 401);
    assert.equal(await get(gw.url, { ...options, headers: { authorization: `Bearer ${gw.token}` } }), 200);
  });

  it('still demands the token from a client without a certificate', async () => {
    assert.equal(await get(gw.url, { ca: pem('ca.pem') }), 401);
    assert.equal(await get(gw.url, { ca: pem('ca.pem'), headers: { authorization: `Bearer ${gw.token}` } }), 200);
  });
});
