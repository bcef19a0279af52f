/**
 * The per-packet TypeScript cost of the pipeline, without I/O: decap (fabric -> tenant) and
 * encap (tenant -> fabric) over in-memory fake ports, at 64- and 1400-byte inner frames,
 * beside a reference measured in the same run (a plain JavaScript byte copy of the same
 * frames). Rows: with the addon's batched memcpy (what the worker runs) and with the
 * TypeScript byte-loop copier (what decided the move to native). Also counts garbage collections during the run: the
 * pipeline allocates nothing per packet, so a run of a million packets should trigger none
 * that the harness itself does not cause.
 *
 *   node dist/test/bench/datapath/pipeline-bench.js
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { CounterWriter, createCounterMemory } from '../../../src/datapath/counters.js';
import { copyFramesJs, Dataplane } from '../../../src/datapath/dataplane.js';
import type { FrameCopier } from '../../../src/datapath/dataplane.js';
import { copyFrames } from '../../../src/datapath/ports.js';
import type { FramePort, PortStats, RxBatch, TxBatch } from '../../../src/datapath/io/frame-port.js';
import { buildTables } from '../../../src/datapath/tables.js';
import { DesiredState } from '../../../src/model/desired-state.js';
import { arpReply, nvgreFrame, udpFrame } from '../../support/frames.js';

const SLOT = 2048;
const BATCH = 64;

/** Replays one frame forever on receive; discards what is sent. Allocation-free after construction. */
class ReplayPort implements FramePort {
  readonly fd = -1;
  readonly ifindex = 1;
  readonly frameCapacity = 9000;
  readonly rx = new Uint8Array(BATCH * SLOT);
  readonly tx = new Uint8Array(BATCH * SLOT);
  sent = 0;
  private length = 0;
  private once: Uint8Array | undefined;
  replaying = false;

  constructor(
    readonly name: string,
    readonly mac: Uint8Array,
  ) {}

  load(frame: Uint8Array): void {
    for (let i = 0; i < BATCH; i++) this.rx.set(frame, i * SLOT);
    this.length = frame.length;
  }

  injectOnce(frame: Uint8Array): void {
    this.once = frame;
  }

  receive(batch: RxBatch): number {
    batch.buffer = this.rx;
    if (this.once) {
      this.rx.set(this.once, 0);
      batch.offsets[0] = 0;
      batch.lengths[0] = this.once.length;
      this.once = undefined;
      return (batch.count = 1);
    }
    if (!this.replaying) return (batch.count = 0);
    for (let i = 0; i < BATCH; i++) {
      batch.offsets[i] = i * SLOT;
      batch.lengths[i] = this.length;
    }
    return (batch.count = BATCH);
  }

  releaseRx(): void {}

  reserveTx(batch: TxBatch, n: number): number {
    batch.buffer = this.tx;
    const count = Math.min(n, BATCH);
    for (let i = 0; i < count; i++) batch.offsets[i] = i * SLOT;
    return (batch.count = count);
  }

  sendTx(batch: TxBatch, count: number): void {
    this.sent += count;
    batch.count = 0;
  }

  stats(): PortStats {
    return { rxPackets: 0, rxKernelDrops: 0, txPackets: this.sent, txErrors: 0, txRingFull: 0 };
  }

  close(): void {}
}

const mac = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));
const RD = '{11111111-2222-3333-4444-000000005001}';

function setup(copier: FrameCopier) {
  const state = DesiredState.fromDocument({
    routingDomains: [{ routingDomainId: RD }],
    virtualSubnets: [{ virtualSubnetId: 5001, routingDomainId: RD }],
    customerRoutes: [{ routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '192.168.0.0/16', nextHop: '0.0.0.0' }],
    lookupRecords: [
      { customerAddress: '192.168.1.1', virtualSubnetId: 5001, macAddress: '00155d143c01', providerAddress: '10.1.1.40' },
      ...Array.from({ length: 1000 }, (_, i) => ({
        customerAddress: `192.168.${10 + (i >> 8)}.${(i & 255) || 1}`,
        virtualSubnetId: 5001,
        macAddress: `00155d${(0x10000 + i).toString(16).padStart(6, '0')}`,
        providerAddress: '10.1.1.20',
      })).filter((r, i, all) => all.findIndex((o) => o.customerAddress === r.customerAddress) === i),
    ],
    providerAddresses: [{ interface: 'eth1', providerAddress: '10.1.1.40', prefixLength: 24 }],
  });
  const fabric = new ReplayPort('eth1', mac('02000000aa01'));
  const tenant = new ReplayPort('nvgw-d5001', mac('02000000cc01'));
  const dataplane = new Dataplane(fabric, new CounterWriter(createCounterMemory()), Date.now, copier);
  dataplane.setTables(buildTables(state, 1, () => 0).tables);
  dataplane.attachTenant(5001, tenant);
  // Resolve the host's PA so encap has a template.
  fabric.injectOnce(arpReply({ srcMac: '02000000bb01', srcIp: '10.1.1.20', dstMac: '02000000aa01', dstIp: '10.1.1.40' }));
  dataplane.poll();
  return { dataplane, fabric, tenant };
}

function measure(label: string, run: (packets: number) => void, packets: number): { nsPerPacket: number; gcs: number } {
  run(packets / 10); // warm up: let the JIT settle
  let gcs = 0;
  const observer = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  const start = process.hrtime.bigint();
  run(packets);
  const ns = Number(process.hrtime.bigint() - start);
  observer.disconnect();
  return { nsPerPacket: ns / packets, gcs };
}

const PACKETS = Number(process.env.BENCH_PACKETS ?? 2_000_000);
const rows: string[] = [];
for (const payload of [64 - 42, 1400 - 42]) {
  const inner = udpFrame({ srcMac: '00155d010000', dstMac: '00155d143c01', srcIp: '192.168.10.1', dstIp: '192.168.1.1', payload });
  const innerLength = inner.length;
  const decapFrame = nvgreFrame({ srcPa: '10.1.1.20', dstPa: '10.1.1.40', vsid: 5001, flowId: 7 }, inner);
  const encapFrame = udpFrame({ srcMac: '00155d143c01', dstMac: '00155d010000', srcIp: '192.168.1.1', dstIp: '192.168.10.1', payload });

  const run = (copier: FrameCopier) => {
    const decap = setup(copier);
    decap.fabric.load(decapFrame);
    const decapResult = measure('decap', (n) => {
      decap.fabric.replaying = true;
      for (let done = 0; done < n; done += BATCH * 4) decap.dataplane.poll();
      decap.fabric.replaying = false;
    }, PACKETS);
    const encap = setup(copier);
    encap.tenant.load(encapFrame);
    const encapResult = measure('encap', (n) => {
      encap.tenant.replaying = true;
      for (let done = 0; done < n; done += BATCH * 4) encap.dataplane.poll();
      encap.tenant.replaying = false;
    }, PACKETS);
    return { decapResult, encapResult };
  };
  const js = run(copyFramesJs);
  const native = run(copyFrames);

  // Reference: copying the same bytes between two buffers with the same loop, nothing else.
  const src = new Uint8Array(SLOT * BATCH);
  const dst = new Uint8Array(SLOT * BATCH);
  const copyResult = measure('copy', (n) => {
    for (let done = 0; done < n; done += BATCH) {
      for (let p = 0; p < BATCH; p++) {
        const from = p * SLOT;
        for (let i = 0; i < innerLength; i++) dst[from + i] = src[from + i]!;
      }
    }
  }, PACKETS);

  const line = (name: string, r: { nsPerPacket: number; gcs: number }) =>
    `| ${name.padEnd(8)} | ${String(innerLength).padStart(5)} B | ${r.nsPerPacket.toFixed(0).padStart(6)} ns | ${(1e3 / r.nsPerPacket).toFixed(2).padStart(6)} Mpps | ${(r.nsPerPacket / copyResult.nsPerPacket).toFixed(2).padStart(5)} x | ${String(r.gcs).padStart(4)} |`;
  rows.push(line('decap', native.decapResult), line('encap', native.encapResult), line('decap js', js.decapResult), line('encap js', js.encapResult), line('copy ref', copyResult));
}

console.log(`\nnvgw pipeline bench: ${PACKETS} packets per row, one core, no I/O (fake ports)\n`);
console.log('| row      | inner   | per pkt   | rate        | /copy   | GCs  |');
console.log('|----------|---------|-----------|-------------|---------|------|');
for (const r of rows) console.log(r);
