import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CounterReader, CounterWriter, createCounterMemory } from '../../../src/datapath/counters.js';
import { Dataplane } from '../../../src/datapath/dataplane.js';
import { buildTables } from '../../../src/datapath/tables.js';
import { DesiredState } from '../../../src/model/desired-state.js';
import type { ConfigDocument } from '../../../src/model/resources.js';
import { internetChecksum } from '../../../src/packet/ipv4.js';
import { arpReply, arpRequest, ip, nvgreFrame, udpFrame } from '../../support/frames.js';
import { mac, MemoryPort } from '../../support/memory-port.js';

const RD = '{11111111-2222-3333-4444-000000005001}';
const GW_PA = '10.1.1.40';
const GW_FABRIC_MAC = '02000000aa01';
const HOST1 = { pa: '10.1.1.20', mac: '02000000bb01' };
const HOST2 = { pa: '10.1.1.30', mac: '02000000bb02' };
const HOST3 = { pa: '10.1.1.50', mac: '02000000bb03' };
const VM1 = { ca: '192.168.1.101', mac: '00155d011404' };
const VM2 = { ca: '192.168.1.102', mac: '00155d011e04' };
const GW_CA_5001 = { ca: '192.168.1.1', mac: '00155d143c01' };

function record(ca: string, vsid: number, macAddress: string, pa: string, rule = 'TranslationMethodEncap') {
  return { customerAddress: ca, virtualSubnetId: vsid, macAddress, providerAddress: pa, rule };
}

function classicState(extra: (doc: Partial<ConfigDocument> & Record<string, unknown[]>) => void = () => {}) {
  const doc: Record<string, unknown[]> = {
    routingDomains: [{ routingDomainId: RD }],
    virtualSubnets: [
      { virtualSubnetId: 5001, routingDomainId: RD },
      { virtualSubnetId: 5002, routingDomainId: RD },
    ],
    customerRoutes: [
      { routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24', nextHop: '0.0.0.0' },
      { routingDomainId: RD, virtualSubnetId: 5002, destinationPrefix: '192.168.2.0/24', nextHop: '0.0.0.0' },
    ],
    lookupRecords: [
      record(VM1.ca, 5001, VM1.mac, HOST1.pa),
      record(VM2.ca, 5001, VM2.mac, HOST2.pa),
      record(GW_CA_5001.ca, 5001, GW_CA_5001.mac, GW_PA),
      record('192.168.2.250', 5002, '00155d143c02', GW_PA),
      record('192.168.2.77', 5002, '00155d0a0a0a', HOST3.pa, 'TranslationMethodNat'),
    ],
    providerAddresses: [{ interface: 'eth1', providerAddress: GW_PA, prefixLength: 24 }],
  };
  extra(doc as never);
  return DesiredState.fromDocument(doc);
}

function setup(state = classicState()) {
  const memory = createCounterMemory();
  const counters = new CounterReader(memory);
  const fabric = new MemoryPort('eth1', mac(GW_FABRIC_MAC));
  const tenants = new Map([5001, 5002].map((vsid) => [vsid, new MemoryPort(`nvgw-d${vsid}`, mac('024e56000001'))]));
  let clock = 0;
  const sut = new Dataplane(fabric, new CounterWriter(memory), () => clock);
  const slots = new Map([[5001, 1], [5002, 2]]);
  sut.setTables(buildTables(state, 1, (vsid) => slots.get(vsid) ?? 0).tables);
  for (const [vsid, port] of tenants) sut.attachTenant(vsid, port);
  const drops = (reason: string) => (counters.snapshot().drops as Record<string, { packets: number }>)[reason]!.packets;
  const advance = (ms: number) => (clock += ms);
  return { sut, fabric, tenants, counters, drops, advance, t5001: tenants.get(5001)!, t5002: tenants.get(5002)! };
}

const fromVm1 = (vsid = 5001, flowId = 0, over: Partial<Parameters<typeof nvgreFrame>[0]> = {}) =>
  nvgreFrame({ srcPa: HOST1.pa, dstPa: GW_PA, vsid, flowId, ...over }, udpFrame({ srcMac: VM1.mac, dstMac: GW_CA_5001.mac, srcIp: VM1.ca, dstIp: '192.168.2.250' }));

/** Cuts the frame to `ipPayload` bytes after the outer IPv4 header, keeping that header consistent. */
function truncatedAfterIp(frame: Buffer, ipPayload: number): Buffer {
  const cut = Buffer.from(frame.subarray(0, 34 + ipPayload));
  cut.writeUInt16BE(20 + ipPayload, 16);
  cut.writeUInt16BE(0, 24);
  cut.writeUInt16BE(internetChecksum(cut, 14, 20), 24);
  return cut;
}

describe('the receive (decap) path', () => {
  it('delivers the inner frame of valid NVGRE from a host PA to its VSID\'s tenant port, intact', () => {
    const { sut, fabric, t5001, counters } = setup();
    const frame = fromVm1();
    fabric.inject(frame);
    sut.poll();
    const delivered = t5001.drain();
    assert.equal(delivered.length, 1);
    assert.deepEqual(delivered[0], frame.subarray(42));
    assert.equal(counters.vsid(1).decapPackets, 1);
  });

  it('matches on the VSID alone and accepts every FlowID', () => {
    const { sut, fabric, t5001 } = setup();
    fabric.inject(fromVm1(5001, 0x00), fromVm1(5001, 0x2a), fromVm1(5001, 0xff));
    sut.poll();
    assert.equal(t5001.drain().length, 3);
  });

  const cases: [string, () => Buffer, string][] = [
    ['drops a VSID the gateway does not serve', () => fromVm1(7777), 'unknown-vsid'],
    ['drops NVGRE whose outer source is not a PA of that VSID', () => fromVm1(5001, 0, { srcPa: '10.1.1.99' }), 'spoofed-outer-pa'],
    ['drops an inner source CA that does not live behind the sending PA', () => fromVm1(5001, 0, { srcPa: HOST2.pa }), 'spoofed-inner-ca'],
    ['drops GRE with the checksum bit set', () => fromVm1(5001, 0, { flags: 0xa000 }), 'gre-checksum-present'],
    ['drops GRE with the sequence bit set', () => fromVm1(5001, 0, { flags: 0x3000 }), 'gre-sequence-present'],
    ['drops GRE without a key', () => fromVm1(5001, 0, { flags: 0x0000 }), 'gre-no-key'],
    ['drops GRE that does not carry Ethernet (0x6558)', () => fromVm1(5001, 0, { protocol: 0x0800 }), 'gre-wrong-protocol'],
    ['drops outer IPv4 fragments', () => fromVm1(5001, 0, { fragment: true }), 'ipv4-fragment'],
    ['drops NVGRE addressed to a PA that is not the gateway\'s', () => fromVm1(5001, 0, { dstPa: '10.1.1.41' }), 'not-for-gateway-pa'],
    [
      'drops an inner frame that carries an 802.1Q tag',
      () => nvgreFrame({ srcPa: HOST1.pa, dstPa: GW_PA, vsid: 5001 }, udpFrame({ srcMac: VM1.mac, dstMac: GW_CA_5001.mac, srcIp: VM1.ca, dstIp: '192.168.1.1', vlan: 5 })),
      'inner-vlan-tag',
    ],
    ['drops a truncated GRE header', () => truncatedAfterIp(fromVm1(), 4), 'truncated-gre'],
    [
      'drops packets from a CA whose record says IP Rewrite (not translated yet)',
      () => nvgreFrame({ srcPa: HOST3.pa, dstPa: GW_PA, vsid: 5002 }, udpFrame({ srcMac: '00155d0a0a0a', dstMac: '00155d143c02', srcIp: '192.168.2.77', dstIp: '192.168.2.250' })),
      'nat-rule-not-forwarded',
    ],
  ];
  for (const [behaviour, make, reason] of cases) {
    it(behaviour, () => {
      const { sut, fabric, tenants, drops } = setup();
      fabric.inject(make());
      sut.poll();
      assert.equal(drops(reason), 1, reason);
      for (const port of tenants.values()) assert.equal(port.drain().length, 0);
    });
  }

  it('drops a frame with a bad outer IPv4 checksum, which AF_PACKET hands over unchecked', () => {
    const { sut, fabric, drops } = setup();
    const frame = fromVm1();
    frame[24]! ^= 0xff;
    fabric.inject(frame);
    sut.poll();
    assert.equal(drops('ipv4-checksum-invalid'), 1);
  });

  it('accepts any inner source from the PA of the VSID\'s wildcard record', () => {
    const state = classicState((doc) => doc.lookupRecords!.push(record('0.0.0.0', 5001, '00155d999999', HOST3.pa) as never));
    const { sut, fabric, t5001 } = setup(state);
    fabric.inject(nvgreFrame({ srcPa: HOST3.pa, dstPa: GW_PA, vsid: 5001 }, udpFrame({ srcMac: '00155d777777', dstMac: GW_CA_5001.mac, srcIp: '8.8.8.8', dstIp: '192.168.1.1' })));
    sut.poll();
    assert.equal(t5001.drain().length, 1);
  });
});

describe('the transmit (encap) path', () => {
  const toVm1 = (srcPort = 1000) => udpFrame({ srcMac: GW_CA_5001.mac, dstMac: VM1.mac, srcIp: '192.168.2.250', dstIp: VM1.ca, srcPort });

  /** The fabric ARP requests sent when the tables arrived, answered for hosts 1 and 2. */
  function resolved() {
    const ctx = setup();
    const requests = ctx.fabric.drain();
    ctx.fabric.inject(
      arpReply({ srcMac: HOST1.mac, srcIp: HOST1.pa, dstMac: GW_FABRIC_MAC, dstIp: GW_PA }),
      arpReply({ srcMac: HOST2.mac, srcIp: HOST2.pa, dstMac: GW_FABRIC_MAC, dstIp: GW_PA }),
    );
    ctx.sut.poll();
    return { ...ctx, requests };
  }

  it('resolves every provider next hop by ARP as soon as the tables arrive', () => {
    const { fabric } = setup();
    const requests = fabric.drain();
    assert.ok(requests.every((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt32BE(14 + 14) === ip(GW_PA)));
    assert.deepEqual(requests.map((f) => f.readUInt32BE(14 + 24)).sort(), [HOST1.pa, HOST2.pa, HOST3.pa].map(ip).sort());
  });

  it('counts a frame towards a next hop that has not answered ARP yet', () => {
    const { sut, t5001, fabric, drops } = setup();
    fabric.drain();
    t5001.inject(toVm1());
    sut.poll();
    assert.equal(drops('neighbour-unresolved'), 1);
  });

  it('encapsulates to the PA of the destination MAC\'s record, RFC 7637 on the wire', () => {
    const { sut, fabric, t5001, counters } = resolved();
    const inner = toVm1();
    t5001.inject(inner);
    sut.poll();
    const [out] = fabric.drain();
    assert.ok(out);
    assert.equal(out.readUIntBE(0, 6), parseInt(HOST1.mac, 16));
    assert.equal(out.readUIntBE(6, 6), parseInt(GW_FABRIC_MAC, 16));
    assert.equal(out.readUInt16BE(12), 0x0800);
    assert.equal(out[23], 47);
    assert.equal(out.readUInt32BE(26), ip(GW_PA));
    assert.equal(out.readUInt32BE(30), ip(HOST1.pa));
    assert.equal(internetChecksum(out, 14, 20), 0);
    assert.equal(out.readUInt16BE(16), 20 + 8 + inner.length);
    assert.equal(out.readUInt16BE(34), 0x2000);
    assert.equal(out.readUInt16BE(36), 0x6558);
    assert.equal(out.readUInt32BE(38) >>> 8, 5001);
    assert.deepEqual(out.subarray(42), inner);
    assert.equal(counters.vsid(1).encapPackets, 1);
  });

  it('gives one flow one FlowID and spreads different flows', () => {
    const { sut, fabric, t5001 } = resolved();
    const flowIds = new Set<number>();
    for (let port = 1000; port < 1064; port++) t5001.inject(toVm1(port), toVm1(port));
    sut.poll();
    const out = fabric.drain();
    for (let i = 0; i < out.length; i += 2) {
      assert.equal(out[i]![41], out[i + 1]![41]);
      flowIds.add(out[i]![41]!);
    }
    assert.ok(flowIds.size > 32, `only ${flowIds.size} distinct FlowIDs for 64 flows`);
  });

  it('follows a changed lookup record on the next packet (live migration)', () => {
    const { sut, fabric, t5001 } = resolved();
    const moved = classicState((doc) => {
      (doc.lookupRecords as { customerAddress: string; providerAddress: string }[]).find((r) => r.customerAddress === VM1.ca)!.providerAddress = HOST2.pa;
    });
    sut.setTables(buildTables(moved, 2, () => 1).tables);
    t5001.inject(toVm1());
    sut.poll();
    const sent = fabric.drain();
    assert.ok(sent.some((f) => f.readUInt16BE(12) === 0x0800 && f.readUInt32BE(30) === ip(HOST2.pa)), 'no frame to the new PA');
  });

  it('drops a unicast frame whose destination MAC has no record and no wildcard', () => {
    const { sut, t5001, drops } = setup();
    t5001.inject(udpFrame({ srcMac: GW_CA_5001.mac, dstMac: '00155d555555', srcIp: '192.168.1.1', dstIp: '192.168.1.55' }));
    sut.poll();
    assert.equal(drops('no-lookup-record'), 1);
  });

  it('answers the kernel\'s ARP for a CA from the lookup records, without flooding', () => {
    const { sut, t5001, fabric, counters } = setup();
    fabric.drain();
    t5001.inject(arpRequest({ srcMac: GW_CA_5001.mac, srcIp: GW_CA_5001.ca, targetIp: VM2.ca }));
    sut.poll();
    const [reply] = t5001.drain();
    assert.ok(reply);
    assert.equal(reply.readUInt16BE(14 + 6), 2);
    assert.equal(reply.readUIntBE(14 + 8, 6), parseInt(VM2.mac, 16));
    assert.equal(reply.readUInt32BE(14 + 14), ip(VM2.ca));
    assert.equal(fabric.drain().length, 0);
    assert.equal(counters.snapshot().events['arp-answered'].packets, 1);
  });

  it('suppresses ARP for a CA no record names', () => {
    const { sut, t5001, fabric, drops } = setup();
    fabric.drain();
    t5001.inject(arpRequest({ srcMac: GW_CA_5001.mac, srcIp: GW_CA_5001.ca, targetIp: '192.168.1.200' }));
    sut.poll();
    assert.equal(t5001.drain().length + fabric.drain().length, 0);
    assert.equal(drops('arp-unanswerable'), 1);
  });

  it('replicates other broadcasts by unicast to each PA of the VSID', () => {
    const { sut, t5001, fabric } = resolved();
    t5001.inject(udpFrame({ srcMac: GW_CA_5001.mac, dstMac: 'ffffffffffff', srcIp: '192.168.1.1', dstIp: '192.168.1.255' }));
    sut.poll();
    const targets = fabric.drain().map((f) => f.readUInt32BE(30)).sort();
    assert.deepEqual(targets, [ip(HOST1.pa), ip(HOST2.pa)].sort());
  });
});

describe('per-peer GRE key formats', () => {
  const withPeer = (greKeyFormat: string) =>
    classicState((doc) => {
      (doc as Record<string, unknown[]>).providerPeers = [{ providerAddress: HOST1.pa, greKeyFormat }];
    });
  const toVm1 = (srcPort: number) => udpFrame({ srcMac: GW_CA_5001.mac, dstMac: VM1.mac, srcIp: '192.168.1.1', dstIp: VM1.ca, srcPort });

  function resolvedWith(greKeyFormat: string) {
    const ctx = setup(withPeer(greKeyFormat));
    ctx.fabric.drain();
    ctx.fabric.inject(arpReply({ srcMac: HOST1.mac, srcIp: HOST1.pa, dstMac: GW_FABRIC_MAC, dstIp: GW_PA }));
    ctx.sut.poll();
    return ctx;
  }

  it('round-trips the pre-KB2779768 key (FlowID<<24 | VSID) with a simulated unpatched Windows Server 2012 host', () => {
    const { sut, fabric, t5001 } = resolvedWith('Ws2012PreKB2779768');
    // The unpatched host sends FlowID 0xa8 in the high byte: key 0xa8001389 for VSID 5001.
    fabric.inject(fromVm1(5001, 0xa8, { keyFormat: 'ws2012-legacy' }));
    sut.poll();
    assert.equal(t5001.drain().length, 1, 'the legacy-keyed frame was not delivered');
    t5001.inject(toVm1(4000));
    sut.poll();
    const [out] = fabric.drain();
    const key = out!.readUInt32BE(38);
    assert.equal(key & 0xffffff, 5001, `key 0x${key.toString(16)} does not carry the VSID in its low 24 bits`);
  });

  it('still speaks RFC 7637 to every other PA while one peer is legacy', () => {
    const ctx = setup(withPeer('Ws2012PreKB2779768'));
    ctx.fabric.drain();
    ctx.fabric.inject(arpReply({ srcMac: HOST2.mac, srcIp: HOST2.pa, dstMac: GW_FABRIC_MAC, dstIp: GW_PA }));
    ctx.sut.poll();
    ctx.t5001.inject(udpFrame({ srcMac: GW_CA_5001.mac, dstMac: VM2.mac, srcIp: '192.168.1.1', dstIp: VM2.ca }));
    ctx.sut.poll();
    const [out] = ctx.fabric.drain();
    assert.equal(out!.readUInt32BE(38) >>> 8, 5001);
  });

  it('sends FlowID 0 to a peer that matches the whole key, for every flow', () => {
    const { sut, fabric, t5001 } = resolvedWith('Rfc7637NoFlowId');
    for (let port = 1000; port < 1032; port++) t5001.inject(toVm1(port));
    sut.poll();
    const keys = new Set(fabric.drain().map((f) => f.readUInt32BE(38)));
    assert.deepEqual([...keys], [5001 << 8]);
  });
});

describe('inner packets larger than the tenant MTU (PA MTU - 42)', () => {
  const big = (df: boolean) => {
    const frame = udpFrame({ srcMac: VM1.mac, dstMac: GW_CA_5001.mac, srcIp: VM1.ca, dstIp: '192.168.2.250', payload: 1500 - 28 });
    if (!df) frame[14 + 6] = 0; // clear DF (the builder sets it)
    frame.writeUInt16BE(0, 14 + 10);
    frame.writeUInt16BE(internetChecksum(frame, 14, 20), 14 + 10);
    return nvgreFrame({ srcPa: HOST1.pa, dstPa: GW_PA, vsid: 5001 }, frame);
  };

  function resolved() {
    const ctx = setup();
    ctx.fabric.drain();
    ctx.fabric.inject(arpReply({ srcMac: HOST1.mac, srcIp: HOST1.pa, dstMac: GW_FABRIC_MAC, dstIp: GW_PA }));
    ctx.sut.poll();
    return ctx;
  }

  it('answers DF with ICMP fragmentation-needed, next-hop MTU 1458, back through the tunnel to the sender', () => {
    const { sut, fabric, t5001, drops, counters } = resolved();
    fabric.inject(big(true));
    sut.poll();
    assert.equal(t5001.drain().length, 0);
    assert.equal(drops('mtu-exceeded'), 1);
    const [out] = fabric.drain();
    assert.ok(out, 'no ICMP left through the fabric');
    assert.equal(out.readUInt32BE(30), ip(HOST1.pa));
    assert.equal(out.readUInt32BE(38) >>> 8, 5001);
    const icmp = 42 + 14 + 20;
    assert.equal(out[42 + 14 + 9], 1);
    assert.equal(out.readUInt32BE(42 + 14 + 12), ip(GW_CA_5001.ca));
    assert.equal(out.readUInt32BE(42 + 14 + 16), ip(VM1.ca));
    assert.deepEqual([out[icmp], out[icmp + 1], out.readUInt16BE(icmp + 6)], [3, 4, 1458]);
    assert.equal(counters.snapshot().events['icmp-frag-needed-sent'].packets, 1);
  });

  it('fragments a DF-clear packet to the tenant MTU, every byte delivered once', () => {
    const { sut, fabric, t5001 } = resolved();
    const frame = big(false);
    fabric.inject(frame);
    sut.poll();
    const pieces = t5001.drain();
    assert.ok(pieces.length >= 2);
    const original = frame.subarray(42 + 14 + 20);
    const rebuilt = Buffer.alloc(original.length);
    for (const piece of pieces) {
      assert.ok(piece.length - 14 <= 1458, `fragment of ${piece.length - 14} bytes`);
      assert.equal(internetChecksum(piece, 14, 20), 0);
      const offset = (piece.readUInt16BE(14 + 6) & 0x1fff) * 8;
      piece.subarray(14 + 20).copy(rebuilt, offset);
    }
    assert.deepEqual(rebuilt, original);
    assert.equal(pieces.filter((p) => (p.readUInt16BE(14 + 6) & 0x2000) === 0).length, 1, 'exactly one last fragment');
  });
});
