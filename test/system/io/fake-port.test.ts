/**
 * The in-memory FramePort pair used by pipeline tests: same batch semantics and counters
 * as the real ports. (Pure: needs neither root nor the addon.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRxBatch, createTxBatch } from '../../../src/datapath/io/frame-port.js';
import { createFakePortPair } from '../../../src/datapath/io/fake-port.js';
import { waitReadable } from '../../../src/datapath/io/wait.js';

function send(port: ReturnType<typeof createFakePortPair>[0], frames: number[][]): void {
  const batch = createTxBatch(port, frames.length);
  const got = port.reserveTx(batch, frames.length);
  for (let i = 0; i < got; i++) {
    batch.buffer.set(frames[i]!, batch.offsets[i]);
    batch.lengths[i] = frames[i]!.length;
  }
  port.sendTx(batch, got);
}

const frame = (tag: number, length = 60): number[] => Array.from({ length }, (_, i) => (i === 14 ? tag : i));

describe('fake port pair', () => {
  it('delivers what one side sends to the other, in order, as offsets into its buffer', () => {
    const [a, b] = createFakePortPair();
    send(a, [frame(1), frame(2), frame(3, 1514)]);
    const rx = createRxBatch(b, 8);
    assert.equal(b.receive(rx), 3);
    assert.equal(rx.buffer, b.buffer);
    assert.deepEqual(
      Array.from({ length: 3 }, (_, i) => rx.buffer[rx.offsets[i]! + 14]),
      [1, 2, 3],
    );
    assert.deepEqual(Array.from(rx.lengths.subarray(0, 3)), [60, 60, 1514]);
    b.releaseRx();
    assert.equal(b.receive(rx), 0);
    assert.deepEqual(a.stats(), { rxPackets: 0, rxKernelDrops: 0, txPackets: 3, txErrors: 0, txRingFull: 0 });
    assert.equal(b.stats().rxPackets, 3);
  });

  it('hands out at most the batch capacity and the rest on the next receive()', () => {
    const [a, b] = createFakePortPair();
    send(a, Array.from({ length: 10 }, (_, i) => frame(i)));
    const rx = createRxBatch(b, 4);
    const seen: number[] = [];
    for (let n = b.receive(rx); n > 0; n = b.receive(rx)) {
      for (let i = 0; i < n; i++) seen.push(rx.buffer[rx.offsets[i]! + 14]!);
      b.releaseRx();
    }
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('counts frames beyond a full receive queue as rxKernelDrops, like a full ring', () => {
    const [a, b] = createFakePortPair({ rxSlots: 4 });
    send(a, Array.from({ length: 6 }, (_, i) => frame(i)));
    assert.equal(b.stats().rxKernelDrops, 2);
    assert.equal(b.pendingFrames(), 4);
  });

  it('counts a bad length as txErrors and a short reservation as txRingFull', () => {
    const [a, b] = createFakePortPair({ txSlots: 2 });
    const tx = createTxBatch(a, 8);
    assert.equal(a.reserveTx(tx, 5), 2);
    tx.lengths[0] = 8;
    tx.lengths[1] = 60;
    a.sendTx(tx, 2);
    assert.equal(a.stats().txErrors, 1);
    assert.equal(a.stats().txRingFull, 3);
    assert.equal(b.pendingFrames(), 1);
  });

  it('tells waitReadable which fake ports have frames, without blocking', () => {
    const [a, b] = createFakePortPair();
    assert.equal(waitReadable([a, b], 1000), 0);
    send(a, [frame(7)]);
    assert.equal(waitReadable([a, b], 1000), 0b10);
  });
});
