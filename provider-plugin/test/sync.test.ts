/**
 * Desired-state sync against a real gateway: read + ETag, PUT with If-Match, and on 412
 * (a concurrent writer) read again, recompute, and succeed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NvgwClient } from '../src/client/client.js';
import { NvgwApiError } from '../src/client/errors.js';
import type { ConfigDocument, ConfigInput } from '../src/client/types.js';
import type { TestGateway } from './support/gateway.js';
import { startTestGateway } from './support/gateway.js';

const RD = '{11111111-2222-3333-4444-000000005001}';

const base: ConfigInput = {
  routingDomains: [{ routingDomainId: RD, name: 'Blue' }],
  virtualSubnets: [{ virtualSubnetId: 5001, routingDomainId: RD }],
  customerRoutes: [{ routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24' }],
  lookupRecords: [{ virtualSubnetId: 5001, customerAddress: '192.168.1.101', macAddress: '00155D011404', providerAddress: '10.1.1.20' }],
};

describe('desired-state sync', () => {
  let gateway: TestGateway;
  let client: NvgwClient;
  let writer: NvgwClient;

  before(async () => {
    gateway = await startTestGateway();
    client = gateway.client();
    writer = gateway.client();
  });
  after(() => gateway.close());

  it('applies a desired document with If-Match and reports what changed', async () => {
    const result = await client.sync(base);
    assert.equal(result.applied, true);
    assert.equal(result.attempts, 1);
    assert.deepEqual(result.summary.lookupRecords, { added: 1, removed: 0, changed: 0 });
    assert.equal(result.diff?.lookupRecords.added[0]?.macAddress, '00155d011404');
    assert.equal((await client.getConfig()).etag, result.etag);
  });

  it('writes nothing when the gateway already holds the desired state', async () => {
    const { etag } = await client.getConfig();
    const result = await client.sync(base);
    assert.deepEqual([result.applied, result.etag], [false, etag]);
    assert.equal((await client.getConfig()).etag, etag);
  });

  it('returns the diff of a dry run and changes nothing', async () => {
    const { etag } = await client.getConfig();
    const result = await client.sync({ ...base, lookupRecords: [] }, { dryRun: true });
    assert.equal(result.applied, false);
    assert.deepEqual(result.summary.lookupRecords, { added: 0, removed: 1, changed: 0 });
    assert.equal((await client.getConfig()).etag, etag);
  });

  it('re-reads and recomputes after a concurrent writer causes 412, then succeeds', async () => {
    const conflicts: number[] = [];
    const seen: ConfigDocument[] = [];
    const result = await client.sync(
      async (current) => {
        seen.push(current);
        if (seen.length === 1) {
          // Another controller adds a record between our read and our write.
          await writer.lookupRecords.create({ virtualSubnetId: 5001, customerAddress: '192.168.1.102', macAddress: '00155d011e04', providerAddress: '10.1.1.30' });
        }
        // Ours: add a record, keep whatever is there.
        return { ...current, lookupRecords: [...current.lookupRecords, { virtualSubnetId: 5001, customerAddress: '192.168.1.103', macAddress: '00155d011e05', providerAddress: '10.1.1.30' }] };
      },
      {
        onConflict: (attempt, error) => {
          conflicts.push(attempt);
          assert.equal(error.code, 'PRECONDITION_FAILED');
        },
      },
    );
    assert.equal(result.attempts, 2);
    assert.deepEqual(conflicts, [1]);
    assert.equal(seen[1]?.lookupRecords.length, 2, 'the second attempt saw the other writer\u2019s record');
    const addresses = (await client.lookupRecords.list()).map((r) => r.customerAddress).sort();
    assert.deepEqual(addresses, ['192.168.1.101', '192.168.1.102', '192.168.1.103']);
  });

  it('gives up with 412 after the bounded number of attempts when every write conflicts', async () => {
    let n = 0;
    await assert.rejects(
      client.sync(
        async (current) => {
          n++;
          await writer.providerAddresses.create({ interface: 'eth1', providerAddress: `10.1.2.${n}`, prefixLength: 24 });
          return { ...current, providerRoutes: [{ interface: 'eth1', destinationPrefix: '0.0.0.0/0', nextHop: '10.1.2.254' }] };
        },
        { maxAttempts: 3 },
      ),
      (error: unknown) => error instanceof NvgwApiError && error.status === 412 && /gave up after 3 attempts/.test(error.message),
    );
    assert.equal(n, 3);
    assert.deepEqual(await client.providerRoutes.list(), []);
  });

  it('stops at the first error that is not a conflict', async () => {
    await assert.rejects(
      client.sync({ ...base, virtualSubnets: [{ virtualSubnetId: 5001, routingDomainId: '{99999999-2222-3333-4444-000000005001}' }] }),
      (error: unknown) => error instanceof NvgwApiError && error.status === 422,
    );
  });
});
