/**
 * The tap FramePort: one queue of a Linux tap device (/dev/net/tun with IFF_TAP |
 * IFF_NO_PI, non-blocking; the kernel's Documentation/networking/tuntap.rst). The tun
 * driver moves one frame per read()/write(), so the addon loops those syscalls for a
 * whole batch inside one native call; frames land in (and are sent from) fixed slots of
 * the port's own buffer.
 *
 * Contracts:
 * - RX offsets stay valid until the next receive() (releaseRx() has nothing to give back:
 *   read() already copied the frame out of the kernel).
 * - TX offsets are slot data areas (16 bytes into a 64-byte-aligned slot). With
 *   vnetHdr, the virtio_net_hdr for frame i is the 12 bytes before offsets[i]: zero
 *   (no offload) unless the caller writes one.
 * - Single-threaded, like every port. For several queues of one device, open one port
 *   per queue with multiQueue, each in its own worker.
 */
import type { FramePort, PortStats, RxBatch, TxBatch } from './frame-port.js';
import { loadNative, type NativePort, type NativeTapDescription, type NativeTapOptions } from './native.js';

/** TUN_F_* offload bits for TapPortOptions.offloads (include/uapi/linux/if_tun.h). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;

export interface TapPortOptions {
  /** IFF_VNET_HDR: every frame is preceded by a 12-byte virtio_net_hdr. Default false. */
  vnetHdr?: boolean;
  /** IFF_MULTI_QUEUE: this port is one of several queues of the device. Default false. */
  multiQueue?: boolean;
  /** TUNSETPERSIST: the device outlives the port, so a restarted gateway finds it. Default false. */
  persist?: boolean;
  /** Create the device when it does not exist. Default true; false makes a missing tap ENODEV. */
  create?: boolean;
  /** TUN_F_* bits (needs vnetHdr): checksum/TSO work the kernel may leave to us. Default 0. */
  offloads?: number;
  /** Bytes per slot, a multiple of 64; a frame gets slotSize - 16. Default 2048. */
  slotSize?: number;
  /** Receive slots: the largest batch receive() fills. Default 256. */
  rxSlots?: number;
  /** Transmit slots: the largest batch reserveTx() hands out. Default 256. */
  txSlots?: number;
}

export interface TapPortStats extends PortStats {
  rxBytes: number;
  txBytes: number;
  /** Reads that failed (a frame larger than a slot is lost this way). */
  rxErrors: number;
}

/** Field order of the addon's stats array (native/tap_port.h, enum TapStat). */
const TAP_STAT_FIELDS = [
  'rxPackets',
  'rxBytes',
  'rxKernelDrops',
  'txPackets',
  'txBytes',
  'txErrors',
  'txRingFull',
  'rxErrors',
] as const satisfies readonly (keyof TapPortStats)[];

export class TapPort implements FramePort {
  readonly name: string;
  readonly ifindex: number;
  readonly mac: Uint8Array;
  readonly frameCapacity: number;
  readonly fd: number;
  readonly mtu: number;
  readonly buffer: Uint8Array;
  /** 12 with vnetHdr (the header sits right before each frame), else 0. */
  readonly vnetHeaderLength: number;
  readonly rxSlots: number;
  readonly txSlots: number;
  readonly #native: NativePort<NativeTapDescription>;
  readonly #stats = new Float64Array(TAP_STAT_FIELDS.length);
  #closed = false;

  constructor(native: NativePort<NativeTapDescription>) {
    const d = native.describe();
    if (d === null) throw new Error('tap port: the addon returned no description');
    this.#native = native;
    this.name = d.name;
    this.buffer = new Uint8Array(d.buffer);
    this.fd = d.fd;
    this.ifindex = d.ifindex;
    this.mtu = d.mtu;
    this.mac = d.mac;
    this.frameCapacity = d.frameCapacity;
    this.vnetHeaderLength = d.vnetHeaderLength;
    this.rxSlots = d.rxSlots;
    this.txSlots = d.txSlots;
  }

  receive(batch: RxBatch): number {
    batch.buffer = this.buffer;
    const n = this.#native.receive(batch.offsets, batch.lengths);
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
    this.#native.sendTx(batch.lengths, count);
    batch.count = 0;
  }

  stats(): TapPortStats {
    this.#native.stats(this.#stats);
    const out = {} as TapPortStats;
    TAP_STAT_FIELDS.forEach((field, i) => (out[field] = this.#stats[i] ?? 0));
    return out;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the queue; a non-persistent tap disappears with its last queue. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
  }
}

/**
 * Opens (creating unless options.create is false) the tap `name` in the caller's network
 * namespace. Needs CAP_NET_ADMIN to create or attach. The device starts down; bringing
 * it up and addressing it is the kernel adapter's job. Throws a PortOpenError naming the
 * device (ENODEV when missing and create is false; EBUSY when a single-queue tap already
 * has a reader; EINVAL when the name is some other kind of device).
 */
export function openTapPort(name: string, options: TapPortOptions = {}): TapPort {
  const { TapPort: NativeTapPort } = loadNative();
  const native: NativeTapOptions = { ...options };
  return new TapPort(new NativeTapPort(name, native));
}

/**
 * Deletes a tap by clearing its persist flag: it disappears at once when no queue is
 * open, otherwise when the last one closes. Returns false when no such device exists.
 */
export function deleteTap(name: string): boolean {
  return loadNative().deleteTap(name);
}
