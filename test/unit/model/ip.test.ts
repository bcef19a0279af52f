import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalIp, formatIp, formatPrefix, parseIp, parsePrefix, prefixContains } from '../../../src/model/ip.js';

describe('IP addresses', () => {
  it('formats IPv6 as RFC 5952 says: lowercase, longest zero run compressed, single zero group kept', () => {
    assert.equal(canonicalIp('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(canonicalIp('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
    assert.equal(canonicalIp('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1');
    assert.equal(canonicalIp('::'), '::');
    assert.equal(canonicalIp('::ffff:192.0.2.1'), '::ffff:c000:201');
    assert.equal(canonicalIp('fe80::'), 'fe80::');
  });

  it('refuses IPv4 with leading zeros, out-of-range octets or the wrong number of parts', () => {
    for (const bad of ['010.1.1.1', '256.1.1.1', '1.1.1', '1.1.1.1.1', '1.1.1.', ' 1.1.1.1', '1.1.1.1/24', '']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });

  it('refuses malformed IPv6', () => {
    for (const bad of ['1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', ':::', 'g::1', '1:2:3:4:5:6:7::8:9']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });

  it('round-trips every IPv4 and IPv6 value through format and parse', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), (value) => {
        const text = formatIp({ family: 4, value });
        assert.deepEqual(parseIp(text), { family: 4, value });
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (value) => {
        const text = formatIp({ family: 6, value });
        assert.deepEqual(parseIp(text), { family: 6, value });
        assert.equal(canonicalIp(text.toUpperCase()), text);
      }),
    );
  });

  it('agrees with node:net on which strings are addresses', async () => {
    const { isIP } = await import('node:net');
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 40 })), (text) => {
        // node accepts IPv4 with leading zeros in some versions; we never do (octal ambiguity).
        if (/(^|\.)0[0-9]/.test(text) && !text.includes(':')) return;
        assert.equal(parseIp(text) !== undefined, isIP(text) !== 0, text);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('prefixes', () => {
  it('rejects host bits and names the canonical prefix', () => {
    const result = parsePrefix('192.168.1.5/24');
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.hostBitsSet?.canonical === '192.168.1.0/24');
    const v6 = parsePrefix('2001:db8::1/64');
    assert.ok(!v6.ok && v6.hostBitsSet?.canonical === '2001:db8::/64');
  });

  it('rejects lengths beyond the family and non-numeric lengths', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/x', '::/129', '10.0.0.0']) {
      assert.equal(parsePrefix(bad).ok, false, bad);
    }
  });

  it('round-trips any network prefix and contains exactly the addresses under its mask', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), fc.integer({ min: 0, max: 32 }), fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), (raw, length, probe) => {
        const mask = length === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - length)) - 1n);
        const network = raw & mask;
        const text = formatPrefix({ address: { family: 4, value: network }, length });
        const parsed = parsePrefix(text);
        assert.ok(parsed.ok);
        assert.equal(formatPrefix(parsed.prefix), text);
        assert.equal(prefixContains(parsed.prefix, { family: 4, value: probe }), (probe & mask) === network);
        assert.equal(prefixContains(parsed.prefix, { family: 6, value: probe }), false);
      }),
    );
  });
});
