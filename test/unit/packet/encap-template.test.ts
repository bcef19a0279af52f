import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildEncapTemplate, ENCAP_OVERHEAD, MAX_INNER_LENGTH, pushEncap } from '../../../src/packet/encap-template.js';
import type { EncapTemplateSpec } from '../../../src/packet/encap-template.js';
import { formatIpv4, ipv4ChecksumValid } from '../../../src/packet/ipv4.js';
import { createNvgreFrame, decodeNvgreFrame, splitKey } from '../../../src/packet/nvgre.js';
import { hex, INNER_LENGTH, INNER_OFFSET, nvgreFrame } from './fixtures.js';

// The tunnel of the NVGRE fixture frame.
const SPEC: EncapTemplateSpec = {
  outerSrcMac: 0x00155d000002,
  outerDstMac: 0x00155d000001,
  outerSrcIp: 0xc0a80a01,
  outerDstIp: 0xc0a80a02,
  vsid: 5001,
  ttl: 64,
  keyFormat: 'rfc7637',
};

describe('buildEncapTemplate', () => {
  it('lays out 42 bytes of Ethernet, IPv4 (DF, GRE, checksum for length 0) and NVGRE with FlowID 0', () => {
    const t = buildEncapTemplate(SPEC);
    assert.equal(ENCAP_OVERHEAD, 42);
    assert.equal(
      Buffer.from(t.bytes).toString('hex'),
      hex(`
        00155d000001 00155d000002 0800
        4500 0000 0000 4000 402f a57b c0a80a01 c0a80a02
        2000 6558 00138900
      `).toString('hex'),
    );
    assert.ok(ipv4ChecksumValid(t.bytes, 14, 20));
  });

  it('puts the DSCP in the top six bits of the type-of-service byte', () => {
    const t = buildEncapTemplate({ ...SPEC, dscp: 46 });
    assert.equal(t.bytes[15], 0xb8);
    assert.equal(Buffer.from(t.bytes.subarray(24, 26)).toString('hex'), 'a4c3');
  });

  it('keeps the VSID in the low 24 bits of the key for a ws2012-legacy peer', () => {
    const t = buildEncapTemplate({ ...SPEC, keyFormat: 'ws2012-legacy' });
    assert.equal(Buffer.from(t.bytes.subarray(38, 42)).toString('hex'), '00001389');
  });

  it('refuses out-of-range fields when the tunnel is configured, not per packet', () => {
    assert.throws(() => buildEncapTemplate({ ...SPEC, vsid: 0x1000000 }), RangeError);
    assert.throws(() => buildEncapTemplate({ ...SPEC, ttl: 0 }), RangeError);
    assert.throws(() => buildEncapTemplate({ ...SPEC, dscp: 64 }), RangeError);
    assert.throws(() => buildEncapTemplate({ ...SPEC, outerDstIp: -1 }), RangeError);
    assert.throws(() => buildEncapTemplate({ ...SPEC, outerSrcMac: 2 ** 48 }), RangeError);
  });
});

describe('pushEncap', () => {
  it('reproduces the hand-written NVGRE fixture frame byte for byte', () => {
    const frame = nvgreFrame();
    const buf = Buffer.alloc(frame.length);
    frame.copy(buf, INNER_OFFSET, INNER_OFFSET);
    assert.equal(pushEncap(buildEncapTemplate(SPEC), buf, 0, INNER_LENGTH, 0x2a, 0x1234), 'ok');
    assert.equal(buf.toString('hex'), frame.toString('hex'));
  });

  it('patches the checksum to what a from-scratch computation gives, for any length and IP id', () => {
    const t = buildEncapTemplate({ ...SPEC, dscp: 10, ttl: 128 });
    const buf = new Uint8Array(64);
    const expected = new Uint8Array(20);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_INNER_LENGTH }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xff }),
        fc.nat({ max: 20 }),
        (innerLength, ipId, flowId, at) => {
          assert.equal(pushEncap(t, buf, at, innerLength, flowId, ipId), 'ok');
          formatIpv4(
            {
              headerLength: 20,
              tos: 10 << 2,
              totalLength: 28 + innerLength,
              id: ipId,
              flags: 0b010,
              fragmentOffset: 0,
              ttl: 128,
              protocol: 47,
              checksum: 0,
              src: SPEC.outerSrcIp,
              dst: SPEC.outerDstIp,
            },
            expected,
            0,
          );
          assert.deepEqual(buf.subarray(at + 14, at + 34), expected);
          assert.equal(buf[at + 41], flowId);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('writes the FlowID where each key format keeps it, and the decoder reads back VSID and FlowID', () => {
    const inner = nvgreFrame().subarray(INNER_OFFSET);
    const out = createNvgreFrame();
    for (const keyFormat of ['rfc7637', 'ws2012-legacy'] as const) {
      const buf = Buffer.alloc(ENCAP_OVERHEAD + inner.length);
      inner.copy(buf, ENCAP_OVERHEAD);
      pushEncap(buildEncapTemplate({ ...SPEC, keyFormat }), buf, 0, inner.length, 0x2a, 7);
      assert.equal(decodeNvgreFrame(buf, 0, out), 'ok');
      assert.deepEqual({ ...splitKey(out.key, keyFormat) }, { vsid: 5001, flowId: 0x2a });
      assert.equal(out.innerLength, inner.length);
    }
  });

  it('refuses an inner frame too long for the outer IPv4 total length, writing nothing', () => {
    const t = buildEncapTemplate(SPEC);
    const buf = new Uint8Array(ENCAP_OVERHEAD);
    assert.equal(pushEncap(t, buf, 0, MAX_INNER_LENGTH + 1, 0, 0), 'mtu-exceeded');
    assert.equal(pushEncap(t, buf, 0, -1, 0, 0), 'mtu-exceeded');
    assert.deepEqual(buf, new Uint8Array(ENCAP_OVERHEAD));
  });
});
