// Self-tests of the crafted-frame sender (test/support/scapy.ts) and the capture decoder
// (test/support/capture.ts): every kind of malformed NVGRE the negative cases need is sent
// from one namespace to another, captured there, and checked byte for byte and field by field.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CapturedFrame } from '../../support/capture.js';
import { nvgreFrames, startCapture } from '../../support/capture.js';
import type { Lab } from '../../support/netns.js';
import { createLab, linkMac } from '../../support/netns.js';
import type { FrameSpec } from '../../support/scapy.js';
import { craftFrames, sendFrames } from '../../support/scapy.js';

const TX_PA = '10.66.0.11';
const RX_PA = '10.66.0.40';
const VM_MAC = '00:15:5d:14:3c:01';
const GW_CA_MAC = '00:15:5d:14:3c:02';
const inner = { srcMac: VM_MAC, dstMac: GW_CA_MAC, ip: { src: '192.168.1.1', dst: '192.168.1.254' } };

describe('crafted NVGRE frames, captured and decoded', { timeout: 60_000 }, () => {
  let lab: Lab;
  let rxMac: string;
  let txMac: string;
  let cases: Record<string, FrameSpec>;
  /** Per case: the frames sent and, for each, the frame captured with exactly those bytes. */
  const got = new Map<string, Array<{ sent: Buffer; captured: CapturedFrame | undefined }>>();
  const sendWindowNs: [bigint, bigint] = [0n, 0n];
  let allFrames: CapturedFrame[] = [];

  before(async () => {
    lab = await createLab('nvhs');
    const tx = await lab.namespace('tx');
    const rx = await lab.namespace('rx');
    await lab.veth({ ns: tx, ifname: 'fab0', addresses: [`${TX_PA}/24`] }, { ns: rx, ifname: 'fab0', addresses: [`${RX_PA}/24`] });
    rxMac = await linkMac(rx, 'fab0');
    txMac = await linkMac(tx, 'fab0');
    const outer = { dstMac: rxMac, src: TX_PA, dst: RX_PA };
    cases = {
      plain: { outer, gre: { vsid: 5001, flowId: 0x42 }, inner: { ...inner, icmp: { id: 7, seq: 3 } } },
      checksum: { outer, gre: { vsid: 5001, checksum: true }, inner },
      sequence: { outer, gre: { vsid: 5001, sequence: true, sequenceNumber: 99 }, inner },
      routing: { outer, gre: { vsid: 5001, routing: true }, inner },
      protocol: { outer, gre: { vsid: 5001, protocol: 0x0800 }, inner },
      version: { outer, gre: { vsid: 5001, version: 1 }, inner },
      noKey: { outer, gre: { key: false }, inner },
      unknownVsid: { outer, gre: { keyValue: 0xabcdef17 }, inner },
      vlan: { outer, gre: { vsid: 5001 }, inner: { ...inner, vlan: 100 } },
      spoofed: { outer: { ...outer, src: '10.66.0.99' }, gre: { vsid: 5001 }, inner: { ...inner, ip: { src: '192.168.1.77', dst: '192.168.1.254' } } },
      truncatedGre: { outer, gre: { vsid: 5001 }, inner, truncateIpPayloadTo: 6 },
      truncatedInner: { outer, gre: { vsid: 5001 }, inner, truncateIpPayloadTo: 8 + 14 + 10 },
      fragmented: { outer: { ...outer, id: 0x1234 }, gre: { vsid: 5001 }, inner: { ...inner, payloadHex: 'ab'.repeat(300) }, fragmentSize: 96 },
      arp: { outer, gre: { vsid: 5001 }, inner: { srcMac: VM_MAC, dstMac: 'ff:ff:ff:ff:ff:ff', arp: { psrc: '192.168.1.1', pdst: '192.168.1.254' } } },
    };
    const names = Object.keys(cases);
    // The receiver has no GRE: its kernel answers with ICMP errors, which only go out.
    const cap = await startCapture(lab, rx, 'fab0', { filter: 'ip', direction: 'in' });
    sendWindowNs[0] = BigInt(Date.now()) * 1_000_000n;
    const sent = await sendFrames(lab, tx, 'fab0', names.map((n) => cases[n] as FrameSpec));
    const total = sent.reduce((n, s) => n + s.frames.length, 0);
    await cap.waitForPackets(total);
    sendWindowNs[1] = BigInt(Date.now()) * 1_000_000n;
    const frames = await cap.stop();
    allFrames = frames;
    names.forEach((name, i) => {
      got.set(name, (sent[i]?.frames ?? []).map((bytes) => ({ sent: bytes, captured: frames.find((f) => f.data.equals(bytes)) })));
    });
  });
  after(() => lab.destroy());

  /** The single captured frame of a case, after checking it arrived byte for byte. */
  function one(name: string): CapturedFrame {
    const frames = got.get(name) ?? [];
    assert.equal(frames.length, 1, `${name}: ${frames.length} frames sent`);
    const f = frames[0]?.captured;
    assert.ok(f, `${name}: the sent bytes were not captured`);
    return f;
  }

  it('sends RFC 7637 NVGRE that tshark decodes to the requested PAs, VSID, FlowID and inner packet', () => {
    const f = one('plain');
    assert.equal(f.outer.eth?.src, txMac);
    assert.equal(f.outer.eth?.dst, rxMac);
    assert.deepEqual([f.outer.ip?.src, f.outer.ip?.dst, f.outer.ip?.proto], [TX_PA, RX_PA, 47]);
    assert.deepEqual(f.gre, {
      checksumPresent: false, routingPresent: false, keyPresent: true, sequencePresent: false, version: 0,
      protocol: 0x6558, key: (5001 << 8) | 0x42, vsid: 5001, flowId: 0x42,
    });
    assert.deepEqual(f.inner?.eth, { src: VM_MAC, dst: GW_CA_MAC, type: 0x0800 });
    assert.deepEqual([f.inner?.ip?.src, f.inner?.ip?.dst], ['192.168.1.1', '192.168.1.254']);
    assert.deepEqual(f.inner?.icmp, { type: 8, code: 0, id: 7, seq: 3 });
    assert.equal(f.malformed, false);
    // The wire bytes themselves: GRE flags K, protocol 0x6558, key.
    assert.equal(f.data.subarray(34, 42).toString('hex'), `20006558${((5001 << 8) | 0x42).toString(16).padStart(8, '0')}`);
    assert.equal(nvgreFrames([f]).length, 1);
  });

  it('sets the checksum bit with a valid GRE checksum', () => {
    const f = one('checksum');
    assert.equal(f.gre?.checksumPresent, true);
    assert.equal(f.gre?.key, 5001 << 8);
    const gre = f.data.subarray(34);
    assert.equal(gre.readUInt16BE(0) & 0x8000, 0x8000);
    let sum = 0;
    for (let i = 0; i + 1 < gre.length; i += 2) sum += gre.readUInt16BE(i);
    if (gre.length % 2) sum += (gre[gre.length - 1] ?? 0) << 8;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    assert.equal(sum, 0xffff, 'GRE checksum does not verify');
  });

  it('sets the sequence bit and number', () => {
    const f = one('sequence');
    assert.equal(f.gre?.sequencePresent, true);
    assert.equal(f.gre?.sequence, 99);
  });

  it('sets the routing bit', () => {
    assert.equal(one('routing').gre?.routingPresent, true);
  });

  it('sends another GRE protocol type or version on request', () => {
    assert.equal(one('protocol').gre?.protocol, 0x0800);
    assert.equal(one('version').gre?.version, 1);
  });

  it('omits the key when K is cleared, and sends any 32-bit key', () => {
    const noKey = one('noKey');
    assert.equal(noKey.gre?.keyPresent, false);
    assert.equal(noKey.gre?.key, undefined);
    assert.deepEqual([one('unknownVsid').gre?.vsid, one('unknownVsid').gre?.flowId], [0xabcdef, 0x17]);
  });

  it('tags the inner frame with 802.1Q', () => {
    const f = one('vlan');
    assert.deepEqual(f.inner?.eth, { src: VM_MAC, dst: GW_CA_MAC, type: 0x0800, vlan: 100 });
    assert.equal(f.inner?.ip?.dst, '192.168.1.254');
    assert.equal(f.data.readUInt16BE(42 + 12), 0x8100);
  });

  it('spoofs the outer and inner source addresses', () => {
    const f = one('spoofed');
    assert.equal(f.outer.ip?.src, '10.66.0.99');
    assert.equal(f.inner?.ip?.src, '192.168.1.77');
  });

  it('truncates the GRE header, keeping the outer IPv4 length consistent', () => {
    const f = one('truncatedGre');
    assert.equal(f.data.length, 14 + 20 + 6);
    assert.equal(f.outer.ip?.totalLength, 20 + 6);
    assert.equal(f.malformed, true);
  });

  it('truncates the inner frame after a complete GRE header', () => {
    const f = one('truncatedInner');
    assert.equal(f.data.length, 14 + 20 + 8 + 14 + 10);
    assert.equal(f.outer.ip?.totalLength, 20 + 8 + 14 + 10);
    assert.equal(f.gre?.vsid, 5001);
    assert.equal(f.inner?.eth?.src, VM_MAC);
    assert.equal(f.inner?.ip, undefined);
  });

  it('splits the outer IPv4 packet into fragments that arrive unreassembled', () => {
    const frames = got.get('fragmented') ?? [];
    // GRE 8 + inner Ethernet 14 + inner IPv4 20 + 300 payload = 342 bytes: 96 + 96 + 96 + 54.
    assert.equal(frames.length, 4);
    const caps = frames.map((x) => x.captured);
    caps.forEach((c, i) => assert.ok(c, `fragment ${i} was not captured`));
    const ips = caps.map((c) => c?.outer.ip);
    assert.deepEqual(ips.map((ip) => ip?.id), [0x1234, 0x1234, 0x1234, 0x1234]);
    assert.deepEqual(ips.map((ip) => ip?.mf), [true, true, true, false]);
    assert.deepEqual(ips.map((ip) => ip?.fragmentOffset), [0, 96, 192, 288]);
    assert.deepEqual(ips.map((ip) => ip?.totalLength), [116, 116, 116, 74]);
    assert.equal(caps[0]?.gre?.vsid, 5001);
  });

  it('carries an inner ARP request', () => {
    const f = one('arp');
    assert.deepEqual(f.inner?.arp, { op: 1, senderMac: VM_MAC, senderIp: '192.168.1.1', targetIp: '192.168.1.254' });
    assert.equal(f.inner?.eth?.dst, 'ff:ff:ff:ff:ff:ff');
  });

  it('captures exactly what was sent, stamped with times comparable to Date.now()', () => {
    const sentCount = [...got.values()].reduce((n, frames) => n + frames.length, 0);
    assert.equal(allFrames.length, sentCount);
    for (const f of allFrames) {
      // Millisecond clock on our side, so allow 1 ms either way.
      assert.ok(f.timeNs >= sendWindowNs[0] - 1_000_000n && f.timeNs <= sendWindowNs[1] + 1_000_000n, `frame ${f.index} at ${f.timeNs}`);
    }
  });

  it('builds frames without sending them, identical to what was sent', async () => {
    const spec = cases.plain;
    assert.ok(spec && 'outer' in spec);
    const [built] = await craftFrames([{ ...spec, outer: { ...spec.outer, srcMac: txMac } }]);
    assert.deepEqual(built?.frames, got.get('plain')?.map((x) => x.sent));
  });
});
