/**
 * The tap port against the real kernel, inside a fresh namespace: the namespace's kernel
 * routes UDP into the tap (the port reads it) and receives what the port writes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Agent } from './support/agent-client.js';
import { AgentOperationError } from './support/agent-client.js';
import { hexHas, toHex, udpFrame } from './support/frames.js';
import { ipIn, isRoot, Lab, leftoverNamespaces, linkExists, linkMac } from './support/lab.js';

interface Received {
  total: number;
  batches: number[];
  frames: { length: number; hex: string }[];
}

const PEER_MAC = '02:00:00:00:99:02';

describe('tap port', { skip: !isRoot() && 'needs root (network namespaces)' }, () => {
  let lab: Lab;
  let a: Agent;
  let tapNet = '';

  /** Opens `name` through the agent, brings it up and routes 198.18.<n>.0/24 into it. */
  async function openAddressedTap(id: string, name: string, options: object = {}): Promise<{ mac: string; ip: string; peer: string }> {
    await a.request('openTap', { id, name, options });
    ipIn(lab.nsA, 'link', 'set', name, 'up');
    ipIn(lab.nsA, 'addr', 'add', `${tapNet}.1/24`, 'dev', name);
    // A permanent neighbour: the kernel sends to the "VM" behind the tap without ARP.
    ipIn(lab.nsA, 'neigh', 'replace', `${tapNet}.2`, 'lladdr', PEER_MAC, 'dev', name, 'nud', 'permanent');
    return { mac: linkMac(lab.nsA, name), ip: `${tapNet}.1`, peer: `${tapNet}.2` };
  }

  before(async () => {
    lab = Lab.create('tap');
    tapNet = `198.19.${lab.net}`;
    a = await lab.agent('a');
  });

  after(async () => {
    await lab?.destroy();
    assert.deepEqual(leftoverNamespaces().filter((ns) => ns.includes('-tap-')), []);
  });

  it('reads the frames the kernel sends into the tap, many per receive() call', async () => {
    const tap = await openAddressedTap('t', 'nvtap0');
    const count = 60;
    await a.request('udpSend', { address: tap.peer, port: 7000, count, prefix: 'tap-rx', size: 24 });
    const got = await a.request<Received>('receive', { id: 't', expect: count, timeoutMs: 3000 });
    const udp = got.frames.filter((f) => hexHas(f.hex, 'tap-rx-'));
    assert.equal(udp.length, count);
    assert.ok(got.batches.some((n) => n > 1), `batched: ${JSON.stringify(got.batches)}`);
    assert.ok(udp.every((f) => f.hex.startsWith(PEER_MAC.replaceAll(':', ''))), 'frames are whole Ethernet frames to the neighbour');
    const stats = await a.request<Record<string, number>>('stats', { id: 't' });
    assert.equal(stats.rxPackets, got.total);
    assert.equal(stats.rxErrors, 0);
    await a.request('close', { id: 't' });
    assert.equal(linkExists(lab.nsA, 'nvtap0'), false, 'a non-persistent tap goes with its last queue');
  });

  it('writes frames from reserved TX slots, and the kernel delivers them', async () => {
    const tap = await openAddressedTap('t', 'nvtap1');
    await a.request('udpBind', { sock: 'tu', address: tap.ip, port: 7001 });
    const count = 40;
    const frames = Array.from({ length: count }, (_, i) =>
      toHex(udpFrame({ srcMac: PEER_MAC, dstMac: tap.mac, srcIp: tap.peer, dstIp: tap.ip, srcPort: 7002, dstPort: 7001, payload: `tap-tx-${i}` })),
    );
    const sent = await a.request<{ reserved: number }>('send', { id: 't', frames });
    assert.equal(sent.reserved, count);
    const got = await a.request<{ messages: string[] }>('udpCollect', { sock: 'tu', expect: count, timeoutMs: 3000 });
    assert.deepEqual([...got.messages].sort(), frames.map((_, i) => `tap-tx-${i}`).sort());
    const stats = await a.request<Record<string, number>>('stats', { id: 't' });
    assert.equal(stats.txPackets, count);
    assert.equal(stats.txErrors, 0);
    await a.request('close', { id: 't' });
  });

  it('keeps the virtio_net_hdr out of the frame with IFF_VNET_HDR, both ways', async () => {
    const tap = await openAddressedTap('v', 'nvtap2', { vnetHdr: true });
    await a.request('udpBind', { sock: 'vu', address: tap.ip, port: 7003 });
    await a.request('udpSend', { address: tap.peer, port: 7000, count: 3, prefix: 'vnet-rx', size: 24 });
    const got = await a.request<Received>('receive', { id: 'v', expect: 3, timeoutMs: 3000 });
    assert.ok(got.frames.filter((f) => hexHas(f.hex, 'vnet-rx-')).every((f) => f.hex.startsWith(PEER_MAC.replaceAll(':', ''))));
    const frame = toHex(udpFrame({ srcMac: PEER_MAC, dstMac: tap.mac, srcIp: tap.peer, dstIp: tap.ip, srcPort: 7002, dstPort: 7003, payload: 'vnet-tx' }));
    await a.request('send', { id: 'v', frames: [frame] });
    const back = await a.request<{ messages: string[] }>('udpCollect', { sock: 'vu', expect: 1, timeoutMs: 3000 });
    assert.deepEqual(back.messages, ['vnet-tx']);
    await a.request('close', { id: 'v' });
  });

  it('counts the frames the kernel dropped while nobody read as rxKernelDrops', async () => {
    const tap = await openAddressedTap('d', 'nvtap3');
    // The tap's queue holds tx_queue_len frames; send more than that without reading.
    const queue = Number(ipIn(lab.nsA, 'link', 'show', 'dev', 'nvtap3').match(/qlen (\d+)/)?.[1] ?? 1000);
    const count = queue + 600;
    await a.request('udpSend', { address: tap.peer, port: 7000, count, prefix: 'drop' });
    const stats = await a.request<Record<string, number>>('stats', { id: 'd' });
    assert.ok(stats.rxKernelDrops! >= 500, `drops: ${stats.rxKernelDrops}`);
    const got = await a.request<Received>('receive', { id: 'd', expect: 1, timeoutMs: 2000, settleMs: 100, keep: 0 });
    assert.ok(got.total <= queue + 10, `no more than the queue was kept: ${got.total}`);
    assert.ok(got.total + stats.rxKernelDrops! >= count, `every frame is either read or counted: ${got.total} + ${stats.rxKernelDrops}`);
    await a.request('close', { id: 'd' });
  });

  it('keeps a persistent tap across close and reopen, and deleteTap removes it', async () => {
    await a.request('openTap', { id: 'p', name: 'nvtapp', options: { persist: true } });
    await a.request('close', { id: 'p' });
    assert.equal(linkExists(lab.nsA, 'nvtapp'), true, 'still there after close');
    await a.request('openTap', { id: 'p', name: 'nvtapp', options: { create: false } });
    await a.request('close', { id: 'p' });
    assert.deepEqual(await a.request('deleteTap', { name: 'nvtapp' }), { deleted: true });
    assert.equal(linkExists(lab.nsA, 'nvtapp'), false);
    assert.deepEqual(await a.request('deleteTap', { name: 'nvtapp' }), { deleted: false });
  });

  it('opens several queues of a multi-queue tap, and refuses a second reader of a single-queue one', async () => {
    await a.request('openTap', { id: 'q1', name: 'nvtapmq', options: { multiQueue: true } });
    await a.request('openTap', { id: 'q2', name: 'nvtapmq', options: { multiQueue: true } });
    await a.request('close', { id: 'q1' });
    assert.equal(linkExists(lab.nsA, 'nvtapmq'), true, 'the device stays while a queue is open');
    await a.request('close', { id: 'q2' });
    assert.equal(linkExists(lab.nsA, 'nvtapmq'), false);

    await a.request('openTap', { id: 's1', name: 'nvtapsq' });
    await assert.rejects(a.request('openTap', { id: 's2', name: 'nvtapsq' }), (error: unknown) => {
      assert.ok(error instanceof AgentOperationError);
      assert.equal(error.detail.code, 'EBUSY');
      assert.match(error.detail.message, /cannot open tap port on 'nvtapsq'/);
      return true;
    });
    await a.request('close', { id: 's1' });
  });

  it('says which tap is missing, or is not a tap, when it cannot open it', async () => {
    await assert.rejects(a.request('openTap', { id: 'x', name: 'nvtapnone', options: { create: false } }), (error: unknown) => {
      assert.ok(error instanceof AgentOperationError);
      assert.equal(error.detail.code, 'ENODEV');
      assert.match(error.detail.message, /cannot open tap port on 'nvtapnone'/);
      return true;
    });
    await assert.rejects(a.request('openTap', { id: 'x', name: 'p0' }), (error: unknown) => {
      assert.ok(error instanceof AgentOperationError);
      assert.equal(error.detail.code, 'EINVAL');
      assert.equal(error.detail.interface, 'p0');
      return true;
    });
    await assert.rejects(a.request('deleteTap', { name: 'p0' }), /cannot delete tap 'p0'/);
    assert.equal(linkExists(lab.nsA, 'p0'), true, 'a veth of that name is left alone');
  });
});
