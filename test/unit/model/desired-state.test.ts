import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DesiredState } from '../../../src/model/desired-state.js';
import { diffStates } from '../../../src/model/diff.js';
import { ErrorCode, NvgwError } from '../../../src/model/errors.js';
import type { ConfigDocument } from '../../../src/model/resources.js';

const RD = '{11111111-2222-3333-4444-000000005001}';

function classicExample(): Partial<ConfigDocument> {
  return {
    routingDomains: [{ routingDomainId: RD, name: 'blue', customerId: '' }],
    virtualSubnets: [
      { virtualSubnetId: 5001, routingDomainId: RD, name: '' },
      { virtualSubnetId: 5002, routingDomainId: RD, name: '' },
    ],
    customerRoutes: [
      { routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24', nextHop: '0.0.0.0', metric: 255 },
      { routingDomainId: RD, virtualSubnetId: 5002, destinationPrefix: '192.168.2.0/24', nextHop: '0.0.0.0', metric: 255 },
      { routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '0.0.0.0/0', nextHop: '192.168.2.250', metric: 255 },
    ],
    lookupRecords: [
      { customerAddress: '192.168.1.101', virtualSubnetId: 5001, macAddress: '00155d011404', providerAddress: '10.1.1.20', rule: 'TranslationMethodEncap', vmName: 'hv3-blue01', useVmMacAddress: false, context: '', customerId: '' },
      { customerAddress: '192.168.2.250', virtualSubnetId: 5002, macAddress: '00155d143c02', providerAddress: '10.1.1.40', rule: 'TranslationMethodEncap', vmName: 'gw', useVmMacAddress: false, context: '', customerId: '' },
      { customerAddress: '0.0.0.0', virtualSubnetId: 5001, macAddress: '00155d143c02', providerAddress: '10.1.1.40', rule: 'TranslationMethodEncap', vmName: '', useVmMacAddress: false, context: '', customerId: '' },
    ],
  };
}

function expectError(fn: () => unknown, code: string): NvgwError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof NvgwError, String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('desired state', () => {
  it('builds the classic HNV example, including the wildcard record outside every on-link prefix', () => {
    const state = DesiredState.fromDocument(classicExample());
    assert.equal(state.count('lookupRecords'), 3);
    assert.equal([...state.recordsOf(5001)].length, 2);
  });

  it('names the failing item by collection and index when a document is refused', () => {
    const doc = classicExample();
    doc.lookupRecords!.push({ ...doc.lookupRecords![0]!, customerAddress: '10.9.9.9' });
    const error = expectError(() => DesiredState.fromDocument(doc), ErrorCode.CustomerAddressNotOnLink);
    assert.equal(error.details[0]?.path, 'lookupRecords/3/customerAddress');
  });

  it('refuses a route that puts a VSID into a second routing domain', () => {
    const doc = classicExample();
    doc.routingDomains!.push({ routingDomainId: '{11111111-2222-3333-4444-000000006001}', name: 'red', customerId: '' });
    doc.customerRoutes!.push({ routingDomainId: '{11111111-2222-3333-4444-000000006001}', virtualSubnetId: 5001, destinationPrefix: '10.0.0.0/8', nextHop: '0.0.0.0', metric: 1 });
    expectError(() => DesiredState.fromDocument(doc), ErrorCode.VsidInOtherDomain);
  });

  it('plans a cascade delete with dependants first, and applies it to leave nothing behind', () => {
    const state = DesiredState.fromDocument(classicExample());
    expectError(() => state.planRemove('routingDomains', RD, false), ErrorCode.StillReferenced);
    const plan = state.planRemove('routingDomains', RD, true);
    assert.equal(plan.at(-1)?.kind, 'routingDomains');
    const position = (kind: string, key: string) => plan.findIndex((c) => c.kind === kind && c.key === key);
    assert.ok(position('lookupRecords', '5001|192.168.1.101') < position('virtualSubnets', '5001'));
    assert.ok(position('virtualSubnets', '5001') < position('routingDomains', RD));
    state.apply(plan);
    for (const kind of ['routingDomains', 'virtualSubnets', 'customerRoutes', 'lookupRecords'] as const) assert.equal(state.count(kind), 0, kind);
  });

  it('refuses to turn an on-link route into a routed one while records rely on it', () => {
    const state = DesiredState.fromDocument(classicExample());
    const route = { routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24', nextHop: '192.168.2.250', metric: 1 };
    expectError(() => state.planWrite('customerRoutes', route, 'upsert'), ErrorCode.StillReferenced);
  });

  it('diffs two states into a plan that turns one into the other', () => {
    const before = DesiredState.fromDocument(classicExample());
    const doc = classicExample();
    doc.lookupRecords = doc.lookupRecords!.slice(1);
    doc.lookupRecords[0]!.vmName = 'renamed';
    const after = DesiredState.fromDocument(doc);
    const { changes, diff } = diffStates(before, after);
    assert.equal(diff.lookupRecords.removed.length, 1);
    assert.equal(diff.lookupRecords.changed.length, 1);
    assert.equal(diff.customerRoutes.added.length + diff.customerRoutes.removed.length + diff.customerRoutes.changed.length, 0);
    before.apply(changes);
    assert.deepEqual(diffStates(before, after).changes, []);
  });
});
