/**
 * Crafted NVGRE frames, built by scapy (Debian's python3-scapy, so always /usr/bin/python3:
 * the python3 first on PATH may be another build without Debian's modules) and sent from a
 * lab namespace through an AF_PACKET socket: frames no well-behaved peer would send.
 *
 *   const [sent] = await sendFrames(lab, hostNs, 'fab0', [{
 *     outer: { dstMac: gwMac, src: '10.1.1.11', dst: '10.1.1.40' },     // srcMac: fab0's own
 *     gre: { vsid: 5001, flowId: 0x42, checksum: true },                  // C bit set
 *     inner: { srcMac: vmMac, dstMac: gwCaMac, ip: { src: '192.168.1.1', dst: '192.168.1.254' } },
 *   }]);
 *   sent.frames[0]   // the exact bytes put on the wire (Buffer); fragments give several
 *
 * API
 *   sendFrames(lab, ns, ifname, specs, { intervalMs? }): Promise<CraftedFrame[]>
 *   craftFrames(specs): Promise<CraftedFrame[]>      build only, send nothing, no namespace
 *   FrameSpec                                         see below; the helper's own doc is
 *                                                     test/support/py/nvgre_craft.py
 *   GRE defaults: K=1, C=S=R=0, version 0, protocol 0x6558, key = vsid << 8 | flowId
 *   (keyValue overrides). An inner IPv4 frame with no icmp/udp/payloadHex is an ICMP echo
 *   request. truncateIpPayloadTo cuts the outer IP payload (GRE header + inner frame) to n
 *   bytes with a consistent outer IP length; fragmentSize splits the outer IP packet into
 *   fragments. One python process builds and sends a whole batch (scapy takes ~0.5 s to load).
 */
import { join } from 'node:path';
import type { Lab } from './netns.js';
import { CommandError, linkMac, runIn } from './netns.js';
import { repoRoot } from './paths.js';

/** Debian's interpreter, the one python3-scapy is installed for. */
export const DEBIAN_PYTHON = '/usr/bin/python3';

// The .py file is not compiled: it is run from the source tree.
const HELPER = join(repoRoot, 'test', 'support', 'py', 'nvgre_craft.py');

export interface OuterSpec {
  /** Defaults to the sending interface's MAC (sendFrames only). */
  srcMac?: string;
  dstMac: string;
  src: string;
  dst: string;
  ttl?: number;
  id?: number;
  df?: boolean;
  tos?: number;
}

export interface GreSpec {
  checksum?: boolean;
  routing?: boolean;
  /** The K bit; default true. */
  key?: boolean;
  sequence?: boolean;
  version?: number;
  protocol?: number;
  vsid?: number;
  flowId?: number;
  /** The whole 32-bit key, overriding vsid/flowId. */
  keyValue?: number;
  sequenceNumber?: number;
}

export interface InnerSpec {
  srcMac: string;
  dstMac: string;
  /** Adds an 802.1Q tag with this VLAN ID. */
  vlan?: number;
  ip?: { src: string; dst: string; ttl?: number };
  icmp?: { type?: number; id?: number; seq?: number };
  udp?: { sport: number; dport: number };
  arp?: { op?: number; psrc: string; pdst: string; hwsrc?: string; hwdst?: string };
  payloadHex?: string;
}

export type FrameSpec =
  | { frameHex: string }
  | {
      outer: OuterSpec;
      gre?: GreSpec;
      inner?: InnerSpec;
      innerHex?: string;
      truncateIpPayloadTo?: number;
      fragmentSize?: number;
    };

export interface CraftedFrame {
  /** The frames this spec became, in the order sent (several if fragmented). */
  frames: Buffer[];
}

interface HelperReply {
  frames: string[][];
}

async function runHelper(ns: string | undefined, request: unknown): Promise<CraftedFrame[]> {
  const argv = [DEBIAN_PYTHON, HELPER];
  let stdout: string;
  try {
    ({ stdout } = await runIn(ns, argv, { input: JSON.stringify(request), timeoutMs: 60_000 }));
  } catch (e) {
    if (e instanceof CommandError && /No module named 'scapy'/.test(e.stderr)) {
      throw new Error('scapy is missing: install python3-scapy (bash scripts/setup)', { cause: e });
    }
    throw e;
  }
  const reply = JSON.parse(stdout) as HelperReply;
  return reply.frames.map((hexes) => ({ frames: hexes.map((h) => Buffer.from(h, 'hex')) }));
}

/** Builds the frames without sending them (no root or namespace needed). */
export function craftFrames(specs: readonly FrameSpec[]): Promise<CraftedFrame[]> {
  for (const s of specs) if ('outer' in s && !s.outer.srcMac) throw new Error('craftFrames: outer.srcMac is required when nothing is sent');
  return runHelper(undefined, { iface: null, frames: specs });
}

/** Builds the frames and sends them out of ifname in namespace ns, in order. */
export async function sendFrames(
  lab: Lab,
  ns: string,
  ifname: string,
  specs: readonly FrameSpec[],
  opts: { intervalMs?: number } = {},
): Promise<CraftedFrame[]> {
  if (!lab.namespaces.includes(ns)) throw new Error(`sendFrames: ${ns} is not one of this lab's namespaces`);
  let ownMac: string | undefined;
  const filled: FrameSpec[] = [];
  for (const s of specs) {
    if ('outer' in s && !s.outer.srcMac) {
      ownMac ??= await linkMac(ns, ifname);
      filled.push({ ...s, outer: { ...s.outer, srcMac: ownMac } });
    } else {
      filled.push(s);
    }
  }
  return runHelper(ns, { iface: ifname, intervalMs: opts.intervalMs ?? 0, frames: filled });
}

