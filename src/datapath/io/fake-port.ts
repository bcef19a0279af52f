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
  /** The interface each queued frame arrived on (FakeSharedPort; 0 on a plain port). */
  readonly #rxSources: Uint32Array;
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
    this.#rxSources = new Uint32Array(this.#rxSlots);
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
    return this.queue(frame, 0);
  }

  /** inject() for a frame that arrived on interface `source`. */
  protected queue(frame: Uint8Array, source: number): boolean {
    if (this.#closed || frame.length > this.frameCapacity || this.#rxCount === this.#rxSlots) {
      this.#stats.rxKernelDrops++;
      return false;
    }
    const slot = (this.#rxHead + this.#rxCount) % this.#rxSlots;
    this.buffer.set(frame, slot * this.#slotSize);
    this.#rxLengths[slot] = frame.length;
    this.#rxSources[slot] = source;
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
    const n = Math.max(0, Math.min(count, this.#txReserved, batch.lengths.length));
    const base = this.#rxSlots * this.#slotSize;
    for (let i = 0; i < n; i++) {
      const length = batch.lengths[i] ?? 0;
      if (length < ETHERNET_HEADER_LENGTH || length > this.frameCapacity) {
        this.#stats.txErrors++;
        continue;
      }
      const start = base + i * this.#slotSize;
      if (!this.deliver(batch, i, this.buffer.subarray(start, start + length))) {
        this.#stats.txErrors++;
        continue;
      }
      this.#stats.txPackets++;
    }
    this.#txReserved = 0;
    batch.count = 0;
  }

  /** Where sendTx() puts frame `i` of the batch (a view of the slot); false: refused, counted in txErrors. */
  protected deliver(_batch: TxBatch, _i: number, frame: Uint8Array): boolean {
    this.#peer?.inject(frame);
    return true;
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
 * The in-memory counterpart of openSharedPacketPort(): one port for many interfaces, on
 * FakePort's queue. inject(frame, ifindex) stands for a frame arriving on interface
 * `ifindex`; like the kernel's eBPF filter, it takes only interfaces admit() named, and
 * refuses the others before they take ring space, without counting them. receive() says
 * each frame's interface in batch.sources. sendTx() records each frame with
 * batch.targets[i] in `sent` (copied), and counts as txErrors what the real port refuses
 * before sendmmsg(): a bad length or target 0. Any other target is taken as an existing
 * interface.
 */
export class FakeSharedPort extends FakePort {
  readonly anyInterface = true;
  /** Every frame sent so far, in order; tests take them with sent.splice(0). */
  readonly sent: AddressedFrame[] = [];
  readonly #admitted = new Set<number>();

  /** Bound to no one interface, like the real shared port: ifindex 0, no MAC. */
  constructor(name = 'fake-shared', options: FakePortOptions = {}) {
    super(name, 0, new Uint8Array(6), options);
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

  /**
   * Queues a frame (copied) as if it had arrived on interface `ifindex`. Returns false
   * for an interface not admitted (not counted: the filter runs before the ring), and,
   * counting rxKernelDrops, when the queue is full or the port is closed.
   */
  override inject(frame: Uint8Array, ifindex = 0): boolean {
    return this.#admitted.has(ifindex) && this.queue(frame, ifindex);
  }

  override sendTx(batch: TxBatch, count: number): void {
    // The real port throws too: without targets there is nowhere to send (createTxBatch adds them).
    if (!batch.targets) throw new TypeError(`${this.name}: sendTx() on a port on many interfaces needs batch.targets`);
    super.sendTx(batch, Math.min(count, batch.targets.length));
  }

  /** The real port's SendAddressed() check: target 0 (or beyond an ifindex) is refused. */
  protected override deliver(batch: TxBatch, i: number, frame: Uint8Array): boolean {
    const target = batch.targets![i] ?? 0;
    if (target === 0 || target > 0x7fffffff) return false;
    this.sent.push({ ifindex: target, frame: frame.slice() });
    return true;
  }
}
