/**
 * Connection offload in the data path, on in-memory ports: which conntrack entries the plan
 * takes and how it translates them (planOffload), and what the pipeline does with the
 * packets of an offloaded connection in both directions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CounterReader, CounterWriter, createCounterMemory } from '../../../src/datapath/counters.js';
import { Dataplane } from '../../../src/datapath/dataplane.js';
import { offloadedFlow, OffloadIndex, planOffload, TCP_CONNTRACK_ESTABLISHED } from '../../../src/datapath/offload.js';
import type { Connection, OffloadPlan } from '../../../src/datapath/offload.js';
import { buildTables, offloadTables } from '../../../src/datapath/tables.js';
import { DesiredState } from '../../../src/model/desired-state.js';
import { internetChecksum } from '../../../src/packet/ipv4.js';
import { arpReply, ip, nvgreFrame, tcpFrame, transportChecksum, udpFrame, withUdpChecksum } from '../../support/frames.js';
import { mac, MemoryPort } from '../../support/memory-port.js';
import { BLUE, GREEN, natConfig, RED } from '../nat/fixtures.js';

const MARKS: Record<string, number> = { [BLUE]: 1000, [RED]: 1001, [GREEN]: 1002 };
const GW_PA = '10.1.1.40';
const GW_FABRIC_MAC = '02000000aa01';
const HOST1 = { pa: '10.1.1.20', mac: '02000000bb01' };
const VM = { ca: '192.168.1.101', mac: '00155d011404' };
const GW_BLUE = { ca: '192.168.1.1', mac: '00155d143c01' };
const GREEN_VM = { ca: '10.20.0.101', mac: '00155d017001' };
const UPLINK = { ifname: 'ext0', ifindex: 7, mac: '02000000ee07' };
const ROUTED_UPLINK = { ifname: 'rt0', ifindex: 8, mac: '02000000ee08' };
const INTERNET_ROUTER_MAC = 0x02000000fe01;
const PEER = '198.51.100.7';
const NAT_ADDRESS = '203.0.113.10';
const IPS_SRC_NAT = 1 << 4;
const IPS_DST_NAT = 1 << 5;
const IPS_CONFIRMED = 1 << 3;

const desired = () => DesiredState.fromDocument(natConfig() as never);
const index = () => new OffloadIndex(offloadTables(desired(), (rd) => MARKS[rd], (rd) => MARKS[rd]));

/** Blue's VM opens UDP 40000 -> PEER:53; the kernel's SNAT picks NAT_ADDRESS:61000. */
function snatUdp(overrides: Partial<Connection> = {}): Connection {
  return {
    original: { protocol: 17, src: ip(VM.ca), dst: ip(PEER), srcPort: 40000, dstPort: 53, zone: MARKS[BLUE] },
    reply: { protocol: 17, src: ip(PEER), dst: ip(NAT_ADDRESS), srcPort: 53, dstPort: 61000 },
    status: IPS_CONFIRMED | IPS_SRC_NAT,
    mark: MARKS[BLUE]!,
    zone: 0,
    ...overrides,
  };
}

/** The port forward TCP NAT_ADDRESS:8080 -> VM:8000, opened by PEER:51000. */
function forwardTcp(tcpState = TCP_CONNTRACK_ESTABLISHED): Connection {
  return {
    original: { protocol: 6, src: ip(PEER), dst: ip(NAT_ADDRESS), srcPort: 51000, dstPort: 8080 },
    reply: { protocol: 6, src: ip(VM.ca), dst: ip(PEER), srcPort: 8000, dstPort: 51000 },
    status: IPS_CONFIRMED | IPS_DST_NAT,
    mark: MARKS[BLUE]!,
    zone: 0,
    tcpState,
  };
}

function setup() {
  const memory = createCounterMemory();
  const counters = new CounterReader(memory);
  const fabric = new MemoryPort('fab0', mac(GW_FABRIC_MAC));
  const tenant = new MemoryPort('nvgw-d5001', mac('024e56000001'));
  const uplink = new MemoryPort(UPLINK.ifname, mac(UPLINK.mac), { ifindex: UPLINK.ifindex, frameCapacity: 1514 });
  const routed = new MemoryPort(ROUTED_UPLINK.ifname, mac(ROUTED_UPLINK.mac), { ifindex: ROUTED_UPLINK.ifindex, frameCapacity: 1514 });
  const sut = new Dataplane(fabric, new CounterWriter(memory), () => 0);
  const state = desired();
  const slots = new Map([[5001, 1], [6001, 2], [7001, 3]]);
  const tables = buildTables(state, 1, (vsid) => slots.get(vsid) ?? 0).tables;
  sut.setTables(tables);
  sut.setOffloadDomains(offloadTables(state, (rd) => MARKS[rd], (rd) => MARKS[rd]).domains);
  sut.attachTenant(5001, tenant);
  sut.attachUplink(uplink);
  sut.attachUplink(routed);
  fabric.inject(arpReply({ srcMac: HOST1.mac, srcIp: HOST1.pa, dstMac: GW_FABRIC_MAC, dstIp: GW_PA }));
  sut.poll();
  fabric.drain();
  const offload = (c: Connection, ifindex = UPLINK.ifindex): OffloadPlan => {
    const plan = planOffload(c, index(), sut.offloadView);
    assert.equal(typeof plan, 'object', `offloadable: ${String(plan)}`);
    assert.equal(sut.offload.add(offloadedFlow(plan as OffloadPlan, ifindex, INTERNET_ROUTER_MAC)), true);
    return plan as OffloadPlan;
  };
  const event = (name: string) => (counters.snapshot().events as Record<string, { packets: number }>)[name]!.packets;
  const drop = (name: string) => (counters.snapshot().drops as Record<string, { packets: number }>)[name]!.packets;
  return { sut, fabric, tenant, uplink, routed, counters, offload, event, drop };
}

/** A frame from blue's VM (VSID 5001, behind host 1) to its gateway, as the fabric carries it. */
const fromVm = (inner: Buffer) => nvgreFrame({ srcPa: HOST1.pa, dstPa: GW_PA, vsid: 5001, flowId: 3 }, inner);
const vmUdp = () => withUdpChecksum(udpFrame({ srcMac: VM.mac, dstMac: GW_BLUE.mac, srcIp: VM.ca, dstIp: PEER, srcPort: 40000, dstPort: 53, payload: 40 }));
const peerUdp = () => withUdpChecksum(udpFrame({ srcMac: '02000000fe01', dstMac: UPLINK.mac, srcIp: PEER, dstIp: NAT_ADDRESS, srcPort: 53, dstPort: 61000, payload: 40 }));

describe('planOffload: which connections the data path takes from the kernel', () => {
  it('takes a tenant\'s SNAT connection: out as the NAT address and port, back to the CA, via the uplink\'s default gateway', () => {
    const { sut } = setup();
    const plan = planOffload(snatUdp(), index(), sut.offloadView) as OffloadPlan;
    assert.equal(plan.openedFrom, 'inside');
    assert.equal(plan.vsid, 5001);
    assert.equal(plan.ca, ip(VM.ca));
    assert.equal(plan.domain.routingDomainId, BLUE);
    assert.deepEqual(plan.outbound, {
      match: { src: ip(VM.ca), dst: ip(PEER), srcPort: 40000, dstPort: 53 },
      rewrite: { src: ip(NAT_ADDRESS), dst: ip(PEER), srcPort: 61000, dstPort: 53 },
    });
    assert.deepEqual(plan.inbound, {
      match: { src: ip(PEER), dst: ip(NAT_ADDRESS), srcPort: 53, dstPort: 61000 },
      rewrite: { src: ip(PEER), dst: ip(VM.ca), srcPort: 53, dstPort: 40000 },
    });
    assert.equal(plan.nextHop, ip('203.0.113.1'), 'the peer is off-link: the external network\'s router');
  });

  it('takes a port forward opened from outside: inbound is the original direction, the CA answers outbound', () => {
    const { sut } = setup();
    const plan = planOffload(forwardTcp(), index(), sut.offloadView) as OffloadPlan;
    assert.equal(plan.openedFrom, 'outside');
    assert.deepEqual(plan.inbound.rewrite, { src: ip(PEER), dst: ip(VM.ca), srcPort: 51000, dstPort: 8000 });
    assert.deepEqual(plan.outbound.match, { src: ip(VM.ca), dst: ip(PEER), srcPort: 8000, dstPort: 51000 });
    assert.deepEqual(plan.outbound.rewrite, { src: ip(NAT_ADDRESS), dst: ip(PEER), srcPort: 8080, dstPort: 51000 });
  });

  it('tells overlapping tenants apart by the connection\'s mark: red\'s 192.168.1.101 is red\'s', () => {
    const { sut } = setup();
    const plan = planOffload(snatUdp({ mark: MARKS[RED]! }), index(), sut.offloadView) as OffloadPlan;
    assert.equal(plan.domain.routingDomainId, RED);
    assert.equal(plan.vsid, 6001);
  });

  it('takes a routed connection (no NAT) by its zone, and an on-link peer is its own next hop', () => {
    const { sut } = setup();
    const routed: Connection = {
      original: { protocol: 17, src: ip(GREEN_VM.ca), dst: ip('198.18.0.1'), srcPort: 5000, dstPort: 5001 },
      reply: { protocol: 17, src: ip('198.18.0.1'), dst: ip(GREEN_VM.ca), srcPort: 5001, dstPort: 5000 },
      status: IPS_CONFIRMED,
      mark: 0,
      zone: MARKS[GREEN]!,
    };
    const plan = planOffload(routed, index(), sut.offloadView) as OffloadPlan;
    assert.equal(plan.domain.routingDomainId, GREEN);
    assert.equal(plan.uplink.ifname, 'rt0');
    assert.equal(plan.nextHop, ip('198.18.0.1'));
    assert.deepEqual(plan.outbound.rewrite, plan.outbound.match, 'routed: nothing translated');
  });

  const refusals: [string, () => Connection, string][] = [
    ['ICMP', () => snatUdp({ original: { ...snatUdp().original, protocol: 1 } }), 'protocol'],
    ['TCP before it is established (the handshake goes through the kernel)', () => forwardTcp(1), 'tcp-not-established'],
    ['TCP after FIN (the kernel must see the close)', () => forwardTcp(4), 'tcp-not-established'],
    ['a connection being destroyed', () => snatUdp({ status: IPS_CONFIRMED | IPS_SRC_NAT | (1 << 9) }), 'dying'],
    ['SNAT and DNAT at once (hairpin)', () => snatUdp({ status: IPS_CONFIRMED | IPS_SRC_NAT | IPS_DST_NAT }), 'double-nat'],
    ['a connection of no connected domain (the gateway\'s own)', () => snatUdp({ mark: 0, original: { ...snatUdp().original, zone: 0 } }), 'no-domain'],
    ['a source that no lookup record names', () => snatUdp({ original: { ...snatUdp().original, src: ip('192.168.1.99') } }), 'not-tenant-to-external'],
    ['traffic between two CAs of the domain', () => snatUdp({ reply: { ...snatUdp().reply, src: ip('192.168.1.1') } }), 'not-tenant-to-external'],
  ];
  for (const [what, make, reason] of refusals) {
    it(`leaves ${what} to the kernel (${reason})`, () => {
      const { sut } = setup();
      assert.equal(planOffload(make(), index(), sut.offloadView), reason);
    });
  }

  it('leaves a connection to an off-link peer with the kernel when the external network has no default gateway', () => {
    const { sut } = setup();
    const tables = offloadTables(desired(), (rd) => MARKS[rd], (rd) => MARKS[rd]);
    const noRouter = new OffloadIndex({ ...tables, uplinks: tables.uplinks.map((u) => ({ ...u, defaultGateway: -1 })) });
    assert.equal(planOffload(snatUdp(), noRouter, sut.offloadView), 'no-next-hop');
  });
});

describe('the pipeline carries offloaded connections', () => {
  it('translates a tenant\'s packet and sends it out of the uplink, with no kernel crossing', () => {
    const { sut, fabric, tenant, uplink, counters, offload, event } = setup();
    offload(snatUdp());
    const inner = vmUdp();
    fabric.inject(fromVm(inner));
    sut.poll();
    assert.equal(tenant.drain().length, 0, 'not delivered to the kernel');
    const out = uplink.drain();
    assert.equal(out.length, 1);
    const frame = out[0]!;
    assert.equal(frame.length, inner.length);
    assert.equal(frame.subarray(0, 6).readUIntBE(0, 6), INTERNET_ROUTER_MAC, 'to the next hop');
    assert.equal(frame.subarray(6, 12).toString('hex'), UPLINK.mac, 'from the uplink');
    assert.equal(frame.readUInt32BE(26), ip(NAT_ADDRESS));
    assert.equal(frame.readUInt16BE(34), 61000);
    assert.equal(frame.readUInt32BE(30), ip(PEER));
    assert.equal(frame[22], 63, 'TTL decremented');
    assert.equal(internetChecksum(frame, 14, 20), 0);
    assert.equal(transportChecksum(frame, 14), 0);
    assert.deepEqual(frame.subarray(42), inner.subarray(42), 'payload untouched');
    assert.equal(event('offloaded-outbound'), 1);
    assert.equal(counters.vsid(1).decapPackets, 1);
  });

  it('translates a frame claimed from the uplink back to the CA and encapsulates it to the CA\'s PA in its VSID', () => {
    const { sut, fabric, uplink, counters, offload, event } = setup();
    offload(snatUdp());
    const reply = peerUdp();
    uplink.inject(reply);
    sut.poll();
    const out = fabric.drain();
    assert.equal(out.length, 1);
    const frame = out[0]!;
    assert.equal(frame.readUInt32BE(30), ip(HOST1.pa), 'outer destination: the PA of the VM');
    assert.equal(frame.readUInt32BE(38) >>> 8, 5001, 'VSID 5001');
    const inner = frame.subarray(42);
    assert.equal(inner.subarray(0, 6).toString('hex'), VM.mac);
    assert.equal(inner.subarray(6, 12).toString('hex'), GW_BLUE.mac);
    assert.equal(inner.readUInt32BE(30), ip(VM.ca));
    assert.equal(inner.readUInt16BE(36), 40000);
    assert.equal(internetChecksum(inner, 14, 20), 0);
    assert.equal(transportChecksum(inner, 14), 0);
    assert.equal(event('offloaded-inbound'), 1);
    assert.equal(counters.vsid(1).encapPackets, 1);
  });

  it('follows a VM that moved: inbound packets go to the PA its record names now', () => {
    const { sut, fabric, uplink, offload } = setup();
    offload(snatUdp());
    const moved = natConfig();
    moved.lookupRecords = moved.lookupRecords.map((r) => (r.virtualSubnetId === 5001 && r.customerAddress === VM.ca ? { ...r, providerAddress: '10.1.1.30' } : r));
    sut.setTables(buildTables(DesiredState.fromDocument(moved as never), 2, () => 1, { only: new Set([5001]) }).tables);
    fabric.inject(arpReply({ srcMac: '02000000bb02', srcIp: '10.1.1.30', dstMac: GW_FABRIC_MAC, dstIp: GW_PA }));
    uplink.inject(peerUdp());
    sut.poll();
    const encapsulated = fabric.drain().filter((f) => f.readUInt16BE(12) === 0x0800 && f[23] === 47);
    assert.equal(encapsulated.length, 1);
    assert.equal(encapsulated[0]!.readUInt32BE(30), ip('10.1.1.30'));
  });

  it('carries a port-forwarded TCP connection both ways, and hands SYN, FIN and RST to the kernel', () => {
    const { sut, fabric, tenant, uplink, offload } = setup();
    offload(forwardTcp());
    const answer = (flags: number) => fromVm(tcpFrame({ srcMac: VM.mac, dstMac: GW_BLUE.mac, srcIp: VM.ca, dstIp: PEER, srcPort: 8000, dstPort: 51000, flags }));
    fabric.inject(answer(0x18));
    sut.poll();
    const out = uplink.drain();
    assert.equal(out.length, 1);
    assert.equal(out[0]!.readUInt32BE(26), ip(NAT_ADDRESS));
    assert.equal(out[0]!.readUInt16BE(34), 8080);
    assert.equal(transportChecksum(out[0]!, 14), 0);
    for (const flags of [0x11 /* FIN ACK */, 0x04 /* RST */, 0x12 /* SYN ACK */]) {
      fabric.inject(answer(flags));
      sut.poll();
      assert.equal(uplink.drain().length, 0, `flags 0x${flags.toString(16)}: not offloaded`);
      assert.equal(tenant.drain().length, 1, `flags 0x${flags.toString(16)}: to the kernel`);
    }
  });

  it('leaves with the kernel what it should see: TTL 1, a fragment, a packet to another MAC, another connection', () => {
    const { sut, fabric, tenant, uplink, offload } = setup();
    offload(snatUdp());
    const variants: [string, (f: Buffer) => void][] = [
      ['TTL 1', (f) => ((f[22] = 1), f.writeUInt16BE(0, 24), f.writeUInt16BE(internetChecksum(f, 14, 20), 24))],
      ['fragment', (f) => ((f[20] = 0x20), f.writeUInt16BE(0, 24), f.writeUInt16BE(internetChecksum(f, 14, 20), 24))],
      ['other MAC', (f) => void f.write('00155d999999', 0, 'hex')],
      ['other port', (f) => f.writeUInt16BE(40001, 34)],
    ];
    for (const [what, patch] of variants) {
      const inner = vmUdp();
      patch(inner);
      fabric.inject(fromVm(inner));
      sut.poll();
      assert.equal(uplink.drain().length, 0, what);
      assert.deepEqual(tenant.drain(), [inner], `${what}: to the kernel unchanged`);
    }
  });

  it('keeps overlapping tenants apart: red\'s identical tuple is not blue\'s offloaded connection', () => {
    const { sut, fabric, uplink, offload } = setup();
    offload(snatUdp());
    const red = new MemoryPort('nvgw-d6001', mac('024e56000002'));
    sut.attachTenant(6001, red);
    fabric.inject(nvgreFrame({ srcPa: HOST1.pa, dstPa: GW_PA, vsid: 6001 }, withUdpChecksum(udpFrame({ srcMac: VM.mac, dstMac: '00155d146c01', srcIp: VM.ca, dstIp: PEER, srcPort: 40000, dstPort: 53 }))));
    sut.poll();
    assert.equal(uplink.drain().length, 0);
    assert.equal(red.drain().length, 1, 'red\'s packet goes to the kernel in red\'s domain');
  });

  it('leaves outbound to the kernel until the next hop\'s MAC is known, and carries inbound meanwhile', () => {
    const { sut, fabric, tenant, uplink } = setup();
    const plan = planOffload(snatUdp(), index(), sut.offloadView) as OffloadPlan;
    const flow = offloadedFlow(plan, UPLINK.ifindex, -1);
    sut.offload.add(flow);
    fabric.inject(fromVm(vmUdp()));
    uplink.inject(peerUdp());
    sut.poll();
    assert.equal(uplink.drain().length, 0);
    assert.equal(tenant.drain().length, 1, 'outbound: through the kernel, which resolves the next hop');
    assert.equal(fabric.drain().filter((f) => f[23] === 47).length, 1, 'inbound: encapsulated by the data path');
    flow.nextHopMac = INTERNET_ROUTER_MAC;
    fabric.inject(fromVm(vmUdp()));
    sut.poll();
    assert.equal(uplink.drain().length, 1);
  });

  it('counts a claimed frame that names no offloaded connection as offload-unmatched', () => {
    const { sut, fabric, uplink, drop } = setup();
    uplink.inject(peerUdp());
    sut.poll();
    assert.equal(fabric.drain().length, 0);
    assert.equal(drop('offload-unmatched'), 1);
  });

  it('sends a tenant packet larger than the uplink carries to the kernel (which fragments or answers)', () => {
    const { sut, fabric, tenant, uplink, offload } = setup();
    const small = new MemoryPort('ext0', mac(UPLINK.mac), { ifindex: UPLINK.ifindex, frameCapacity: 64 });
    sut.attachUplink(small);
    offload(snatUdp());
    fabric.inject(fromVm(vmUdp()));
    sut.poll();
    assert.equal(small.drain().length + uplink.drain().length, 0);
    assert.equal(tenant.drain().length, 1);
  });
});
