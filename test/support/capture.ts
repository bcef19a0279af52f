/**
 * Packet captures in a lab namespace, decoded by tshark (an independent dissector, so a test
 * never checks the gateway's packets with the gateway's own parser).
 *
 *   const cap = await startCapture(lab, fabricNs, 'br0', { filter: 'ip proto 47' });
 *   ... traffic ...
 *   const frames = await cap.stop();
 *   const f = frames.find((x) => x.gre?.vsid === 5001 && x.inner?.ip?.dst === '192.168.1.2');
 *   assert.equal(f?.outer.ip?.src, '10.1.1.11');  assert.equal(f?.gre?.protocol, 0x6558);
 *
 * API
 *   startCapture(lab, ns, ifname, { filter?, direction?, snaplen? }): Promise<Capture>
 *     tcpdump (BPF capture filter, nanosecond timestamps) writing a pcap under lab.tmpDir,
 *     which the lab removes; resolves once tcpdump is listening.
 *   Capture.packets(): PcapPacket[]                 raw packets so far (never throws on a partial write)
 *   Capture.waitForPackets(n, timeoutMs?)           until at least n packets are in the file
 *   Capture.stop({ settleMs?, maxFrames? }): Promise<CapturedFrame[]>   idempotent
 *   Capture.stats                                   tcpdump's captured / dropped-by-kernel counts after stop
 *   decodePcap(path, { maxFrames? }): Promise<CapturedFrame[]>
 *   nvgreFrames(frames): CapturedFrame[]            frames that are GRE with protocol 0x6558
 *
 * A CapturedFrame splits the dissection at the first GRE header: `outer` is what comes
 * before it, `gre` the header (flags, key, vsid = key >>> 8, flowId = key & 0xff), `inner`
 * what the GRE payload decodes to. `data` holds the captured bytes and `timeNs` the capture
 * time (CLOCK_REALTIME, comparable with Date.now() * 1e6). IP reassembly is off, so every
 * outer fragment is its own frame.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackgroundProcess, Lab } from './netns.js';
import { run } from './netns.js';
import { readPcap } from './pcap.js';
import type { PcapPacket } from './pcap.js';

export interface EthInfo {
  src: string;
  dst: string;
  /** The EtherType after any 802.1Q tags. */
  type: number;
  /** VLAN ID of the first 802.1Q tag, if tagged. */
  vlan?: number;
}

export interface Ipv4Info {
  src: string;
  dst: string;
  proto: number;
  ttl: number;
  id: number;
  totalLength: number;
  df: boolean;
  mf: boolean;
  /** In bytes (the header field times 8). */
  fragmentOffset: number;
}

export interface ArpInfo {
  op: number;
  senderMac: string;
  senderIp: string;
  targetIp: string;
}

export interface LayerInfo {
  eth?: EthInfo;
  ip?: Ipv4Info;
  arp?: ArpInfo;
  icmp?: { type: number; code: number; id?: number; seq?: number };
  udp?: { srcPort: number; dstPort: number };
  tcp?: { srcPort: number; dstPort: number };
}

export interface GreInfo {
  checksumPresent: boolean;
  routingPresent: boolean;
  keyPresent: boolean;
  sequencePresent: boolean;
  version: number;
  protocol: number;
  key?: number;
  /** key >>> 8 (RFC 7637 section 3.2). */
  vsid?: number;
  /** key & 0xff. */
  flowId?: number;
  sequence?: number;
}

export interface CapturedFrame {
  /** 0-based position in the capture. */
  index: number;
  timeNs: bigint;
  data: Buffer;
  originalLength: number;
  /** tshark's protocol stack, e.g. ['eth', 'ethertype', 'ip', 'gre', 'eth', 'ethertype', 'ip', 'icmp']. */
  protocols: string[];
  outer: LayerInfo;
  gre?: GreInfo;
  inner?: LayerInfo;
  /** tshark flagged the frame malformed (e.g. a truncated header). */
  malformed: boolean;
}

export interface CaptureStats {
  captured: number;
  droppedByKernel: number;
}

export interface Capture {
  readonly ns: string;
  readonly ifname: string;
  readonly pcapPath: string;
  readonly stats: CaptureStats | undefined;
  packets(): PcapPacket[];
  waitForPackets(count: number, timeoutMs?: number): Promise<PcapPacket[]>;
  stop(opts?: { settleMs?: number; maxFrames?: number }): Promise<CapturedFrame[]>;
}

/** The complete records of a pcap file that tcpdump may still be writing. */
function readCompletePcap(file: Buffer): PcapPacket[] {
  if (file.length < 24) return [];
  const le = file.readUInt32LE(0) === 0xa1b2c3d4 || file.readUInt32LE(0) === 0xa1b23c4d;
  let offset = 24;
  while (file.length - offset >= 16) {
    const caplen = le ? file.readUInt32LE(offset + 8) : file.readUInt32BE(offset + 8);
    if (file.length - offset - 16 < caplen) break;
    offset += 16 + caplen;
  }
  return readPcap(file.subarray(0, offset));
}

let captureCounter = 0;

export interface CaptureOptions {
  /** A BPF capture filter (pcap-filter(7)), e.g. 'ip proto 47'. */
  filter?: string;
  /** Only frames received ('in') or sent ('out') by ifname; default both. */
  direction?: 'in' | 'out' | 'inout';
  snaplen?: number;
}

/** Starts tcpdump on ifname in ns; resolves once it is listening (so no later packet is missed). */
export async function startCapture(lab: Lab, ns: string, ifname: string, opts: CaptureOptions = {}): Promise<Capture> {
  const dir = join(lab.tmpDir, 'captures');
  mkdirSync(dir, { recursive: true });
  captureCounter += 1;
  const pcapPath = join(dir, `${ns}-${ifname}-${captureCounter}.pcap`);
  // -U: write each packet as it comes (so waitForPackets sees it); -Z root: tcpdump would
  // otherwise drop to an unprivileged user that cannot write into the lab's 0700 directory.
  const argv = ['tcpdump', '-i', ifname, '-n', '-U', '--immediate-mode', '--time-stamp-precision=nano', '-s', String(opts.snaplen ?? 65535), '-Z', 'root', '-w', pcapPath];
  if (opts.direction) argv.push('-Q', opts.direction);
  if (opts.filter) argv.push(opts.filter);
  const proc: BackgroundProcess = lab.spawn(ns, argv);
  await proc.waitForOutput(/listening on/, 10_000);

  let frames: Promise<CapturedFrame[]> | undefined;
  let stats: CaptureStats | undefined;
  const packets = (): PcapPacket[] => {
    try {
      return readCompletePcap(readFileSync(pcapPath));
    } catch {
      return [];
    }
  };
  const capture: Capture = {
    ns,
    ifname,
    pcapPath,
    get stats() {
      return stats;
    },
    packets,
    async waitForPackets(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const got = packets();
        if (got.length >= count) return got;
        if (Date.now() > deadline) throw new Error(`capture on ${ifname} in ${ns}: ${got.length} of ${count} packets after ${timeoutMs} ms`);
        if (!proc.running()) throw new Error(`tcpdump on ${ifname} in ${ns} exited: ${proc.stderr()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop(stopOpts = {}) {
      frames ??= (async () => {
        // Packets already sent may still sit in the socket's ring; give tcpdump a moment.
        await new Promise((r) => setTimeout(r, stopOpts.settleMs ?? 150));
        await proc.stop('SIGINT', 3000);
        const err = proc.stderr();
        const num = (re: RegExp): number => Number(re.exec(err)?.[1] ?? NaN);
        stats = { captured: num(/(\d+) packets? captured/), droppedByKernel: num(/(\d+) packets? dropped by kernel/) };
        return decodePcap(pcapPath, stopOpts.maxFrames === undefined ? {} : { maxFrames: stopOpts.maxFrames });
      })();
      return frames;
    },
  };
  return capture;
}

type Layer = Record<string, unknown>;

const str = (l: Layer | undefined, k: string): string | undefined => {
  const v = l?.[k];
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
};
const int = (l: Layer | undefined, k: string): number | undefined => {
  const v = str(l, k);
  return v === undefined ? undefined : Number(v); // Number() reads both "17" and "0x0011"
};

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`tshark output lacks ${what}`);
  return v;
}

function ethInfo(eth: Layer, vlans: Layer[]): EthInfo {
  const vlan = vlans[0];
  const last = vlans[vlans.length - 1];
  return {
    src: need(str(eth, 'eth.src'), 'eth.src'),
    dst: need(str(eth, 'eth.dst'), 'eth.dst'),
    type: need(int(last ?? eth, last ? 'vlan.etype' : 'eth.type'), 'eth.type'),
    ...(vlan ? { vlan: need(int(vlan, 'vlan.id'), 'vlan.id') } : {}),
  };
}

function ipInfo(ip: Layer): Ipv4Info | undefined {
  const src = str(ip, 'ip.src');
  const dst = str(ip, 'ip.dst');
  if (src === undefined || dst === undefined) return undefined;
  // tshark shows the three flag bits as a number: 0x2 is DF, 0x1 is MF.
  const flags = int(ip, 'ip.flags') ?? 0;
  return {
    src,
    dst,
    proto: int(ip, 'ip.proto') ?? -1,
    ttl: int(ip, 'ip.ttl') ?? -1,
    id: int(ip, 'ip.id') ?? -1,
    totalLength: int(ip, 'ip.len') ?? -1,
    df: (flags & 0x2) !== 0,
    mf: (flags & 0x1) !== 0,
    // tshark 4.0 shows the header field (8-byte units); the harness self-test pins this down.
    fragmentOffset: (int(ip, 'ip.frag_offset') ?? 0) * 8,
  };
}

function greInfo(gre: Layer): GreInfo {
  // RFC 2784/2890 first word: C(0x8000) R(0x4000) K(0x2000) S(0x1000) ... version (low 3 bits).
  const fv = need(int(gre, 'gre.flags_and_version'), 'gre.flags_and_version');
  const key = int(gre, 'gre.key');
  const sequence = int(gre, 'gre.sequence_number');
  return {
    checksumPresent: (fv & 0x8000) !== 0,
    routingPresent: (fv & 0x4000) !== 0,
    keyPresent: (fv & 0x2000) !== 0,
    sequencePresent: (fv & 0x1000) !== 0,
    version: fv & 0x7,
    protocol: int(gre, 'gre.proto') ?? -1,
    ...(key === undefined ? {} : { key, vsid: key >>> 8, flowId: key & 0xff }),
    ...(sequence === undefined ? {} : { sequence }),
  };
}

/** Builds one side (outer or inner) from the layers in stack order. */
function sideInfo(stack: Array<[string, Layer]>): LayerInfo {
  const info: LayerInfo = {};
  const firstEth = stack.findIndex(([p]) => p === 'eth');
  if (firstEth >= 0) {
    const vlans: Layer[] = [];
    for (const [p, l] of stack.slice(firstEth + 1)) {
      if (p === 'vlan') vlans.push(l);
      else if (p !== 'ethertype') break;
    }
    const eth = stack[firstEth]?.[1];
    if (eth && str(eth, 'eth.src') !== undefined) info.eth = ethInfo(eth, vlans);
  }
  for (const [p, l] of stack) {
    if (p === 'ip' && !info.ip) {
      const ip = ipInfo(l);
      if (ip) info.ip = ip;
    } else if (p === 'arp' && !info.arp) {
      info.arp = {
        op: int(l, 'arp.opcode') ?? -1,
        senderMac: str(l, 'arp.src.hw_mac') ?? '',
        senderIp: str(l, 'arp.src.proto_ipv4') ?? '',
        targetIp: str(l, 'arp.dst.proto_ipv4') ?? '',
      };
    } else if (p === 'icmp' && !info.icmp) {
      const id = int(l, 'icmp.ident');
      const seq = int(l, 'icmp.seq');
      info.icmp = { type: int(l, 'icmp.type') ?? -1, code: int(l, 'icmp.code') ?? -1, ...(id === undefined ? {} : { id }), ...(seq === undefined ? {} : { seq }) };
    } else if (p === 'udp' && !info.udp) {
      info.udp = { srcPort: int(l, 'udp.srcport') ?? -1, dstPort: int(l, 'udp.dstport') ?? -1 };
    } else if (p === 'tcp' && !info.tcp) {
      info.tcp = { srcPort: int(l, 'tcp.srcport') ?? -1, dstPort: int(l, 'tcp.dstport') ?? -1 };
    }
  }
  return info;
}

const DECODED = ['frame', 'eth', 'vlan', 'ip', 'gre', 'arp', 'icmp', 'udp', 'tcp', '_ws.malformed'];

/** Decodes a pcap with tshark; each frame is split into outer / GRE / inner (see the module comment). */
export async function decodePcap(path: string, opts: { maxFrames?: number } = {}): Promise<CapturedFrame[]> {
  const raw = readPcap(path);
  if (raw.length === 0) return [];
  const argv = ['tshark', '-r', path, '-n', '-o', 'ip.defragment:FALSE', '-T', 'json', '--no-duplicate-keys', '-j', DECODED.join(' ')];
  if (opts.maxFrames !== undefined) argv.push('-c', String(opts.maxFrames));
  const { stdout } = await run(argv, { timeoutMs: 120_000 });
  const docs = JSON.parse(stdout) as Array<{ _source: { layers: Record<string, Layer | Layer[]> } }>;
  return docs.map((doc) => {
    const layers = doc._source.layers;
    const frame = layers.frame as Layer;
    const index = need(int(frame, 'frame.number'), 'frame.number') - 1;
    const packet = need(raw[index], `pcap record ${index}`);
    const protocols = (str(frame, 'frame.protocols') ?? '').split(':').filter(Boolean);
    // --no-duplicate-keys turns a protocol seen twice (outer and inner eth) into an array in
    // stack order; frame.protocols tells which occurrence sits where.
    const seen = new Map<string, number>();
    const outer: Array<[string, Layer]> = [];
    const inner: Array<[string, Layer]> = [];
    let gre: Layer | undefined;
    for (const p of protocols) {
      const all = layers[p];
      const n = seen.get(p) ?? 0;
      seen.set(p, n + 1);
      const layer = Array.isArray(all) ? all[n] : n === 0 ? all : undefined;
      if (p === 'ethertype') {
        (gre ? inner : outer).push([p, {}]);
        continue;
      }
      if (!layer) continue;
      if (p === 'gre' && !gre) gre = layer;
      else (gre ? inner : outer).push([p, layer]);
    }
    return {
      index,
      timeNs: packet.timestampNs,
      data: packet.data,
      originalLength: packet.originalLength,
      protocols,
      outer: sideInfo(outer),
      ...(gre ? { gre: greInfo(gre), inner: sideInfo(inner) } : {}),
      malformed: '_ws.malformed' in layers,
    };
  });
}

/** The frames that carry NVGRE (GRE with protocol 0x6558, Transparent Ethernet Bridging). */
export function nvgreFrames(frames: readonly CapturedFrame[]): CapturedFrame[] {
  return frames.filter((f) => f.gre?.protocol === 0x6558);
}
