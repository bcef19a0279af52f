/** Messages between the control plane (main thread) and the data-path worker. */
import type { OffloadStats } from './offload-manager.js';
import type { DatapathTables } from './tables.js';

/** on: one packet port for every veth tenant; off: one per VSID; auto: shared from SHARED_PORT_FROM VSIDs on. */
export type SharedTenantPortMode = 'auto' | 'on' | 'off';

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
  /** Whether veth tenants share one packet port (see openSharedTenantPort). */
  sharedTenantPort: SharedTenantPortMode;
  /** false: tenants whose interface does not exist yet are skipped silently (start before the first kernel pass). */
  reportMissing?: boolean;
  /** Carry established connections to external networks in the data path (datapath.connectionOffload). */
  connectionOffload?: boolean;
}

export type FromWorker =
  | { type: 'ready' }
  /** `tenants`: the attached tenant interfaces, present when they changed since the last one. */
  | { type: 'applied'; generation: number; tenants?: string[]; shared: boolean }
  | { type: 'port-error'; ifname: string; message: string }
  | { type: 'offload'; stats: OffloadStats }
  | { type: 'fatal'; message: string }
  | { type: 'stopped' };
