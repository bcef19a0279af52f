/**
 * The test side of adapter-agent.ts: starts the agent in a namespace, sends one request at a
 * time, and ends the agent by its PID.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { KernelIntent } from '../../../src/kernel/intent.js';
import type { KernelObserved, KernelPlan, ReconcileResult } from '../../../src/kernel/kernel-port.js';
import type { AgentRequest } from './adapter-agent.js';

const AGENT = fileURLToPath(new URL('./adapter-agent.js', import.meta.url));
/** Per request; the first one also pays for the agent's start (seconds under TCG). */
const TIMEOUT_MS = 120_000;

export interface AdapterAgent {
  detect(): Promise<{ backend: string }>;
  observe(): Promise<KernelObserved>;
  plan(intent: KernelIntent): Promise<KernelPlan>;
  reconcile(intent: KernelIntent): Promise<ReconcileResult>;
  stop(): Promise<void>;
}

export function startAdapterAgent(ns: string): AdapterAgent {
  const child: ChildProcessWithoutNullStreams = spawn('ip', ['netns', 'exec', ns, process.execPath, AGENT, 'serve']);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  const waiting: { resolve(line: string): void; reject(error: Error): void }[] = [];
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  void exited.then(() => {
    for (const w of waiting.splice(0)) w.reject(new Error(`the adapter agent in ${ns} exited: ${stderr}`));
  });
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.resolve(line));
  let queue: Promise<unknown> = Promise.resolve();

  const request = <T>(req: AgentRequest): Promise<T> => {
    const result = queue.then(
      () =>
        new Promise<T>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`adapter agent in ${ns}: no answer to ${req.op} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
          waiting.push({
            resolve(line) {
              clearTimeout(timer);
              const reply = JSON.parse(line) as { ok: boolean; answer?: T; error?: string };
              if (reply.ok) resolve(reply.answer as T);
              else reject(new Error(`adapter agent in ${ns}: ${req.op}: ${reply.error ?? '?'}`));
            },
            reject(error) {
              clearTimeout(timer);
              reject(error);
            },
          });
          child.stdin.write(`${JSON.stringify(req)}\n`);
        }),
    );
    queue = result.catch(() => undefined);
    return result;
  };

  return {
    detect: () => request({ op: 'detect' }),
    observe: () => request({ op: 'observe' }),
    plan: (intent) => request({ op: 'plan', intent }),
    reconcile: (intent) => request({ op: 'reconcile', intent }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
