import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DROP_REASONS } from '../../../src/packet/drop-reasons.js';
import type { DropReason, Verdict } from '../../../src/packet/drop-reasons.js';
import {
  createNvgreFrame,
  createNvgreHeader,
  decodeNvgreFrame,
  decodeNvgreIpv4,
  formatNvgre,
  keyFor,
  parseNvgre,
  splitKey,
} from '../../../src/packet/nvgre.js';
import { GRE_OFFSET, hex, INNER_LENGTH, INNER_OFFSET, nvgreFrame, OUTER_IP_OFFSET } from './fixtures.js';

const VERDICTS = new Set<string>(['ok', ...DROP_REASONS.map((d) => d.reason)]);

function decode(frame: Uint8Array): Verdict {
  return decodeNvgreFrame(frame, 0, createNvgreFrame());
}

function mutated(change: (frame: Buffer) => void): Buffer {
  const frame = nvgreFrame();
  change(frame);
  return frame;
}

function setGreFlags(flags: number): Buffer {
  return mutated((f) => f.writeUInt16BE(flags, GRE_OFFSET));
}

function setOuterTotalLength(totalLength: number): Buffer {
  return mutated((f) => f.writeUInt16BE(totalLength, OUTER_IP_OFFSET + 2));
}

describe('parseNvgre / formatNvgre', () => {
  it('reads VSID 5001 and FlowID 0x2a from a hand-written header', () => {
    const h = createNvgreHeader();
    assert.equal(parseNvgre(hex('2000 6558 0013892a'), 0, h), 'ok');
    assert.deepEqual(h, { key: 0x0013892a, vsid: 5001, flowId: 0x2a });
  });

  it('writes flags 0x2000, protocol 0x6558 and the key', () => {
    const buf = Buffer.alloc(8);
    assert.equal(formatNvgre({ vsid: 5001, flowId: 0x2a }, buf, 0), 8);
    assert.equal(buf.toString('hex'), '200065580013892a');
  });

  it('writes the FlowID in the top byte of the key for a ws2012-legacy peer', () => {
    const buf = Buffer.alloc(8);
    formatNvgre({ vsid: 0x1bb1ce, flowId: 0xa8 }, buf, 0, 'ws2012-legacy');
    assert.equal(buf.toString('hex'), '20006558a81bb1ce');
  });

  it('round-trips every VSID and FlowID through format and parse', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffff }), fc.integer({ min: 0, max: 0xff }), (vsid, flowId) => {
        const buf = new Uint8Array(12);
        formatNvgre({ vsid, flowId }, buf, 4);
        const h = createNvgreHeader();
        assert.equal(parseNvgre(buf, 4, h), 'ok');
        assert.equal(h.vsid, vsid);
        assert.equal(h.flowId, flowId);
        const again = new Uint8Array(12);
        formatNvgre(h, again, 4);
        assert.deepEqual(again, buf);
      }),
    );
  });

  it('ignores GRE reserved bits 6-12, which RFC 2784 says must be ignored on receipt', () => {
    for (let bits = 1; bits < 0x80; bits++) {
      const h = createNvgreHeader();
      const buf = hex('2000 6558 0013892a');
      buf.writeUInt16BE(0x2000 | (bits << 3), 0);
      assert.equal(parseNvgre(buf, 0, h), 'ok', `reserved bits 0x${bits.toString(16)}`);
    }
  });

  it('checks the version before any flag, since version 1 (PPTP) gives the flags other meanings', () => {
    assert.equal(parseNvgre(hex('b001 880b 00000000'), 0, createNvgreHeader()), 'gre-version');
  });

  it('classifies a header that breaks several rules by the checksum bit first', () => {
    assert.equal(parseNvgre(hex('b000 0800 6e7c0000 0001d97c 00000005'), 0, createNvgreHeader()), 'gre-checksum-present');
  });

  it('reports a 4-byte header with the key bit as truncated rather than reading past the end', () => {
    assert.equal(parseNvgre(hex('2000 6558'), 0, createNvgreHeader()), 'truncated-gre');
  });
});

describe('keyFor / splitKey', () => {
  // One flow captured before and after Windows update KB2779768: the same VSID 0x1bb1ce,
  // the FlowID moved from the top byte (0xa8) to the bottom byte (0x71).
  it('splits the pre-KB2779768 key 0xa81bb1ce as FlowID << 24 | VSID', () => {
    assert.deepEqual(splitKey(0xa81bb1ce, 'ws2012-legacy'), { vsid: 0x1bb1ce, flowId: 0xa8 });
    assert.equal(keyFor(0x1bb1ce, 0xa8, 'ws2012-legacy'), 0xa81bb1ce);
  });

  it('splits the RFC 7637 key 0x1bb1ce71 of the same flow as VSID << 8 | FlowID', () => {
    assert.deepEqual(splitKey(0x1bb1ce71, 'rfc7637'), { vsid: 0x1bb1ce, flowId: 0x71 });
    assert.equal(keyFor(0x1bb1ce, 0x71, 'rfc7637'), 0x1bb1ce71);
  });

  it('reuses the object it is given', () => {
    const parts = { vsid: 0, flowId: 0 };
    assert.equal(splitKey(0x0013892a, 'rfc7637', parts), parts);
    assert.deepEqual(parts, { vsid: 5001, flowId: 0x2a });
  });

  it('inverts keyFor in both formats', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffff }),
        fc.integer({ min: 0, max: 0xff }),
        fc.constantFrom('rfc7637' as const, 'ws2012-legacy' as const),
        (vsid, flowId, format) => {
          const key = keyFor(vsid, flowId, format);
          assert.ok(key >= 0 && key <= 0xffffffff);
          assert.deepEqual(splitKey(key, format), { vsid, flowId });
        },
      ),
    );
  });
});

describe('decodeNvgreFrame', () => {
  it('accepts a hand-written NVGRE frame and reports both headers', () => {
    const out = createNvgreFrame();
    assert.equal(decodeNvgreFrame(nvgreFrame(), 0, out), 'ok');
    assert.deepEqual(out, {
      key: 0x0013892a,
      vsid: 5001,
      flowId: 0x2a,
      outerVlanTci: -1,
      ipOffset: OUTER_IP_OFFSET,
      ipHeaderLength: 20,
      outerSrcIp: 0xc0a80a01,
      outerDstIp: 0xc0a80a02,
      outerTtl: 64,
      outerTos: 0,
      innerOffset: INNER_OFFSET,
      innerLength: INNER_LENGTH,
      innerDstMac: 0x00155d0a0001,
      innerSrcMac: 0x00155d0a0002,
      innerEthertype: 0x0800,
    });
  });

  it('accepts the same packet at the IPv4 entry point', () => {
    const out = createNvgreFrame();
    const packet = nvgreFrame().subarray(OUTER_IP_OFFSET);
    assert.equal(decodeNvgreIpv4(packet, 0, out), 'ok');
    assert.equal(out.vsid, 5001);
    assert.equal(out.innerOffset, INNER_OFFSET - OUTER_IP_OFFSET);
    assert.equal(out.innerLength, INNER_LENGTH);
  });

  it('decodes a frame in the middle of a larger reused receive buffer, up to `end` only', () => {
    const buf = Buffer.alloc(2048, 0xee);
    const frame = nvgreFrame();
    frame.copy(buf, 100);
    const out = createNvgreFrame();
    assert.equal(decodeNvgreFrame(buf, 100, out, 100 + frame.length), 'ok');
    assert.equal(out.innerOffset, 100 + INNER_OFFSET);
    assert.equal(out.innerLength, INNER_LENGTH);
    assert.equal(decodeNvgreFrame(buf, 100, out, 100 + 30), 'ipv4-header-invalid');
  });

  it('accepts every FlowID, since the gateway matches on the VSID alone', () => {
    const out = createNvgreFrame();
    for (let flowId = 0; flowId < 256; flowId++) {
      const frame = mutated((f) => (f[GRE_OFFSET + 7] = flowId));
      assert.equal(decodeNvgreFrame(frame, 0, out), 'ok');
      assert.equal(out.vsid, 5001);
      assert.equal(out.flowId, flowId);
    }
  });

  it('accepts an outer 802.1Q tag and reports its TCI', () => {
    const plain = nvgreFrame();
    const tagged = Buffer.concat([plain.subarray(0, 12), hex('8100 2064'), plain.subarray(12)]);
    const out = createNvgreFrame();
    assert.equal(decodeNvgreFrame(tagged, 0, out), 'ok');
    assert.equal(out.outerVlanTci, 0x2064);
    assert.equal(out.ipOffset, 18);
    assert.equal(out.innerOffset, INNER_OFFSET + 4);
    assert.equal(out.vsid, 5001);
  });

  it('honours the outer IPv4 header length when the header carries options', () => {
    const plain = nvgreFrame();
    const withOptions = Buffer.concat([plain.subarray(0, 34), hex('01010100'), plain.subarray(34)]);
    withOptions[OUTER_IP_OFFSET] = 0x46;
    withOptions.writeUInt16BE(0x52 + 4, OUTER_IP_OFFSET + 2);
    const out = createNvgreFrame();
    assert.equal(decodeNvgreFrame(withOptions, 0, out), 'ok');
    assert.equal(out.ipHeaderLength, 24);
    assert.equal(out.innerOffset, INNER_OFFSET + 4);
    assert.equal(out.innerLength, INNER_LENGTH);
  });

  it('leaves Ethernet padding after the outer IPv4 packet out of the inner frame', () => {
    const padded = Buffer.concat([nvgreFrame(), Buffer.alloc(6)]);
    const out = createNvgreFrame();
    assert.equal(decodeNvgreFrame(padded, 0, out), 'ok');
    assert.equal(out.innerLength, INNER_LENGTH);
  });

  it('does not verify the outer IPv4 checksum (the kernel already has; see decodeNvgreIpv4)', () => {
    assert.equal(decode(mutated((f) => f.writeUInt16BE(0, OUTER_IP_OFFSET + 10))), 'ok');
  });

  // One test per verdict the decoder can return, named after the behaviour.
  const dropCases: [DropReason, string, () => Buffer[]][] = [
    ['truncated-ethernet', 'drops a frame shorter than an Ethernet header', () => [
      nvgreFrame().subarray(0, 13),
      Buffer.concat([nvgreFrame().subarray(0, 12), hex('8100 00')]),
    ]],
    ['not-ipv4', 'drops a frame whose outer ethertype is not IPv4', () => [
      mutated((f) => f.writeUInt16BE(0x86dd, 12)),
      mutated((f) => f.writeUInt16BE(0x0806, 12)),
    ]],
    ['ipv4-header-invalid', 'drops an outer IPv4 header with a bad version, IHL or total length', () => [
      mutated((f) => (f[OUTER_IP_OFFSET] = 0x65)),
      mutated((f) => (f[OUTER_IP_OFFSET] = 0x44)),
      setOuterTotalLength(0x53),
      setOuterTotalLength(19),
      nvgreFrame().subarray(0, OUTER_IP_OFFSET + 19),
    ]],
    ['ipv4-fragment', 'drops an outer IPv4 fragment, first (MF) or later (offset)', () => [
      mutated((f) => (f[OUTER_IP_OFFSET + 6] = 0x20)),
      mutated((f) => f.writeUInt16BE(0x0001, OUTER_IP_OFFSET + 6)),
    ]],
    ['not-gre', 'drops an outer IPv4 packet that is not GRE', () => [mutated((f) => (f[OUTER_IP_OFFSET + 9] = 17))]],
    ['truncated-gre', 'drops a packet whose IPv4 total length ends inside the GRE header', () => [
      setOuterTotalLength(20 + 6),
      setOuterTotalLength(20 + 2),
    ]],
    ['gre-version', 'drops a GRE header with a version other than 0', () => [setGreFlags(0x2001), setGreFlags(0x2007)]],
    ['gre-checksum-present', 'drops a GRE header with the checksum bit set', () => [setGreFlags(0xa000)]],
    ['gre-routing-present', 'drops a GRE header with the routing, strict-route or recursion bit set', () => [
      setGreFlags(0x6000),
      setGreFlags(0x2800),
      setGreFlags(0x2400),
    ]],
    ['gre-no-key', 'drops a GRE header without the key bit, which carries the VSID', () => [setGreFlags(0x0000)]],
    ['gre-sequence-present', 'drops a GRE header with the sequence number bit set', () => [setGreFlags(0x3000)]],
    ['gre-wrong-protocol', 'drops a GRE payload that is not Transparent Ethernet Bridging', () => [
      mutated((f) => f.writeUInt16BE(0x0800, GRE_OFFSET + 2)),
    ]],
    ['truncated-inner', 'drops an inner Ethernet frame shorter than 14 bytes', () => [
      setOuterTotalLength(20 + 8 + 13),
      setOuterTotalLength(20 + 8),
    ]],
    ['inner-vlan-tag', 'drops a frame whose inner Ethernet carries a VLAN tag', () => [
      mutated((f) => f.writeUInt16BE(0x8100, INNER_OFFSET + 12)),
      mutated((f) => f.writeUInt16BE(0x88a8, INNER_OFFSET + 12)),
    ]],
  ];

  for (const [reason, behaviour, frames] of dropCases) {
    it(behaviour, () => {
      for (const [i, frame] of frames().entries()) assert.equal(decode(frame), reason, `case ${i}`);
    });
  }

  it('has a drop test above for every reason the decoder can return', () => {
    // Everything else in the list is decided elsewhere: by the data path against its tables,
    // by the ARP/ICMP codecs, or by an explicit checksum check the decoder leaves out.
    const decidedElsewhere = new Set<DropReason>([
      'ipv4-checksum-invalid',
      'unknown-vsid',
      'spoofed-outer-pa',
      'spoofed-inner-ca',
      'nat-rule-not-forwarded',
      'ttl-exceeded',
      'no-route',
      'mtu-exceeded',
      'arp-invalid',
      'icmp-invalid',
      'not-for-gateway-pa',
      'spoofed-inner-mac',
      'no-lookup-record',
      'pa-unreachable',
      'neighbour-unresolved',
      'tx-ring-full',
      'arp-unanswerable',
      'tenant-port-detached',
      'offload-unmatched',
    ]);
    const decoderReasons = DROP_REASONS.map((d) => d.reason).filter((r) => !decidedElsewhere.has(r));
    assert.deepEqual(new Set(dropCases.map(([r]) => r)), new Set(decoderReasons));
  });

  it('never throws on arbitrary bytes and always returns ok or a named drop reason', () => {
    const out = createNvgreFrame();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (bytes) => {
        assert.ok(VERDICTS.has(decodeNvgreFrame(bytes, 0, out)));
        assert.ok(VERDICTS.has(decodeNvgreIpv4(bytes, 0, out)));
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on mutations and truncations of a valid frame, and keeps the inner frame in bounds', () => {
    const out = createNvgreFrame();
    const base = nvgreFrame();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.nat({ max: base.length }),
        (changes, end) => {
          const frame = Buffer.from(base);
          for (const [at, value] of changes) frame[at] = value;
          const verdict = decodeNvgreFrame(frame, 0, out, end);
          assert.ok(VERDICTS.has(verdict));
          if (verdict === 'ok') {
            assert.ok(out.innerLength >= 14);
            assert.ok(out.innerOffset + out.innerLength <= end);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });
});
