import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { flowIdForFrame } from '../../../src/packet/flow-hash.js';
import { hex, INNER_OFFSET, nvgreFrame } from './fixtures.js';

interface Flow {
  src: number;
  dst: number;
  protocol: number;
  sport: number;
  dport: number;
}

/** An inner Ethernet/IPv4 frame with 8 bytes of transport header; checksums are irrelevant here. */
function ipv4Frame(flow: Flow, { id = 1, ttl = 64, flagsFragment = 0x4000 } = {}): Buffer {
  const f = Buffer.alloc(14 + 20 + 8);
  hex('00155d0a0001 00155d0a0002 0800').copy(f, 0);
  f.writeUInt8(0x45, 14);
  f.writeUInt16BE(28, 16);
  f.writeUInt16BE(id, 18);
  f.writeUInt16BE(flagsFragment, 20);
  f.writeUInt8(ttl, 22);
  f.writeUInt8(flow.protocol, 23);
  f.writeUInt32BE(flow.src, 26);
  f.writeUInt32BE(flow.dst, 30);
  f.writeUInt16BE(flow.sport, 34);
  f.writeUInt16BE(flow.dport, 36);
  return f;
}

const flow = fc.record({
  src: fc.integer({ min: 0, max: 0xffffffff }),
  dst: fc.integer({ min: 0, max: 0xffffffff }),
  protocol: fc.constantFrom(6, 17),
  sport: fc.integer({ min: 0, max: 0xffff }),
  dport: fc.integer({ min: 0, max: 0xffff }),
});

/** A deterministic pseudo-random sequence (xorshift32), so the spread tests never flake. */
function* pseudoRandom(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    yield x >>> 0;
  }
}

function flowIdOf(frame: Uint8Array): number {
  return flowIdForFrame(frame, 0);
}

function histogram(ids: Iterable<number>): number[] {
  const counts = new Array<number>(256).fill(0);
  for (const id of ids) counts[id] = (counts[id] ?? 0) + 1;
  return counts;
}

describe('flowIdForFrame', () => {
  it('gives the same FlowID to every packet of a flow, whatever its IP id, TTL or payload', () => {
    fc.assert(
      fc.property(flow, fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 255 }), (f, id, ttl) => {
        const a = flowIdOf(ipv4Frame(f));
        assert.equal(flowIdOf(ipv4Frame(f, { id, ttl })), a);
        assert.ok(Number.isInteger(a) && a >= 0 && a <= 255);
      }),
    );
  });

  it('reads the inner frame of the NVGRE fixture in place', () => {
    const frame = nvgreFrame();
    const inner = Buffer.from(frame.subarray(INNER_OFFSET));
    assert.equal(flowIdForFrame(frame, INNER_OFFSET), flowIdForFrame(inner, 0));
  });

  it('spreads 25600 random flows over all 256 FlowIDs, none more than twice as often as average', () => {
    const rnd = pseudoRandom(0x2a2a2a2a);
    const next = (): number => rnd.next().value as number;
    const counts = histogram(
      Array.from({ length: 25600 }, () =>
        flowIdOf(ipv4Frame({ src: next(), dst: next(), protocol: 6, sport: next() & 0xffff, dport: 443 })),
      ),
    );
    assert.equal(counts.filter((c) => c > 0).length, 256);
    assert.ok(Math.max(...counts) < 200, `busiest FlowID has ${Math.max(...counts)} flows`);
  });

  it('spreads connections that differ only in the source port', () => {
    const ids = new Set<number>();
    for (let sport = 49152; sport < 49152 + 2048; sport++) {
      ids.add(flowIdOf(ipv4Frame({ src: 0x0a000001, dst: 0x0a000002, protocol: 6, sport, dport: 443 })));
    }
    assert.ok(ids.size >= 250, `${ids.size} distinct FlowIDs`);
  });

  it('is not symmetric: the two directions of a flow are hashed independently', () => {
    let differ = 0;
    const rnd = pseudoRandom(7);
    const next = (): number => rnd.next().value as number;
    for (let i = 0; i < 1000; i++) {
      const f = { src: next(), dst: next(), protocol: 17, sport: next() & 0xffff, dport: next() & 0xffff };
      const reverse = { src: f.dst, dst: f.src, protocol: 17, sport: f.dport, dport: f.sport };
      if (flowIdOf(ipv4Frame(f)) !== flowIdOf(ipv4Frame(reverse))) differ++;
    }
    assert.ok(differ > 950, `${differ} of 1000 flows differ from their reverse`);
  });

  it('keeps every fragment of a datagram on one FlowID by ignoring ports in fragments', () => {
    const f = { src: 0x0a000001, dst: 0x0a000002, protocol: 17, sport: 5000, dport: 53 };
    const first = flowIdOf(ipv4Frame(f, { flagsFragment: 0x2000 }));
    const later = flowIdOf(ipv4Frame({ ...f, sport: 0xdead, dport: 0xbeef }, { flagsFragment: 0x00b9 }));
    assert.equal(first, later);
    // Two datagrams of one fragmented flow then share a FlowID regardless of ports.
    assert.equal(first, flowIdOf(ipv4Frame({ ...f, sport: 1 }, { flagsFragment: 0x2000 })));
  });

  it('uses the 3-tuple for IPv4 protocols without ports', () => {
    const icmp = { src: 0x0a000001, dst: 0x0a000002, protocol: 1, sport: 0x0800, dport: 0 };
    assert.equal(flowIdOf(ipv4Frame(icmp)), flowIdOf(ipv4Frame({ ...icmp, sport: 0x0000, dport: 7 })));
  });

  it('hashes IPv6 addresses and ports', () => {
    const v6 = (sport: number): Buffer => {
      const f = Buffer.alloc(14 + 40 + 8);
      hex('00155d0a0001 00155d0a0002 86dd 60000000 0008 06 40').copy(f, 0);
      hex('fd000000000000000000000000000001 fd000000000000000000000000000002').copy(f, 22);
      f.writeUInt16BE(sport, 54);
      f.writeUInt16BE(443, 56);
      return f;
    };
    const ids = new Set<number>();
    for (let sport = 1024; sport < 1024 + 512; sport++) ids.add(flowIdOf(v6(sport)));
    assert.equal(flowIdOf(v6(1024)), flowIdOf(v6(1024)));
    assert.ok(ids.size >= 200, `${ids.size} distinct FlowIDs`);
  });

  it('falls back to the MAC pair for frames that are not IP', () => {
    const arp = (srcMacLow: number): Buffer => {
      const f = hex('ffffffffffff 00155d0a0002 0806' + '00'.repeat(28));
      f.writeUInt8(srcMacLow, 11);
      return f;
    };
    assert.equal(flowIdOf(arp(2)), flowIdOf(arp(2)));
    const ids = new Set<number>();
    for (let i = 0; i < 256; i++) ids.add(flowIdOf(arp(i)));
    assert.ok(ids.size > 100, `${ids.size} distinct FlowIDs`);
  });

  it('never throws and stays in 0..255 for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const id = flowIdOf(bytes);
        assert.ok(Number.isInteger(id) && id >= 0 && id <= 255);
      }),
      { numRuns: 2000 },
    );
  });
});
