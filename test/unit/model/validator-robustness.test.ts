import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DesiredState } from '../../../src/model/desired-state.js';
import { FieldError, NvgwError } from '../../../src/model/errors.js';
import { KIND_NAMES, kindOf, parseItem } from '../../../src/model/resources.js';

const validRecord = {
  customerAddress: '192.168.1.101',
  virtualSubnetId: 5001,
  macAddress: '00155D011404',
  providerAddress: '10.1.1.20',
  rule: 'TranslationMethodEncap',
  vmName: 'hv3-blue01',
};

// Values that look like what the fields take, plus junk, so mutations hit the parsers' edges.
const nearMiss = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom('', '0.0.0.0', '::', '192.168.1.5/24', '{11111111-2222-3333-4444-000000005001', '00-15-5D', '4095', '16777215', 'True', '__proto__', 'constructor'),
  fc.string(),
  fc.integer(),
  fc.double(),
);

describe('the validator', () => {
  it('never throws on any input to any kind: it returns an item or field errors', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KIND_NAMES), fc.anything({ withObjectString: true, withNullPrototype: true }), (name, input) => {
        const result = parseItem(kindOf(name), input, '');
        if (Array.isArray(result)) assert.ok(result.length > 0 && result.every((e) => e instanceof FieldError));
        else assert.equal(typeof result, 'object');
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws on mutations of a valid lookup record', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...Object.keys(validRecord), 'extra', '__proto__'), nearMiss), (mutation) => {
        const result = parseItem(kindOf('lookupRecords'), { ...validRecord, ...mutation }, '');
        assert.ok(Array.isArray(result) || typeof result.macAddress === 'string');
      }),
      { numRuns: 3000 },
    );
  });

  it('answers any whole-document input with a state or an NvgwError, never another exception', () => {
    const collection = fc.array(fc.oneof(fc.anything(), fc.dictionary(fc.constantFrom(...Object.keys(validRecord), 'routingDomainId', 'destinationPrefix', 'nextHop'), nearMiss)), { maxLength: 5 });
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.dictionary(fc.constantFrom(...KIND_NAMES, 'bogus'), fc.oneof(collection, fc.anything()))), (doc) => {
        try {
          DesiredState.fromDocument(doc);
        } catch (error) {
          assert.ok(error instanceof NvgwError, String(error));
          assert.ok(error.details.length > 0 || error.message.length > 0);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
