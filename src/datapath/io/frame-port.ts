/**
 * The data path's I/O port: where frames enter and leave nvgw, on the fabric (PA
 * interface) and on each tenant interface. Batched and zero-copy by design: one native
 * call receives a whole batch as offsets into the port's own receive memory, and one
 * native call sends a whole batch written straight into the port's transmit memory. The
 * per-packet work between the two calls is TypeScript on those bytes; nothing crosses
 * between JS and native code per packet.
 */

/** Received frames: views into the port's receive memory, valid until releaseRx(). */
export interface RxBatch {
  /** The memory the offsets point into (the same object on every call). */
  buffer: Uint8Array;
  /** Capacity is the largest batch the caller accepts. */
  offsets: Uint32Array;
  lengths: Uint32Array;
  /** Ports on many interfaces (FramePort.anyInterface): the ifindex each frame arrived on. */
  sources?: Uint32Array;
  count: number;
}

/** Reserved transmit slots: the caller writes frame i at buffer[offsets[i]..] and sets lengths[i]. */
export interface TxBatch {
  buffer: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  /** Ports on many interfaces (FramePort.anyInterface): the ifindex each frame goes out on. */
  targets?: Uint32Array;
  count: number;
}

export interface PortStats {
  rxPackets: number;
  /** Frames the kernel dropped because the receive ring was full (PACKET_STATISTICS). */
  rxKernelDrops: number;
  txPackets: number;
  /** Frames the kernel refused to send (TP_STATUS_WRONG_FORMAT, write errors). */
  txErrors: number;
  /** Frames not sent because the transmit ring had no free slot. */
  txRingFull: number;
}

export interface FramePort {
  readonly name: string;
  readonly ifindex: number;
  /** The interface's MAC, 6 bytes. */
  readonly mac: Uint8Array;
  /** Largest frame a transmit slot holds. */
  readonly frameCapacity: number;
  /**
   * True for a port that serves many interfaces (one receive ring and one transmit
   * socket for all the tenants): its batches carry an ifindex per frame.
   */
  readonly anyInterface?: boolean;
  /** File descriptor to wait on (see waitReadable). */
  readonly fd: number;
  /** Fills `batch` with up to batch.offsets.length frames; returns batch.count. Never blocks. */
  receive(batch: RxBatch): number;
  /** Gives the frames of the last receive() back to the kernel. */
  releaseRx(): void;
  /** Reserves up to `n` free transmit slots into `batch` (fewer when the ring is full); returns batch.count. */
  reserveTx(batch: TxBatch, n: number): number;
  /** Sends the first `count` reserved slots (lengths[i] bytes each) with one kick; the rest go back unused. */
  sendTx(batch: TxBatch, count: number): void;
  stats(): PortStats;
  close(): void;
}

export function createRxBatch(port: FramePort, capacity: number): RxBatch {
  const batch: RxBatch = { buffer: new Uint8Array(0), offsets: new Uint32Array(capacity), lengths: new Uint32Array(capacity), count: 0 };
  if (port.anyInterface === true) batch.sources = new Uint32Array(capacity);
  return batch;
}

export function createTxBatch(port: FramePort, capacity: number): TxBatch {
  const batch: TxBatch = { buffer: new Uint8Array(0), offsets: new Uint32Array(capacity), lengths: new Uint32Array(capacity), count: 0 };
  if (port.anyInterface === true) batch.targets = new Uint32Array(capacity);
  return batch;
}
