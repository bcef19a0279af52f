import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatIpv4, internetChecksum, IP_PROTOCOL_TCP, IP_PROTOCOL_UDP } from '../../../src/packet/ipv4.js';
import { applyNat, natDeltas } from '../../../src/packet/nat-rewrite.js';
import type { FlowTuple } from '../../../src/packet/nat-rewrite.js';

/** The TCP/UDP checksum computed from scratch over pseudo-header and segment (RFC 793 section 3.1, RFC 768). */
function transportChecksum(buf: Uint8Array, l3: number, protocol: number, segmentLength: number): number {
  const pseudo = Buffer.alloc(12 + segmentLength);
  pseudo.set(buf.subarray(l3 + 12, l3 + 20), 0);
  pseudo[9] = protocol;
  pseudo.writeUInt16BE(segmentLength, 10);
  pseudo.set(buf.subarray(l3 + 20, l3 + 20 + segmentLength), 12);
  return internetChecksum(pseudo, 0, pseudo.length);
}

interface Packet {
  buf: Buffer;
  tuple: FlowTuple;
  protocol: number;
  segmentLength: number;
}

/** An IPv4 packet (no Ethernet) with correct header and transport checksums. */
function packet(protocol: number, tuple: FlowTuple, payload: Uint8Array, ttl: number, udpChecksum = true): Packet {
  const transport = protocol === IP_PROTOCOL_TCP ? 20 : 8;
  const segmentLength = transport + payload.length;
  const buf = Buffer.alloc(20 + segmentLength);
  formatIpv4({ headerLength: 20, tos: 0, totalLength: buf.length, id: 99, flags: 2, fragmentOffset: 0, ttl, protocol, checksum: 0, src: tuple.src, dst: tuple.dst }, buf, 0);
  buf.writeUInt16BE(tuple.srcPort, 20);
  buf.writeUInt16BE(tuple.dstPort, 22);
  if (protocol === IP_PROTOCOL_TCP) {
    buf.writeUInt32BE(0x01020304, 24);
    buf[32] = 0x50;
    buf[33] = 0x10; // ACK
    buf.writeUInt16BE(0xffff, 34);
  } else {
    buf.writeUInt16BE(segmentLength, 24);
  }
  buf.set(payload, 20 + transport);
  const at = 20 + (protocol === IP_PROTOCOL_TCP ? 16 : 6);
  if (protocol === IP_PROTOCOL_TCP || udpChecksum) {
    let checksum = transportChecksum(buf, 0, protocol, segmentLength);
    if (protocol === IP_PROTOCOL_UDP && checksum === 0) checksum = 0xffff;
    buf.writeUInt16BE(checksum, at);
  }
  return { buf, tuple, protocol, segmentLength };
}

const tuple = fc.record({
  src: fc.integer({ min: 0, max: 0xffffffff }),
  dst: fc.integer({ min: 0, max: 0xffffffff }),
  srcPort: fc.integer({ min: 0, max: 0xffff }),
  dstPort: fc.integer({ min: 0, max: 0xffff }),
});

const readTuple = (buf: Uint8Array): FlowTuple => {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  return { src: b.readUInt32BE(12), dst: b.readUInt32BE(16), srcPort: b.readUInt16BE(20), dstPort: b.readUInt16BE(22) };
};

describe('NAT rewrite with incremental checksums (RFC 1624)', () => {
  it('leaves TCP and UDP packets whose checksums verify as if computed from scratch, for any translation', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(IP_PROTOCOL_TCP, IP_PROTOCOL_UDP),
        tuple,
        tuple,
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.integer({ min: 2, max: 255 }),
        (protocol, from, to, payload, ttl) => {
          const p = packet(protocol, from, payload, ttl);
          applyNat(p.buf, 0, to, natDeltas(from, to));
          assert.deepEqual(readTuple(p.buf), { ...to });
          assert.equal(p.buf[8], ttl - 1);
          assert.equal(internetChecksum(p.buf, 0, 20), 0, 'IPv4 header checksum verifies');
          const at = 20 + (protocol === IP_PROTOCOL_TCP ? 16 : 6);
          const stored = p.buf.readUInt16BE(at);
          if (protocol === IP_PROTOCOL_UDP) assert.notEqual(stored, 0, 'a UDP checksum that was present is never sent as "none"');
          assert.equal(transportChecksum(p.buf, 0, protocol, p.segmentLength), 0, 'transport checksum verifies');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('keeps a UDP checksum of zero ("no checksum", RFC 768) at zero', () => {
    const from = { src: 0xc0a8010b, dst: 0xac100002, srcPort: 4000, dstPort: 53 };
    const to = { src: 0xac10000a, dst: 0xac100002, srcPort: 61000, dstPort: 53 };
    const p = packet(IP_PROTOCOL_UDP, from, new Uint8Array([1, 2, 3]), 64, false);
    applyNat(p.buf, 0, to, natDeltas(from, to));
    assert.equal(p.buf.readUInt16BE(26), 0);
    assert.equal(internetChecksum(p.buf, 0, 20), 0);
  });

  it('is its own inverse on the addresses and ports: translating back restores every byte but the TTL', () => {
    const from = { src: 0xc0a8010b, dst: 0x08080808, srcPort: 51000, dstPort: 443 };
    const to = { src: 0xcb00710a, dst: 0x08080808, srcPort: 1024, dstPort: 443 };
    const p = packet(IP_PROTOCOL_TCP, from, new TextEncoder().encode('hello'), 64);
    const original = Buffer.from(p.buf);
    applyNat(p.buf, 0, to, natDeltas(from, to));
    applyNat(p.buf, 0, from, natDeltas(to, from));
    assert.equal(p.buf[8], 62);
    p.buf[8] = 64;
    p.buf.writeUInt16BE(0, 10);
    original.writeUInt16BE(0, 10);
    assert.deepEqual(p.buf, original);
  });
});
