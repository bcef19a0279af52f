/**
 * The AF_PACKET FramePort: a TPACKET_V3 receive ring and a TPACKET_V2 transmit ring on
 * one interface (packet(7); the kernel's Documentation/networking/packet_mmap.rst),
 * mapped once and seen from JavaScript as one Uint8Array. receive() and reserveTx() hand
 * out offsets into that array; no frame is copied between the kernel's ring and the
 * TypeScript that parses or builds it.
 *
 * Lifetimes and contracts the caller relies on:
 * - RX offsets stay valid until releaseRx(). releaseRx() returns whole blocks, so a
 *   caller must not hold frames across it (copy what must outlive the batch).
 * - TX offsets point at the data area of a slot (16-byte aligned, 32 bytes into the
 *   slot); at most frameCapacity bytes. One reservation at a time: reserveTx() again
 *   before sendTx() starts over at the same slots.
 * - A kick that met EAGAIN/ENOBUFS leaves its frames queued in the ring (counted in
 *   txKickRetries); the next reserveTx() or sendTx() kicks again, so an idle loop should
 *   call sendTx(batch, 0) now and then to flush.
 * - A port on any interface (openSharedPacketPort) has no TX ring: sendTx() sends with
 *   one sendmmsg() and nothing stays queued. A frame refused for its interface counts in
 *   txKickErrors and the batch goes on; a full send buffer or device queue ends the batch
 *   and the frames not sent count in txRingFull.
 * - Single-threaded: a port belongs to the thread (main or worker) that opened it.
 * - close() detaches the buffer (views read as length 0) before unmapping it.
 */
import type { FramePort, PortStats, RxBatch, TxBatch } from './frame-port.js';
import { packBpf, type BpfInstruction } from './bpf.js';
import { loadNative, type NativePacketDescription, type NativePacketOptions, type NativePort } from './native.js';

export type FanoutMode = 'hash' | 'lb' | 'cpu' | 'rollover' | 'random' | 'qm';

const FANOUT_MODES: Record<FanoutMode, number> = { hash: 0, lb: 1, cpu: 2, rollover: 3, random: 4, qm: 5 };
const PACKET_FANOUT_FLAG_ROLLOVER = 0x1000;
const PACKET_FANOUT_FLAG_DEFRAG = 0x8000;

export interface PacketPortOptions {
  /**
   * frames (default): TPACKET_V2, each frame handed over and woken for on its own, so
   * nothing waits at light load. blocks: TPACKET_V3, frames packed into blocks handed over
   * when full or after rxBlockTimeoutMs -- denser for small frames, but that timeout is
   * added latency at light load (native/packet_port.cc).
   */
  rxMode?: 'frames' | 'blocks';
  /** frames mode: slot size; default from the interface's MTU (MTU + 14 + the header, 64-byte multiple). */
  rxFrameSize?: number;
  /** Ring block size in bytes: a power of two, a multiple of the page size. Default 128 KiB. */
  rxBlockSize?: number;
  /** Number of RX blocks. Default 32 (4 MiB with the default block size). */
  rxBlockCount?: number;
  /**
   * A block that is not full is handed over after this many milliseconds: the bound on
   * added latency at light load. Default 2.
   */
  rxBlockTimeoutMs?: number;
  /** TX slot size (header + data), a multiple of 16. Default 2048 (1514-byte frames at MTU 1500). */
  txFrameSize?: number;
  /** Number of TX slots (rounded up to fill whole blocks). Default 512. */
  txFrameCount?: number;
  /** Classic BPF program run before a frame takes ring space (see fabricFilter). */
  filter?: readonly BpfInstruction[];
  /**
   * An eBPF socket-filter program (BPF_PROG_TYPE_SOCKET_FILTER) by file descriptor, such
   * as a flow claim's socketFilterFd: attached with SO_ATTACH_BPF before the socket is
   * bound, so no frame it refuses ever enters the ring. The socket holds its own
   * reference; the caller may close the fd afterwards. Not with `filter` (a socket runs
   * one filter).
   */
  bpfProgramFd?: number;
  /** PACKET_QDISC_BYPASS on the TX socket. Default true. */
  qdiscBypass?: boolean;
  /** PACKET_IGNORE_OUTGOING on the RX socket (Linux >= 4.20). Default true. */
  ignoreOutgoing?: boolean;
  /**
   * What to do with a frame that arrived with an 802.1Q tag, which the kernel strips into
   * metadata before packet sockets see it: 'drop' refuses and counts it (rxVlanDropped),
   * so a port never mistakes another VLAN's traffic for untagged; 'inline' puts the tag
   * back into the frame (for a VLAN trunk carrying many tenants on one port). Default 'drop'.
   */
  vlanTags?: 'drop' | 'inline';
  /**
   * Finish the TCP/UDP checksum of an IPv4 frame that arrives with a partial one
   * (CHECKSUM_PARTIAL: a local sender's, through veth, or a virtio host's) before handing it
   * over, for frames that leave by a path that will not finish it (translated and sent on,
   * or encapsulated). A partial frame that is not IPv4 TCP/UDP is refused and counted.
   * Default false: such frames are delivered as they are and counted (rxChecksumPartial).
   */
  completeChecksums?: boolean;
  /** Put the interface in promiscuous mode while the port is open. Default false. */
  promiscuous?: boolean;
  /**
   * PACKET_FANOUT: ports in this process that join the same group on the same interface
   * share its received traffic, for one worker per core (packet_mmap.rst, "AF_PACKET
   * fanout mode"). Transmit is per port and unaffected.
   */
  fanout?: { group: number; mode?: FanoutMode; rollover?: boolean; defrag?: boolean };
}

export interface PacketPortStats extends PortStats {
  rxBytes: number;
  txBytes: number;
  /** Frames larger than an RX block (GRO/GSO super-frames): counted, not delivered. */
  rxTruncated: number;
  /** Frames that carried an 802.1Q tag, refused (vlanTags 'drop'). */
  rxVlanDropped: number;
  /** Frames delivered with CHECKSUM_PARTIAL (the sender offloaded its L4 checksum). */
  rxChecksumPartial: number;
  /** Times the kernel found the ring full and froze it (tp_freeze_q_cnt). */
  rxQueueFreezes: number;
  /** Kicks answered EAGAIN/ENOBUFS; the frames stayed queued for the next kick. */
  txKickRetries: number;
  /** Kicks that failed otherwise (ENETDOWN, ENXIO). */
  txKickErrors: number;
  /** Partial checksums finished before delivery (completeChecksums). */
  rxChecksumCompleted: number;
  /** Partial-checksum frames refused because they were not IPv4 TCP/UDP (completeChecksums). */
  rxChecksumUncompletable: number;
}

/** Field order of the addon's stats array (native/packet_port.h, enum PacketStat). */
const PACKET_STAT_FIELDS = [
  'rxPackets',
  'rxBytes',
  'rxKernelDrops',
  'txPackets',
  'txBytes',
  'txErrors',
  'txRingFull',
  'rxTruncated',
  'rxVlanDropped',
  'rxChecksumPartial',
  'rxQueueFreezes',
  'txKickRetries',
  'txKickErrors',
  'rxChecksumCompleted',
  'rxChecksumUncompletable',
] as const satisfies readonly (keyof PacketPortStats)[];

export class PacketPort implements FramePort {
  readonly name: string;
  readonly ifindex: number;
  readonly mac: Uint8Array;
  readonly frameCapacity: number;
  readonly fd: number;
  readonly mtu: number;
  /** The one buffer: RX ring, then TX ring. Every offset handed out indexes it. */
  readonly buffer: Uint8Array;
  readonly anyInterface: boolean;
  readonly geometry: Readonly<Omit<NativePacketDescription, 'buffer' | 'fd' | 'ifindex' | 'mtu' | 'mac' | 'frameCapacity'>>;
  readonly #native: NativePort<NativePacketDescription>;
  readonly #stats = new Float64Array(PACKET_STAT_FIELDS.length);
  #closed = false;

  constructor(name: string, native: NativePort<NativePacketDescription>) {
    const d = native.describe();
    if (d === null) throw new Error(`packet port ${name}: the addon returned no description`);
    this.name = name;
    this.#native = native;
    this.buffer = new Uint8Array(d.buffer);
    this.fd = d.fd;
    this.ifindex = d.ifindex;
    this.mtu = d.mtu;
    this.mac = d.mac;
    this.frameCapacity = d.frameCapacity;
    this.anyInterface = d.anyInterface === true;
    this.geometry = {
      rxRingBytes: d.rxRingBytes,
      rxMode: d.rxMode,
      rxFrameSize: d.rxFrameSize,
      rxFrameCount: d.rxFrameCount,
      rxBlockSize: d.rxBlockSize,
      rxBlockCount: d.rxBlockCount,
      txRingBytes: d.txRingBytes,
      txFrameSize: d.txFrameSize,
      txSlots: d.txSlots,
      txDataOffset: d.txDataOffset,
    };
  }

  receive(batch: RxBatch): number {
    batch.buffer = this.buffer;
    const n = this.#native.receive(batch.offsets, batch.lengths, batch.sources);
    batch.count = n;
    return n;
  }

  releaseRx(): void {
    this.#native.releaseRx();
  }

  reserveTx(batch: TxBatch, n: number): number {
    batch.buffer = this.buffer;
    const got = this.#native.reserveTx(batch.offsets, n);
    batch.count = got;
    return got;
  }

  sendTx(batch: TxBatch, count: number): void {
    this.#native.sendTx(batch.lengths, count, batch.targets);
    batch.count = 0;
  }

  stats(): PacketPortStats {
    this.#native.stats(this.#stats);
    const out = {} as PacketPortStats;
    PACKET_STAT_FIELDS.forEach((field, i) => (out[field] = this.#stats[i] ?? 0));
    return out;
  }

  /** Port on any interface: receive from `ifindex` from now on. */
  admit(ifindex: number): void {
    this.#native.admit!(ifindex);
  }

  /** Port on any interface: stop receiving from `ifindex` (frames already in the ring stay). */
  refuse(ifindex: number): void {
    this.#native.refuse!(ifindex);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Unmaps the rings and closes both sockets; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
  }
}

/**
 * Opens an AF_PACKET port on `ifname` in the caller's network namespace. Needs
 * CAP_NET_RAW (CAP_NET_ADMIN too for promiscuous). Throws a PortOpenError (code ENODEV
 * for a missing interface, EPERM without the capability) naming the interface.
 */
export function openPacketPort(ifname: string, options: PacketPortOptions = {}): PacketPort {
  const { filter, fanout, vlanTags, ...rest } = options;
  const native: NativePacketOptions = { ...rest, vlanInline: vlanTags === 'inline' };
  if (filter !== undefined) native.filter = packBpf(filter);
  if (fanout !== undefined) {
    native.fanoutGroup = fanout.group;
    native.fanoutMode = FANOUT_MODES[fanout.mode ?? 'hash'];
    native.fanoutFlags = (fanout.rollover === true ? PACKET_FANOUT_FLAG_ROLLOVER : 0) | (fanout.defrag === true ? PACKET_FANOUT_FLAG_DEFRAG : 0);
  }
  const { PacketPort: NativePacketPort } = loadNative();
  return new PacketPort(ifname, new NativePacketPort(ifname, native));
}

export interface SharedPacketPortOptions {
  /** Largest MTU among the interfaces served: sizes receive and transmit slots. */
  mtu: number;
  /** Room in the kernel filter's map. Default 65536. */
  maxInterfaces?: number;
  /** Receive ring: blocks of 128 KiB. Default 32 (4 MiB). */
  rxBlockCount?: number;
  /** Transmit staging slots, the largest batch sendTx() takes. Default 256. */
  txFrameCount?: number;
}

/**
 * Opens one AF_PACKET port for many interfaces: a receive ring bound to every interface
 * of the namespace, filtered in the kernel to those admit() named (an eBPF map keyed by
 * ifindex), whose batches carry each frame's ifindex in `sources`; and a transmit
 * socket that sends each frame of a batch to the interface in `targets`. It replaces one
 * port per interface where there are thousands: one descriptor to wait on, one ring
 * mapped, nothing to open or close when an interface comes or goes. Needs CAP_NET_RAW
 * and CAP_BPF (or CAP_SYS_ADMIN); `label` names it in errors.
 */
export function openSharedPacketPort(label: string, options: SharedPacketPortOptions): PacketPort {
  const { PacketPort: NativePacketPort } = loadNative();
  const native: NativePacketOptions = {
    anyInterface: true,
    mtu: options.mtu,
    maxInterfaces: options.maxInterfaces ?? 65536,
    rxBlockSize: 1 << 17,
    rxBlockCount: options.rxBlockCount ?? 32,
    txFrameCount: options.txFrameCount ?? 256,
  };
  return new PacketPort(label, new NativePacketPort(label, native));
}
