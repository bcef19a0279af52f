/**
 * The test side of an agent: a node process started with `ip netns exec NS` that runs
 * port operations (agent.ts) and answers one JSON line per request. Only processes
 * started here are ended here, by their PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface AgentError {
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  interface?: string;
}

/** Thrown by request() when the agent's operation threw: carries the agent-side fields. */
export class AgentOperationError extends Error {
  readonly detail: AgentError;
  constructor(op: string, detail: AgentError) {
    super(`agent ${op}: ${detail.message}`);
    this.detail = detail;
  }
}

interface Pending {
  op: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

const agentScript = fileURLToPath(new URL('./agent.js', import.meta.url));

export class Agent {
  readonly ns: string;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #exited = false;
  #stderr = '';

  private constructor(ns: string, child: ChildProcess) {
    this.ns = ns;
    this.#child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-4000);
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => this.#onLine(line));
    child.on('exit', () => {
      this.#exited = true;
      for (const [id, pending] of this.#pending) {
        clearTimeout(pending.timer);
        pending.reject(new Error(`agent in ${ns} exited during ${pending.op}: ${this.#stderr}`));
        this.#pending.delete(id);
      }
    });
  }

  static async start(ns: string): Promise<Agent> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--enable-source-maps', agentScript, 'serve'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const agent = new Agent(ns, child);
    await agent.request('ping', {});
    return agent;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  #onLine(line: string): void {
    let message: { id: number; ok: boolean; result?: unknown; error?: AgentError };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      return; // not a reply (stray output)
    }
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new AgentOperationError(pending.op, message.error ?? { message: 'unknown error' }));
  }

  request<T = unknown>(op: string, args: object, timeoutMs = 15_000): Promise<T> {
    if (this.#exited) return Promise.reject(new Error(`agent in ${this.ns} has exited: ${this.#stderr}`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`agent in ${this.ns}: ${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { op, resolve: resolve as (value: unknown) => void, reject, timer });
      this.#child.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  /** Asks the agent to exit; after 3 s ends it with SIGKILL (its PID only). */
  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdin!.end(`${JSON.stringify({ id: 0, op: 'exit', args: {} })}\n`);
    const timer = setTimeout(() => {
      if (!this.#exited && this.#child.pid !== undefined) process.kill(this.#child.pid, 'SIGKILL');
    }, 3000);
    await exited;
    clearTimeout(timer);
  }
}
