/**
 * Which packet port the data path opens for what (the worker's only contact with the
 * native I/O layer): an AF_PACKET ring port on the fabric interface, filtered in the
 * kernel to ARP and GRE for the gateway's PAs; and per VSID either an AF_PACKET port on
 * the data-path end of a veth pair or a tap, sized for a tenant's share of the traffic.
 */
import { fabricFilter, openPacketPort, openTapPort, waitReadable as wait } from './io/index.js';
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

let fds = new Int32Array(64);

/**
 * Blocks until any port has input (or the timeout passes); no limit on the number of
 * ports. With `ready`, the indices of the ready ports are written into it and their number
 * returned (-1: in-memory ports or more ready than `ready` holds -- look at every port).
 */
export function waitReadable(ports: readonly FramePort[], timeoutMs: number, ready?: Int32Array): number {
  if (ports.some((p) => p.fd < 0)) return wait(ports, timeoutMs) === 0 ? 0 : -1; // in-memory ports (tests)
  if (fds.length < ports.length) fds = new Int32Array(ports.length * 2);
  for (let i = 0; i < ports.length; i++) fds[i] = ports[i]!.fd;
  const count = ready ? loadNative().waitAny(fds, ports.length, timeoutMs, ready) : loadNative().waitAny(fds, ports.length, timeoutMs);
  return ready && count > ready.length ? -1 : count;
}

/** The addon's batched memcpy: one call moves a whole batch's payloads. */
export const copyFrames: FrameCopier = (src, srcOffsets, dst, dstOffsets, lengths, count) =>
  loadNative().copyFrames(src, srcOffsets, dst, dstOffsets, lengths, count);
