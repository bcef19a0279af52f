/**
 * An in-memory FramePort for unit tests of the pipeline: frames "sent" are recorded and
 * frames "received" are injected, with the same batch and slot semantics as the real
 * ports (fixed receive and transmit slots, reserve/send, release).
 */
import type { FramePort, PortStats, RxBatch, TxBatch } from '../../src/datapath/io/frame-port.js';

const SLOT = 2048;

export class MemoryPort implements FramePort {
  readonly fd = -1;
  readonly ifindex: number;
  readonly frameCapacity: number;
  readonly sent: Buffer[] = [];
  private readonly pending: Uint8Array[] = [];
  private readonly rxMemory: Uint8Array;
  private readonly txMemory: Uint8Array;
  private readonly txSlots: number;
  private txInUse = 0;
  private readonly counters: PortStats = { rxPackets: 0, rxKernelDrops: 0, txPackets: 0, txErrors: 0, txRingFull: 0 };

  constructor(
    readonly name: string,
    readonly mac: Uint8Array,
    options: { rxSlots?: number; txSlots?: number; frameCapacity?: number; ifindex?: number } = {},
  ) {
    this.ifindex = options.ifindex ?? 1;
    this.frameCapacity = options.frameCapacity ?? 1514 + 42;
    this.rxMemory = new Uint8Array((options.rxSlots ?? 256) * SLOT);
    this.txSlots = options.txSlots ?? 256;
    this.txMemory = new Uint8Array(this.txSlots * SLOT);
  }

  /** Queues frames as if the kernel had delivered them. */
  inject(...frames: (Uint8Array | string)[]): void {
    for (const frame of frames) this.pending.push(typeof frame === 'string' ? Buffer.from(frame.replace(/\s+/g, ''), 'hex') : frame);
  }

  /** Takes and clears what was sent so far. */
  drain(): Buffer[] {
    return this.sent.splice(0);
  }

  receive(batch: RxBatch): number {
    batch.buffer = this.rxMemory;
    let n = 0;
    while (n < batch.offsets.length && this.pending.length > 0 && n * SLOT < this.rxMemory.length) {
      const frame = this.pending.shift()!;
      this.rxMemory.set(frame, n * SLOT);
      batch.offsets[n] = n * SLOT;
      batch.lengths[n] = frame.length;
      n++;
    }
    batch.count = n;
    this.counters.rxPackets += n;
    return n;
  }

  releaseRx(): void {}

  reserveTx(batch: TxBatch, n: number): number {
    batch.buffer = this.txMemory;
    let count = 0;
    while (count < n && count < batch.offsets.length && this.txInUse + count < this.txSlots) {
      batch.offsets[count] = (this.txInUse + count) * SLOT;
      count++;
    }
    if (count < n) this.counters.txRingFull++;
    this.txInUse += count;
    batch.count = count;
    return count;
  }

  sendTx(batch: TxBatch, count: number): void {
    for (let i = 0; i < count; i++) {
      const offset = batch.offsets[i]!;
      this.sent.push(Buffer.from(this.txMemory.slice(offset, offset + batch.lengths[i]!)));
    }
    this.counters.txPackets += count;
    // Slots go back as a real ring's would once the kernel has sent them.
    this.txInUse = 0;
    batch.count = 0;
  }

  stats(): PortStats {
    return { ...this.counters };
  }

  close(): void {}
}

export const mac = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/[:-]/g, ''), 'hex'));
