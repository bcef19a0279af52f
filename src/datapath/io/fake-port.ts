/**
 * An in-memory FramePort pair for tests of the pipeline (the Open vSwitch netdev-dummy
 * idea): what one side sends, the other receives, with the same batch semantics and the
 * same counters as the real ports, and no root, no kernel, no native addon.
 *
 * Each port owns one buffer: rxSlots receive slots, then txSlots transmit slots.
 * sendTx() copies each frame into a free receive slot of the peer (the one copy a real
 * link makes too); when the peer has no free slot the frame is dropped and counted as
 * the peer's rxKernelDrops, as a full ring would. Nothing here blocks or uses timers:
 * tests decide when the pipeline runs.
 */
import type { FramePort, PortStats, RxBatch, TxBatch } from './frame-port.js';

export interface FakePortOptions {
  /** Largest frame, as frameCapacity. Default 1514. */
  frameCapacity?: number;
  /** Receive queue depth in frames. Default 256. */
  rxSlots?: number;
  /** Transmit slots, the largest reservation. Default 256. */
  txSlots?: number;
}

const ETHERNET_HEADER_LENGTH = 14;

export class FakePort implements FramePort {
  readonly name: string;
  readonly ifindex: number;
  readonly mac: Uint8Array;
  readonly frameCapacity: number;
  /** No descriptor: waitReadable() asks pendingFrames() instead. */
  readonly fd = -1;
  readonly buffer: Uint8Array;
  #peer: FakePort | undefined;
  readonly #slotSize: number;
  readonly #rxSlots: number;
  readonly #txSlots: number;
  readonly #rxLengths: Uint32Array;
  #rxHead = 0;
  #rxCount = 0;
  #rxDelivered = 0;
  #txReserved = 0;
  #closed = false;
  readonly #stats: PortStats = { rxPackets: 0, rxKernelDrops: 0, txPackets: 0, txErrors: 0, txRingFull: 0 };

  constructor(name: string, ifindex: number, mac: Uint8Array, options: FakePortOptions = {}) {
    this.name = name;
    this.ifindex = ifindex;
    this.mac = mac;
    this.frameCapacity = options.frameCapacity ?? 1514;
    this.#rxSlots = options.rxSlots ?? 256;
    this.#txSlots = options.txSlots ?? 256;
    this.#slotSize = Math.ceil(this.frameCapacity / 64) * 64;
    this.buffer = new Uint8Array(this.#slotSize * (this.#rxSlots + this.#txSlots));
    this.#rxLengths = new Uint32Array(this.#rxSlots);
  }

  /** The other end of the link; undefined for a port made alone (frames sent are lost). */
  get peer(): FakePort | undefined {
    return this.#peer;
  }

  connect(peer: FakePort): void {
    this.#peer = peer;
  }

  /** Frames queued and not yet handed out by receive(). */
  pendingFrames(): number {
    return this.#closed ? 0 : this.#rxCount - this.#rxDelivered;
  }

  /**
   * Queues a frame as if it had arrived on the wire (copied). Returns false, counting
   * rxKernelDrops, when the receive queue is full or the port is closed.
   */
  inject(frame: Uint8Array): boolean {
    if (this.#closed || frame.length > this.frameCapacity || this.#rxCount === this.#rxSlots) {
      this.#stats.rxKernelDrops++;
      return false;
    }
    const slot = (this.#rxHead + this.#rxCount) % this.#rxSlots;
    this.buffer.set(frame, slot * this.#slotSize);
    this.#rxLengths[slot] = frame.length;
    this.#rxCount++;
    return true;
  }

  receive(batch: RxBatch): number {
    batch.buffer = this.buffer;
    const n = Math.min(this.pendingFrames(), batch.offsets.length, batch.lengths.length);
    for (let i = 0; i < n; i++) {
      const slot = (this.#rxHead + this.#rxDelivered + i) % this.#rxSlots;
      batch.offsets[i] = slot * this.#slotSize;
      batch.lengths[i] = this.#rxLengths[slot] ?? 0;
    }
    this.#rxDelivered += n;
    this.#stats.rxPackets += n;
    batch.count = n;
    return n;
  }

  releaseRx(): void {
    this.#rxHead = (this.#rxHead + this.#rxDelivered) % this.#rxSlots;
    this.#rxCount -= this.#rxDelivered;
    this.#rxDelivered = 0;
  }

  reserveTx(batch: TxBatch, n: number): number {
    batch.buffer = this.buffer;
    const got = this.#closed ? 0 : Math.max(0, Math.min(n, this.#txSlots, batch.offsets.length));
    const base = this.#rxSlots * this.#slotSize;
    for (let i = 0; i < got; i++) batch.offsets[i] = base + i * this.#slotSize;
    if (n > got) this.#stats.txRingFull += n - got;
    this.#txReserved = got;
    batch.count = got;
    return got;
  }

  sendTx(batch: TxBatch, count: number): void {
    const n = Math.max(0, Math.min(count, this.#txReserved, batch.lengths.length));
    const base = this.#rxSlots * this.#slotSize;
    for (let i = 0; i < n; i++) {
      const length = batch.lengths[i] ?? 0;
      if (length < ETHERNET_HEADER_LENGTH || length > this.frameCapacity) {
        this.#stats.txErrors++;
        continue;
      }
      this.#stats.txPackets++;
      const start = base + i * this.#slotSize;
      this.#peer?.inject(this.buffer.subarray(start, start + length));
    }
    this.#txReserved = 0;
    batch.count = 0;
  }

  stats(): PortStats {
    return { ...this.#stats };
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
  }
}

let nextFakeIndex = 1;

/**
 * Two connected fake ports, "fake0" and "fake1" unless named: locally administered MACs
 * 02:00:00:00:xx:01 and :02, distinct ifindexes.
 */
export function createFakePortPair(options: FakePortOptions & { names?: [string, string] } = {}): [FakePort, FakePort] {
  const { names = ['fake0', 'fake1'], ...portOptions } = options;
  const id = nextFakeIndex++ & 0xff;
  const a = new FakePort(names[0], 1000 + 2 * id, Uint8Array.of(0x02, 0, 0, 0, id, 1), portOptions);
  const b = new FakePort(names[1], 1001 + 2 * id, Uint8Array.of(0x02, 0, 0, 0, id, 2), portOptions);
  a.connect(b);
  b.connect(a);
  return [a, b];
}
