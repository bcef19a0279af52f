/**
 * Loads the nvgw_io native addon (native/, built by node-gyp into build/Release) and
 * describes its raw surface. Only the port modules use this; the rest of the data path
 * sees FramePort.
 *
 * The addon is loaded on first use, not at import, so that code which only needs the
 * types or the fake port (unit tests of the pipeline) runs without a native build.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the addon's describe() reports about an open packet port. */
export interface NativePacketDescription {
  buffer: ArrayBuffer;
  fd: number;
  ifindex: number;
  mtu: number;
  mac: Uint8Array;
  frameCapacity: number;
  rxRingBytes: number;
  rxMode: 'frames' | 'blocks';
  rxFrameSize: number;
  rxFrameCount: number;
  rxBlockSize: number;
  rxBlockCount: number;
  txRingBytes: number;
  txFrameSize: number;
  txSlots: number;
  txDataOffset: number;
  anyInterface?: boolean;
}

export interface NativeTapDescription {
  buffer: ArrayBuffer;
  name: string;
  fd: number;
  ifindex: number;
  mtu: number;
  mac: Uint8Array;
  frameCapacity: number;
  slotSize: number;
  rxSlots: number;
  txSlots: number;
  frameOffset: number;
  vnetHeaderLength: number;
}

/** The per-batch calls shared by both port kinds. */
export interface NativePort<D> {
  describe(): D | null;
  receive(offsets: Uint32Array, lengths: Uint32Array, sources?: Uint32Array): number;
  releaseRx(): void;
  reserveTx(offsets: Uint32Array, n: number): number;
  sendTx(lengths: Uint32Array, count: number, targets?: Uint32Array): void;
  stats(out: Float64Array): void;
  close(): void;
  /** Packet ports opened on any interface only. */
  admit?(ifindex: number): void;
  refuse?(ifindex: number): void;
}

export interface NativePacketOptions {
  anyInterface?: boolean;
  maxInterfaces?: number;
  mtu?: number;
  rxMode?: 'frames' | 'blocks';
  rxFrameSize?: number;
  rxBlockSize?: number;
  rxBlockCount?: number;
  rxBlockTimeoutMs?: number;
  txFrameSize?: number;
  txFrameCount?: number;
  qdiscBypass?: boolean;
  ignoreOutgoing?: boolean;
  vlanInline?: boolean;
  promiscuous?: boolean;
  filter?: Uint32Array;
  bpfProgramFd?: number;
  completeChecksums?: boolean;
  fanoutGroup?: number;
  fanoutMode?: number;
  fanoutFlags?: number;
}

export interface NativeTapOptions {
  vnetHdr?: boolean;
  multiQueue?: boolean;
  persist?: boolean;
  create?: boolean;
  offloads?: number;
  slotSize?: number;
  rxSlots?: number;
  txSlots?: number;
}

/** The addon's FlowClaim (native/flow_claim.cc): addresses and ports in host order. */
export interface NativeFlowClaim {
  socketFilterFd(): number;
  attachIngress(ifindex: number): void;
  detachIngress(): void;
  set(src: number, dst: number, srcPort: number, dstPort: number, protocol: number, bits: number): void;
  delete(src: number, dst: number, srcPort: number, dstPort: number, protocol: number): boolean;
  close(): void;
}

export interface NativeModule {
  PacketPort: new (ifname: string, options: NativePacketOptions) => NativePort<NativePacketDescription>;
  TapPort: new (name: string, options: NativeTapOptions) => NativePort<NativeTapDescription>;
  FlowClaim: new (options: { maxEntries: number; maxFrameLength: number }) => NativeFlowClaim;
  /** Every interface of the calling thread's namespace: name -> ifindex. */
  interfaceIndexes(): Record<string, number>;
  /** `ethtool -K ifname tx off tso off gso off`, by ioctl. */
  disableOffloads(ifname: string): void;
  waitReadable(fds: Int32Array, count: number, timeoutMs: number): number;
  /** Waits until any of the first `count` descriptors is readable; returns how many are (no 32-port limit). */
  /** Number of ready descriptors; with `ready`, their indices are written into it (as many as fit). */
  waitAny(fds: Int32Array, count: number, timeoutMs: number, ready?: Int32Array): number;
  deleteTap(name: string): boolean;
  /** Copies lengths[i] bytes from src[srcOffsets[i]] to dst[dstOffsets[i]] for i < count; returns entries skipped as out of bounds. */
  copyFrames(src: Uint8Array, srcOffsets: Uint32Array, dst: Uint8Array, dstOffsets: Uint32Array, lengths: Uint32Array, count: number): number;
  /** A non-blocking netlink socket bound to the kernel's `groups` (native/netlink_socket.h). */
  netlinkOpen(protocol: number, groups: number[], receiveBufferBytes: number): { fd: number; port: number; receiveBufferBytes: number };
  /** 0, or -errno. */
  netlinkSend(fd: number, bytes: Uint8Array, length: number): number;
  /** One datagram's length; 0 when none waits; -errno (-ENOBUFS: events lost; -EMSGSIZE: a datagram larger than `into`, lost). */
  netlinkReceive(fd: number, into: Uint8Array): number;
  netlinkClose(fd: number): void;
  /** malloc_trim(0): free malloc memory back to the system; whether any went. */
  trimMemory(): boolean;
}

/**
 * The error the addon throws when a port cannot be opened, shaped like Node's system
 * errors: `code` is the errno name ('ENODEV', 'EPERM', ...), `interface` the device.
 */
export interface PortOpenError extends Error {
  code: string;
  errno: number;
  syscall: string;
  interface: string;
}

export function isPortOpenError(error: unknown): error is PortOpenError {
  return (
    error instanceof Error &&
    typeof (error as Partial<PortOpenError>).code === 'string' &&
    typeof (error as Partial<PortOpenError>).errno === 'number' &&
    typeof (error as Partial<PortOpenError>).interface === 'string'
  );
}

export const ADDON_NAME = 'nvgw_io';

/** The repository root: the nearest directory above this file whose package.json is nvgw's. */
export function findRepoRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = start; ; ) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'nvgw') return dir;
      } catch {
        // an unreadable package.json is not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`nvgw: no package.json named "nvgw" above ${start}`);
    dir = parent;
  }
}

let loaded: NativeModule | undefined;

/** The addon for this thread (each worker_thread gets its own instance of it). */
export function loadNative(): NativeModule {
  if (loaded !== undefined) return loaded;
  const path = join(findRepoRoot(), 'build', 'Release', `${ADDON_NAME}.node`);
  if (!existsSync(path)) {
    throw new Error(`nvgw: the packet I/O addon is not built (${path} missing); run "npm run native:build"`);
  }
  const require = createRequire(import.meta.url);
  loaded = require(path) as NativeModule;
  return loaded;
}
