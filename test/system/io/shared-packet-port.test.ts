/**
 * The shared AF_PACKET port (openSharedPacketPort: one receive ring for many interfaces,
 * filtered by an eBPF map of admitted ifindexes, and one socket that addresses each
 * transmitted frame to its interface) against the real kernel. Three veth pairs join two
 * fresh namespaces: s0..s2 in namespace a, where the shared port runs, and t0..t2 in b,
 * where a plain packet port on each peer end sends and watches.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Agent } from './support/agent-client.js';
import { hexHas, toHex, udpFrame } from './support/frames.js';
import { isRoot, Lab, leftoverNamespaces, linkIndex, linkMac } from './support/lab.js';

interface Received {
  total: number;
  frames: { length: number; hex: string; source?: number }[];
}

const LINKS = [0, 1, 2] as const;
/** No interface has this index (ifindexes are allocated from 1 up, per namespace). */
const MISSING_IFINDEX = 999_999;

describe('shared AF_PACKET port (one port for many interfaces)', { skip: !isRoot() && 'needs root (network namespaces)' }, () => {
  let lab: Lab;
  let a: Agent;
  let b: Agent;
  /** ifindex of s0..s2 in namespace a. */
  const ifindexOf: number[] = [];
  const macS: string[] = [];
  const macT: string[] = [];
  let portCount = 0;

  /** A frame as the far end of link i would send it towards s<i> (or back), carrying `marker`. */
  const frame = (i: number, marker: string, direction: 'in' | 'out', payloadLength = 0): Uint8Array => {
    const [srcMac, dstMac] = direction === 'in' ? [macT[i]!, macS[i]!] : [macS[i]!, macT[i]!];
    const payload = new Uint8Array(Math.max(payloadLength, marker.length)).fill(0x2e);
    payload.set(new TextEncoder().encode(marker));
    return udpFrame({ srcMac, dstMac, srcIp: `198.18.${lab.net}.${10 + i}`, dstIp: `198.18.${lab.net}.${20 + i}`, srcPort: 1, dstPort: 9, payload });
  };

  /** Opens a shared port in namespace a (a fresh one per test, so admissions do not leak). */
  async function openShared(): Promise<{ id: string; frameCapacity: number }> {
    const id = `hub${portCount++}`;
    const opened = await a.request<{ fd: number; ifindex: number; anyInterface: boolean; frameCapacity: number }>('openShared', { id, options: { mtu: 1500, rxBlockCount: 4, txFrameCount: 16 } });
    assert.ok(opened.fd >= 0);
    assert.equal(opened.anyInterface, true);
    assert.equal(opened.ifindex, 0, 'bound to no one interface');
    return { id, frameCapacity: opened.frameCapacity };
  }

  /** Which of `markers` the watcher on t<i> saw. */
  async function seenOnPeer(i: number, markers: readonly string[], expect: number): Promise<string[]> {
    const got = await b.request<Received>('receive', { id: `t${i}`, expect, timeoutMs: 3000, settleMs: 200 });
    return markers.filter((m) => got.frames.some((f) => hexHas(f.hex, m)));
  }

  before(async () => {
    lab = Lab.create('shr');
    for (const i of LINKS) {
      lab.addLink(`s${i}`, `t${i}`);
      ifindexOf[i] = linkIndex(lab.nsA, `s${i}`);
      macS[i] = linkMac(lab.nsA, `s${i}`);
      macT[i] = linkMac(lab.nsB, `t${i}`);
    }
    a = await lab.agent('a');
    b = await lab.agent('b');
    // Plain ports on the peer ends: they send "into" s<i> and watch what comes out of it.
    for (const i of LINKS) await b.request('openPacket', { id: `t${i}`, ifname: `t${i}` });
  });

  after(async () => {
    await lab?.destroy();
    assert.deepEqual(leftoverNamespaces().filter((ns) => ns.includes('-shr-')), []);
  });

  it('receives frames from every admitted interface, each with the ifindex it arrived on', async () => {
    const hub = await openShared();
    await a.request('admit', { id: hub.id, ifindexes: [ifindexOf[0], ifindexOf[1]] });
    for (const i of [0, 1]) await b.request('send', { id: `t${i}`, frames: [0, 1, 2].map((k) => toHex(frame(i, `shr-in-${i}-${k}.`, 'in'))) });
    const got = await a.request<Received>('receive', { id: hub.id, expect: 6, timeoutMs: 3000, settleMs: 100 });
    for (const i of [0, 1]) {
      for (const k of [0, 1, 2]) {
        const found = got.frames.filter((f) => hexHas(f.hex, `shr-in-${i}-${k}.`));
        assert.equal(found.length, 1, `frame ${k} from s${i} arrives once`);
        assert.equal(found[0]!.source, ifindexOf[i], `frame ${k} from s${i} says s${i}'s ifindex`);
      }
    }
    await a.request('close', { id: hub.id });
  });

  it('never receives from an interface it did not admit, and stops receiving from one refused', async () => {
    const hub = await openShared();
    await a.request('admit', { id: hub.id, ifindexes: [ifindexOf[0], ifindexOf[1]] });
    for (const i of LINKS) await b.request('send', { id: `t${i}`, frames: [toHex(frame(i, `shr-ref-a${i}.`, 'in'))] });
    const first = await a.request<Received>('receive', { id: hub.id, expect: 2, timeoutMs: 3000, settleMs: 200 });
    const seen = (r: Received, marker: string) => r.frames.filter((f) => hexHas(f.hex, marker)).map((f) => f.source);
    assert.deepEqual(seen(first, 'shr-ref-a0.'), [ifindexOf[0]]);
    assert.deepEqual(seen(first, 'shr-ref-a1.'), [ifindexOf[1]]);
    assert.deepEqual(seen(first, 'shr-ref-a2.'), [], 's2 was never admitted');
    assert.ok(first.frames.every((f) => f.source === ifindexOf[0] || f.source === ifindexOf[1]), `only admitted interfaces: ${JSON.stringify(first.frames.map((f) => f.source))}`);

    await a.request('refuse', { id: hub.id, ifindexes: [ifindexOf[1]] });
    for (const i of LINKS) await b.request('send', { id: `t${i}`, frames: [toHex(frame(i, `shr-ref-b${i}.`, 'in'))] });
    const second = await a.request<Received>('receive', { id: hub.id, expect: 1, timeoutMs: 3000, settleMs: 300 });
    assert.deepEqual(seen(second, 'shr-ref-b0.'), [ifindexOf[0]]);
    assert.deepEqual(seen(second, 'shr-ref-b1.'), [], 's1 was refused');
    assert.deepEqual(seen(second, 'shr-ref-b2.'), []);
    // The filter drops before the ring: refused traffic is not a ring overflow.
    const stats = await a.request<Record<string, number>>('stats', { id: hub.id });
    assert.equal(stats.rxKernelDrops, 0);
    await a.request('close', { id: hub.id });
  });

  it('puts each frame of one batch on the interface its target names', async () => {
    const hub = await openShared();
    // Admitted, to show the port does not read back what it sent itself.
    await a.request('admit', { id: hub.id, ifindexes: LINKS.map((i) => ifindexOf[i]) });
    const plan = [0, 1, 2, 0, 2];
    const markers = plan.map((i, k) => `shr-out-${k}.`);
    const sent = await a.request<{ reserved: number }>('send', {
      id: hub.id,
      frames: plan.map((i, k) => toHex(frame(i, markers[k]!, 'out'))),
      targets: plan.map((i) => ifindexOf[i]),
    });
    assert.equal(sent.reserved, plan.length);
    for (const i of LINKS) {
      const expected = markers.filter((_, k) => plan[k] === i);
      assert.deepEqual(await seenOnPeer(i, markers, expected.length), expected, `t${i} gets exactly the frames addressed to s${i}`);
    }
    const stats = await a.request<Record<string, number>>('stats', { id: hub.id });
    assert.equal(stats.txPackets, plan.length);
    assert.equal(stats.txErrors, 0);
    assert.equal(stats.txKickErrors, 0);
    const echo = await a.request<Received>('receive', { id: hub.id, expect: 1, timeoutMs: 300 });
    assert.deepEqual(echo.frames.filter((f) => markers.some((m) => hexHas(f.hex, m))), [], 'its own frames do not come back in');
    await a.request('close', { id: hub.id });
  });

  it('counts a frame too long, too short or addressed to ifindex 0 in txErrors, and sends the rest of the batch', async () => {
    const hub = await openShared();
    // Ethernet, IPv4 and UDP headers take 42 bytes: one byte more than a slot carries.
    const long = frame(0, 'shr-err-long.', 'out', hub.frameCapacity + 1 - 42);
    assert.equal(long.length, hub.frameCapacity + 1);
    const batch = [
      { hex: toHex(frame(0, 'shr-err-0.', 'out')), target: ifindexOf[0] },
      { hex: toHex(long), target: ifindexOf[0] },
      { hex: '0102030405060708', target: ifindexOf[1] },
      { hex: toHex(frame(1, 'shr-err-nowhere.', 'out')), target: 0 },
      { hex: toHex(frame(1, 'shr-err-1.', 'out')), target: ifindexOf[1] },
    ];
    await a.request('send', { id: hub.id, frames: batch.map((f) => f.hex), targets: batch.map((f) => f.target) });
    const markers = ['shr-err-0.', 'shr-err-1.', 'shr-err-long.', 'shr-err-nowhere.'];
    assert.deepEqual(await seenOnPeer(0, markers, 1), ['shr-err-0.']);
    assert.deepEqual(await seenOnPeer(1, markers, 1), ['shr-err-1.']);
    assert.deepEqual(await seenOnPeer(2, markers, 1), []);
    const stats = await a.request<Record<string, number>>('stats', { id: hub.id });
    assert.equal(stats.txErrors, 3);
    assert.equal(stats.txPackets, 2);
    assert.equal(stats.txKickErrors, 0);
    await a.request('close', { id: hub.id });
  });

  it('counts a frame addressed to an interface that does not exist in txKickErrors, and sends the rest of the batch', async () => {
    const hub = await openShared();
    const batch = [
      { marker: 'shr-gone-0.', link: 0, target: ifindexOf[0]! },
      { marker: 'shr-gone-x.', link: 2, target: MISSING_IFINDEX },
      { marker: 'shr-gone-1.', link: 1, target: ifindexOf[1]! },
      { marker: 'shr-gone-y.', link: 2, target: MISSING_IFINDEX },
      { marker: 'shr-gone-2.', link: 2, target: ifindexOf[2]! },
    ];
    await a.request('send', { id: hub.id, frames: batch.map((f) => toHex(frame(f.link, f.marker, 'out'))), targets: batch.map((f) => f.target) });
    const markers = batch.map((f) => f.marker);
    for (const i of LINKS) assert.deepEqual(await seenOnPeer(i, markers, 1), [`shr-gone-${i}.`], `t${i}`);
    const stats = await a.request<Record<string, number>>('stats', { id: hub.id });
    assert.equal(stats.txKickErrors, 2);
    assert.equal(stats.txPackets, 3);
    assert.equal(stats.txErrors, 0);
    await a.request('close', { id: hub.id });
  });
});
