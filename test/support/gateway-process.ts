/**
 * Runs the real `nvgw serve` in a child process on a temp state directory, for tests
 * that restart or kill the gateway. Each gateway ends only by the PID it was given.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from './paths.js';

export interface GatewayProcess {
  url: string;
  token: string;
  child: ChildProcess;
  /** Sends a signal and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface StateDir {
  path: string;
  configFile: string;
  remove(): void;
}

export function makeStateDir(prefix = 'nvgw-gw-', extra: Record<string, unknown> = {}): StateDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const configFile = join(path, 'nvgw.json');
  const config = {
    api: { port: 0, tokenFile: join(path, 'token'), ...((extra.api as object) ?? {}) },
    state: { path: join(path, 'state.db') },
    log: { level: 'info' },
  };
  writeFileSync(configFile, JSON.stringify(config));
  return { path, configFile, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function startGatewayProcess(dir: StateDir): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'nvgw.js'), 'serve', '--config', dir.configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`gateway did not start in 20 s: ${stderr}`)), 20_000);
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'provider API listening' && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before listening: ${stderr}`));
    });
  });
  const token = readFileSync(join(dir.path, 'token'), 'utf8').trim();
  return {
    url,
    token,
    child,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** fetch with the bearer token and JSON. */
export async function call(gw: { url: string; token: string }, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${gw.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${gw.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as unknown };
}
