/**
 * The test side of ct-agent.ts: starts it in a namespace (`ip netns exec`, which execs, so
 * the child's PID is the agent's), sends commands, and keeps every message the channel
 * reported so a test can wait for the one it expects. stop() closes stdin, then ends the
 * agent by its PID if it is still there.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CtChange, CtKey, CtMessage } from '../../../../src/nat/ctnetlink.js';

const AGENT = fileURLToPath(new URL('./ct-agent.js', import.meta.url));

export interface AgentReady {
  port: number;
  recvBufferBytes: number;
  threadId: number;
}

interface Waiter {
  check: () => boolean;
}

export class CtAgent {
  readonly messages: CtMessage[] = [];
  overruns = 0;
  readonly socketErrors: string[] = [];
  readonly uncaught: string[] = [];
  ready!: AgentReady;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly waiters = new Set<Waiter>();
  private nextId = 1;
  /** How the agent ended, once it has. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private stderr = '';
  private exited = false;

  private constructor(
    readonly ns: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderr = (this.stderr + s).slice(-4000)));
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    child.on('exit', (code, signal) => {
      this.exited = true;
      this.exit = { code, signal };
      for (const p of this.pending.values()) p.reject(new Error(`ct-agent in ${ns} exited: ${this.stderr}`));
      this.pending.clear();
      this.notify();
    });
  }

  static async start(ns: string, opts: { worker?: boolean; recvBufferBytes?: number } = {}): Promise<CtAgent> {
    const args = ['netns', 'exec', ns, process.execPath, '--enable-source-maps', AGENT, 'serve'];
    if (opts.worker) args.push('--worker');
    if (opts.recvBufferBytes !== undefined) args.push('--recv-buffer', String(opts.recvBufferBytes));
    const agent = new CtAgent(ns, spawn('ip', args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    await agent.until('the agent to open its channel', () => agent.ready !== undefined, 10_000);
    return agent;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stderrText(): string {
    return this.stderr;
  }

  dump(): Promise<number> {
    return this.request({ op: 'dump' }) as Promise<number>;
  }

  update(entry: CtKey, change: CtChange): Promise<number> {
    return this.request({ op: 'update', entry, change }) as Promise<number>;
  }

  get(entry: CtKey): Promise<number> {
    return this.request({ op: 'get', entry }) as Promise<number>;
  }

  /** Makes the agent's next message listener call throw, once. */
  async throwOnce(): Promise<void> {
    await this.request({ op: 'throwOnce' });
  }

  /** Resolves when the agent's channel thread is about to spin for ms without reading its socket. */
  async block(ms: number): Promise<void> {
    await this.request({ op: 'block', ms });
  }

  /** The first message (already received or still to come) that matches. */
  async waitFor(what: string, match: (m: CtMessage) => boolean, timeoutMs = 10_000): Promise<CtMessage> {
    let found: CtMessage | undefined;
    await this.until(what, () => (found = this.messages.find(match)) !== undefined, timeoutMs);
    return found!;
  }

  /** The answer to a request: its 'error' message (errno 0 is the ack). */
  async answer(seq: number, timeoutMs = 10_000): Promise<number> {
    const m = await this.waitFor(`the answer to request ${seq}`, (x) => x.kind === 'error' && x.seq === seq, timeoutMs);
    return m.kind === 'error' ? m.errno : -1;
  }

  until(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        check: () => {
          if (condition()) finish();
          else if (this.exited) finish(new Error(`ct-agent in ${this.ns} exited while waiting for ${what}: ${this.stderr}`));
          return false;
        },
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; agent stderr: ${this.stderr}`)), timeoutMs);
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        if (error) reject(error);
        else resolve();
      };
      this.waiters.add(waiter);
      waiter.check();
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => {
      if (!this.exited && this.child.pid !== undefined) process.kill(this.child.pid, 'SIGKILL');
    }, 3000);
    await exited;
    clearTimeout(timer);
  }

  private request(command: object): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(`ct-agent in ${this.ns} has exited: ${this.stderr}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }

  private onLine(line: string): void {
    let parsed: { ready?: AgentReady; message?: CtMessage; overrun?: boolean; socketError?: string; uncaught?: string; id?: number; result?: unknown; error?: string };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.ready) this.ready = parsed.ready;
    if (parsed.message) this.messages.push(parsed.message);
    if (parsed.overrun) this.overruns += 1;
    if (parsed.socketError) this.socketErrors.push(parsed.socketError);
    if (parsed.uncaught) this.uncaught.push(parsed.uncaught);
    if (parsed.id !== undefined) {
      const p = this.pending.get(parsed.id);
      this.pending.delete(parsed.id);
      if (parsed.error !== undefined) p?.reject(new Error(`ct-agent: ${parsed.error}`));
      else p?.resolve(parsed.result);
    }
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w.check();
  }
}
