import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigService, etagMatches } from '../../../src/control/config-service.js';
import { ErrorCode, NvgwError } from '../../../src/model/errors.js';
import { MemoryStore } from '../../../src/store/memory-store.js';

const RD = '{11111111-2222-3333-4444-000000005001}';

function setup() {
  const store = new MemoryStore();
  const sut = new ConfigService(store);
  const seen: number[] = [];
  sut.onChange((_changes, revision) => seen.push(revision));
  return { sut, store, seen };
}

describe('the config service', () => {
  it('changes nothing in memory when the store fails to commit', () => {
    const { sut, store, seen } = setup();
    sut.create('routingDomains', { routingDomainId: RD });
    store.failNextCommit = new NvgwError(ErrorCode.StorageFailed, 'disk full');
    assert.throws(() => sut.create('virtualSubnets', { virtualSubnetId: 5001, routingDomainId: RD }), /disk full/);
    assert.equal(sut.counts().virtualSubnets, 0);
    assert.equal(sut.etag, '"1"');
    assert.deepEqual(seen, [1]);
  });

  it('shows a replacement to the early listeners (the data path) before the store has committed it, a creation after', () => {
    const { sut, store, seen } = setup();
    const early: { revision: number; stored: number; name: string | undefined }[] = [];
    sut.onApplying((_changes, revision) => early.push({ revision, stored: store.revision(), name: sut.counts().virtualSubnets > 0 ? sut.get('virtualSubnets', ['5001']).name : undefined }));
    sut.create('routingDomains', { routingDomainId: RD });
    sut.create('virtualSubnets', { virtualSubnetId: 5001, routingDomainId: RD, name: 'first' });
    sut.put('virtualSubnets', ['5001'], { routingDomainId: RD, name: 'second' });
    assert.deepEqual(early, [
      { revision: 1, stored: 1, name: undefined },
      { revision: 2, stored: 2, name: 'first' },
      { revision: 3, stored: 2, name: 'second' },
    ]);
    assert.deepEqual(seen, [1, 2, 3], 'the other listeners only after the commit');
  });

  it('shows the early listeners the inverse of a change the store refuses, and keeps memory as it was', () => {
    const { sut, store, seen } = setup();
    sut.create('routingDomains', { routingDomainId: RD });
    sut.create('virtualSubnets', { virtualSubnetId: 5001, routingDomainId: RD, name: 'before' });
    const early: { kind: string; key: string; name: unknown }[][] = [];
    sut.onApplying((changes) => early.push(changes.map((c) => ({ kind: c.kind, key: c.key, name: c.item === null ? null : (c.item as { name?: string }).name }))));
    store.failNextCommit = new NvgwError(ErrorCode.StorageFailed, 'disk full');
    assert.throws(() => sut.put('virtualSubnets', ['5001'], { routingDomainId: RD, name: 'after' }), /disk full/);
    assert.deepEqual(early, [[{ kind: 'virtualSubnets', key: '5001', name: 'after' }], [{ kind: 'virtualSubnets', key: '5001', name: 'before' }]]);
    assert.equal(sut.get('virtualSubnets', ['5001']).name, 'before');
    assert.equal(sut.etag, '"2"');
    assert.deepEqual(seen, [1, 2]);
  });

  it('restores the same state and ETag from its store', () => {
    const { sut, store } = setup();
    sut.create('routingDomains', { routingDomainId: RD.toUpperCase() });
    sut.create('virtualSubnets', { virtualSubnetId: '5001', routingDomainId: RD });
    const reloaded = new ConfigService(store);
    assert.deepEqual(reloaded.getConfig(), sut.getConfig());
  });

  it('refuses to start from a stored state that no longer validates', () => {
    const store = new MemoryStore();
    store.commit([{ kind: 'virtualSubnets', key: '5001', item: { virtualSubnetId: 5001, routingDomainId: RD, name: '' } }], 1);
    assert.throws(() => new ConfigService(store), (e: unknown) => e instanceof NvgwError && e.code === ErrorCode.StorageFailed);
  });

  it('does not bump the revision for a PUT that changes nothing', () => {
    const { sut, store } = setup();
    sut.putConfig({ routingDomains: [{ routingDomainId: RD }] }, {});
    const commits = store.commits;
    const result = sut.putConfig({ routingDomains: [{ routingDomainId: RD }] }, { ifMatch: sut.etag });
    assert.equal(result.applied, false);
    assert.equal(store.commits, commits);
  });

  it('compares If-Match strongly, with lists and the * wildcard', () => {
    assert.equal(etagMatches('"3"', '"3"'), true);
    assert.equal(etagMatches('W/"3"', '"3"'), false);
    assert.equal(etagMatches('"1", "3"', '"3"'), true);
    assert.equal(etagMatches('*', '"3"'), true);
  });
});
