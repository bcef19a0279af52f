/**
 * Data-path counters in shared memory: the worker increments plain Float64 slots (one
 * writer, no atomics on the hot path) and the API reads them without a message round
 * trip. Every drop has a named reason (src/packet/drop-reasons.ts); events that are not
 * drops (ARP answered, broadcast replicated) have their own list.
 */
import { DROP_REASONS } from '../packet/drop-reasons.js';
import type { DropReason } from '../packet/drop-reasons.js';

export const EVENTS = [
  { event: 'arp-answered', description: 'ARP request from the gateway for a CA, answered from the lookup records (proxy ARP, no flooding)' },
  { event: 'flood-replicated', description: 'broadcast/multicast frame copied by unicast to one PA of its VSID (head-end replication)' },
  { event: 'fabric-arp-learned', description: 'provider next-hop MAC learned from ARP' },
  { event: 'fabric-arp-sent', description: 'ARP request sent for a provider next hop' },
  { event: 'icmp-frag-needed-sent', description: 'ICMP fragmentation-needed (MTU = PA MTU - 42) sent back through the tunnel for an oversize DF packet' },
  { event: 'routed-between-vsids', description: 'inner IPv4 packet routed from one VSID of a routing domain to another by the data path itself (no kernel crossing)' },
  { event: 'inner-fragmented', description: 'oversize DF-clear inner IPv4 packet fragmented to the tenant MTU' },
  { event: 'offloaded-outbound', description: 'tenant packet of an offloaded connection translated and sent out of the uplink by the data path (no kernel crossing)' },
  { event: 'offloaded-inbound', description: 'uplink packet of an offloaded connection translated and encapsulated to its CA by the data path (no kernel crossing)' },
] as const;
export type EventName = (typeof EVENTS)[number]['event'];

/** Per-VSID counter columns. */
export const VSID_COLUMNS = ['decapPackets', 'decapBytes', 'encapPackets', 'encapBytes', 'dropPackets', 'dropBytes'] as const;
const COLUMNS = VSID_COLUMNS.length;

export const MAX_VSID_SLOTS = 16_384;

const DROP_BASE = 0;
const EVENT_BASE = DROP_BASE + DROP_REASONS.length * 2;
const VSID_BASE = EVENT_BASE + EVENTS.length * 2;
const SIZE = VSID_BASE + MAX_VSID_SLOTS * COLUMNS;

export const DROP_INDEX: Record<DropReason, number> = Object.fromEntries(DROP_REASONS.map((d, i) => [d.reason, i])) as Record<DropReason, number>;
export const EVENT_INDEX: Record<EventName, number> = Object.fromEntries(EVENTS.map((e, i) => [e.event, i])) as Record<EventName, number>;

export function createCounterMemory(): SharedArrayBuffer {
  return new SharedArrayBuffer(SIZE * Float64Array.BYTES_PER_ELEMENT);
}

/** The worker's side: increments. */
export class CounterWriter {
  private readonly cells: Float64Array;

  constructor(memory: SharedArrayBuffer) {
    this.cells = new Float64Array(memory);
  }

  drop(reason: DropReason, bytes: number, slot = -1): void {
    const i = DROP_BASE + DROP_INDEX[reason] * 2;
    this.cells[i]! += 1;
    this.cells[i + 1]! += bytes;
    if (slot >= 0) {
      const v = VSID_BASE + slot * COLUMNS;
      this.cells[v + 4]! += 1;
      this.cells[v + 5]! += bytes;
    }
  }

  event(name: EventName, bytes = 0): void {
    const i = EVENT_BASE + EVENT_INDEX[name] * 2;
    this.cells[i]! += 1;
    this.cells[i + 1]! += bytes;
  }

  decap(slot: number, bytes: number): void {
    const v = VSID_BASE + slot * COLUMNS;
    this.cells[v]! += 1;
    this.cells[v + 1]! += bytes;
  }

  encap(slot: number, bytes: number): void {
    const v = VSID_BASE + slot * COLUMNS;
    this.cells[v + 2]! += 1;
    this.cells[v + 3]! += bytes;
  }
}

export interface CounterSnapshot {
  drops: Record<DropReason, { packets: number; bytes: number }>;
  events: Record<EventName, { packets: number; bytes: number }>;
}

/** The control plane's side: reads. */
export class CounterReader {
  private readonly cells: Float64Array;

  constructor(memory: SharedArrayBuffer) {
    this.cells = new Float64Array(memory);
  }

  snapshot(): CounterSnapshot {
    const drops = {} as CounterSnapshot['drops'];
    DROP_REASONS.forEach((d, i) => (drops[d.reason] = { packets: this.cells[DROP_BASE + i * 2]!, bytes: this.cells[DROP_BASE + i * 2 + 1]! }));
    const events = {} as CounterSnapshot['events'];
    EVENTS.forEach((e, i) => (events[e.event] = { packets: this.cells[EVENT_BASE + i * 2]!, bytes: this.cells[EVENT_BASE + i * 2 + 1]! }));
    return { drops, events };
  }

  vsid(slot: number): Record<(typeof VSID_COLUMNS)[number], number> {
    const v = VSID_BASE + slot * COLUMNS;
    const out = {} as Record<(typeof VSID_COLUMNS)[number], number>;
    VSID_COLUMNS.forEach((column, i) => (out[column] = this.cells[v + i]!));
    return out;
  }

  /** Zeroes a slot before it is given to a new VSID. */
  clearSlot(slot: number): void {
    this.cells.fill(0, VSID_BASE + slot * COLUMNS, VSID_BASE + (slot + 1) * COLUMNS);
  }
}
