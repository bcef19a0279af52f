/**
 * The addon inside worker_threads (the data path's home) next to the main thread, and
 * waitReadable's blocking behaviour, against a real veth pair in fresh namespaces.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Agent } from './support/agent-client.js';
import { hexHas } from './support/frames.js';
import { isRoot, Lab, leftoverNamespaces } from './support/lab.js';

describe('packet I/O in a worker thread, and waitReadable', { skip: !isRoot() && 'needs root (network namespaces)' }, () => {
  let lab: Lab;
  let a: Agent;
  let b: Agent;

  before(async () => {
    lab = Lab.create('wrk');
    a = await lab.agent('a');
    b = await lab.agent('b');
  });

  after(async () => {
    await lab?.destroy();
    assert.deepEqual(leftoverNamespaces().filter((ns) => ns.includes('-wrk-')), []);
  });

  it('opens and reads a port in a worker while the main thread has its own', async () => {
    await a.request('openPacket', { id: 'main', ifname: 'p0' });
    const ready = await a.request<{ type: string; threadId: number }>('workerStart', { ifname: 'p0', expect: 50, timeoutMs: 5000, marker: 'wrk-' });
    assert.equal(ready.type, 'ready', JSON.stringify(ready));
    assert.ok(ready.threadId > 0, 'the port was opened off the main thread');
    await b.request('udpSend', { address: lab.addressA, port: 9, count: 50, prefix: 'wrk' });
    const result = await a.request<{ matched: number; batches: number; rxPackets: number }>('workerResult', {});
    assert.equal(result.matched, 50);
    const main = await a.request<{ frames: { hex: string }[] }>('receive', { id: 'main', expect: 50, timeoutMs: 3000 });
    assert.equal(main.frames.filter((f) => hexHas(f.hex, 'wrk-')).length, 50, 'the main thread port saw the same frames');
    await a.request('close', { id: 'main' });
  });

  it('blocks for the timeout when nothing arrives and wakes when a frame does', async () => {
    await a.request('openPacket', { id: 'w', ifname: 'p0', options: { filter: [{ code: 0x06, jt: 0, jf: 0, k: 0 }] } });
    const idle = await a.request<{ mask: number; elapsedMs: number }>('wait', { id: 'w', timeoutMs: 150 });
    assert.equal(idle.mask, 0);
    assert.ok(idle.elapsedMs >= 140, `waited ${idle.elapsedMs} ms`);
    await a.request('close', { id: 'w' });
    await a.request('openPacket', { id: 'w', ifname: 'p0' });
    await b.request('udpSend', { address: lab.addressA, port: 9, count: 1, prefix: 'wake' });
    const woken = await a.request<{ mask: number; elapsedMs: number }>('wait', { id: 'w', timeoutMs: 5000 });
    assert.equal(woken.mask, 1);
    assert.ok(woken.elapsedMs < 1000, `woke after ${woken.elapsedMs} ms`);
    await a.request('close', { id: 'w' });
  });
});
