/**
 * An in-memory FramePort pair for tests of the pipeline (the Open vSwitch netdev-dummy
 * idea): what one side sends, the other receives, with the same batch semantics and the
 * same counters as the real ports, and no root, no kernel, no native addon.
 *
 * Each port owns one buffer: rxSlots receive slots, then txSlots transmit slots.
 * sendTx() copies each frame into a free receive slot of the peer (the one copy a real
 * link makes too); when the peer has no free slot the frame is dropped and counted as
 * the peer's rxKernelDrops, as a full ring would. Nothing here blocks or uses timers:
 * tests decide when the pipeline runs. FakeSharedPort stands for the port that serves
 * many tenant interfaces (openSharedPacketPort).
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

/** A frame a FakeSharedPort sent, with the interface it was addressed to. */
export interface AddressedFrame {
  ifindex: number;
  frame: Uint8Array;
}

/**
 * The in-memory counterpart of openSharedPacketPort(): one port for many interfaces.
 * inject(frame, ifindex) stands for a frame arriving on interface `ifindex`; like the
 * kernel's eBPF filter, it takes only interfaces admit() named, and refuses the others
 * before they take ring space, without counting them. receive() says each frame's
 * interface in batch.sources. sendTx() records each frame with batch.targets[i] in
 * `sent` (copied), and counts as txErrors what the real port refuses before sendmmsg():
 * a bad length or target 0. Any other target is taken as an existing interface.
 *
 * A separate class, not a FakePort option, so that FakePort stays exactly as the
 * single-interface tests know it.
 */
export class FakeSharedPort implements FramePort {
  readonly name: string;
  /** Bound to no one interface, like the real shared port. */
  readonly ifindex = 0;
  readonly mac = new Uint8Array(6);
  readonly frameCapacity: number;
  readonly anyInterface = true;
  /** No descriptor: waitReadable() asks pendingFrames() instead. */
  readonly fd = -1;
  readonly buffer: Uint8Array;
  /** Every frame sent so far, in order; tests take them with sent.splice(0). */
  readonly sent: AddressedFrame[] = [];
  readonly #admitted = new Set<number>();
  readonly #slotSize: number;
  readonly #rxSlots: number;
  readonly #txSlots: number;
  readonly #rxLengths: Uint32Array;
  readonly #rxSources: Uint32Array;
  #rxHead = 0;
  #rxCount = 0;
  #rxDelivered = 0;
  #txReserved = 0;
  #closed = false;
  readonly #stats: PortStats = { rxPackets: 0, rxKernelDrops: 0, txPackets: 0, txErrors: 0, txRingFull: 0 };

  constructor(name = 'fake-shared', options: FakePortOptions = {}) {
    this.name = name;
    this.frameCapacity = options.frameCapacity ?? 1514;
    this.#rxSlots = options.rxSlots ?? 256;
    this.#txSlots = options.txSlots ?? 256;
    this.#slotSize = Math.ceil(this.frameCapacity / 64) * 64;
    this.buffer = new Uint8Array(this.#slotSize * (this.#rxSlots + this.#txSlots));
    this.#rxLengths = new Uint32Array(this.#rxSlots);
    this.#rxSources = new Uint32Array(this.#rxSlots);
  }

  /** Receive from `ifindex` from now on. */
  admit(ifindex: number): void {
    this.#admitted.add(ifindex);
  }

  /** Stop receiving from `ifindex`; frames already queued stay, as in the kernel's ring. */
  refuse(ifindex: number): void {
    this.#admitted.delete(ifindex);
  }

  admitted(ifindex: number): boolean {
    return this.#admitted.has(ifindex);
  }

  /** Frames queued and not yet handed out by receive(). */
  pendingFrames(): number {
    return this.#closed ? 0 : this.#rxCount - this.#rxDelivered;
  }

  /**
   * Queues a frame (copied) as if it had arrived on interface `ifindex`. Returns false
   * for an interface not admitted (not counted: the filter runs before the ring), and,
   * counting rxKernelDrops, when the queue is full or the port is closed.
   */
  inject(frame: Uint8Array, ifindex: number): boolean {
    if (!this.#admitted.has(ifindex)) return false;
    if (this.#closed || frame.length > this.frameCapacity || this.#rxCount === this.#rxSlots) {
      this.#stats.rxKernelDrops++;
      return false;
    }
    const slot = (this.#rxHead + this.#rxCount) % this.#rxSlots;
    this.buffer.set(frame, slot * this.#slotSize);
    this.#rxLengths[slot] = frame.length;
    this.#rxSources[slot] = ifindex;
    this.#rxCount++;
    return true;
  }

  receive(batch: RxBatch): number {
    batch.buffer = this.buffer;
    let n = Math.min(this.pendingFrames(), batch.offsets.length, batch.lengths.length);
    if (batch.sources) n = Math.min(n, batch.sources.length);
    for (let i = 0; i < n; i++) {
      const slot = (this.#rxHead + this.#rxDelivered + i) % this.#rxSlots;
      batch.offsets[i] = slot * this.#slotSize;
      batch.lengths[i] = this.#rxLengths[slot] ?? 0;
      if (batch.sources) batch.sources[i] = this.#rxSources[slot] ?? 0;
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
    const targets = batch.targets;
    // The real port throws too: without targets there is nowhere to send (createTxBatch adds them).
    if (!targets) throw new TypeError(`${this.name}: sendTx() on a port on many interfaces needs batch.targets`);
    const n = Math.max(0, Math.min(count, this.#txReserved, batch.lengths.length, targets.length));
    const base = this.#rxSlots * this.#slotSize;
    for (let i = 0; i < n; i++) {
      const length = batch.lengths[i] ?? 0;
      const target = targets[i] ?? 0;
      // The same checks, in the same place, as the real port's SendAddressed().
      if (length < ETHERNET_HEADER_LENGTH || length > this.frameCapacity || target === 0 || target > 0x7fffffff) {
        this.#stats.txErrors++;
        continue;
      }
      this.#stats.txPackets++;
      const start = base + i * this.#slotSize;
      this.sent.push({ ifindex: target, frame: this.buffer.slice(start, start + length) });
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
