/**
 * The control plane's handle on the data path: starts the worker thread, hands it table
 * updates and tenant ports, and reads its counters from shared memory (no round trip).
 */
import { Worker } from 'node:worker_threads';
import type { CounterSnapshot, VSID_COLUMNS } from './counters.js';
import { CounterReader, createCounterMemory, MAX_VSID_SLOTS } from './counters.js';
import type { FromWorker, SharedTenantPortMode, TenantSpec, ToWorker, WorkerInit } from './messages.js';
import type { OffloadStats } from './offload-manager.js';
import type { DatapathTables } from './tables.js';

export interface DatapathStats extends CounterSnapshot {
  vsids: ({ virtualSubnetId: number } & Record<(typeof VSID_COLUMNS)[number], number>)[];
}

export interface DatapathStatus {
  state: 'stopped' | 'starting' | 'running' | 'failed';
  fabricIfname: string;
  generation: number;
  tenantPorts: string[];
  /** The veth tenants are read through the one shared packet port (else a port each). */
  sharedTenantPort?: boolean;
  portErrors: { ifname: string; message: string }[];
  /** Connection offload: what the data path carries for the kernel, and what it left there. */
  offload?: OffloadStats;
  error?: string;
}

/** What the reconciler needs of a data path; the worker is one implementation, a fake another. */
export interface DatapathPort {
  /** `reportMissing` false: tenant interfaces that do not exist yet are not port errors (yet). */
  start(fabricIfname: string, gatewayPas: number[], tables: DatapathTables, tenants: TenantSpec[], options?: { reportMissing?: boolean }): Promise<void>;
  update(tables: DatapathTables): void;
  setTenants(tenants: TenantSpec[]): void;
  /** The gateway's PAs changed: the fabric port's kernel filter must follow. */
  setGatewayPas(gatewayPas: number[]): void;
  /** Counter slot of a VSID (allocated here, stable while the VSID exists). */
  slotOf(vsid: number): number;
  releaseSlot(vsid: number): void;
  stats(): DatapathStats;
  status(): DatapathStatus;
  /** Resolves when the worker has applied at least this table generation. */
  applied(generation: number): Promise<void>;
  stop(): Promise<void>;
}

/** Slot bookkeeping and counter reads, shared by the real and the fake data path. */
abstract class CountingDatapath {
  protected readonly memory = createCounterMemory();
  protected readonly reader = new CounterReader(this.memory);
  private readonly slots = new Map<number, number>();
  private readonly free: number[] = [];
  private nextSlot = 0;

  slotOf(vsid: number): number {
    let slot = this.slots.get(vsid);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.nextSlot++;
      if (slot >= MAX_VSID_SLOTS) throw new Error(`more than ${MAX_VSID_SLOTS} VSIDs`);
      this.reader.clearSlot(slot);
      this.slots.set(vsid, slot);
    }
    return slot;
  }

  releaseSlot(vsid: number): void {
    const slot = this.slots.get(vsid);
    if (slot === undefined) return;
    this.slots.delete(vsid);
    this.free.push(slot);
  }

  stats(): DatapathStats {
    return {
      ...this.reader.snapshot(),
      vsids: [...this.slots].sort((a, b) => a[0] - b[0]).map(([vsid, slot]) => ({ virtualSubnetId: vsid, ...this.reader.vsid(slot) })),
    };
  }
}

export class WorkerDatapath extends CountingDatapath implements DatapathPort {
  private worker: Worker | undefined;
  private current: DatapathStatus = { state: 'stopped', fabricIfname: '', generation: -1, tenantPorts: [], portErrors: [] };
  private readonly waiters: { generation: number; resolve: () => void }[] = [];

  constructor(
    private readonly options: { sharedTenantPort: SharedTenantPortMode; connectionOffload?: boolean } = { sharedTenantPort: 'auto' },
    private readonly onEvent: (message: FromWorker) => void = () => {},
  ) {
    super();
  }

  async start(fabricIfname: string, gatewayPas: number[], tables: DatapathTables, tenants: TenantSpec[], options: { reportMissing?: boolean } = {}): Promise<void> {
    const init: WorkerInit = { fabricIfname, gatewayPas, counters: this.memory, tables, tenants, sharedTenantPort: this.options.sharedTenantPort, reportMissing: options.reportMissing ?? true, connectionOffload: this.options.connectionOffload ?? true };
    this.current = { state: 'starting', fabricIfname, generation: -1, tenantPorts: [], portErrors: [] };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
    this.worker = worker;
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        this.handle(message);
        if (message.type === 'ready') resolve();
        if (message.type === 'fatal') reject(new Error(message.message));
      });
      worker.once('error', (error) => {
        this.current = { ...this.current, state: 'failed', error: error.message };
        reject(error);
      });
      worker.once('exit', (code) => {
        if (this.current.state !== 'stopped') this.current = { ...this.current, state: 'failed', error: `data-path worker exited with code ${code}` };
      });
    });
    this.current.state = 'running';
    this.current.generation = tables.generation;
  }

  update(tables: DatapathTables): void {
    this.post({ type: 'tables', tables });
  }

  setTenants(tenants: TenantSpec[]): void {
    this.post({ type: 'tenants', tenants });
  }

  setGatewayPas(gatewayPas: number[]): void {
    this.post({ type: 'fabric', gatewayPas });
  }

  status(): DatapathStatus {
    return { ...this.current, portErrors: [...this.current.portErrors] };
  }

  applied(generation: number): Promise<void> {
    if (this.current.generation >= generation) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ generation, resolve }));
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.current.state = 'stopped';
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.post({ type: 'stop' });
    const timer = setTimeout(() => void worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
    this.worker = undefined;
  }

  private post(message: ToWorker): void {
    this.worker?.postMessage(message);
  }

  private handle(message: FromWorker): void {
    switch (message.type) {
      case 'applied':
        this.current.generation = message.generation;
        this.current.sharedTenantPort = message.shared;
        if (message.tenants) {
          const tenants = new Set(message.tenants);
          this.current.tenantPorts = message.tenants;
          this.current.portErrors = this.current.portErrors.filter((e) => !tenants.has(e.ifname));
        }
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          if (this.waiters[i]!.generation <= message.generation) this.waiters.splice(i, 1)[0]!.resolve();
        }
        break;
      case 'port-error':
        this.current.portErrors = [...this.current.portErrors.filter((e) => e.ifname !== message.ifname), { ifname: message.ifname, message: message.message }];
        break;
      case 'fatal':
        this.current = { ...this.current, state: 'failed', error: message.message };
        break;
      case 'offload':
        this.current.offload = message.stats;
        break;
      default:
        break;
    }
    this.onEvent(message);
  }
}

/** Records what the control plane asked for; counters stay zero. For tests without root. */
export class FakeDatapath extends CountingDatapath implements DatapathPort {
  updates: DatapathTables[] = [];
  tenants: TenantSpec[] = [];
  private running = false;
  private generation = -1;

  start(_fabricIfname: string, _gatewayPas: number[], tables: DatapathTables, tenants: TenantSpec[]): Promise<void> {
    this.running = true;
    this.updates.push(tables);
    this.tenants = tenants;
    this.generation = tables.generation;
    return Promise.resolve();
  }

  update(tables: DatapathTables): void {
    this.updates.push(tables);
    this.generation = tables.generation;
  }

  setTenants(tenants: TenantSpec[]): void {
    this.tenants = tenants;
  }

  gatewayPas: number[] = [];

  setGatewayPas(gatewayPas: number[]): void {
    this.gatewayPas = gatewayPas;
  }

  status(): DatapathStatus {
    return { state: this.running ? 'running' : 'stopped', fabricIfname: 'fake', generation: this.generation, tenantPorts: this.tenants.map((t) => t.ifname), portErrors: [] };
  }

  applied(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.running = false;
    return Promise.resolve();
  }
}
