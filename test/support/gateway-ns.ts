/**
 * The real `nvgw serve` inside a lab namespace, with its data path on a fabric interface
 * there. Started and stopped by PID through the lab; its API is reached with ns-fetch.
 * Starting again in the same namespace reuses the same state database and token, as a
 * restarted gateway would.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackgroundProcess, Lab } from './netns.js';
import { repoRoot } from './paths.js';

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  /** Wall clock (ms since the epoch) when the response arrived. */
  at: number;
  /** Wall clock (ms) when the request was sent. */
  sentAt: number;
}

export interface StatsBody {
  drops: Record<string, { packets: number; bytes: number }>;
  events: Record<string, { packets: number; bytes: number }>;
  vsids: { virtualSubnetId: number; decapPackets: number; encapPackets: number; dropPackets: number }[];
}

export interface NsGateway {
  readonly ns: string;
  readonly process: BackgroundProcess;
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>>;
  /** Like call, but fails the test on a non-2xx answer. */
  ok<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>>;
  stats(): Promise<StatsBody>;
  drops(reason: string): Promise<number>;
  /** Ends the gateway by its PID (SIGTERM by default; SIGKILL to test crash recovery). */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

let calls = 0;

export async function startGatewayInNs(lab: Lab, ns: string, options: { fabricIfname: string; port?: number; tenantKind?: 'veth' | 'tap'; routeBetweenVsids?: boolean; resyncSeconds?: number; sharedTenantPort?: 'auto' | 'on' | 'off'; connectionOffload?: boolean }): Promise<NsGateway> {
  const dir = join(lab.tmpDir, `gw-${ns}`);
  const port = options.port ?? 8470;
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, 'nvgw.json');
  const tokenFile = join(dir, 'token');
  writeFileSync(
    configFile,
    JSON.stringify({
      api: { port, tokenFile },
      state: { path: join(dir, 'state.db') },
      log: { level: 'info' },
      datapath: { fabricInterface: options.fabricIfname, tenantInterfaceKind: options.tenantKind ?? 'veth', resyncSeconds: options.resyncSeconds ?? 5, routeBetweenVsids: options.routeBetweenVsids ?? true, sharedTenantPort: options.sharedTenantPort ?? 'auto', connectionOffload: options.connectionOffload ?? true },
    }),
  );
  const child = lab.spawn(ns, [process.execPath, join(repoRoot, 'bin', 'nvgw.js'), 'serve', '--config', configFile]);
  await child.waitForOutput(/provider API listening/, 30_000);
  const base = `http://127.0.0.1:${port}`;
  const fetcher = join(repoRoot, 'dist', 'test', 'support', 'ns-fetch.js');

  const call = async <T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> => {
    const args = [process.execPath, fetcher, method, `${base}${path}`, tokenFile];
    if (body !== undefined) {
      const bodyFile = join(dir, `body-${process.pid}-${calls++}.json`);
      writeFileSync(bodyFile, JSON.stringify(body));
      args.push(bodyFile);
    }
    const { stdout } = await lab.exec(ns, args);
    return JSON.parse(stdout) as ApiResponse<T>;
  };
  const ok = async <T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> => {
    const response = await call<T>(method, path, body);
    if (response.status < 200 || response.status > 299) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(response.body)}`);
    return response;
  };
  const stats = async () => (await ok<StatsBody>('GET', '/v1/stats')).body;
  return {
    ns,
    process: child,
    call,
    ok,
    stats,
    async drops(reason) {
      return (await stats()).drops[reason]?.packets ?? 0;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      await child.stop(signal);
    },
  };
}
