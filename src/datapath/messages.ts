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
  | { type: 'tenants'; tenants: TenantSpec[]; reportMissing?: boolean }
  | { type: 'fabric'; gatewayPas: number[] }
  | { type: 'stop' };

export interface WorkerInit {
  fabricIfname: string;
  /** Gateway PAs, for the fabric port's kernel filter (IPv4 GRE to these, or ARP). */
  gatewayPas: number[];
  counters: SharedArrayBuffer;
  tables: DatapathTables;
  tenants: TenantSpec[];
  /** veth tenants share one packet port (see openSharedTenantPort). */
  sharedTenantPort: boolean;
  /** false: tenants whose interface does not exist yet are skipped silently (start before the first kernel pass). */
  reportMissing?: boolean;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'applied'; generation: number; tenants: string[] }
  | { type: 'port-error'; ifname: string; message: string }
  | { type: 'fatal'; message: string }
  | { type: 'stopped' };
