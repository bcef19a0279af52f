/**
 * Retries against a tiny local HTTP server that fails on purpose: which requests are
 * sent again (idempotent ones on network errors and 5xx; a POST only when the gateway
 * provably did nothing), which never are (4xx), and how long the client waits.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { NvgwClient } from '../src/client/client.js';
import { NvgwApiError, NvgwConnectionError } from '../src/client/errors.js';
import { backoffDelay, parseRetryAfter } from '../src/client/retry.js';
import type { Transport } from '../src/client/transport.js';
import { fetchTransport } from '../src/client/transport.js';

type Step = { status: number; body?: unknown; headers?: Record<string, string> } | 'reset';

interface FlakyServer {
  url: string;
  /** What the next requests get, in order; the last step repeats. */
  script(steps: Step[]): void;
  requests: { method: string; url: string }[];
  close(): Promise<void>;
}

async function flakyServer(): Promise<FlakyServer> {
  let steps: Step[] = [{ status: 200, body: {} }];
  const requests: { method: string; url: string }[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    const step = steps.length > 1 ? steps.shift()! : steps[0]!;
    req.resume();
    req.on('end', () => {
      if (step === 'reset') {
        req.socket.destroy();
        return;
      }
      const body = typeof step.body === 'string' ? step.body : JSON.stringify(step.body ?? {});
      res.writeHead(step.status, { 'content-type': typeof step.body === 'string' ? 'text/html' : 'application/json', ...step.headers });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    script: (next) => {
      steps = next;
      requests.length = 0;
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const unavailable = (code = 'INTERNAL'): Step => ({ status: 503, body: { code, message: 'try later', details: [] } });

describe('retries', () => {
  let server: FlakyServer;
  let delays: number[];
  let client: NvgwClient;

  before(async () => {
    server = await flakyServer();
  });
  after(() => server.close());
  beforeEach(() => {
    delays = [];
    client = new NvgwClient({
      url: server.url,
      token: 'test-token-test-token',
      retry: { retries: 3, baseDelayMs: 100, maxDelayMs: 1000 },
      sleep: async (ms) => {
        delays.push(ms);
      },
      random: () => 0.5,
    });
  });

  it('retries a GET that meets 503 twice and returns the third answer', async () => {
    server.script([unavailable(), unavailable(), { status: 200, body: { version: '9', uptimeSeconds: 1, etag: '"1"', counts: {} } }]);
    const status = await client.status();
    assert.equal(status.version, '9');
    assert.equal(server.requests.length, 3);
    assert.deepEqual(delays, [50, 100]);
  });

  it('never retries a 4xx', async () => {
    server.script([{ status: 422, body: { code: 'VALIDATION_FAILED', message: 'bad', details: [{ path: 'x', problem: 'y' }] } }, { status: 200, body: {} }]);
    await assert.rejects(client.lookupRecords.list(), (error: unknown) => error instanceof NvgwApiError && error.code === 'VALIDATION_FAILED' && error.details[0]?.path === 'x');
    assert.equal(server.requests.length, 1);
    assert.deepEqual(delays, []);
  });

  it('gives up after the configured retries with the last answer as the error', async () => {
    server.script([unavailable('STORAGE_FAILED')]);
    await assert.rejects(client.getConfig(), (error: unknown) => error instanceof NvgwApiError && error.status === 503 && error.code === 'STORAGE_FAILED');
    assert.equal(server.requests.length, 4);
    assert.deepEqual(delays, [50, 100, 200]);
  });

  it('does not retry a 503 whose code says it is permanent (DATAPATH_DISABLED)', async () => {
    server.script([unavailable('DATAPATH_DISABLED'), { status: 200, body: { drops: {}, events: {}, vsids: [] } }]);
    await assert.rejects(client.stats(), (error: unknown) => error instanceof NvgwApiError && error.code === 'DATAPATH_DISABLED');
    assert.equal(server.requests.length, 1);
  });

  it('retries PUT and DELETE, which are idempotent, on 502', async () => {
    server.script([{ status: 502, body: '<html>bad gateway</html>' }, { status: 200, body: { virtualSubnetId: 5001, routingDomainId: '{x}', name: '' } }]);
    await client.virtualSubnets.put({ virtualSubnetId: 5001, routingDomainId: '{11111111-2222-3333-4444-000000005001}' });
    assert.deepEqual(
      server.requests.map((r) => r.method),
      ['PUT', 'PUT'],
    );
  });

  it('does not retry a POST after a 500: the create may have happened', async () => {
    server.script([{ status: 500, body: { code: 'INTERNAL', message: 'internal error', details: [] } }, { status: 201, body: {} }]);
    await assert.rejects(client.routingDomains.create({ routingDomainId: '{11111111-2222-3333-4444-000000005001}' }), (error: unknown) => error instanceof NvgwApiError && error.status === 500);
    assert.equal(server.requests.length, 1);
  });

  it('retries a POST that met 503 STORAGE_FAILED, which the contract says changed nothing', async () => {
    server.script([unavailable('STORAGE_FAILED'), { status: 201, body: { routingDomainId: '{11111111-2222-3333-4444-000000005001}', name: '', customerId: '' } }]);
    await client.routingDomains.create({ routingDomainId: '{11111111-2222-3333-4444-000000005001}' });
    assert.equal(server.requests.length, 2);
  });

  it('retries a GET whose connection was reset, but not a POST', async () => {
    server.script(['reset', { status: 200, body: { items: [] } }]);
    assert.deepEqual(await client.lookupRecords.list(), []);
    assert.equal(server.requests.length, 2);

    server.script(['reset', { status: 201, body: {} }]);
    await assert.rejects(client.routingDomains.create({ routingDomainId: '{11111111-2222-3333-4444-000000005001}' }), (error: unknown) => {
      assert.ok(error instanceof NvgwConnectionError);
      assert.equal(error.code, 'CONNECTION_RESET');
      assert.equal(error.sent, true);
      return true;
    });
    assert.equal(server.requests.length, 1);
  });

  it('retries a POST that never left because the connection was refused', async () => {
    let calls = 0;
    const refusingOnce: Transport = async (request) => {
      calls++;
      if (calls === 1) throw new NvgwConnectionError({ code: 'CONNECTION_REFUSED', message: 'refused', sent: false, method: request.method, url: request.url });
      return fetchTransport(request);
    };
    server.script([{ status: 201, body: { routingDomainId: '{11111111-2222-3333-4444-000000005001}', name: '', customerId: '' } }]);
    const flaky = new NvgwClient({ url: server.url, transport: refusingOnce, sleep: async () => {} });
    await flaky.routingDomains.create({ routingDomainId: '{11111111-2222-3333-4444-000000005001}' });
    assert.deepEqual([calls, server.requests.length], [2, 1]);
  });

  it('takes a 404 after an ambiguous DELETE attempt as already deleted', async () => {
    server.script([{ status: 502, body: 'proxy error' }, { status: 404, body: { code: 'NOT_FOUND', message: 'lookup record 5001 192.168.1.101 does not exist', details: [] } }]);
    assert.deepEqual(await client.lookupRecords.delete([5001, '192.168.1.101']), { deleted: [] });
    server.script([{ status: 404, body: { code: 'NOT_FOUND', message: 'no such record', details: [] } }]);
    await assert.rejects(client.lookupRecords.delete([5001, '192.168.1.101']), (error: unknown) => error instanceof NvgwApiError && error.code === 'NOT_FOUND');
  });

  it('honours Retry-After, bounded by the maximum delay', async () => {
    server.script([{ ...(unavailable() as object), status: 503, headers: { 'retry-after': '5' } } as Step, { status: 200, body: { status: 'ok' } }]);
    await client.healthz();
    assert.deepEqual(delays, [1000]);
  });

  it('reports an error page without an nvgw body as UNEXPECTED_RESPONSE with its status', async () => {
    server.script([{ status: 418, body: '<h1>teapot</h1>' }]);
    await assert.rejects(client.status(), (error: unknown) => error instanceof NvgwApiError && error.status === 418 && error.code === 'UNEXPECTED_RESPONSE' && /teapot/.test(error.message));
  });

  it('does not retry readiness: 503 {ready:false} is the answer', async () => {
    server.script([{ status: 503, body: { ready: false } }]);
    assert.deepEqual(await client.readyz(), { ready: false });
    assert.equal(server.requests.length, 1);
  });

  it('sends the bearer token and JSON', async () => {
    const seen: Record<string, string>[] = [];
    const recording: Transport = async (request) => {
      seen.push(request.headers);
      return fetchTransport(request);
    };
    server.script([{ status: 201, body: {} }]);
    await new NvgwClient({ url: server.url, token: 'abc-token', transport: recording }).routingDomains.create({ routingDomainId: '{11111111-2222-3333-4444-000000005001}' });
    assert.equal(seen[0]?.authorization, 'Bearer abc-token');
    assert.equal(seen[0]?.['content-type'], 'application/json');
  });
});

describe('backoff', () => {
  it('grows exponentially with full jitter below a cap', () => {
    const policy = { retries: 10, baseDelayMs: 100, maxDelayMs: 2000 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((retry) => backoffDelay(policy, retry, () => 0.999)),
      [99, 199, 399, 799, 1598, 1998],
    );
    assert.equal(backoffDelay(policy, 3, () => 0), 0);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('3', now), 3000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:02 GMT', now), 2000);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });
});
