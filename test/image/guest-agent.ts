/**
 * A minimal client for the QEMU guest agent (qemu-ga in the appliance), over the unix
 * socket qemu exposes as a chardev: guest-sync to align the stream, then guest-exec and
 * guest-exec-status to run a command in the guest and collect its output. Protocol:
 * https://qemu-project.gitlab.io/qemu/interop/qemu-ga-ref.html
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface GuestExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

interface GuestExecStatus {
  exited: boolean;
  exitcode?: number;
  'out-data'?: string;
  'err-data'?: string;
}

export class GuestAgent {
  private buffer = '';
  private waiters: Array<(line: string) => void> = [];

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (line !== '') this.waiters.shift()?.(line);
      }
    });
  }

  /** Connects and synchronises (the agent may have stale bytes from an earlier client). */
  static async connect(path: string, timeoutMs: number): Promise<GuestAgent> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path, () => resolve(s));
      s.once('error', reject);
    });
    const agent = new GuestAgent(socket);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const id = Math.floor(Math.random() * 1e9);
      try {
        const reply = await agent.command<number>('guest-sync', { id }, 5000);
        if (reply === id) return agent;
      } catch {
        // qemu-ga not started yet in the guest: the request stays unanswered.
      }
      if (Date.now() > deadline) {
        agent.close();
        throw new Error(`guest agent at ${path} did not answer within ${timeoutMs} ms`);
      }
    }
  }

  async command<T>(execute: string, args: Record<string, unknown>, timeoutMs: number): Promise<T> {
    const line = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`guest agent: ${execute} timed out`));
      }, timeoutMs);
      const waiter = (text: string): void => {
        clearTimeout(timer);
        resolve(text);
      };
      this.waiters.push(waiter);
    });
    this.socket.write(`${JSON.stringify({ execute, arguments: args })}\n`);
    const reply = JSON.parse(await line) as { return?: T; error?: { class: string; desc: string } };
    if (reply.error) throw new Error(`guest agent: ${execute}: ${reply.error.class}: ${reply.error.desc}`);
    return reply.return as T;
  }

  /** Runs argv in the guest (as root, no shell) and waits for it to exit. */
  async exec(argv: readonly string[], timeoutMs = 60_000): Promise<GuestExecResult> {
    const [path, ...arg] = argv;
    const { pid } = await this.command<{ pid: number }>('guest-exec', { path, arg, 'capture-output': true }, 10_000);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.command<GuestExecStatus>('guest-exec-status', { pid }, 10_000);
      if (status.exited) {
        return {
          exitCode: status.exitcode ?? -1,
          stdout: Buffer.from(status['out-data'] ?? '', 'base64').toString('utf8'),
          stderr: Buffer.from(status['err-data'] ?? '', 'base64').toString('utf8'),
        };
      }
      if (Date.now() > deadline) throw new Error(`guest agent: ${argv.join(' ')} did not exit within ${timeoutMs} ms`);
      await sleep(250);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
