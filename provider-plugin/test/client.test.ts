import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NvgwClient } from '../src/client/client.js';
import { NvgwApiError, NvgwConnectionError } from '../src/client/errors.js';
import type { TestGateway } from './support/gateway.js';
import { startTestGateway } from './support/gateway.js';

const RD = '{11111111-2222-3333-4444-000000005001}';

async function rejectsWith(promise: Promise<unknown>, status: number, code: string): Promise<NvgwApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof NvgwApiError, `expected NvgwApiError, got ${String(error)}`);
    assert.equal(error.status, status, error.message);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${status} ${code}`);
}

describe('client against a real gateway', () => {
  let gateway: TestGateway;
  let client: NvgwClient;

  before(async () => {
    gateway = await startTestGateway();
    client = gateway.client();
  });
  after(() => gateway.close());

  it('creates, gets, lists, replaces and deletes every kind of resource', async () => {
    const rd = await client.routingDomains.create({ routingDomainId: '11111111-2222-3333-4444-000000005001', name: 'Blue' });
    assert.deepEqual(rd, { routingDomainId: RD, name: 'Blue', customerId: '' });
    await client.virtualSubnets.create({ virtualSubnetId: '5001', routingDomainId: RD });
    await client.customerRoutes.create({ routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24', metric: 255 });
    const record = await client.lookupRecords.create({ virtualSubnetId: 5001, customerAddress: '192.168.1.101', macAddress: '00-15-5D-01-14-04', providerAddress: '10.1.1.20', vmName: 'hv3-blue01' });
    assert.equal(record.macAddress, '00155d011404');
    await client.providerAddresses.create({ interface: 'eth1', providerAddress: '10.1.1.40', prefixLength: 24 });
    await client.providerRoutes.create({ interface: 'eth1', destinationPrefix: '0.0.0.0/0', nextHop: '10.1.1.1' });

    assert.equal((await client.get('virtualSubnets', [5001])).routingDomainId, RD);
    assert.equal((await client.lookupRecords.get({ virtualSubnetId: 5001, customerAddress: '192.168.1.101' })).vmName, 'hv3-blue01');
    assert.equal((await client.providerAddresses.get(['10.1.1.40'])).interface, 'eth1');
    assert.equal((await client.providerRoutes.get(['eth1', '0.0.0.0/0'])).nextHop, '10.1.1.1');
    assert.equal((await client.routingDomains.list()).length, 1);

    const replaced = await client.lookupRecords.put({ virtualSubnetId: 5001, customerAddress: '192.168.1.101', macAddress: '00155d011404', providerAddress: '10.1.1.21' });
    assert.deepEqual([replaced.created, replaced.item.providerAddress], [false, '10.1.1.21']);
    const created = await client.lookupRecords.put({ virtualSubnetId: 5001, customerAddress: '192.168.1.102', macAddress: '00155d011e04', providerAddress: '10.1.1.30' });
    assert.equal(created.created, true);

    assert.deepEqual((await client.providerRoutes.delete(['eth1', '0.0.0.0/0'])).deleted, [{ kind: 'providerRoutes', key: 'eth1|0.0.0.0/0' }]);
    assert.deepEqual((await client.providerAddresses.delete({ providerAddress: '10.1.1.40' })).deleted, [{ kind: 'providerAddresses', key: '10.1.1.40' }]);
  });

  it('lists with filters in any spelling the API accepts', async () => {
    const byVsid = await client.lookupRecords.list({ virtualSubnetId: '5001' });
    assert.deepEqual(byVsid.map((r) => r.customerAddress).sort(), ['192.168.1.101', '192.168.1.102']);
    const byMac = await client.lookupRecords.list({ macAddress: '00-15-5D-01-1E-04' });
    assert.deepEqual(byMac.map((r) => r.customerAddress), ['192.168.1.102']);
    assert.deepEqual(await client.lookupRecords.list({ vmName: 'nobody' }), []);
  });

  it('addresses a customer route by its prefix in two URL segments', async () => {
    const route = await client.customerRoutes.get([RD, 5001, '192.168.1.0/24']);
    assert.equal(route.metric, 255);
    assert.equal(route.nextHop, '0.0.0.0');
  });

  it('carries the API status, stable code, message and details in NvgwApiError', async () => {
    const stillReferenced = await rejectsWith(client.virtualSubnets.delete([5001]), 409, 'STILL_REFERENCED');
    assert.ok(stillReferenced.details.some((d) => d.path.startsWith('lookupRecords/')));
    assert.match(stillReferenced.url, /\/v1\/virtual-subnets\/5001$/);
    assert.equal(stillReferenced.method, 'DELETE');
    await rejectsWith(client.virtualSubnets.create({ virtualSubnetId: 100, routingDomainId: RD }), 422, 'VSID_OUT_OF_RANGE');
    await rejectsWith(client.lookupRecords.get([5001, '192.168.1.199']), 404, 'NOT_FOUND');
    await rejectsWith(client.routingDomains.create({ routingDomainId: RD }), 409, 'ALREADY_EXISTS');
    const invalid = await rejectsWith(client.list('lookupRecords', { bogus: 'x' } as never), 422, 'VALIDATION_FAILED');
    assert.equal(invalid.details[0]?.path, '?bogus');
  });

  it('deletes with cascade, dependants first', async () => {
    await client.routingDomains.create({ routingDomainId: '{22222222-2222-3333-4444-000000006001}' });
    await client.virtualSubnets.create({ virtualSubnetId: 6001, routingDomainId: '{22222222-2222-3333-4444-000000006001}' });
    await client.customerRoutes.create({ routingDomainId: '{22222222-2222-3333-4444-000000006001}', virtualSubnetId: 6001, destinationPrefix: '10.6.0.0/16' });
    const result = await client.routingDomains.delete(['{22222222-2222-3333-4444-000000006001}'], { cascade: true });
    assert.deepEqual(
      result.deleted.map((d) => d.kind),
      ['customerRoutes', 'virtualSubnets', 'routingDomains'],
    );
  });

  it('refuses a wrong token with UNAUTHORIZED', async () => {
    await rejectsWith(gateway.client({ token: 'not-the-token-at-all' }).status(), 401, 'UNAUTHORIZED');
  });

  it('reads the configuration with its ETag, and a stale If-Match meets 412 PRECONDITION_FAILED', async () => {
    const { document, etag } = await client.getConfig();
    assert.match(etag, /^"\d+"$/);
    assert.equal(document.lookupRecords.length, 2);
    const same = await client.putConfig(document, { ifMatch: etag });
    assert.deepEqual([same.applied, same.etag], [false, etag]);
    await client.providerAddresses.create({ interface: 'eth1', providerAddress: '10.1.1.40', prefixLength: 24 });
    await rejectsWith(client.putConfig(document, { ifMatch: etag }), 412, 'PRECONDITION_FAILED');
  });

  it('returns the dry-run diff and changes nothing', async () => {
    const { document, etag } = await client.getConfig();
    const result = await client.putConfig({ ...document, providerAddresses: [] }, { ifMatch: etag, dryRun: true });
    assert.equal(result.applied, false);
    assert.deepEqual(result.summary.providerAddresses, { added: 0, removed: 1, changed: 0 });
    assert.equal(result.diff?.providerAddresses.removed[0]?.providerAddress, '10.1.1.40');
    assert.equal((await client.getConfig()).etag, etag);
  });

  it('reports status, liveness, readiness, metrics and the OpenAPI document', async () => {
    const status = await client.status();
    assert.equal(status.counts.lookupRecords, 2);
    assert.equal(typeof status.version, 'string');
    assert.deepEqual(await gateway.client({ token: '' }).healthz(), { status: 'ok' });
    assert.deepEqual(await client.readyz(), { ready: true });
    assert.match(await client.metrics(), /nvgw_config_objects\{kind="lookupRecords"\} 2/);
    const openapi = await client.openapi();
    assert.equal(openapi.openapi, '3.1.0');
  });

  it('gets 501 DATAPATH_DISABLED for stats without retrying, and a trace verdict even without a data path', async () => {
    let retries = 0;
    const counting = gateway.client({ retry: { retries: 3 }, onRetry: () => retries++, sleep: async () => {} });
    await rejectsWith(counting.stats(), 501, 'DATAPATH_DISABLED');
    assert.equal(retries, 0, 'a gateway without a data path will not grow one on retry');
    const traced = await client.trace({ hex: '00' });
    assert.equal(traced.verdict, 'truncated-ethernet');
  });

  it('raises NvgwConnectionError CONNECTION_REFUSED, not sent, when nothing listens', async () => {
    const closed = await startTestGateway();
    const url = closed.url;
    await closed.close();
    const dead = closed.client({ url });
    await assert.rejects(dead.status(), (error: unknown) => {
      assert.ok(error instanceof NvgwConnectionError);
      assert.equal(error.code, 'CONNECTION_REFUSED');
      assert.equal(error.sent, false);
      return true;
    });
  });
});
