import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  checksumAdjust,
  createIpv4Header,
  decrementIpv4Ttl,
  formatIpv4,
  internetChecksum,
  ipv4ChecksumValid,
  isIpv4Fragment,
  parseIpv4,
  setIpv4TotalLength,
} from '../../../src/packet/ipv4.js';
import type { Ipv4Header } from '../../../src/packet/ipv4.js';
import { hex } from './fixtures.js';

// The outer header of the NVGRE fixture: 192.168.10.1 -> 192.168.10.2, GRE, DF, TTL 64.
const HEADER = '4500 0052 1234 4000 402f 92f5 c0a80a01 c0a80a02';

const header = fc.record({
  headerLength: fc.constant(20),
  tos: fc.integer({ min: 0, max: 255 }),
  totalLength: fc.integer({ min: 20, max: 0xffff }),
  id: fc.integer({ min: 0, max: 0xffff }),
  flags: fc.integer({ min: 0, max: 7 }),
  fragmentOffset: fc.integer({ min: 0, max: 0x1fff }),
  ttl: fc.integer({ min: 0, max: 255 }),
  protocol: fc.integer({ min: 0, max: 255 }),
  checksum: fc.constant(0),
  src: fc.integer({ min: 0, max: 0xffffffff }),
  dst: fc.integer({ min: 0, max: 0xffffffff }),
});

function formatted(h: Ipv4Header): Buffer {
  const buf = Buffer.alloc(0xffff);
  formatIpv4(h, buf, 0);
  return buf;
}

describe('parseIpv4 / formatIpv4', () => {
  it('parses a hand-written header', () => {
    const h = createIpv4Header();
    assert.equal(parseIpv4(hex(HEADER + '00'.repeat(62)), 0, h), 'ok');
    assert.deepEqual(h, {
      headerLength: 20,
      tos: 0,
      totalLength: 0x52,
      id: 0x1234,
      flags: 0b010,
      fragmentOffset: 0,
      ttl: 64,
      protocol: 47,
      checksum: 0x92f5,
      src: 0xc0a80a01,
      dst: 0xc0a80a02,
    });
  });

  it('formats the same header byte for byte, checksum included', () => {
    const buf = Buffer.alloc(20);
    formatIpv4(
      {
        headerLength: 20,
        tos: 0,
        totalLength: 0x52,
        id: 0x1234,
        flags: 0b010,
        fragmentOffset: 0,
        ttl: 64,
        protocol: 47,
        checksum: 0,
        src: 0xc0a80a01,
        dst: 0xc0a80a02,
      },
      buf,
      0,
    );
    assert.equal(buf.toString('hex'), hex(HEADER).toString('hex'));
  });

  it('rejects a bad version, an IHL under 5, and a total length outside header..buffer', () => {
    const h = createIpv4Header();
    const body = '00'.repeat(62);
    assert.equal(parseIpv4(hex('6500 0052 1234 4000 402f 92f5 c0a80a01 c0a80a02' + body), 0, h), 'ipv4-header-invalid');
    assert.equal(parseIpv4(hex('4400 0052 1234 4000 402f 92f5 c0a80a01 c0a80a02' + body), 0, h), 'ipv4-header-invalid');
    assert.equal(parseIpv4(hex('4f00 0030 1234 4000 402f 92f5 c0a80a01 c0a80a02' + body), 0, h), 'ipv4-header-invalid');
    assert.equal(parseIpv4(hex('4500 0013 1234 4000 402f 92f5 c0a80a01 c0a80a02' + body), 0, h), 'ipv4-header-invalid');
    assert.equal(parseIpv4(hex(HEADER + body), 0, h, 0x51), 'ipv4-header-invalid');
    assert.equal(parseIpv4(hex(HEADER).subarray(0, 19), 0, h), 'ipv4-header-invalid');
  });

  it('round-trips any header through format and parse', () => {
    fc.assert(
      fc.property(header, (h) => {
        const buf = formatted(h);
        const parsed = createIpv4Header();
        assert.equal(parseIpv4(buf, 0, parsed), 'ok');
        assert.deepEqual({ ...parsed, checksum: 0 }, { ...h });
        assert.ok(ipv4ChecksumValid(buf, 0, 20));
      }),
    );
  });

  it('treats MF or a non-zero offset as a fragment, and DF alone as not one', () => {
    const h = createIpv4Header();
    assert.equal(isIpv4Fragment({ ...h, flags: 0b010 }), false);
    assert.equal(isIpv4Fragment({ ...h, flags: 0b001 }), true);
    assert.equal(isIpv4Fragment({ ...h, fragmentOffset: 185 }), true);
  });
});

describe('Internet checksum', () => {
  it('computes the RFC 1071 section 3 example', () => {
    // The words sum to 0xddf2; the checksum is its complement.
    assert.equal(internetChecksum(hex('0001 f203 f4f5 f6f7'), 0, 8), 0x220d);
  });

  it('pads an odd trailing byte with zero', () => {
    assert.equal(internetChecksum(hex('0001 f203 f4f5 f6'), 0, 7), internetChecksum(hex('0001 f203 f4f5 f600'), 0, 8));
  });

  it('verifies the checksum of a real header and notices a flipped bit', () => {
    const buf = hex(HEADER);
    assert.equal(ipv4ChecksumValid(buf, 0, 20), true);
    buf.writeUInt8(65, 8);
    assert.equal(ipv4ChecksumValid(buf, 0, 20), false);
  });

  it('gives 0x0000, not 0xffff, in the RFC 1624 section 4 example where the sum passes through -0', () => {
    // Sum of the other words 0xcd7a; m = 0x5555 gives HC = 0xdd2f; m' = 0x3285.
    assert.equal(checksumAdjust(0xdd2f, 0x5555, 0x3285), 0x0000);
  });

  it('agrees with a full recomputation after changing any 16-bit word (RFC 1624)', () => {
    fc.assert(
      fc.property(header, fc.constantFrom(0, 2, 4, 6, 8, 12, 14, 16, 18), fc.integer({ min: 0, max: 0xffff }), (h, at, w) => {
        const buf = formatted(h).subarray(0, 20);
        const adjusted = checksumAdjust(buf.readUInt16BE(10), buf.readUInt16BE(at), w);
        buf.writeUInt16BE(w, at);
        buf.writeUInt16BE(0, 10);
        assert.equal(adjusted, internetChecksum(buf, 0, 20));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('in-place header edits', () => {
  it('decrements the TTL and patches the checksum to what a recomputation gives', () => {
    fc.assert(
      fc.property(header.filter((h) => h.ttl > 1), (h) => {
        const buf = formatted(h).subarray(0, 20);
        assert.equal(decrementIpv4Ttl(buf, 0), 'ok');
        assert.equal(buf[8], h.ttl - 1);
        assert.equal(ipv4ChecksumValid(buf, 0, 20), true);
        assert.deepEqual(buf, formatted({ ...h, ttl: h.ttl - 1 }).subarray(0, 20));
      }),
    );
  });

  it('refuses to take the TTL to zero and leaves the header untouched', () => {
    for (const ttl of [0, 1]) {
      const buf = hex(HEADER);
      buf[8] = ttl;
      const before = Buffer.from(buf);
      assert.equal(decrementIpv4Ttl(buf, 0), 'ttl-exceeded');
      assert.deepEqual(buf, before);
    }
  });

  it('patches the total length and the checksum together', () => {
    fc.assert(
      fc.property(header, fc.integer({ min: 20, max: 0xffff }), (h, totalLength) => {
        const buf = formatted(h).subarray(0, 20);
        setIpv4TotalLength(buf, 0, totalLength);
        assert.deepEqual(buf, formatted({ ...h, totalLength }).subarray(0, 20));
      }),
    );
  });
});
