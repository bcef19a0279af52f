/**
 * Test support: a real nvgw gateway started in-process from the root build (dist/), on
 * port 0 with its state and token in a temporary directory; nvgwctl run through the real
 * binary (spawned, asynchronously, so the in-process gateway keeps answering) or through
 * main() with captured output. The gateway is loaded by URL at run time: this package
 * depends on the API contract, never on gateway sources at compile time.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientOptions } from '../../src/client/client.js';
import { NvgwClient } from '../../src/client/client.js';
import type { ConfigDocument } from '../../src/client/types.js';
import { KIND_NAMES } from '../../src/client/types.js';
import type { CliIo } from '../../src/cli/main.js';
import { main } from '../../src/cli/main.js';

/** The repository root (the gateway's own build lives in its dist/). */
export const ROOT = new URL('../../../../', import.meta.url);
export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
export const NVGWCTL = fileURLToPath(new URL('../../../bin/nvgwctl.js', import.meta.url));

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

export function readFixture(name: string): Promise<string> {
  return readFile(fixture(name), 'utf8');
}

interface RunningGateway {
  url: string;
  close(): Promise<void>;
}

export interface TestGateway {
  url: string;
  token: string;
  tokenFile: string;
  dir: string;
  client(options?: Partial<ClientOptions>): NvgwClient;
  close(): Promise<void>;
}

/** Starts nvgw with a fresh state; `env` adds NVGW_* settings (TLS). */
export async function startTestGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'nvgwctl-test-'));
  const { startGateway } = (await import(new URL('dist/src/main.js', ROOT).href)) as { startGateway: (config: unknown) => Promise<RunningGateway> };
  const { loadConfig } = (await import(new URL('dist/src/config/config.js', ROOT).href)) as { loadConfig: (file: undefined, env: Record<string, string>) => unknown };
  const tokenFile = join(dir, 'api-token');
  const config = loadConfig(undefined, {
    NVGW_API_HOST: '127.0.0.1',
    NVGW_API_PORT: '0',
    NVGW_API_TOKEN_FILE: tokenFile,
    NVGW_STATE_PATH: join(dir, 'state.db'),
    NVGW_STATE_SYNCHRONOUS: 'normal',
    NVGW_LOG_LEVEL: 'silent',
    ...env,
  });
  const gateway = await startGateway(config);
  const token = (await readFile(tokenFile, 'utf8')).trim();
  return {
    url: gateway.url,
    token,
    tokenFile,
    dir,
    client: (options = {}) => new NvgwClient({ url: gateway.url, token, retry: { retries: 0 }, ...options }),
    async close() {
      await gateway.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real nvgwctl binary. */
export function spawnCli(args: readonly string[], options: { env?: Record<string, string>; stdin?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [NVGWCTL, ...args],
      { env: { PATH: process.env.PATH ?? '', ...options.env }, encoding: 'utf8', timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error && typeof error.code === 'number' ? error.code : error ? -1 : 0;
        if (error && code === -1) reject(error);
        else resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(options.stdin ?? '');
  });
}

/** Runs nvgwctl's main in-process with captured output. */
export async function runCli(args: readonly string[], options: { env?: Record<string, string>; files?: Record<string, string>; clientOptions?: Partial<ClientOptions> } = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: options.env ?? {},
    readFile: async (path) => {
      if (options.files && Object.hasOwn(options.files, path)) return options.files[path]!;
      return readFile(path, 'utf8');
    },
    clientOptions: options.clientOptions,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/** The environment nvgwctl needs to reach a test gateway. */
export function cliEnv(gateway: TestGateway): Record<string, string> {
  return { NVGW_URL: gateway.url, NVGW_TOKEN: gateway.token };
}

/** A configuration in a canonical order, to compare two gateways' states. */
export function sortedConfig(doc: ConfigDocument): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const kind of KIND_NAMES) out[kind] = doc[kind].map((item) => JSON.stringify(item, Object.keys(item).sort())).sort();
  return out;
}
