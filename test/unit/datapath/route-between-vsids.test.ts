import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CounterReader, CounterWriter, createCounterMemory } from '../../../src/datapath/counters.js';
import { Dataplane } from '../../../src/datapath/dataplane.js';
import { buildTables, domainRoutes } from '../../../src/datapath/tables.js';
import { DesiredState } from '../../../src/model/desired-state.js';
import { internetChecksum } from '../../../src/packet/ipv4.js';
import { arpReply, ip, nvgreFrame, udpFrame } from '../../support/frames.js';
import { mac, MemoryPort } from '../../support/memory-port.js';

const RD = '{11111111-2222-3333-4444-000000005001}';
const OTHER_RD = '{11111111-2222-3333-4444-000000006001}';
const GW_PA = '10.1.1.40';
const GW_FABRIC_MAC = '02000000aa01';
const HOST1 = { pa: '10.1.1.20', mac: '02000000bb01' };
const HOST2 = { pa: '10.1.1.30', mac: '02000000bb02' };
const VM1 = { ca: '192.168.1.101', mac: '00155d011404' };
const VM3 = { ca: '192.168.2.101', mac: '00155d011e06' };
const GW_5001 = { ca: '192.168.1.1', mac: '00155d143c01' };
const GW_5002 = { ca: '192.168.2.1', mac: '00155d143c02' };

const record = (ca: string, vsid: number, macAddress: string, pa: string) => ({ customerAddress: ca, virtualSubnetId: vsid, macAddress, providerAddress: pa, rule: 'TranslationMethodEncap' });

/** One domain, VSID 5001 (VM1 behind host 1) and 5002 (VM3 behind host 2), the gateway in both; a second domain with 6001. */
function state(extra: Record<string, unknown[]> = {}) {
  return DesiredState.fromDocument({
    routingDomains: [{ routingDomainId: RD }, { routingDomainId: OTHER_RD }],
    virtualSubnets: [
      { virtualSubnetId: 5001, routingDomainId: RD },
      { virtualSubnetId: 5002, routingDomainId: RD },
      { virtualSubnetId: 6001, routingDomainId: OTHER_RD },
    ],
    customerRoutes: [
      { routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24', nextHop: '0.0.0.0' },
      { routingDomainId: RD, virtualSubnetId: 5002, destinationPrefix: '192.168.2.0/24', nextHop: '0.0.0.0' },
      { routingDomainId: OTHER_RD, virtualSubnetId: 6001, destinationPrefix: '192.168.2.0/24', nextHop: '0.0.0.0' },
      ...((extra.customerRoutes as unknown[]) ?? []),
    ],
    lookupRecords: [
      record(VM1.ca, 5001, VM1.mac, HOST1.pa),
      record(VM3.ca, 5002, VM3.mac, HOST2.pa),
      record(GW_5001.ca, 5001, GW_5001.mac, GW_PA),
      record(GW_5002.ca, 5002, GW_5002.mac, GW_PA),
      record('192.168.2.101', 6001, '00155d0b0b0b', HOST2.pa),
    ],
    providerAddresses: [{ interface: 'eth1', providerAddress: GW_PA, prefixLength: 24 }],
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'customerRoutes')),
  } as never);
}

function setup(desired = state(), routeBetweenVsids = true) {
  const memory = createCounterMemory();
  const counters = new CounterReader(memory);
  const fabric = new MemoryPort('eth1', mac(GW_FABRIC_MAC));
  const tenants = new Map([5001, 5002, 6001].map((vsid) => [vsid, new MemoryPort(`nvgw-d${vsid}`, mac('024e56000001'))]));
  const sut = new Dataplane(fabric, new CounterWriter(memory), () => 0);
  const slots = new Map([[5001, 1], [5002, 2], [6001, 3]]);
  sut.setTables(buildTables(desired, 1, (vsid) => slots.get(vsid) ?? 0, { routeBetweenVsids }).tables);
  for (const [vsid, port] of tenants) sut.attachTenant(vsid, port);
  fabric.drain();
  fabric.inject(arpReply({ srcMac: HOST1.mac, srcIp: HOST1.pa, dstMac: GW_FABRIC_MAC, dstIp: GW_PA }), arpReply({ srcMac: HOST2.mac, srcIp: HOST2.pa, dstMac: GW_FABRIC_MAC, dstIp: GW_PA }));
  sut.poll();
  const event = (name: string) => (counters.snapshot().events as Record<string, { packets: number }>)[name]!.packets;
  return { sut, fabric, counters, event, t5001: tenants.get(5001)!, t5002: tenants.get(5002)! };
}

/** VM1 (VSID 5001) to `dstIp`, sent to the gateway's MAC as its default router. */
function fromVm1(dstIp: string, patch: (inner: Buffer) => void = () => {}): Buffer {
  const inner = udpFrame({ srcMac: VM1.mac, dstMac: GW_5001.mac, srcIp: VM1.ca, dstIp });
  patch(inner);
  return nvgreFrame({ srcPa: HOST1.pa, dstPa: GW_PA, vsid: 5001, flowId: 9 }, inner);
}

function setIpv4(inner: Buffer, offset: number, value: number): void {
  inner[14 + offset] = value;
  inner.writeUInt16BE(0, 14 + 10);
  inner.writeUInt16BE(internetChecksum(inner, 14, 20), 14 + 10);
}

describe('routing between the VSIDs of a domain in the data path', () => {
  it('re-encapsulates a packet for another VSID of the domain to the destination CA\'s PA: VSID 5002, TTL - 1, the MACs of a router hop', () => {
    const { sut, fabric, t5001, counters, event } = setup();
    const frame = fromVm1(VM3.ca);
    fabric.inject(frame);
    sut.poll();
    assert.equal(t5001.drain().length, 0, 'the kernel was not involved');
    const out = fabric.drain();
    assert.equal(out.length, 1);
    const sent = out[0]!;
    assert.equal(sent.readUInt32BE(14 + 16), ip(HOST2.pa), 'outer destination: the PA of 192.168.2.101');
    assert.equal(sent.readUInt32BE(38) >>> 8, 5002, 'key: VSID 5002');
    const inner = sent.subarray(42);
    assert.equal(inner.subarray(0, 6).toString('hex'), VM3.mac);
    assert.equal(inner.subarray(6, 12).toString('hex'), GW_5002.mac);
    assert.equal(inner[14 + 8], 63);
    assert.equal(internetChecksum(inner, 14, 20), 0, 'the inner IPv4 checksum is valid after the TTL change');
    assert.deepEqual(inner.subarray(14 + 12), frame.subarray(42 + 14 + 12), 'addresses and payload untouched');
    assert.equal(counters.vsid(1).decapPackets, 1);
    assert.equal(counters.vsid(2).encapPackets, 1);
    assert.equal(event('routed-between-vsids'), 1);
  });

  const toKernel: [string, () => Buffer][] = [
    ['the gateway\'s own CA in another VSID', () => fromVm1(GW_5002.ca)],
    ['a CA on an on-link route that no lookup record names', () => fromVm1('192.168.2.55')],
    ['a destination no route of the domain holds (the kernel answers unreachable)', () => fromVm1('10.9.9.9')],
    ['TTL 1 (the kernel answers time-exceeded)', () => fromVm1(VM3.ca, (inner) => setIpv4(inner, 8, 1))],
    ['an IPv4 header with options', () => fromVm1(VM3.ca, (inner) => setIpv4(inner, 0, 0x46))],
    ['a fragment', () => fromVm1(VM3.ca, (inner) => setIpv4(inner, 6, 0x20))],
    ['a frame to another MAC than the gateway\'s', () => fromVm1(VM3.ca, (inner) => inner.write('00155d999999', 0, 'hex'))],
  ];
  for (const [what, make] of toKernel) {
    it(`leaves ${what} to the kernel: delivered to the VSID's tenant port unchanged`, () => {
      const { sut, fabric, t5001, event } = setup();
      const frame = make();
      fabric.inject(frame);
      sut.poll();
      assert.deepEqual(t5001.drain(), [frame.subarray(42)]);
      assert.equal(fabric.drain().length, 0);
      assert.equal(event('routed-between-vsids'), 0);
    });
  }

  it('never routes into another routing domain, even to the same address', () => {
    // 192.168.2.101 exists in both domains; VM1's domain has it in VSID 5002 only.
    const { sut, fabric } = setup();
    fabric.inject(fromVm1(VM3.ca));
    sut.poll();
    const sent = fabric.drain()[0]!;
    assert.equal(sent.readUInt32BE(38) >>> 8, 5002);
  });

  it('leaves the packet to the kernel when a longer route of the domain goes through a next-hop CA', () => {
    const { sut, fabric, t5001 } = setup(state({ customerRoutes: [{ routingDomainId: RD, virtualSubnetId: 5002, destinationPrefix: '192.168.2.96/28', nextHop: '192.168.2.5' }] }));
    fabric.inject(fromVm1(VM3.ca));
    sut.poll();
    assert.equal(t5001.drain().length, 1);
    assert.equal(fabric.drain().length, 0);
  });

  it('leaves the packet to the kernel when an external network attached to the domain holds a longer prefix', () => {
    const desired = state({
      externalNetworks: [{ interface: 'uplink0', name: 'internet', address: '192.168.2.100', prefixLength: 30, defaultGateway: '' }],
      routedConnections: [{ routingDomainId: RD, name: 'routed', interface: 'uplink0' }],
    });
    assert.deepEqual(
      domainRoutes(desired).find((d) => d.routingDomainId === RD)!.routes.filter((r) => r.vsid === -1).map((r) => [r.network, r.length]),
      [[ip('192.168.2.100'), 30]],
    );
    const { sut, fabric, t5001 } = setup(desired);
    fabric.inject(fromVm1(VM3.ca));
    sut.poll();
    assert.equal(t5001.drain().length, 1);
  });

  it('sends everything through the kernel when datapath.routeBetweenVsids is off', () => {
    const { sut, fabric, t5001, event } = setup(state(), false);
    fabric.inject(fromVm1(VM3.ca));
    sut.poll();
    assert.equal(t5001.drain().length, 1);
    assert.equal(event('routed-between-vsids'), 0);
  });

  it('follows a route change: a new route arrives in an incremental update', () => {
    const { sut, fabric, t5001 } = setup();
    const withNextHop = state({ customerRoutes: [{ routingDomainId: RD, virtualSubnetId: 5002, destinationPrefix: '192.168.2.101/32', nextHop: '192.168.2.5' }] });
    sut.setTables(buildTables(withNextHop, 2, (vsid) => vsid - 5000, { only: new Set(), routes: true }).tables);
    fabric.inject(fromVm1(VM3.ca));
    sut.poll();
    assert.equal(t5001.drain().length, 1, 'the /32 via a next hop now wins: the kernel routes it');
  });
});
