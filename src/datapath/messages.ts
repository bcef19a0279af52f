/** Messages between the control plane (main thread) and the data-path worker. */
import type { DatapathTables } from './tables.js';

export interface TenantSpec {
  vsid: number;
  /** Interface the data path reads and writes this VSID's frames on. */
  ifname: string;
  kind: 'veth' | 'tap';
}

export type ToWorker =
  | { type: 'tables'; tables: DatapathTables }
  | { type: 'tenants'; tenants: TenantSpec[] }
  | { type: 'fabric'; gatewayPas: number[] }
  | { type: 'stop' };

export interface WorkerInit {
  fabricIfname: string;
  /** Gateway PAs, for the fabric port's kernel filter (IPv4 GRE to these, or ARP). */
  gatewayPas: number[];
  counters: SharedArrayBuffer;
  tables: DatapathTables;
  tenants: TenantSpec[];
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'applied'; generation: number; tenants: string[] }
  | { type: 'port-error'; ifname: string; message: string }
  | { type: 'fatal'; message: string }
  | { type: 'stopped' };
