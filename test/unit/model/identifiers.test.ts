import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalGuid, canonicalMac, isValidVsid, macWithColons } from '../../../src/model/identifiers.js';

const hex = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`));

describe('MAC addresses', () => {
  it('accepts the three spellings Windows tools print and stores one canonical form', () => {
    for (const spelling of ['00155D011404', '00-15-5D-01-14-04', '00:15:5d:01:14:04']) assert.equal(canonicalMac(spelling), '00155d011404');
  });

  it('refuses mixed separators, wrong lengths and non-hex digits', () => {
    for (const bad of ['00-15:5D-01-14-04', '00155D01140', '00155D0114045', '00155D01140G', '0015.5D01.1404', '', 5]) {
      assert.equal(canonicalMac(bad), undefined, String(bad));
    }
  });

  it('round-trips any 48-bit MAC through every accepted spelling', () => {
    fc.assert(
      fc.property(hex(12), fc.boolean(), (mac, upper) => {
        const pairs = mac.match(/../g)!;
        const spellings = [mac, pairs.join('-'), pairs.join(':')].map((s) => (upper ? s.toUpperCase() : s));
        for (const spelling of spellings) assert.equal(canonicalMac(spelling), mac);
        assert.equal(canonicalMac(macWithColons(mac)), mac);
      }),
    );
  });
});

describe('routing domain GUIDs', () => {
  it('accepts braces or none, any case, and stores lowercase with braces', () => {
    const canonical = '{11111111-2222-3333-4444-000000005001}';
    for (const spelling of ['{11111111-2222-3333-4444-000000005001}', '11111111-2222-3333-4444-000000005001', '{AABBCCDD-2222-3333-4444-000000005001}'.replace('AABBCCDD', '11111111')]) {
      assert.equal(canonicalGuid(spelling), canonical);
    }
    assert.equal(canonicalGuid('{ABCDEF01-2222-3333-4444-00000000500A}'), '{abcdef01-2222-3333-4444-00000000500a}');
  });

  it('refuses unbalanced braces and malformed groups', () => {
    for (const bad of ['{11111111-2222-3333-4444-000000005001', '11111111-2222-3333-4444-000000005001}', '11111111-2222-3333-4444-00000000500', '111111112222333344440000000050011', '', null]) {
      assert.equal(canonicalGuid(bad), undefined, String(bad));
    }
  });

  it('round-trips any GUID through brace and case variants', () => {
    fc.assert(
      fc.property(hex(8), hex(4), hex(4), hex(4), hex(12), fc.boolean(), fc.boolean(), (a, b, c, d, e, braces, upper) => {
        const bare = `${a}-${b}-${c}-${d}-${e}`;
        let spelling = braces ? `{${bare}}` : bare;
        if (upper) spelling = spelling.toUpperCase();
        assert.equal(canonicalGuid(spelling), `{${bare}}`);
        assert.equal(canonicalGuid(canonicalGuid(spelling)), `{${bare}}`);
      }),
    );
  });
});

describe('VSIDs', () => {
  it('follows RFC 7637: 0-4095 and 0xFFFFFF are reserved', () => {
    assert.equal(isValidVsid(4095), false);
    assert.equal(isValidVsid(4096), true);
    assert.equal(isValidVsid(0xfffffe), true);
    assert.equal(isValidVsid(0xffffff), false);
    assert.equal(isValidVsid(5001.5), false);
  });
});
