/**
 * `nvgw trace`: what the data path would do with one packet, step by step, and why. The
 * packet goes through the real pipeline (the same Dataplane the worker runs) built from
 * the current desired state, on capture ports, with a tracer attached; nothing is sent.
 * After a decap, the kernel's own answer for the routing step is asked for (ip route get
 * in the domain's table), since the kernel, not nvgw, routes inside a domain.
 */
import type { DesiredState } from '../model/desired-state.js';
import { ErrorCode, NvgwError } from '../model/errors.js';
import { canonicalMac } from '../model/identifiers.js';
import { DROP_REASONS } from '../packet/drop-reasons.js';
import type { DropReason } from '../packet/drop-reasons.js';
import { formatEthernet } from '../packet/ethernet.js';
import { formatIpv4, IP_PROTOCOL_GRE, IP_PROTOCOL_ICMP } from '../packet/ipv4.js';
import { formatNvgre } from '../packet/nvgre.js';
import { CounterWriter, createCounterMemory } from './counters.js';
import { Dataplane } from './dataplane.js';
import type { FramePort, PortStats, RxBatch, TxBatch } from './io/frame-port.js';
import { buildTables, ipv4ToNumber } from './tables.js';

export interface TraceRequest {
  /** 'fabric' (an NVGRE frame arriving on the PA interface) or 'vsid:N' (a frame the kernel sends into VSID N). */
  ingress: string;
  /** The whole Ethernet frame in hex. */
  hex?: string;
  /** Or a description: "outerSrc=10.1.1.20 vsid=5001 innerSrc=192.168.1.101 innerDst=192.168.2.101 flowId=7". */
  packet?: string;
}

export interface TraceStep {
  step: string;
  detail: string;
}

export interface TraceResult {
  ingress: string;
  /** 'delivered' (to a tenant interface), 'encapsulated' (to the fabric), 'answered' (proxy ARP) or the drop reason. */
  verdict: string;
  dropReason?: DropReason;
  dropDescription?: string;
  steps: TraceStep[];
  /** Frames the pipeline emitted, in hex, with the port they left through. */
  output: { port: string; hex: string }[];
}

/** Asks the kernel how it would route a decapsulated packet (injected: a real `ip route get` or a fake). */
export type RouteLookup = (query: { dst: string; src: string; iif: string }) => Promise<string>;

class CapturePort implements FramePort {
  readonly fd = -1;
  readonly ifindex = 0;
  readonly frameCapacity = 65535;
  readonly sent: Buffer[] = [];
  private readonly rx = new Uint8Array(65536);
  private readonly tx = new Uint8Array(65536 * 4);
  private pending: Uint8Array | undefined;

  constructor(
    readonly name: string,
    readonly mac: Uint8Array,
  ) {}

  inject(frame: Uint8Array): void {
    this.pending = frame;
  }

  receive(batch: RxBatch): number {
    batch.buffer = this.rx;
    if (!this.pending) return (batch.count = 0);
    this.rx.set(this.pending, 0);
    batch.offsets[0] = 0;
    batch.lengths[0] = this.pending.length;
    this.pending = undefined;
    return (batch.count = 1);
  }

  releaseRx(): void {}

  reserveTx(batch: TxBatch, n: number): number {
    batch.buffer = this.tx;
    const count = Math.min(n, 4, batch.offsets.length);
    for (let i = 0; i < count; i++) batch.offsets[i] = i * 65536;
    return (batch.count = count);
  }

  sendTx(batch: TxBatch, count: number): void {
    for (let i = 0; i < count; i++) this.sent.push(Buffer.from(this.tx.subarray(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!)));
    batch.count = 0;
  }

  stats(): PortStats {
    return { rxPackets: 0, rxKernelDrops: 0, txPackets: this.sent.length, txErrors: 0, txRingFull: 0 };
  }

  close(): void {}
}

class RecordingCounters extends CounterWriter {
  dropped: DropReason | undefined;
  events: string[] = [];

  override drop(reason: DropReason, bytes: number, slot = -1): void {
    this.dropped ??= reason;
    super.drop(reason, bytes, slot);
  }
}

function invalid(message: string): NvgwError {
  return new NvgwError(ErrorCode.ValidationFailed, message, [{ path: 'trace', problem: message }]);
}

function parseDescription(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.trim().split(/\s+/)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw invalid(`"${part}" is not key=value`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

const macOf = (text: string | undefined, fallback: string): number => parseInt(canonicalMac(text ?? fallback) ?? fallback, 16);

/** Builds a frame from a description, filling MACs from the lookup records where it can. */
function frameFromDescription(state: DesiredState, ingress: string, text: string): Buffer {
  const d = parseDescription(text);
  const ip = (key: string, required = true): number => {
    const n = d[key] === undefined ? -1 : ipv4ToNumber(d[key]);
    if (n < 0 && required) throw invalid(`${key} must be an IPv4 address`);
    return n;
  };
  const vsid = Number(d.vsid ?? (ingress.startsWith('vsid:') ? ingress.slice(5) : NaN));
  if (!Number.isInteger(vsid)) throw invalid('vsid is required');
  const records = [...state.recordsOf(vsid)];
  const recordMac = (address: string | undefined) => records.find((r) => r.customerAddress === address)?.macAddress;
  const innerSrc = ip('innerSrc');
  const innerDst = ip('innerDst');
  const inner = Buffer.alloc(14 + 20 + 8 + 16, 0x61);
  formatEthernet({ dst: macOf(d.innerDstMac ?? recordMac(d.innerDst), '02004e560000'), src: macOf(d.innerSrcMac ?? recordMac(d.innerSrc), '02004e560001'), tpid: 0, tci: 0, ethertype: 0x0800, headerLength: 0 }, inner, 0);
  formatIpv4({ headerLength: 20, tos: 0, totalLength: 44, id: 1, flags: 2, fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL_ICMP, checksum: 0, src: innerSrc, dst: innerDst }, inner, 14);
  inner[34] = 8; // ICMP echo request
  if (ingress !== 'fabric') return inner;
  const outerSrc = ip('outerSrc');
  const gatewayPa = [...state.list('providerAddresses')].find((p) => !p.providerAddress.includes(':'))?.providerAddress;
  const outerDst = d.outerDst ? ip('outerDst') : gatewayPa ? ipv4ToNumber(gatewayPa) : -1;
  if (outerDst < 0) throw invalid('outerDst is required when the gateway has no IPv4 provider address');
  const frame = Buffer.alloc(42 + inner.length);
  formatEthernet({ dst: 0x02004e56aaaa, src: 0x02004e56bbbb, tpid: 0, tci: 0, ethertype: 0x0800, headerLength: 0 }, frame, 0);
  formatIpv4({ headerLength: 20, tos: 0, totalLength: 28 + inner.length, id: 1, flags: 2, fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL_GRE, checksum: 0, src: outerSrc, dst: outerDst }, frame, 14);
  formatNvgre({ vsid, flowId: Number(d.flowId ?? 0) & 0xff }, frame, 34, 'rfc7637');
  inner.copy(frame, 42);
  return frame;
}

export interface TraceOptions {
  /** As the gateway runs it (datapath.routeBetweenVsids); default true. */
  routeBetweenVsids?: boolean;
}

export async function tracePacket(state: DesiredState, request: TraceRequest, routeLookup?: RouteLookup, options: TraceOptions = {}): Promise<TraceResult> {
  const ingress = request.ingress ?? 'fabric';
  if (ingress !== 'fabric' && !/^vsid:[0-9]+$/.test(ingress)) throw invalid(`ingress must be "fabric" or "vsid:N", got ${JSON.stringify(ingress)}`);
  let frame: Buffer;
  if (typeof request.hex === 'string') {
    const hex = request.hex.replace(/[\s:]/g, '');
    if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw invalid('hex must be an even number of hex digits');
    frame = Buffer.from(hex, 'hex');
  } else if (typeof request.packet === 'string') {
    frame = frameFromDescription(state, ingress, request.packet);
  } else {
    throw invalid('give the packet as hex or as a packet description');
  }

  const counters = new RecordingCounters(createCounterMemory());
  const fabric = new CapturePort('fabric', Uint8Array.from([2, 0, 0x4e, 0x56, 0, 1]));
  const dataplane = new Dataplane(fabric, counters, Date.now);
  const steps: TraceStep[] = [];
  const tables = buildTables(state, 1, () => 0, { routeBetweenVsids: options.routeBetweenVsids ?? true }).tables;
  dataplane.setTables(tables);
  dataplane.assumeNeighbours(0x02004e56ffff);
  const tenants = new Map<number, CapturePort>();
  for (const table of tables.vsids) {
    const port = new CapturePort(`nvgw-t${table.vsid}`, Uint8Array.from(Buffer.from(table.gatewayMac.toString(16).padStart(12, '0'), 'hex')));
    tenants.set(table.vsid, port);
    dataplane.attachTenant(table.vsid, port);
  }
  fabric.sent.length = 0; // the ARP requests setTables sent for next hops are not part of the trace
  dataplane.setTracer({ step: (step, detail) => steps.push({ step, detail }) });

  if (ingress === 'fabric') {
    fabric.inject(frame);
  } else {
    const vsid = Number(ingress.slice(5));
    const port = tenants.get(vsid);
    if (!port) throw invalid(`VSID ${vsid} is not configured on this gateway`);
    port.inject(frame);
  }
  dataplane.poll();

  const output = [
    ...fabric.sent.map((f) => ({ port: 'fabric', hex: f.toString('hex') })),
    ...[...tenants.values()].flatMap((p) => p.sent.map((f) => ({ port: p.name, hex: f.toString('hex') }))),
  ];
  const result: TraceResult = { ingress, verdict: 'no output', steps, output };
  if (counters.dropped) {
    const reason = counters.dropped;
    result.verdict = reason;
    result.dropReason = reason;
    result.dropDescription = DROP_REASONS.find((d) => d.reason === reason)?.description ?? '';
    steps.push({ step: 'drop', detail: `${reason}: ${result.dropDescription}` });
  } else if (ingress === 'fabric' && output.some((o) => o.port !== 'fabric')) {
    result.verdict = 'delivered';
    const delivered = output.find((o) => o.port !== 'fabric')!;
    const inner = Buffer.from(delivered.hex, 'hex');
    if (routeLookup && inner.length >= 34 && inner.readUInt16BE(12) === 0x0800) {
      const dst = [...inner.subarray(30, 34)].join('.');
      const src = [...inner.subarray(26, 30)].join('.');
      try {
        steps.push({ step: 'route', detail: `the kernel routes it in the domain's table: ${await routeLookup({ dst, src, iif: delivered.port })}` });
      } catch (error) {
        steps.push({ step: 'route', detail: `the kernel's route lookup failed: ${(error as Error).message}` });
      }
    }
  } else if (ingress === 'fabric' && output.some((o) => o.port === 'fabric') && steps.some((s) => s.step === 'route')) {
    result.verdict = 'routed';
  } else if (output.some((o) => o.port === 'fabric')) {
    result.verdict = 'encapsulated';
  } else if (output.length > 0) {
    result.verdict = 'answered';
  }
  return result;
}
