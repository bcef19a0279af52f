import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tracePacket } from '../../../src/datapath/trace.js';
import type { TraceResult } from '../../../src/datapath/trace.js';
import { DesiredState } from '../../../src/model/desired-state.js';
import { internetChecksum } from '../../../src/packet/ipv4.js';
import { arpRequest, nvgreFrame, udpFrame } from '../../support/frames.js';

const RD = '{11111111-2222-3333-4444-000000005001}';
const state = DesiredState.fromDocument({
  routingDomains: [{ routingDomainId: RD }],
  virtualSubnets: [{ virtualSubnetId: 5001, routingDomainId: RD }, { virtualSubnetId: 5002, routingDomainId: RD }],
  customerRoutes: [
    { routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24', nextHop: '0.0.0.0' },
    { routingDomainId: RD, virtualSubnetId: 5002, destinationPrefix: '192.168.2.0/24', nextHop: '0.0.0.0' },
  ],
  lookupRecords: [
    { customerAddress: '192.168.1.1', virtualSubnetId: 5001, macAddress: '00155d143c01', providerAddress: '10.1.1.40' },
    { customerAddress: '192.168.1.101', virtualSubnetId: 5001, macAddress: '00155d011404', providerAddress: '10.1.1.20' },
    { customerAddress: '192.168.2.77', virtualSubnetId: 5002, macAddress: '00155d0a0a0a', providerAddress: '10.1.1.30', rule: 'TranslationMethodNat' },
  ],
  providerAddresses: [{ interface: 'eth1', providerAddress: '10.1.1.40', prefixLength: 24 }],
});

const inner = (over: Partial<Parameters<typeof udpFrame>[0]> = {}) => udpFrame({ srcMac: '00155d011404', dstMac: '00155d143c01', srcIp: '192.168.1.101', dstIp: '192.168.1.1', ...over });
const fromHost = (over: Partial<Parameters<typeof nvgreFrame>[0]> = {}, innerFrame = inner()) => nvgreFrame({ srcPa: '10.1.1.20', dstPa: '10.1.1.40', vsid: 5001, flowId: 9, ...over }, innerFrame);
const trace = (hex: Buffer, ingress = 'fabric'): Promise<TraceResult> => tracePacket(state, { ingress, hex: hex.toString('hex') });

describe('nvgw trace', () => {
  it('walks an accepted packet through decode, anti-spoofing and delivery, and asks the kernel for the route', async () => {
    const result = await tracePacket(state, { ingress: 'fabric', hex: fromHost().toString('hex') }, async ({ dst, iif }) => `${dst} dev ${iif} table 1000`);
    assert.equal(result.verdict, 'delivered');
    assert.deepEqual(result.steps.map((s) => s.step), ['decode', 'outer source', 'inner source', 'deliver', 'route']);
    assert.match(result.steps[0]!.detail, /VSID 5001, FlowID 9/);
    assert.match(result.steps[4]!.detail, /table 1000/);
    assert.equal(result.output[0]?.port, 'nvgw-t5001');
  });

  it('shows the egress PA and key for a frame the kernel sends into a VSID', async () => {
    const result = await trace(udpFrame({ srcMac: '00155d143c01', dstMac: '00155d011404', srcIp: '192.168.1.1', dstIp: '192.168.1.101' }), 'vsid:5001');
    assert.equal(result.verdict, 'encapsulated');
    const encap = result.steps.find((s) => s.step === 'encapsulate');
    assert.match(encap?.detail ?? '', /to PA 10\.1\.1\.20 \(on-link\), key 0x001389[0-9a-f]{2} \(VSID 5001, FlowID \d+\)/);
  });

  it('shows a packet routed between two VSIDs of the domain by the data path: the route, the TTL, the egress PA and key', async () => {
    const routedState = DesiredState.fromDocument({
      ...state.toDocument(),
      lookupRecords: [...state.toDocument().lookupRecords, { customerAddress: '192.168.2.101', virtualSubnetId: 5002, macAddress: '00155d011e06', providerAddress: '10.1.1.30' }],
    });
    const frame = fromHost({}, inner({ dstIp: '192.168.2.101' }));
    const result = await tracePacket(routedState, { ingress: 'fabric', hex: frame.toString('hex') });
    assert.equal(result.verdict, 'routed');
    assert.deepEqual(result.steps.map((s) => s.step), ['decode', 'outer source', 'inner source', 'route', 'encapsulate']);
    assert.match(result.steps[3]!.detail, /192\.168\.2\.101 is on-link in VSID 5002 \(route 192\.168\.2\.0\/24.*TTL 63/);
    assert.match(result.steps[4]!.detail, /to PA 10\.1\.1\.30 .*VSID 5002/);
    const off = await tracePacket(routedState, { ingress: 'fabric', hex: frame.toString('hex') }, undefined, { routeBetweenVsids: false });
    assert.equal(off.verdict, 'delivered');
  });

  it('builds the packet from a description, taking MACs from the lookup records', async () => {
    const result = await tracePacket(state, { ingress: 'fabric', packet: 'outerSrc=10.1.1.20 vsid=5001 flowId=200 innerSrc=192.168.1.101 innerDst=192.168.1.1' });
    assert.equal(result.verdict, 'delivered');
    assert.match(result.steps[0]!.detail, /FlowID 200/);
  });

  it('reports the proxy ARP answer for the kernel\'s ARP into a VSID', async () => {
    const result = await trace(arpRequest({ srcMac: '00155d143c01', srcIp: '192.168.1.1', targetIp: '192.168.1.101' }), 'vsid:5001');
    assert.equal(result.verdict, 'answered');
  });

  const truncated = () => {
    const f = Buffer.from(fromHost().subarray(0, 38));
    f.writeUInt16BE(24, 16);
    f.writeUInt16BE(0, 24);
    f.writeUInt16BE(internetChecksum(f, 14, 20), 24);
    return f;
  };
  const badChecksum = () => {
    const f = fromHost();
    f[24]! ^= 0xff;
    return f;
  };
  const drops: [string, () => Buffer, string?][] = [
    ['gre-checksum-present', () => fromHost({ flags: 0xa000 })],
    ['gre-sequence-present', () => fromHost({ flags: 0x3000 })],
    ['gre-no-key', () => fromHost({ flags: 0x0000 })],
    ['gre-version', () => fromHost({ flags: 0x2001 })],
    ['gre-routing-present', () => fromHost({ flags: 0x6000 })],
    ['gre-wrong-protocol', () => fromHost({ protocol: 0x0800 })],
    ['ipv4-fragment', () => fromHost({ fragment: true })],
    ['ipv4-checksum-invalid', badChecksum],
    ['truncated-gre', truncated],
    ['not-for-gateway-pa', () => fromHost({ dstPa: '10.1.1.41' })],
    ['unknown-vsid', () => fromHost({ vsid: 7777 })],
    ['spoofed-outer-pa', () => fromHost({ srcPa: '10.1.1.99' })],
    ['spoofed-inner-ca', () => fromHost({}, inner({ srcIp: '192.168.1.102' }))],
    ['inner-vlan-tag', () => fromHost({}, inner({ vlan: 3 }))],
    ['nat-rule-not-forwarded', () => fromHost({ srcPa: '10.1.1.30', vsid: 5002 }, inner({ srcMac: '00155d0a0a0a', srcIp: '192.168.2.77', dstIp: '192.168.2.1' }))],
    ['no-lookup-record', () => udpFrame({ srcMac: '00155d143c01', dstMac: '00155d999999', srcIp: '192.168.1.1', dstIp: '192.168.1.99' }), 'vsid:5001'],
    ['arp-unanswerable', () => arpRequest({ srcMac: '00155d143c01', srcIp: '192.168.1.1', targetIp: '192.168.1.200' }), 'vsid:5001'],
  ];
  for (const [reason, make, ingress] of drops) {
    it(`names the drop reason ${reason} and says why`, async () => {
      const result = await trace(make(), ingress ?? 'fabric');
      assert.equal(result.verdict, reason);
      assert.equal(result.steps.at(-1)?.step, 'drop');
      assert.ok((result.dropDescription ?? '').length > 10);
      assert.deepEqual(result.output.filter((o) => o.port !== 'fabric'), []);
    });
  }

  it('refuses what it cannot trace with a clear error', async () => {
    await assert.rejects(tracePacket(state, { ingress: 'vsid:9999', hex: inner().toString('hex') }), /VSID 9999 is not configured/);
    await assert.rejects(tracePacket(state, { ingress: 'fabric', hex: 'abc' }), /even number of hex digits/);
    await assert.rejects(tracePacket(state, { ingress: 'sideways', hex: '00' }), /ingress must be/);
  });
});
