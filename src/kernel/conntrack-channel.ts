/**
 * The kernel's connection tracking table as a stream of messages: a NETLINK_NETFILTER socket
 * subscribed to the conntrack NEW, UPDATE and DESTROY groups, which also carries our dump and
 * update requests. The bytes are src/nat/ctnetlink.ts's; this file only moves them. It acts
 * on the network namespace of the thread that opens it.
 *
 * The socket is the addon's (native/netlink_socket.h), non-blocking, and read by pump():
 * the data path's worker polls `fd` with its packet ports and pumps between batches, so
 * events are read by the thread that acts on them, in order, without waiting for an event
 * loop turn. Consumers without such a loop ask for `pollEveryMs`. (The `netlink` package's
 * socket is not used here: on a multicast overrun its libuv poll callback throws a C++
 * exception and the process aborts.)
 *
 * Lost events. Events are multicast into the socket's receive buffer; when it is full the
 * kernel drops them and the next read fails with ENOBUFS (netlink_overrun in
 * net/netlink/af_netlink.c). That is reported as an overrun: what the caller knows may be
 * stale, and it must resync with a dump. The buffer is made large (SO_RCVBUFFORCE past
 * net.core.rmem_max when the process may), and `recvBufferBytes` says what the kernel granted.
 */
import { loadNative } from '../datapath/io/native.js';
import type { CtChange, CtKey, CtMessage, CtRequest } from '../nat/ctnetlink.js';
import {
  ctDumpRequest,
  ctGetRequest,
  ctUpdateRequest,
  formatCtRequest,
  NFNLGRP_CONNTRACK_DESTROY,
  NFNLGRP_CONNTRACK_NEW,
  NFNLGRP_CONNTRACK_UPDATE,
  parseCtMessages,
} from '../nat/ctnetlink.js';

/** linux/netlink.h */
const NETLINK_NETFILTER = 12;
/** Asked for by default: room for tens of thousands of events between two reads. */
const DEFAULT_RECV_BUFFER_BYTES = 8 * 1024 * 1024;
/** One read: larger than any datagram ctnetlink sends (NLMSG_GOODSIZE dump parts, single events). */
const DATAGRAM_BYTES = 64 * 1024;
/** Datagrams read per pump() at most, so a flood of events cannot starve the packets. */
const PUMP_LIMIT = 256;
const ENOBUFS = 105;
const EMSGSIZE = 90;
const EAGAIN = 11;

export interface ConntrackChannelOptions {
  /** Receive buffer to ask for (default 8 MiB); see recvBufferBytes for what the kernel granted. */
  recvBufferBytes?: number;
  /**
   * Read the socket on a timer of this period (for a consumer without a poll loop of its
   * own, such as a test agent); without it the owner calls pump() when `fd` is readable.
   */
  pollEveryMs?: number;
}

/**
 * The port of the conntrack table. Requests return their seq at once; the answer comes
 * later through onMessage as an 'error' message with that seq (errno 0 = done), or, for a
 * dump, as 'dump' messages and a 'done' with that seq.
 */
export interface ConntrackChannel {
  /** Our netlink port: the UPDATE events our own updates cause carry it. */
  readonly port: number;
  /** The receive buffer the kernel granted, in bytes. */
  readonly recvBufferBytes: number;
  /** The socket, to poll for readability (-1 for a channel without one). */
  readonly fd: number;
  /** Reads and delivers what the socket holds (a bounded number of datagrams); returns how many were read. */
  pump(): number;
  /** Every decoded message, in the order received. Returns a function that removes the listener. */
  onMessage(listener: (message: CtMessage) => void): () => void;
  /** Events were lost (ENOBUFS, or a datagram too large to read): resync with dump(). */
  onOverrun(listener: () => void): () => void;
  /** Any other socket error; requests whose send failed get an 'error' message instead. */
  onError(listener: (error: Error) => void): () => void;
  /** Dumps every IPv4 entry of every zone; returns the seq of the 'dump' messages and the 'done'. */
  dump(): number;
  /** Changes an existing entry (timeout, TCP liberal flag); never creates one. Returns the seq of the answer. */
  update(entry: CtKey, change: CtChange): number;
  /** Asks for one entry; the answer is a 'dump' message and then the ack, with the returned seq. */
  get(entry: CtKey): number;
  close(): void;
}

export function openConntrackChannel(options: ConntrackChannelOptions = {}): ConntrackChannel {
  return new NetlinkConntrackChannel(options);
}

class NetlinkConntrackChannel implements ConntrackChannel {
  readonly port: number;
  readonly recvBufferBytes: number;
  private socket: number;
  private readonly native = loadNative();
  private readonly datagram = new Uint8Array(DATAGRAM_BYTES);
  private readonly messageListeners = new Set<(message: CtMessage) => void>();
  private readonly overrunListeners = new Set<() => void>();
  private readonly errorListeners = new Set<(error: Error) => void>();
  private readonly timer: NodeJS.Timeout | undefined;
  private seq = 0;

  constructor(options: ConntrackChannelOptions) {
    const opened = this.native.netlinkOpen(NETLINK_NETFILTER, [NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE, NFNLGRP_CONNTRACK_DESTROY], options.recvBufferBytes ?? DEFAULT_RECV_BUFFER_BYTES);
    this.socket = opened.fd;
    this.port = opened.port;
    this.recvBufferBytes = opened.receiveBufferBytes;
    if (options.pollEveryMs !== undefined) {
      this.timer = setInterval(() => this.pump(), options.pollEveryMs);
      this.timer.unref();
    }
  }

  get fd(): number {
    return this.socket;
  }

  pump(): number {
    let read = 0;
    while (this.socket >= 0 && read < PUMP_LIMIT) {
      const n = this.native.netlinkReceive(this.socket, this.datagram);
      if (n === 0) break;
      read++;
      if (n === -ENOBUFS || n === -EMSGSIZE) {
        this.deliver(this.overrunListeners, undefined);
        continue;
      }
      if (n < 0) {
        this.deliver(this.errorListeners, new Error(`conntrack netlink socket: recv failed with errno ${-n}`));
        break;
      }
      for (const message of parseCtMessages(this.datagram.subarray(0, n))) this.deliver(this.messageListeners, message);
    }
    return read;
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
    return this.send(ctDumpRequest());
  }

  update(entry: CtKey, change: CtChange): number {
    return this.send(ctUpdateRequest(entry, change));
  }

  get(entry: CtKey): number {
    return this.send(ctGetRequest(entry));
  }

  close(): void {
    if (this.socket < 0) return;
    if (this.timer) clearInterval(this.timer);
    this.native.netlinkClose(this.socket);
    this.socket = -1;
  }

  /** A listener's exception goes to the next turn of the event loop: the caller's read loop carries on. */
  private deliver<T>(listeners: Set<(value: T) => void>, value: T): void {
    for (const listener of listeners) {
      try {
        listener(value);
      } catch (error) {
        setImmediate(() => {
          throw error;
        });
      }
    }
  }

  private send(request: CtRequest): number {
    if (this.socket < 0) throw new Error('conntrack channel is closed');
    // Events carry seq 0, so requests never use it.
    this.seq = this.seq >= 0xffffffff ? 1 : this.seq + 1;
    const seq = this.seq;
    const bytes = formatCtRequest(request, seq, this.port);
    const result = this.native.netlinkSend(this.socket, bytes, bytes.length);
    // A request the socket refused (EAGAIN: its send buffer is full) is answered like one the kernel refused.
    if (result < 0) {
      const message: CtMessage = { kind: 'error', seq, errno: -result === EAGAIN ? EAGAIN : -result };
      queueMicrotask(() => this.deliver(this.messageListeners, message));
    }
    return seq;
  }
}
