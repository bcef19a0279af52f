/**
 * The ingress flow claim of an uplink interface: how the data path takes established
 * connections over from the kernel's stack (what nf_flowtable does inside the kernel).
 * One BPF hash map of claimed 5-tuples, read by two programs that make the same decision
 * (native/flow_claim.cc has the program and the exact rules):
 * - the socket filter, given to the uplink's packet port as `bpfProgramFd`: only frames
 *   of a flow claimed with CLAIM_COPY enter its ring;
 * - a tcx ingress program on the interface (attachIngress, Linux >= 6.6): frames of a
 *   flow claimed with CLAIM_DROP never reach the kernel's IP stack.
 * Packet taps run before tcx ingress, so the port still gets its copy of a frame tcx
 * drops. Frames that the kernel must see never match, whatever the map holds: TCP SYN,
 * FIN or RST (conntrack follows the connection's state), fragments, IPv4 options, TTL
 * <= 1, 802.1Q-tagged frames, and frames longer than maxFrameLength.
 *
 * The tcx link lives as long as this process holds it: if the process dies, the kernel
 * takes every connection back at once, so a crash never leaves flows blackholed. Needs
 * CAP_BPF and CAP_NET_ADMIN (or root).
 */
import { loadNative, type NativeFlowClaim } from './native.js';

/** One direction of a flow as it arrives on the uplink; addresses and ports in host order. */
export interface ClaimTuple {
  /** IPv4 source address as an unsigned 32-bit number (198.18.0.1 is 0xc6120001). */
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  /** 6 (TCP) or 17 (UDP). */
  protocol: number;
}

/** The packet port takes a copy of the flow's frames. */
export const CLAIM_COPY = 1;
/** The kernel's stack does not see the flow's frames (dropped at tcx ingress). */
export const CLAIM_DROP = 2;

export interface FlowClaimOptions {
  /** Room in the map, 1..16777216: the most flows claimed at once (entries are allocated as claimed). */
  maxEntries: number;
  /** The longest frame claimed, 42..65535, Ethernet header included (normally MTU + 14); longer ones stay the kernel's. */
  maxFrameLength: number;
}

export interface FlowClaim {
  /** The socket filter program, for PacketPortOptions.bpfProgramFd; -1 after close(). */
  readonly socketFilterFd: number;
  readonly ingressAttached: boolean;
  /**
   * Attaches the drop half to the ingress of `ifindex` (in this thread's namespace). Again
   * on the same interface does nothing; another interface needs detachIngress() first.
   * Throws an Error with `code` (ENODEV for no such interface; EINVAL on a kernel without
   * tcx, which the message says needs Linux >= 6.6).
   */
  attachIngress(ifindex: number): void;
  /** Gives every flow back to the kernel at once; the claims stay in the map. */
  detachIngress(): void;
  /** Claims (or re-claims) one direction of a flow; `bits` is CLAIM_COPY and/or CLAIM_DROP. */
  set(tuple: ClaimTuple, bits: number): void;
  /** Releases a flow; false when it was not claimed. */
  delete(tuple: ClaimTuple): boolean;
  /**
   * Detaches and closes the map and programs; idempotent. A packet port opened with the
   * socket filter keeps it (and the map's last contents) until the port closes.
   */
  close(): void;
}

class KernelFlowClaim implements FlowClaim {
  readonly #native: NativeFlowClaim;
  #attached = false;

  constructor(native: NativeFlowClaim) {
    this.#native = native;
  }

  get socketFilterFd(): number {
    return this.#native.socketFilterFd();
  }

  get ingressAttached(): boolean {
    return this.#attached;
  }

  attachIngress(ifindex: number): void {
    this.#native.attachIngress(ifindex);
    this.#attached = true;
  }

  detachIngress(): void {
    this.#native.detachIngress();
    this.#attached = false;
  }

  set(tuple: ClaimTuple, bits: number): void {
    this.#native.set(tuple.src, tuple.dst, tuple.srcPort, tuple.dstPort, tuple.protocol, bits);
  }

  delete(tuple: ClaimTuple): boolean {
    return this.#native.delete(tuple.src, tuple.dst, tuple.srcPort, tuple.dstPort, tuple.protocol);
  }

  close(): void {
    this.#native.close();
    this.#attached = false;
  }
}

/**
 * Creates the claim map (empty) and loads both programs; nothing is attached yet. Throws
 * a RangeError for options out of range, an Error with `code` (EPERM without CAP_BPF)
 * and the verifier's log if the kernel refuses a program.
 */
export function openFlowClaim(options: FlowClaimOptions): FlowClaim {
  const { FlowClaim: NativeFlowClaimClass } = loadNative();
  return new KernelFlowClaim(new NativeFlowClaimClass({ maxEntries: options.maxEntries, maxFrameLength: options.maxFrameLength }));
}
