/**
 * Which packet port the data path opens for what (the worker's only contact with the
 * native I/O layer): an AF_PACKET ring port on the fabric interface, filtered in the
 * kernel to ARP and GRE for the gateway's PAs; for the VSIDs on veth pairs, one shared
 * AF_PACKET port on all their data-path ends; and per VSID on a tap (or on veth when the
 * shared port is switched off or cannot open), a port of its own, sized for a tenant's
 * share of the traffic.
 */
import { BPF_RET_K, fabricFilter, openPacketPort, openSharedPacketPort, openTapPort, type PacketPort, waitReadable as wait } from './io/index.js';
import type { FramePort } from './io/frame-port.js';
import type { TenantSpec } from './messages.js';
import type { FrameCopier } from './dataplane.js';
import { loadNative } from './io/native.js';

const ipv4Text = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

export function openFabricPort(ifname: string, gatewayPas: readonly number[]): FramePort {
  return openPacketPort(ifname, {
    filter: fabricFilter(gatewayPas.map(ipv4Text)),
    rxBlockSize: 1 << 17,
    rxBlockCount: 32,
    txFrameCount: 1024,
  });
}

export function openTenantPort(spec: TenantSpec): FramePort {
  if (spec.kind === 'tap') return openTapPort(spec.ifname, { persist: true, create: false, rxSlots: 256, txSlots: 256 });
  // The kernel end of the pair sends to VM MACs, not to this end's MAC: a packet socket
  // sees those frames anyway (PACKET_OTHERHOST), so no promiscuous mode is needed.
  // Small rings (192 KiB receive: 120 slots at the tenant MTU 1458; 128 slots to send): a
  // gateway has one such port per VSID, and the fabric port, which carries everything, has
  // the big ones.
  return openPacketPort(spec.ifname, { rxBlockSize: 1 << 15, rxBlockCount: 6, txFrameCount: 128 });
}

/**
 * One port for every VSID on veth: a 4 MiB receive ring bound to all interfaces and
 * filtered in the kernel to the admitted data-path ends, and one transmit socket that
 * names the interface per frame. Per VSID it costs one map entry instead of a port (two
 * sockets, ~450 KiB of rings, a descriptor to poll, 25-50 ms of RCU grace periods to open
 * and close): docs/performance.md section 7.
 */
export function openSharedTenantPort(tenantMtu: number): PacketPort {
  return openSharedPacketPort('nvgw-tenants', { mtu: Math.max(tenantMtu, 1500), rxBlockCount: 32, txFrameCount: 256 });
}

/**
 * An uplink's port for connection offload: its receive ring takes only what the uplink's
 * flow claim admits (the frames of offloaded connections, `claimFilterFd`), sized like the
 * fabric's since external traffic converges here; its transmit ring carries offloaded
 * packets out. Without a claim (no eBPF here) the ring takes nothing: outbound only.
 */
export function openUplinkPort(ifname: string, claimFilterFd: number | undefined): PacketPort {
  const receive = claimFilterFd === undefined ? { filter: [{ code: BPF_RET_K, jt: 0, jf: 0, k: 0 }] } : { bpfProgramFd: claimFilterFd };
  return openPacketPort(ifname, { ...receive, completeChecksums: true, rxBlockSize: 1 << 17, rxBlockCount: 16, txFrameCount: 1024 });
}

/**
 * sharedTenantPort "auto" shares from this many veth VSIDs on. Below it a port per VSID
 * is cheaper per packet: the shared port's socket is bound to every interface, so every
 * frame the namespace receives (fabric, uplinks) also runs its filter, which the bench
 * measured as 15-20 % of the encap rate with two VSIDs. Above it the per-VSID ports'
 * memory (~450 KiB each), descriptors and open time (25 ms each) dominate.
 */
export const SHARED_PORT_FROM = 64;

/** name -> ifindex of every interface in this namespace (one netlink dump). */
export function interfaceIndexes(): Map<string, number> {
  return new Map(Object.entries(loadNative().interfaceIndexes()));
}

/**
 * Waits on a fixed set of ports (the worker builds one whenever its ports change, so a
 * wake-up does no per-port work in JavaScript). No limit on the number of ports.
 */
export class PortWaiter {
  private readonly fds: Int32Array;
  private readonly inMemory: boolean;

  /** `also`: more descriptors that end the wait (the conntrack socket); their indices follow the ports'. */
  constructor(
    private readonly ports: readonly FramePort[],
    also: readonly number[] = [],
  ) {
    this.inMemory = ports.some((p) => p.fd < 0);
    this.fds = Int32Array.from([...ports.map((p) => p.fd), ...also.filter((fd) => fd >= 0)]);
  }

  /**
   * Blocks until any port has input (or the timeout passes). The indices of the ready
   * ports are written into `ready` and their number returned; -1 means look at every port
   * (in-memory ports, or more ready than `ready` holds).
   */
  wait(timeoutMs: number, ready: Int32Array): number {
    if (this.inMemory) return wait(this.ports, timeoutMs) === 0 ? 0 : -1; // tests
    const count = loadNative().waitAny(this.fds, this.fds.length, timeoutMs, ready);
    return count > ready.length ? -1 : count;
  }
}

/** The addon's batched memcpy: one call moves a whole batch's payloads. */
export const copyFrames: FrameCopier = (src, srcOffsets, dst, dstOffsets, lengths, count) =>
  loadNative().copyFrames(src, srcOffsets, dst, dstOffsets, lengths, count);
