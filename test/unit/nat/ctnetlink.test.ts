import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseIpv4 } from '../../../src/kernel/ipv4.js';
import type { CtEntry, CtMessage, CtTuple } from '../../../src/nat/ctnetlink.js';
import {
  CT_MSG_NEW,
  ctDumpRequest,
  ctGetRequest,
  ctUpdateRequest,
  formatCtRequest,
  IPS_ASSURED,
  IPS_CONFIRMED,
  IPS_DST_NAT,
  IPS_DYING,
  IPS_SEEN_REPLY,
  IPS_SRC_NAT,
  IPS_SRC_NAT_DONE,
  NLM_F_ACK,
  NLM_F_REQUEST,
  parseCtMessage,
  parseCtMessages,
  TCP_CONNTRACK_ESTABLISHED,
} from '../../../src/nat/ctnetlink.js';

// Captured from Linux 6.18 (this project's test machine) with a throwaway listener in a
// namespace routing 10.0.1.2 (client, raw PREROUTING `-j CT --zone-orig 7`) to 10.0.2.2
// (server) through `-j SNAT --to-source 10.0.2.1`. nlmsghdr fields are little-endian.
const FIXTURES = {
  /** NFNLGRP_CONNTRACK_NEW: UDP 10.0.1.2:48399 -> 10.0.2.2:9999, zone-orig 7, SNAT to 10.0.2.1; timeout 30. */
  udpSnatNew:
    '9c000000000100060000000000000000020000003c00018014000180080001000a000102080002000a0002021c000280050001001100000006000200bd0f000006000300270f000006000300000700003400028014000180080001000a000202080002000a0002011c000280050001001100000006000200270f000006000300bd0f000008000c00ffa1c2460800030000000198080007000000001e',
  /** NFNLGRP_CONNTRACK_UPDATE: TCP 10.0.1.2:40001 -> 10.0.2.2:8000 reaching ESTABLISHED, with CTA_PROTOINFO. */
  tcpEstablishedUpdate:
    'cc000000000100000000000000000000020000003c00018014000180080001000a000102080002000a0002021c0002800500010006000000060002009c410000060003001f40000006000300000700003400028014000180080001000a000202080002000a0002011c0002800500010006000000060002001f400000060003009c41000008000c00c2a04781080003000000019e0800070000069780300004802c0001800500010003000000050002000a000000050003000a00000006000400230000000600050023000000',
  /** NFNLGRP_CONNTRACK_DESTROY: UDP 10.0.1.2:40002 -> 10.0.2.2:9999 timed out (no CTA_TIMEOUT, IPS_DYING set). */
  udpDestroy:
    '94000000020100000000000000000000020000003c00018014000180080001000a000102080002000a0002021c0002800500010011000000060002009c42000006000300270f000006000300000700003400028014000180080001000a000202080002000a0002011c000280050001001100000006000200270f0000060003009c42000008000c00c558361a0800030000000398',
  /** One datagram of a dump (seq 77, NLM_F_MULTI|NLM_F_DUMP_FILTERED): an ICMP echo and a UDP entry. */
  dumpPart:
    'bc000000000122004d000000f3010008020000004400018014000180080001000a000102080002000a00020224000280050001000100000006000400017e00000500050008000000050006000000000006000300000700003c00028014000180080001000a000202080002000a00020124000280050001000100000006000400017e000005000500000000000500060000000000080003000000019a080008000000000008000c00a88ff24708000b00000000010800070000000012ac000000000122004d000000f3010008020000003c00018014000180080001000a000102080002000a0002021c000280050001001100000006000200bd0f000006000300270f000006000300000700003400028014000180080001000a000202080002000a0002011c000280050001001100000006000200270f000006000300bd0f00000800030000000198080008000000000008000c00ffa1c24608000b0000000001080007000000001d',
  /** The NLMSG_DONE ending that dump. */
  dumpDone: '14000000030002004d000000f301000800000000',
  /** The ack (errno 0, NLM_F_CAPPED) of an update with seq 101. */
  ack: '240000000200000165000000e502000800000000580000000001050065000000e5020008',
  /** -ENOENT for an update with seq 103: the zone-orig entry's original tuple sent without its zone. The request is quoted. */
  enoent:
    '640000000200000067000000e5020008feffffff500000000001050067000000e5020008020000003400010014000100080001000a000102080002000a0002021c0002000500010011000000060002009c40000006000300270f0000080007000000012f',
  /** The answer to a get (seq 202): NLM_F_MULTI although it is not a dump; the TCP entry after tcpLiberal (flags 0x2b). */
  getAnswer:
    'dc00000000010200ca000000e5020008020000003c00018014000180080001000a000102080002000a0002021c0002800500010006000000060002009c410000060003001f40000006000300000700003400028014000180080001000a000202080002000a0002011c0002800500010006000000060002001f400000060003009c410000080003000000019e080008000000000008000c00c2a0478108000b00000000020800070000069776300004802c0001800500010003000000050002000a000000050003000a000000060004002b000000060005002b000000',
} as const;

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const ip = (text: string): number => parseIpv4(text)!;
const one = (s: string): CtMessage => {
  const messages = parseCtMessages(hex(s));
  assert.equal(messages.length, 1, JSON.stringify(messages));
  return messages[0]!;
};
function entryOf(m: CtMessage): CtEntry {
  assert.ok('entry' in m, `expected an entry message, got ${JSON.stringify(m)}`);
  return m.entry;
}

/** A message built around a payload, for hand-made bad input. */
function message(type: number, flags: number, payload: Buffer, seq = 0): Buffer {
  return formatCtRequest({ type, flags, payload }, seq, 0);
}
function attr(type: number, data: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16LE(4 + data.length, 0);
  header.writeUInt16LE(type, 2);
  return Buffer.concat([header, data, Buffer.alloc((4 - (data.length % 4)) % 4)]);
}

const UDP_ORIGINAL: CtTuple = { src: ip('10.0.1.2'), dst: ip('10.0.2.2'), protocol: 17, srcPort: 48399, dstPort: 9999, zone: 7 };
const UDP_REPLY: CtTuple = { src: ip('10.0.2.2'), dst: ip('10.0.2.1'), protocol: 17, srcPort: 9999, dstPort: 48399 };

describe('ctnetlink decoding of what Linux sends', () => {
  it('reads a UDP SNAT NEW event whose zone covers the original direction only (CTA_TUPLE_ZONE, no CTA_ZONE)', () => {
    const m = one(FIXTURES.udpSnatNew);
    assert.equal(m.kind, 'new');
    assert.deepEqual(m, {
      kind: 'new',
      seq: 0,
      port: 0,
      entry: { original: UDP_ORIGINAL, reply: UDP_REPLY, zone: 0, status: 0x198, mark: 0, timeout: 30, id: 0xffa1c246 },
    });
    const { status } = entryOf(m);
    assert.equal(status & (IPS_CONFIRMED | IPS_SRC_NAT | IPS_SRC_NAT_DONE), IPS_CONFIRMED | IPS_SRC_NAT | IPS_SRC_NAT_DONE);
    assert.equal(status & (IPS_DST_NAT | IPS_SEEN_REPLY), 0);
  });

  it('reads a TCP update with the connection state and the window tracking flags of both directions', () => {
    const m = one(FIXTURES.tcpEstablishedUpdate);
    assert.equal(m.kind, 'update');
    const e = entryOf(m);
    assert.deepEqual(e.original, { src: ip('10.0.1.2'), dst: ip('10.0.2.2'), protocol: 6, srcPort: 40001, dstPort: 8000, zone: 7 });
    assert.deepEqual(e.reply, { src: ip('10.0.2.2'), dst: ip('10.0.2.1'), protocol: 6, srcPort: 8000, dstPort: 40001 });
    assert.equal(e.tcpState, TCP_CONNTRACK_ESTABLISHED);
    assert.deepEqual(e.tcpFlags, { original: 0x23, reply: 0x23 });
    assert.equal(e.timeout, 432000);
    assert.ok((e.status & IPS_ASSURED) !== 0 && (e.status & IPS_SEEN_REPLY) !== 0);
  });

  it('reads a DESTROY event, which has no timeout and the dying bit', () => {
    const m = one(FIXTURES.udpDestroy);
    assert.equal(m.kind, 'destroy');
    const e = entryOf(m);
    assert.equal(e.original.srcPort, 40002);
    assert.equal(e.original.zone, 7);
    assert.equal(e.timeout, 0);
    assert.ok((e.status & IPS_DYING) !== 0);
  });

  it('reads every entry of a dump datagram, ICMP ones with type, code and id, then the done with the same seq', () => {
    const messages = parseCtMessages(hex(FIXTURES.dumpPart));
    assert.deepEqual(
      messages.map((m) => [m.kind, 'seq' in m ? m.seq : undefined]),
      [
        ['dump', 77],
        ['dump', 77],
      ],
    );
    const icmp = entryOf(messages[0]!);
    assert.deepEqual(icmp.original, { src: ip('10.0.1.2'), dst: ip('10.0.2.2'), protocol: 1, srcPort: 0, dstPort: 0, icmpId: 382, icmpType: 8, icmpCode: 0, zone: 7 });
    assert.deepEqual(icmp.reply, { src: ip('10.0.2.2'), dst: ip('10.0.2.1'), protocol: 1, srcPort: 0, dstPort: 0, icmpId: 382, icmpType: 0, icmpCode: 0 });
    assert.deepEqual(entryOf(messages[1]!).original, UDP_ORIGINAL);
    assert.deepEqual(one(FIXTURES.dumpDone), { kind: 'done', seq: 77, errno: 0 });
  });

  it('reads the ack and the error of a request, with its seq', () => {
    assert.deepEqual(one(FIXTURES.ack), { kind: 'error', seq: 101, errno: 0 });
    assert.deepEqual(one(FIXTURES.enoent), { kind: 'error', seq: 103, errno: 2 });
  });

  it('takes the answer to a get for a dump message (the kernel flags it NLM_F_MULTI) and reads the liberal flag', () => {
    const m = one(FIXTURES.getAnswer);
    assert.equal(m.kind, 'dump');
    assert.equal('seq' in m && m.seq, 202);
    assert.deepEqual(entryOf(m).tcpFlags, { original: 0x2b, reply: 0x2b });
  });

  it('decodes a message node-netlink already split from its datagram the same way', () => {
    const raw = hex(FIXTURES.udpSnatNew);
    const split = { type: raw.readUInt16LE(4), flags: raw.readUInt16LE(6), seq: raw.readUInt32LE(8), port: raw.readUInt32LE(12), data: raw.subarray(16) };
    assert.deepEqual(parseCtMessage(split), one(FIXTURES.udpSnatNew));
  });

  it('ignores IPv6 entries, other netfilter subsystems and NLMSG_NOOP, keeping the seq', () => {
    const ipv6 = hex(FIXTURES.udpSnatNew);
    ipv6[16] = 10;
    assert.deepEqual(parseCtMessages(ipv6).map((m) => m.kind), ['ignored']);
    const expectation = hex(FIXTURES.udpSnatNew);
    expectation.writeUInt16LE(0x0200, 4);
    assert.deepEqual(parseCtMessages(expectation).map((m) => m.kind), ['ignored']);
    assert.deepEqual(parseCtMessages(message(1, 0, Buffer.alloc(0), 9)), [{ kind: 'ignored', seq: 9, reason: 'message type 0x1' }]);
  });
});

describe('ctnetlink requests', () => {
  const zoneOrig = { original: { ...UDP_ORIGINAL, srcPort: 40000 }, reply: UDP_REPLY, zone: 0 };

  it('refreshes a zone-orig entry by its original tuple with CTA_TUPLE_ZONE inside it, and nothing else', () => {
    const bytes = formatCtRequest(ctUpdateRequest(zoneOrig, { timeout: 301 }), 101);
    const expected = [
      '58000000 0001 0500 65000000 00000000', // nlmsghdr: 88 bytes, IPCTNL_MSG_CT_NEW, REQUEST|ACK (no CREATE), seq 101
      '02 00 0000', // nfgenmsg: AF_INET, NFNETLINK_V0
      '3c00 0180', // CTA_TUPLE_ORIG | NLA_F_NESTED
      '1400 0180 0800 0100 0a000102 0800 0200 0a000202', // CTA_TUPLE_IP: 10.0.1.2 -> 10.0.2.2
      '1c00 0280 0500 0100 11000000 0600 0200 9c400000 0600 0300 270f0000', // CTA_TUPLE_PROTO: UDP 40000 -> 9999
      '0600 0300 00070000', // CTA_TUPLE_ZONE 7 (be16, padded)
      '0800 0700 0000012d', // CTA_TIMEOUT 301 (be32)
    ].join('');
    assert.equal(bytes.toString('hex'), expected.replace(/ /g, ''));
  });

  it('finds an entry zoned in both directions with CTA_ZONE after the tuple', () => {
    const both = { original: { ...UDP_ORIGINAL, zone: undefined }, zone: 9 };
    const payload = ctUpdateRequest(both, { timeout: 60 }).payload;
    assert.equal(payload.subarray(4 + 0x34).toString('hex'), '06001200' + '00090000' + '08000700' + '0000003c');
  });

  it('sends the original tuple without a zone for an entry of the default zone', () => {
    const payload = ctUpdateRequest({ original: { ...UDP_ORIGINAL, zone: undefined }, zone: 0 }, { timeout: 60 }).payload;
    assert.equal(payload.length, 4 + 0x34 + 8);
    assert.equal(payload.readUInt16LE(4), 0x34);
  });

  it('sets the liberal flag of both TCP directions with mask 0x08, nested in CTA_PROTOINFO/CTA_PROTOINFO_TCP', () => {
    const tcp = { original: { src: ip('10.0.1.2'), dst: ip('10.0.2.2'), protocol: 6, srcPort: 40001, dstPort: 8000, zone: 7 }, zone: 0 };
    const { type, flags, payload } = ctUpdateRequest(tcp, { tcpLiberal: true });
    assert.deepEqual([type, flags], [CT_MSG_NEW, NLM_F_REQUEST | NLM_F_ACK]);
    const protoinfo = payload.subarray(4 + 0x3c).toString('hex');
    assert.equal(protoinfo, ['1800 0480', '1400 0180', '0600 0400 0808 0000', '0600 0500 0808 0000'].join('').replace(/ /g, ''));
    const clear = ctUpdateRequest(tcp, { tcpLiberal: false }).payload.subarray(4 + 0x3c + 8);
    assert.equal(clear.toString('hex'), '0600040000080000' + '0600050000080000', 'flags 0, mask 0x08 clears the bit');
  });

  it('leaves the TCP flags out for a UDP entry, as the kernel would ignore them', () => {
    assert.deepEqual(ctUpdateRequest(zoneOrig, { tcpLiberal: true }).payload, ctUpdateRequest(zoneOrig, {}).payload);
  });

  it('puts ICMP id, type and code in an ICMP tuple', () => {
    const icmp = { original: { src: ip('10.0.1.2'), dst: ip('10.0.2.2'), protocol: 1, srcPort: 0, dstPort: 0, icmpId: 382, icmpType: 8, icmpCode: 0 }, zone: 0 };
    const payload = ctGetRequest(icmp).payload;
    assert.equal(payload.subarray(4 + 4 + 20).toString('hex'), '24000280' + '0500010001000000' + '06000400017e0000' + '0500050008000000' + '0500060000000000');
  });

  it('dumps every IPv4 entry of every zone: IPCTNL_MSG_CT_GET with NLM_F_DUMP and no attribute', () => {
    assert.equal(formatCtRequest(ctDumpRequest(), 77, 0x080001f3).toString('hex'), '14000000' + '0101' + '0103' + '4d000000' + 'f3010008' + '02000000');
  });

  it('refuses a timeout that does not fit CTA_TIMEOUT', () => {
    assert.throws(() => ctUpdateRequest(zoneOrig, { timeout: -1 }), RangeError);
    assert.throws(() => ctUpdateRequest(zoneOrig, { timeout: 2 ** 32 }), RangeError);
    assert.throws(() => ctUpdateRequest(zoneOrig, { timeout: 1.5 }), RangeError);
  });
});

describe('ctnetlink decoding of bad input', () => {
  const singles = [FIXTURES.udpSnatNew, FIXTURES.tcpEstablishedUpdate, FIXTURES.udpDestroy, FIXTURES.dumpDone, FIXTURES.ack, FIXTURES.enoent, FIXTURES.getAnswer];

  it('reports every truncation of a real message as malformed', () => {
    for (const fixture of singles) {
      const buf = hex(fixture);
      for (let n = 1; n < buf.length; n++) {
        const messages = parseCtMessages(buf.subarray(0, n));
        assert.equal(messages.length, 1, `${n} bytes`);
        assert.equal(messages[0]!.kind, 'malformed', `${n} of ${buf.length} bytes`);
      }
    }
  });

  it('keeps the whole messages of a truncated datagram and reports the cut one', () => {
    const buf = hex(FIXTURES.dumpPart);
    const first = buf.readUInt32LE(0);
    for (let n = 1; n < buf.length; n++) {
      const kinds = parseCtMessages(buf.subarray(0, n)).map((m) => m.kind);
      assert.deepEqual(kinds, n < first ? ['malformed'] : n === first ? ['dump'] : ['dump', 'malformed'], `${n} bytes`);
    }
  });

  it('decodes an entry cut short with a consistent length as malformed until both tuples are whole', () => {
    for (const fixture of [FIXTURES.udpSnatNew, FIXTURES.tcpEstablishedUpdate, FIXTURES.getAnswer]) {
      const buf = hex(fixture);
      // nfgenmsg, CTA_TUPLE_ORIG and CTA_TUPLE_REPLY, each attribute's length as the kernel wrote it.
      const origLength = buf.readUInt16LE(20);
      const tuplesEnd = 20 + origLength + buf.readUInt16LE(20 + origLength);
      for (let n = 16; n < buf.length; n++) {
        const cut = Buffer.from(buf.subarray(0, n));
        cut.writeUInt32LE(n, 0);
        const messages = parseCtMessages(cut);
        assert.equal(messages.length, 1);
        if (n < tuplesEnd) assert.equal(messages[0]!.kind, 'malformed', `${n} bytes`);
      }
    }
  });

  it('reports impossible message lengths and stops there', () => {
    for (const length of [0, 8, 15, 157, 0xffffffff]) {
      const buf = hex(FIXTURES.udpSnatNew);
      buf.writeUInt32LE(length, 0);
      assert.deepEqual(parseCtMessages(buf).map((m) => m.kind), ['malformed'], `nlmsg_len ${length}`);
    }
    assert.deepEqual(parseCtMessages(Buffer.concat([hex(FIXTURES.ack), Buffer.alloc(7)])).map((m) => m.kind), ['error', 'malformed']);
  });

  it('reports attributes with impossible lengths, short values and missing tuples', () => {
    const nfgen = Buffer.from([2, 0, 0, 0]);
    const ipAttrs = (src: Buffer) => attr(0x8001, Buffer.concat([attr(1, src), attr(2, Buffer.from([10, 0, 2, 2]))]));
    const proto = attr(0x8002, Buffer.concat([attr(1, Buffer.from([17])), attr(2, Buffer.from([0, 1])), attr(3, Buffer.from([0, 2]))]));
    const tuple = (type: number, src = Buffer.from([10, 0, 1, 2])) => attr(0x8000 | type, Buffer.concat([ipAttrs(src), proto]));
    const decode = (payload: Buffer) => parseCtMessages(message(CT_MSG_NEW, 0, payload));
    assert.equal(decode(Buffer.concat([nfgen, tuple(1), tuple(2)]))[0]!.kind, 'update', 'the hand-made entry itself is fine');
    const zeroLength = Buffer.concat([nfgen, tuple(1), tuple(2)]);
    zeroLength.writeUInt16LE(0, 4);
    const pastEnd = Buffer.concat([nfgen, tuple(1), tuple(2)]);
    pastEnd.writeUInt16LE(0x400, 4 + 4);
    for (const [what, payload] of [
      ['no nfgenmsg', Buffer.from([2, 0])],
      ['attribute length 0', zeroLength],
      ['nested attribute past its parent', pastEnd],
      ['a two-byte IPv4 address', Buffer.concat([nfgen, tuple(1, Buffer.from([10, 0])), tuple(2)])],
      ['no reply tuple', Buffer.concat([nfgen, tuple(1)])],
      ['no original tuple', Buffer.concat([nfgen, tuple(2)])],
      ['a one-byte status', Buffer.concat([nfgen, tuple(1), tuple(2), attr(3, Buffer.from([1]))])],
      ['three stray bytes', Buffer.concat([nfgen, tuple(1), tuple(2), Buffer.from([4, 0, 1])])],
    ] as const) {
      const [m] = decode(payload);
      assert.equal(m?.kind, 'malformed', what);
    }
    assert.equal(parseCtMessages(message(2, 0, Buffer.from([0, 0])))[0]!.kind, 'malformed', 'NLMSG_ERROR without its errno');
  });

  it('never throws on random bytes, nor on real messages with random bytes changed', () => {
    const kinds = new Set(['new', 'update', 'destroy', 'dump', 'error', 'done', 'ignored', 'malformed']);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        for (const m of parseCtMessages(bytes)) assert.ok(kinds.has(m.kind));
      }),
      { numRuns: 2000 },
    );
    const real = Object.values(FIXTURES).map(hex);
    fc.assert(
      fc.property(fc.constantFrom(...real), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (original, changes) => {
        const buf = Buffer.from(original);
        for (const [at, value] of changes) buf[at % buf.length] = value;
        for (const m of parseCtMessages(buf)) assert.ok(kinds.has(m.kind));
      }),
      { numRuns: 5000 },
    );
  });
});
