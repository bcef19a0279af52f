/**
 * Where a lab lives between commands: `up` runs in one process and `down` in another, so
 * what `up` created (namespace names, daemon PIDs, the API's token and port) is on disk.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LabSettings {
  /** Namespace prefix: 2-6 lowercase letters (NVGW_LAB_PREFIX, default "nvlab"). */
  prefix: string;
  /** State directory (NVGW_LAB_DIR, default /run/nvgw-lab): state.json, logs, OVS and gateway files. */
  dir: string;
}

export interface LabState {
  prefix: string;
  dir: string;
  createdAt: string;
  /** 'building' until `up` finished; a lab left in it is repaired by the next `up`. */
  phase: 'building' | 'up';
  namespaces: string[];
  gateway: { ns: string; pid: number; port: number; tokenFile: string; configFile: string } | undefined;
  /** ovsdb-server and ovs-vswitchd of each host. */
  ovsPids: number[];
  /** Whether the build had NAT resources and the lab configured them. */
  nat: boolean | undefined;
}

export function labSettings(env: NodeJS.ProcessEnv = process.env): LabSettings {
  return { prefix: env.NVGW_LAB_PREFIX || 'nvlab', dir: env.NVGW_LAB_DIR || '/run/nvgw-lab' };
}

export const stateFile = (settings: LabSettings): string => join(settings.dir, 'state.json');

export function readState(settings: LabSettings): LabState | undefined {
  const file = stateFile(settings);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as LabState;
}

/** Written to a temporary file and renamed, so a crash never leaves half a state file. */
export function writeState(settings: LabSettings, state: LabState): void {
  mkdirSync(settings.dir, { recursive: true });
  const tmp = `${stateFile(settings)}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, stateFile(settings));
}
