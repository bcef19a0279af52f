import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { makeStateDir, startGatewayProcess, call } from '../support/gateway-process.js';
import { stateWithRecords } from '../support/fixtures.js';

describe('durable desired state', () => {
  const dir = makeStateDir();
  after(() => dir.remove());

  it('restores 10,000 lookup records with an identical GET and ETag after a restart', async () => {
    const first = await startGatewayProcess(dir);
    try {
      const put = await call(first, 'PUT', '/v1/config', stateWithRecords(10_000));
      assert.equal(put.status, 200, put.text);
    } finally {
      await first.stop('SIGTERM');
    }
    const before = await (async () => {
      const gw = await startGatewayProcess(dir);
      try {
        return await call(gw, 'GET', '/v1/config');
      } finally {
        await gw.stop('SIGTERM');
      }
    })();
    const second = await startGatewayProcess(dir);
    try {
      const afterRestart = await call(second, 'GET', '/v1/config');
      assert.equal(afterRestart.status, 200);
      assert.equal(afterRestart.headers.get('etag'), before.headers.get('etag'));
      assert.equal(afterRestart.text, before.text);
      const doc = afterRestart.json() as { lookupRecords: unknown[] };
      assert.equal(doc.lookupRecords.length, 10_000);
    } finally {
      await second.stop('SIGTERM');
    }
  });

  it('refuses to start on a corrupt database, and says so', async () => {
    const broken = makeStateDir('nvgw-broken-');
    after(() => broken.remove());
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    writeFileSync(join(broken.path, 'state.db'), Buffer.alloc(8192, 0x5a));
    await assert.rejects(startGatewayProcess(broken), /not a usable nvgw database/);
  });
});
