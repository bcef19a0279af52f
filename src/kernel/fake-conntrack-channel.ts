/**
 * A ConntrackChannel without a kernel, for the unit tests of its consumers: it records every
 * request and lets the test play the kernel's part (events, acks, dumps, overruns). Nothing
 * is answered unless the test says so, so a test can also check what happens while an
 * answer is outstanding. Imports no native code.
 */
import type { CtChange, CtEntry, CtKey, CtMessage } from '../nat/ctnetlink.js';
import type { ConntrackChannel } from './conntrack-channel.js';

export interface FakeRequest {
  seq: number;
  op: 'dump' | 'update' | 'get';
  entry?: CtKey;
  change?: CtChange;
}

export class FakeConntrackChannel implements ConntrackChannel {
  readonly port: number;
  readonly recvBufferBytes = 8 * 1024 * 1024;
  /** No socket: the test delivers messages itself. */
  readonly fd = -1;
  /** Every request, in order. */
  readonly requests: FakeRequest[] = [];
  closed = false;
  private seq = 0;
  private readonly messageListeners = new Set<(message: CtMessage) => void>();
  private readonly overrunListeners = new Set<() => void>();
  private readonly errorListeners = new Set<(error: Error) => void>();

  constructor(port = 4242) {
    this.port = port;
  }

  /** The update requests only. */
  get updates(): (FakeRequest & { entry: CtKey; change: CtChange })[] {
    return this.requests.filter((r): r is FakeRequest & { entry: CtKey; change: CtChange } => r.op === 'update');
  }

  pump(): number {
    return 0;
  }

  onMessage(listener: (message: CtMessage) => void): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  onOverrun(listener: () => void): () => void {
    this.overrunListeners.add(listener);
    return () => this.overrunListeners.delete(listener);
  }

  onError(listener: (error: Error) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  dump(): number {
    return this.record({ op: 'dump' });
  }

  update(entry: CtKey, change: CtChange): number {
    return this.record({ op: 'update', entry, change });
  }

  get(entry: CtKey): number {
    return this.record({ op: 'get', entry });
  }

  close(): void {
    this.closed = true;
  }

  // ---- the kernel's part ----

  /** Delivers a message to the listeners, as if the kernel had sent it. */
  emit(message: CtMessage): void {
    for (const listener of this.messageListeners) listener(message);
  }

  /** An event: 'new', 'update' or 'destroy', with seq 0 as the kernel sends them. */
  event(kind: 'new' | 'update' | 'destroy', entry: CtEntry, port = 0): void {
    this.emit({ kind, seq: 0, port, entry });
  }

  /** Answers a request: errno 0 is the ack. */
  answer(seq: number, errno = 0): void {
    this.emit({ kind: 'error', seq, errno });
  }

  /** Answers a dump with these entries and its 'done'. */
  answerDump(seq: number, entries: readonly CtEntry[]): void {
    for (const entry of entries) this.emit({ kind: 'dump', seq, port: 0, entry });
    this.emit({ kind: 'done', seq, errno: 0 });
  }

  overrun(): void {
    for (const listener of this.overrunListeners) listener();
  }

  error(error: Error): void {
    for (const listener of this.errorListeners) listener(error);
  }

  private record(request: Omit<FakeRequest, 'seq'>): number {
    if (this.closed) throw new Error('conntrack channel is closed');
    this.seq += 1;
    this.requests.push({ seq: this.seq, ...request });
    return this.seq;
  }
}
