/**
 * The data path with the shared tenant port (one port for the tenant interfaces of many
 * VSIDs, each frame tagged with its interface): frames are attributed to a VSID by the
 * interface they came in on and sent out on the interface of the VSID they belong to.
 * The fabric is a fake port pair: the data path holds one end, the test plays the wire
 * (the hosts) on the other.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CounterReader, CounterWriter, createCounterMemory } from '../../../src/datapath/counters.js';
import { Dataplane } from '../../../src/datapath/dataplane.js';
import { createRxBatch, createTxBatch } from '../../../src/datapath/io/frame-port.js';
import { createFakePortPair, FakeSharedPort, type FakePort } from '../../../src/datapath/io/fake-port.js';
import { waitReadable } from '../../../src/datapath/io/wait.js';
import { buildTables } from '../../../src/datapath/tables.js';
import { DesiredState } from '../../../src/model/desired-state.js';
import { arpReply, ip, nvgreFrame, udpFrame } from '../../support/frames.js';

const GW_PA = '10.1.1.40';
const HOST1 = { pa: '10.1.1.20', mac: '02000000bb01' };
const HOST2 = { pa: '10.1.1.30', mac: '02000000bb02' };

/** One VSID per routing domain: a gateway CA and one VM behind a host. */
const TENANTS = {
  5001: { gw: { ca: '192.168.1.1', mac: '00155d143c01' }, vm: { ca: '192.168.1.101', mac: '00155d011401' }, host: HOST1, ifindex: 41 },
  5002: { gw: { ca: '192.168.2.1', mac: '00155d143c02' }, vm: { ca: '192.168.2.102', mac: '00155d011402' }, host: HOST2, ifindex: 42 },
  5003: { gw: { ca: '192.168.3.1', mac: '00155d143c03' }, vm: { ca: '192.168.3.103', mac: '00155d011403' }, host: HOST1, ifindex: 0 },
} as const;
type Vsid = keyof typeof TENANTS;
const VSIDS = [5001, 5002, 5003] as const;
/** An interface the shared port admits that no VSID owns. */
const STRAY_IFINDEX = 49;

function state(): DesiredState {
  const rd = (vsid: number) => `{11111111-2222-3333-4444-00000000${vsid}}`;
  return DesiredState.fromDocument({
    routingDomains: VSIDS.map((vsid) => ({ routingDomainId: rd(vsid) })),
    virtualSubnets: VSIDS.map((vsid) => ({ virtualSubnetId: vsid, routingDomainId: rd(vsid) })),
    customerRoutes: VSIDS.map((vsid) => ({ routingDomainId: rd(vsid), virtualSubnetId: vsid, destinationPrefix: `${TENANTS[vsid].gw.ca.replace(/\.1$/, '.0')}/24`, nextHop: '0.0.0.0' })),
    lookupRecords: VSIDS.flatMap((vsid) => {
      const { gw, vm, host } = TENANTS[vsid];
      return [
        { customerAddress: gw.ca, virtualSubnetId: vsid, macAddress: gw.mac, providerAddress: GW_PA, rule: 'TranslationMethodEncap' },
        { customerAddress: vm.ca, virtualSubnetId: vsid, macAddress: vm.mac, providerAddress: host.pa, rule: 'TranslationMethodEncap' },
      ];
    }),
    providerAddresses: [{ interface: 'eth1', providerAddress: GW_PA, prefixLength: 24 }],
  } as never);
}

/** Takes what a fake port's peer sent to it (the far end of a link). */
function take(port: FakePort): Buffer[] {
  const rx = createRxBatch(port, 256);
  const out: Buffer[] = [];
  for (let n = port.receive(rx); n > 0; n = port.receive(rx)) {
    for (let i = 0; i < n; i++) out.push(Buffer.from(rx.buffer.subarray(rx.offsets[i]!, rx.offsets[i]! + rx.lengths[i]!)));
    port.releaseRx();
  }
  return out;
}

/**
 * VSIDs 5001 and 5002 on the shared port (interfaces 41 and 42, admitted as the worker
 * does), 5003 on a port of its own; both hosts' next hops resolved by ARP.
 */
function setup() {
  const memory = createCounterMemory();
  const counters = new CounterReader(memory);
  const [fabric, wire] = createFakePortPair({ names: ['eth1', 'wire'], frameCapacity: 1514 + 42 });
  const hub = new FakeSharedPort('nvgw-tenants');
  const [own, ownKernel] = createFakePortPair({ names: ['nvgw-d5003', 'kernel-5003'] });
  const sut = new Dataplane(fabric, new CounterWriter(memory), () => 0);
  sut.setTables(buildTables(state(), 1, (vsid) => vsid - 5000, { routeBetweenVsids: false }).tables);
  sut.setSharedTenantPort(hub);
  for (const vsid of [5001, 5002] as const) {
    hub.admit(TENANTS[vsid].ifindex);
    sut.attachTenant(vsid, hub, TENANTS[vsid].ifindex);
  }
  hub.admit(STRAY_IFINDEX);
  sut.attachTenant(5003, own);
  take(wire); // the ARP requests for the next hops
  for (const host of [HOST1, HOST2]) fabric.inject(arpReply({ srcMac: host.mac, srcIp: host.pa, dstMac: '020000000001', dstIp: GW_PA }));
  sut.poll();
  const drops = (reason: string) => (counters.snapshot().drops as Record<string, { packets: number }>)[reason]!.packets;
  return { sut, fabric, wire, hub, own, ownKernel, counters, drops };
}

/** NVGRE from the VM of `vsid` to the gateway's CA there, as its host sends it. */
function fromVm(vsid: Vsid, payload = 18): { outer: Buffer; inner: Buffer } {
  const { gw, vm, host } = TENANTS[vsid];
  const inner = udpFrame({ srcMac: vm.mac, dstMac: gw.mac, srcIp: vm.ca, dstIp: gw.ca, payload });
  return { outer: nvgreFrame({ srcPa: host.pa, dstPa: GW_PA, vsid }, inner), inner };
}

/** What the kernel sends out of the tenant interface of `vsid`: from the gateway's CA to the VM. */
function toVm(vsid: Vsid, srcPort = 1000): Buffer {
  const { gw, vm } = TENANTS[vsid];
  return udpFrame({ srcMac: gw.mac, dstMac: vm.mac, srcIp: gw.ca, dstIp: vm.ca, srcPort });
}

const isGre = (frame: Buffer): boolean => frame.readUInt16BE(12) === 0x0800 && frame[23] === 47;

describe('decapsulation to tenants on the shared port', () => {
  it('sends each VSID\'s inner frame out on that VSID\'s interface, intact', () => {
    const { sut, fabric, hub, counters } = setup();
    const a = fromVm(5001);
    const b = fromVm(5002, 30);
    fabric.inject(a.outer);
    fabric.inject(b.outer);
    sut.poll();
    assert.deepEqual(
      hub.sent.map((s) => ({ ifindex: s.ifindex, frame: Buffer.from(s.frame) })),
      [
        { ifindex: 41, frame: a.inner },
        { ifindex: 42, frame: b.inner },
      ],
    );
    assert.equal(counters.vsid(1).decapPackets, 1);
    assert.equal(counters.vsid(2).decapPackets, 1);
    assert.equal(hub.stats().txErrors, 0);
  });

  it('sends a whole batch for many VSIDs in one sendTx, every frame addressed', () => {
    const { sut, fabric, hub } = setup();
    for (let i = 0; i < 40; i++) fabric.inject(fromVm(i % 2 === 0 ? 5001 : 5002, 18 + i).outer);
    sut.poll();
    assert.equal(hub.sent.length, 40);
    hub.sent.forEach((s, i) => assert.equal(s.ifindex, i % 2 === 0 ? 41 : 42, `frame ${i}`));
  });
});

describe('encapsulation from tenants on the shared port', () => {
  it('encapsulates each frame with the VSID of the interface it came in on', () => {
    const { sut, hub, wire } = setup();
    hub.inject(toVm(5001), 41);
    hub.inject(toVm(5002), 42);
    sut.poll();
    const out = take(wire).filter(isGre);
    assert.deepEqual(
      out.map((f) => ({ vsid: f.readUInt32BE(38) >>> 8, pa: f.readUInt32BE(30) })),
      [
        { vsid: 5001, pa: ip(HOST1.pa) },
        { vsid: 5002, pa: ip(HOST2.pa) },
      ],
    );
    assert.deepEqual(out[0]!.subarray(42), toVm(5001));
  });

  it('looks the destination up in the VSID of the arrival interface, not any other', () => {
    const { sut, hub, wire, drops } = setup();
    // VSID 5001's VM, but arriving on VSID 5002's interface: 5002 has no record for it.
    hub.inject(toVm(5001), 42);
    sut.poll();
    assert.equal(take(wire).filter(isGre).length, 0);
    assert.equal(drops('no-lookup-record'), 1);
  });
});

describe('frames from an interface no tenant owns', () => {
  it('counts a frame from an admitted interface without a VSID as tenant-port-detached and forwards nothing', () => {
    const { sut, hub, wire, drops } = setup();
    hub.inject(toVm(5001), STRAY_IFINDEX);
    sut.poll();
    assert.equal(drops('tenant-port-detached'), 1);
    assert.equal(take(wire).filter(isGre).length, 0);
  });

  it('counts frames still in the ring when their VSID is detached, and keeps serving the others', () => {
    const { sut, hub, wire, drops } = setup();
    hub.inject(toVm(5001), 41);
    hub.inject(toVm(5002), 42);
    sut.detachTenant(5001);
    hub.refuse(41);
    sut.poll();
    assert.equal(drops('tenant-port-detached'), 1);
    assert.deepEqual(take(wire).filter(isGre).map((f) => f.readUInt32BE(38) >>> 8), [5002]);
    assert.equal(hub.inject(toVm(5001), 41), false, 'the refused interface no longer reaches the ring');
  });

  it('no longer delivers decapsulated frames to a detached VSID\'s interface', () => {
    const { sut, fabric, hub, drops } = setup();
    sut.detachTenant(5001);
    fabric.inject(fromVm(5001).outer);
    sut.poll();
    assert.deepEqual(hub.sent, []);
    assert.equal(drops('unknown-vsid'), 1);
  });
});

describe('own-port and shared-port tenants in one data path', () => {
  it('lists the fabric, then the shared port, then the ports of their own', () => {
    const { sut, fabric, hub, own } = setup();
    assert.deepEqual(sut.ports(), [fabric, hub, own]);
  });

  it('serves both kinds of tenant in both directions', () => {
    const { sut, fabric, wire, hub, own, ownKernel } = setup();
    fabric.inject(fromVm(5001).outer);
    fabric.inject(fromVm(5003).outer);
    sut.poll();
    assert.deepEqual(hub.sent.map((s) => s.ifindex), [41]);
    assert.deepEqual(take(ownKernel), [fromVm(5003).inner]);

    hub.inject(toVm(5001), 41);
    own.inject(toVm(5003));
    sut.poll();
    assert.deepEqual(take(wire).filter(isGre).map((f) => f.readUInt32BE(38) >>> 8).sort(), [5001, 5003]);
  });

  it('drains only the shared port when poll() is told its index alone is ready', () => {
    const { sut, hub, own, wire } = setup();
    const ports = sut.ports();
    hub.inject(toVm(5002), 42);
    own.inject(toVm(5003));
    assert.equal(waitReadable(ports, 0), 0b110, 'the fake shared port reports its frames to waitReadable');
    sut.poll(Int32Array.of(1), 1);
    assert.equal(hub.pendingFrames(), 0);
    assert.equal(own.pendingFrames(), 1);
    assert.deepEqual(take(wire).map((f) => f.readUInt32BE(38) >>> 8), [5002]);
    sut.poll(Int32Array.of(2), 1);
    assert.equal(own.pendingFrames(), 0);
    assert.deepEqual(take(wire).map((f) => f.readUInt32BE(38) >>> 8), [5003]);
  });
});

describe('the fake shared port', () => {
  it('refuses frames from interfaces it was not told to admit, without counting them', () => {
    const hub = new FakeSharedPort();
    assert.equal(hub.inject(toVm(5001), 7), false);
    hub.admit(7);
    assert.equal(hub.inject(toVm(5001), 7), true);
    const rx = createRxBatch(hub, 4);
    assert.equal(hub.receive(rx), 1);
    assert.equal(rx.sources![0], 7);
    assert.deepEqual(hub.stats(), { rxPackets: 1, rxKernelDrops: 0, txPackets: 0, txErrors: 0, txRingFull: 0 });
  });

  it('counts a bad length or target 0 as txErrors and records the rest with their targets', () => {
    const hub = new FakeSharedPort();
    const tx = createTxBatch(hub, 4);
    assert.equal(hub.reserveTx(tx, 4), 4);
    const frames = [toVm(5001), Buffer.alloc(8), toVm(5002), toVm(5003)];
    const targets = [41, 41, 0, 43];
    frames.forEach((frame, i) => {
      tx.buffer.set(frame, tx.offsets[i]);
      tx.lengths[i] = frame.length;
      tx.targets![i] = targets[i]!;
    });
    hub.sendTx(tx, 4);
    assert.deepEqual(
      hub.sent.map((s) => ({ ifindex: s.ifindex, frame: Buffer.from(s.frame) })),
      [
        { ifindex: 41, frame: toVm(5001) },
        { ifindex: 43, frame: toVm(5003) },
      ],
    );
    assert.equal(hub.stats().txErrors, 2);
    assert.equal(hub.stats().txPackets, 2);
  });
});
