/**
 * The offload manager against fakes of conntrack, the uplink claim and the neighbour
 * table, on a manual clock: when a connection is taken from the kernel, kept alive, and
 * handed back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CounterWriter, createCounterMemory } from '../../../src/datapath/counters.js';
import { Dataplane } from '../../../src/datapath/dataplane.js';
import { TCP_CONNTRACK_ESTABLISHED } from '../../../src/datapath/offload.js';
import type { Connection } from '../../../src/datapath/offload.js';
import { CLAIM_COPY, CLAIM_DROP, OffloadManager } from '../../../src/datapath/offload-manager.js';
import type { ConntrackControl, ConntrackMessage, InboundClaim } from '../../../src/datapath/offload-manager.js';
import { buildTables, offloadTables } from '../../../src/datapath/tables.js';
import { DesiredState } from '../../../src/model/desired-state.js';
import { ip } from '../../support/frames.js';
import { mac, MemoryPort } from '../../support/memory-port.js';
import { BLUE, GREEN, natConfig, RED } from '../nat/fixtures.js';

const MARKS: Record<string, number> = { [BLUE]: 1000, [RED]: 1001, [GREEN]: 1002 };
const ROUTER = ip('203.0.113.1');
const ROUTER_MAC = 0x02000000fe01;
const TIMEOUTS = { udp: 30, udpStream: 120, tcpEstablished: 432000 };

const snat: Connection = {
  original: { protocol: 17, src: ip('192.168.1.101'), dst: ip('198.51.100.7'), srcPort: 40000, dstPort: 53, zone: 1000 },
  reply: { protocol: 17, src: ip('198.51.100.7'), dst: ip('203.0.113.10'), srcPort: 53, dstPort: 61000 },
  status: (1 << 3) | (1 << 4),
  mark: 1000,
  zone: 0,
};
const tcp = (state: number): Connection => ({
  original: { protocol: 6, src: ip('192.168.1.101'), dst: ip('198.51.100.7'), srcPort: 40001, dstPort: 443, zone: 1000 },
  reply: { protocol: 6, src: ip('198.51.100.7'), dst: ip('203.0.113.10'), srcPort: 443, dstPort: 61001 },
  status: (1 << 3) | (1 << 4) | (1 << 1),
  mark: 1000,
  zone: 0,
  tcpState: state,
});

class FakeConntrack implements ConntrackControl {
  readonly updates: { seq: number; entry: Connection; change: { timeout?: number; tcpLiberal?: boolean }; flowsAtCall: number }[] = [];
  dumps: number[] = [];
  private seq = 100;
  constructor(private readonly flowsSize: () => number) {}
  update(entry: Connection, change: { timeout?: number; tcpLiberal?: boolean }): number {
    this.updates.push({ seq: ++this.seq, entry, change, flowsAtCall: this.flowsSize() });
    return this.seq;
  }
  dump(): number {
    this.dumps.push(++this.seq);
    return this.seq;
  }
}

class FakeClaim implements InboundClaim {
  readonly log: string[] = [];
  readonly map = new Map<string, number>();
  private key = (t: { src: number; dst: number; srcPort: number; dstPort: number; protocol: number }) => `${t.protocol}/${t.src}/${t.dst}/${t.srcPort}/${t.dstPort}`;
  set(t: { src: number; dst: number; srcPort: number; dstPort: number; protocol: number }, bits: number): void {
    this.log.push(`set ${bits}`);
    this.map.set(this.key(t), bits);
  }
  delete(t: { src: number; dst: number; srcPort: number; dstPort: number; protocol: number }): boolean {
    this.log.push('delete');
    return this.map.delete(this.key(t));
  }
}

/** A routed (no NAT) UDP connection of green, whose uplink has no claim (no tcx) in setup(). */
const routed: Connection = {
  original: { protocol: 17, src: ip('10.20.0.101'), dst: ip('198.18.0.1'), srcPort: 5000, dstPort: 5001 },
  reply: { protocol: 17, src: ip('198.18.0.1'), dst: ip('10.20.0.101'), srcPort: 5001, dstPort: 5000 },
  status: 1 << 3,
  mark: 0,
  zone: 1002,
};
const routedOutbound = (t: ReturnType<typeof setup>) => t.dataplane.offload.outbound(17, 1002, routed.original.src, routed.original.dst, ((5000 << 16) | 5001) >>> 0);

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(options: { neighbours?: Map<number, number> } = {}) {
  const state = DesiredState.fromDocument(natConfig() as never);
  const dataplane = new Dataplane(new MemoryPort('fab0', mac('02000000aa01')), new CounterWriter(createCounterMemory()), () => 0);
  dataplane.setTables(buildTables(state, 1, () => 0).tables);
  const tables = offloadTables(state, (rd) => MARKS[rd], (rd) => MARKS[rd]);
  dataplane.setOffloadDomains(tables.domains);
  let clock = 1_000_000;
  const neighbours = options.neighbours ?? new Map([[ROUTER, ROUTER_MAC]]);
  let reads = 0;
  const conntrack = new FakeConntrack(() => dataplane.offload.size);
  const claim = new FakeClaim();
  const sut = new OffloadManager(
    dataplane.offload,
    dataplane.offloadView,
    conntrack,
    () => {
      reads++;
      return Promise.resolve(new Map(neighbours));
    },
    TIMEOUTS,
    () => clock,
  );
  sut.setTables(tables, new Map([['ext0', { ifindex: 7, claim }], ['rt0', { ifindex: 8, claim: undefined }]]));
  const learn = (entry: Connection, kind: ConntrackMessage['kind'] = 'new') => sut.handle({ kind, seq: 0, entry } as ConntrackMessage);
  const outbound = (c: Connection) => {
    const o = c.original;
    return dataplane.offload.outbound(o.protocol, 1000, o.src, o.dst, ((o.srcPort << 16) | o.dstPort) >>> 0);
  };
  return {
    sut,
    dataplane,
    conntrack,
    claim,
    neighbours,
    learn,
    outbound,
    advance: (ms: number) => void (clock += ms),
    reads: () => reads,
    /** Installs `entry` the way a NEW event does, with the neighbour already read. */
    async installed(entry: Connection) {
      learn(entry);
      await flush();
      sut.tick();
      assert.ok(outbound(entry), 'installed');
    },
  };
}

describe('offload manager', () => {
  it('takes a new SNAT connection at once, claiming copy then drop, and fills in the next hop\'s MAC from the kernel\'s neighbour table', async () => {
    const t = setup();
    t.learn(snat);
    const flow = t.outbound(snat);
    assert.ok(flow, 'installed without waiting');
    assert.equal(flow.nextHopMac, -1, 'outbound waits for the MAC');
    assert.equal(t.sut.stats().pending, 1);
    await flush();
    assert.equal(flow.nextHopMac, ROUTER_MAC);
    assert.equal(t.sut.stats().pending, 0);
    assert.equal(flow.uplinkIfindex, 7);
    assert.deepEqual(t.claim.log, [`set ${CLAIM_COPY}`, `set ${CLAIM_COPY | CLAIM_DROP}`]);
    assert.deepEqual(t.sut.stats().offloaded, 1);
  });

  it('makes a TCP connection liberal in the kernel before the data path carries any of it', async () => {
    const t = setup();
    await t.installed(tcp(TCP_CONNTRACK_ESTABLISHED));
    const liberal = t.conntrack.updates.find((u) => u.change.tcpLiberal);
    assert.ok(liberal);
    assert.equal(liberal.flowsAtCall, 0, 'sent before the flow entered the tables');
    assert.equal(liberal.change.timeout, TIMEOUTS.tcpEstablished);
  });

  it('refreshes the kernel\'s timeout every third of it while packets flow, and not while idle', async () => {
    const t = setup();
    await t.installed(snat);
    const refreshes = () => t.conntrack.updates.filter((u) => u.change.timeout !== undefined && !u.change.tcpLiberal).length;
    t.advance(9_000);
    t.outbound(snat)!.packets += 10;
    t.sut.tick();
    assert.equal(refreshes(), 0, 'before a third of 30 s');
    t.advance(1_000);
    t.sut.tick();
    assert.equal(refreshes(), 1);
    assert.equal(t.conntrack.updates.at(-1)!.change.timeout, TIMEOUTS.udp - 1, 'what the kernel would have left: the last packet was 1 s ago');
    t.advance(10_000);
    t.sut.tick();
    assert.equal(refreshes(), 1, 'no packets since: no refresh');
  });

  it('never keeps an idle connection alive longer than the kernel would have: the refresh counts from the last packet', async () => {
    const t = setup();
    await t.installed(snat);
    t.outbound(snat)!.packets++;
    t.advance(250);
    t.sut.tick(); // the tick that sees the last packet
    t.advance(9_750);
    t.sut.tick();
    const refresh = t.conntrack.updates.at(-1)!;
    assert.equal(refresh.change.timeout, TIMEOUTS.udp - 9, 'expires 30 s after the last packet, as without offload');
    t.advance(TIMEOUTS.udp * 1000 - 10_000 + 500);
    t.sut.tick();
    assert.ok(t.outbound(snat), 'still carried up to the kernel\'s expiry');
    t.advance(1_000);
    t.sut.tick();
    t.advance(1);
    t.sut.tick();
    assert.equal(t.outbound(snat), undefined, 'handed back once the kernel\'s entry has expired');
  });

  it('dumps the table every minute: a connection the kernel carries without events comes back', async () => {
    const t = setup();
    const dumps = t.conntrack.dumps.length;
    t.advance(59_000);
    t.sut.tick();
    assert.equal(t.conntrack.dumps.length, dumps);
    t.advance(1_000);
    t.sut.tick();
    assert.equal(t.conntrack.dumps.length, dumps + 1);
    t.sut.handle({ kind: 'dump', seq: t.conntrack.dumps.at(-1)!, entry: snat });
    assert.ok(t.outbound(snat), 'offloaded from the dump');
    t.sut.handle({ kind: 'dump', seq: t.conntrack.dumps.at(-1)!, entry: { ...snat, original: { ...snat.original, protocol: 1 } } });
    assert.deepEqual(t.sut.stats().refused, {}, 'what a dump lists again is not counted as refused');
  });

  it('uses the stream timeout once the UDP connection has seen a reply', async () => {
    const t = setup();
    await t.installed(snat);
    t.learn({ ...snat, status: snat.status | (1 << 1) }, 'update');
    t.outbound(snat)!.packets++;
    t.advance(40_000);
    t.sut.tick();
    assert.equal(t.conntrack.updates.at(-1)!.change.timeout, TIMEOUTS.udpStream);
  });

  it('hands a destroyed connection back: the claim at once, the data path\'s entry one tick later', async () => {
    const t = setup();
    await t.installed(snat);
    t.sut.handle({ kind: 'destroy', seq: 0, entry: snat });
    assert.equal(t.claim.log.at(-1), 'delete');
    assert.ok(t.outbound(snat), 'frames already claimed into the ring are still translated');
    t.advance(1);
    t.sut.tick();
    assert.equal(t.outbound(snat), undefined);
    assert.equal(t.sut.stats().returned, 1);
  });

  it('hands a TCP connection back when it leaves ESTABLISHED', async () => {
    const t = setup();
    await t.installed(tcp(TCP_CONNTRACK_ESTABLISHED));
    t.learn(tcp(4 /* FIN_WAIT */), 'update');
    t.sut.tick();
    assert.equal(t.outbound(tcp(4)), undefined);
  });

  it('hands a connection back when the kernel answers a refresh with ENOENT', async () => {
    const t = setup();
    await t.installed(snat);
    t.outbound(snat)!.packets++;
    t.advance(10_000);
    t.sut.tick();
    const seq = t.conntrack.updates.at(-1)!.seq;
    t.sut.handle({ kind: 'error', seq, errno: 2 });
    t.sut.tick();
    assert.equal(t.outbound(snat), undefined);
  });

  it('after lost events, dumps and hands back what the dump no longer lists', async () => {
    const t = setup();
    await t.installed(snat);
    await t.installed(tcp(TCP_CONNTRACK_ESTABLISHED));
    t.advance(1);
    t.sut.handle({ kind: 'overrun' });
    const seq = t.conntrack.dumps.at(-1)!;
    t.sut.handle({ kind: 'dump', seq, entry: snat });
    t.sut.handle({ kind: 'done', seq });
    t.sut.tick();
    assert.ok(t.outbound(snat));
    assert.equal(t.outbound(tcp(TCP_CONNTRACK_ESTABLISHED)), undefined);
    assert.equal(t.sut.stats().overruns, 1);
  });

  it('reads the neighbour table again while the next hop is unresolved, and never gives the connection up for it', async () => {
    const t = setup({ neighbours: new Map() });
    t.learn(snat);
    for (let i = 0; i < 25; i++) {
      await flush();
      t.advance(250);
      t.sut.tick();
    }
    assert.ok(t.reads() >= 10, `the table was read again while the MAC was missing (${t.reads()} reads)`);
    await flush();
    assert.equal(t.outbound(snat)?.nextHopMac, -1, 'still installed: inbound carried, outbound left to the kernel');
    t.neighbours.set(ROUTER, ROUTER_MAC);
    t.advance(250);
    t.sut.tick();
    await flush();
    assert.equal(t.outbound(snat)?.nextHopMac, ROUTER_MAC);
    const reads = t.reads();
    t.advance(250);
    t.sut.tick();
    assert.equal(t.reads(), reads, 'no more re-reads once resolved');
  });

  it('hands back the connections of a domain whose external connection was removed', async () => {
    const t = setup();
    await t.installed(snat);
    t.sut.setTables({ domains: [], uplinks: [] }, new Map());
    t.advance(1);
    t.sut.tick();
    assert.equal(t.outbound(snat), undefined);
  });

  it('hands back a connection idle for its whole timeout', async () => {
    const t = setup();
    await t.installed(snat);
    t.advance(32_000);
    t.sut.tick();
    t.advance(1);
    t.sut.tick();
    assert.equal(t.outbound(snat), undefined);
  });

  it('on an uplink without a claim (no tcx) refreshes to the whole timeout and never judges the connection idle: the kernel sees its inbound packets', async () => {
    const t = setup();
    t.neighbours.set(ip('198.18.0.1'), 0x02000000fe02);
    t.learn(routed);
    await flush();
    const flow = routedOutbound(t)!;
    flow.packets++;
    t.advance(250);
    t.sut.tick();
    t.advance(9_750);
    t.sut.tick();
    assert.equal(t.conntrack.updates.at(-1)!.change.timeout, TIMEOUTS.udp, 'the whole timeout: inbound packets the data path never saw may be more recent');
    t.advance(TIMEOUTS.udp * 3 * 1000);
    t.sut.tick();
    t.advance(1);
    t.sut.tick();
    assert.ok(routedOutbound(t), 'kept until the kernel says it is gone');
    t.sut.handle({ kind: 'destroy', seq: 0, entry: routed });
    t.advance(1);
    t.sut.tick();
    assert.equal(routedOutbound(t), undefined);
  });

  it('counts what it leaves with the kernel, by reason', () => {
    const t = setup();
    t.learn({ ...snat, original: { ...snat.original, protocol: 1 } });
    t.learn(tcp(1));
    assert.deepEqual(t.sut.stats().refused, { protocol: 1, 'tcp-not-established': 1 });
  });

  it('does not claim inbound frames on an uplink without a claim (no tcx): outbound only', async () => {
    const t = setup();
    t.neighbours.set(ip('198.18.0.1'), 0x02000000fe02);
    t.learn(routed);
    await flush();
    t.sut.tick();
    assert.ok(routedOutbound(t));
    assert.deepEqual(t.claim.log, []);
  });
});
