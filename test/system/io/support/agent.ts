/**
 * The agent: runs inside a test namespace (`ip netns exec NS node agent.js serve`) and
 * performs port and socket operations on request, one JSON line in, one JSON line out.
 * Does nothing unless started with "serve", so a test runner that happens to load it
 * exits at once.
 */
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { createRxBatch, createTxBatch, type FramePort } from '../../../../src/datapath/io/frame-port.js';
import { fabricFilter } from '../../../../src/datapath/io/bpf.js';
import { openPacketPort, openSharedPacketPort, type PacketPort, type PacketPortOptions, type SharedPacketPortOptions } from '../../../../src/datapath/io/packet-port.js';
import { deleteTap, openTapPort, type TapPortOptions } from '../../../../src/datapath/io/tap-port.js';
import { openFlowClaim, type ClaimTuple, type FlowClaim, type FlowClaimOptions } from '../../../../src/datapath/io/flow-claim.js';
import { waitReadable } from '../../../../src/datapath/io/wait.js';

type Args = Record<string, unknown>;

const ports = new Map<string, FramePort>();
const sockets = new Map<string, { socket: dgram.Socket; messages: string[] }>();
const claims = new Map<string, FlowClaim>();
let worker: { worker: Worker; result: Promise<unknown> } | undefined;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');

function port(args: Args): FramePort {
  const found = ports.get(String(args.id));
  if (found === undefined) throw new Error(`no port ${String(args.id)}`);
  return found;
}

function describe(p: FramePort): object {
  return { name: p.name, fd: p.fd, ifindex: p.ifindex, mac: hex(p.mac), frameCapacity: p.frameCapacity };
}

function claim(args: Args): FlowClaim {
  const found = claims.get(String(args.claim));
  if (found === undefined) throw new Error(`no flow claim ${String(args.claim)}`);
  return found;
}

/** A port opened with openShared (admit/refuse exist on those only). */
function sharedPort(args: Args): PacketPort {
  const p = port(args);
  if (p.anyInterface !== true) throw new Error(`port ${String(args.id)} is not on any interface`);
  return p as PacketPort;
}

/** Waits for and reads frames until `expect` arrived (then `settleMs` more) or the time is up. */
function receive(args: Args): object {
  const p = port(args);
  const expect = Number(args.expect ?? 1);
  const keep = Number(args.keep ?? 512);
  /** Bytes of each frame returned as hex. */
  const bytes = Number(args.bytes ?? 96);
  const batch = createRxBatch(p, Number(args.batchSize ?? 256));
  const deadline = Date.now() + Number(args.timeoutMs ?? 5000);
  let settleUntil = Infinity;
  const batches: number[] = [];
  // A port on many interfaces also says where each frame came in (`source`, an ifindex).
  const frames: { length: number; hex: string; source?: number }[] = [];
  let total = 0;
  for (;;) {
    const now = Date.now();
    if (now >= deadline || now >= settleUntil) break;
    if (waitReadable([p], Math.min(20, Math.min(deadline, settleUntil) - now)) === 0) continue;
    const n = p.receive(batch);
    if (n > 0) batches.push(n);
    for (let i = 0; i < n; i++) {
      const offset = batch.offsets[i] ?? 0;
      const length = batch.lengths[i] ?? 0;
      if (frames.length < keep) {
        const frame: (typeof frames)[number] = { length, hex: hex(batch.buffer.subarray(offset, offset + Math.min(length, bytes))) };
        if (batch.sources) frame.source = batch.sources[i] ?? 0;
        frames.push(frame);
      }
    }
    total += n;
    p.releaseRx();
    if (total >= expect && settleUntil === Infinity) settleUntil = Date.now() + Number(args.settleMs ?? 0);
  }
  return { total, batches, frames };
}

/** `targets` (a port on many interfaces): the ifindex each frame is addressed to. */
function send(args: Args): object {
  const p = port(args);
  const frames = (args.frames as string[]).map((text) => Buffer.from(text, 'hex'));
  const targets = args.targets as number[] | undefined;
  const batch = createTxBatch(p, frames.length);
  const reserved = p.reserveTx(batch, frames.length);
  for (let i = 0; i < reserved; i++) {
    const frame = frames[i] as Buffer;
    batch.buffer.set(frame, batch.offsets[i]);
    batch.lengths[i] = frame.length;
    if (batch.targets) batch.targets[i] = targets?.[i] ?? 0;
  }
  p.sendTx(batch, reserved);
  return { reserved };
}

/** Sends `count` copies of one frame as fast as the ring takes them. */
function flood(args: Args): object {
  const p = port(args);
  const frame = Buffer.from(String(args.frame), 'hex');
  const count = Number(args.count);
  const batch = createTxBatch(p, Number(args.batchSize ?? 64));
  let sent = 0;
  const deadline = Date.now() + Number(args.timeoutMs ?? 5000);
  while (sent < count && Date.now() < deadline) {
    const got = p.reserveTx(batch, Math.min(batch.offsets.length, count - sent));
    for (let i = 0; i < got; i++) {
      batch.buffer.set(frame, batch.offsets[i]);
      batch.lengths[i] = frame.length;
    }
    p.sendTx(batch, got);
    sent += got;
  }
  return { sent };
}

async function udpCollect(args: Args): Promise<object> {
  const entry = sockets.get(String(args.sock));
  if (entry === undefined) throw new Error(`no socket ${String(args.sock)}`);
  const expect = Number(args.expect ?? 1);
  const deadline = Date.now() + Number(args.timeoutMs ?? 3000);
  while (entry.messages.length < expect && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  if (args.settleMs !== undefined) await new Promise((r) => setTimeout(r, Number(args.settleMs)));
  return { messages: entry.messages.splice(0) };
}

async function udpSend(args: Args): Promise<object> {
  const socket = dgram.createSocket('udp4');
  const count = Number(args.count ?? 1);
  const size = Number(args.size ?? 0);
  for (let i = 0; i < count; i++) {
    const text = `${String(args.prefix ?? 'nvgw')}-${i}`;
    const payload = Buffer.alloc(Math.max(size, text.length), 0x2e);
    payload.write(text);
    await new Promise<void>((resolve, reject) =>
      socket.send(payload, Number(args.port), String(args.address), (error) => (error ? reject(error) : resolve())),
    );
  }
  socket.close();
  return { sent: count };
}

function workerStart(args: Args): Promise<object> {
  const w = new Worker(new URL('./io-worker.js', import.meta.url), { workerData: args });
  let onReady: (value: object) => void = () => {};
  const ready = new Promise<object>((resolve) => (onReady = resolve));
  const result = new Promise<unknown>((resolve, reject) => {
    w.on('message', (message: { type: string }) => {
      if (message.type === 'ready') onReady(message);
      else resolve(message);
    });
    w.on('error', reject);
    w.on('exit', (code) => (code !== 0 ? reject(new Error(`worker exited with ${code}`)) : undefined));
  });
  result.catch((error: unknown) => onReady({ type: 'failed', error: String(error) }));
  worker = { worker: w, result };
  return ready;
}

const operations: Record<string, (args: Args) => unknown> = {
  ping: () => ({ pid: process.pid }),
  openPacket: (args) => {
    const options = { ...(args.options as PacketPortOptions) };
    if (Array.isArray(args.fabricFilterFor)) options.filter = fabricFilter(args.fabricFilterFor as string[]);
    // `claim`: the port runs that flow claim's socket filter.
    if (args.claim !== undefined) options.bpfProgramFd = claim(args).socketFilterFd;
    const p = openPacketPort(String(args.ifname), options);
    ports.set(String(args.id), p);
    return { ...describe(p), geometry: p.geometry };
  },
  openShared: (args) => {
    const p = openSharedPacketPort(String(args.id), args.options as SharedPacketPortOptions);
    ports.set(String(args.id), p);
    return { ...describe(p), anyInterface: p.anyInterface, geometry: p.geometry };
  },
  admit: (args) => {
    for (const ifindex of args.ifindexes as number[]) sharedPort(args).admit(ifindex);
    return {};
  },
  refuse: (args) => {
    for (const ifindex of args.ifindexes as number[]) sharedPort(args).refuse(ifindex);
    return {};
  },
  openTap: (args) => {
    const p = openTapPort(String(args.name), args.options as TapPortOptions);
    ports.set(String(args.id), p);
    return { ...describe(p), vnetHeaderLength: p.vnetHeaderLength };
  },
  receive,
  send,
  flood,
  stats: (args) => port(args).stats(),
  close: (args) => {
    port(args).close();
    ports.delete(String(args.id));
    return {};
  },
  detachCheck: (args) => {
    const p = openPacketPort(String(args.ifname), { rxBlockCount: 2, txFrameCount: 8 });
    const view = p.buffer;
    const before = view.length;
    p.close();
    p.close();
    return { before, after: view.length, expected: p.geometry.rxRingBytes + p.geometry.txRingBytes };
  },
  wait: (args) => {
    const started = process.hrtime.bigint();
    const mask = waitReadable([port(args)], Number(args.timeoutMs));
    return { mask, elapsedMs: Number(process.hrtime.bigint() - started) / 1e6 };
  },
  deleteTap: (args) => ({ deleted: deleteTap(String(args.name)) }),
  udpBind: async (args) => {
    const socket = dgram.createSocket('udp4');
    const entry = { socket, messages: [] as string[] };
    socket.on('message', (message) => entry.messages.push(message.toString('latin1').replace(/\.+$/, '')));
    await new Promise<void>((resolve) => socket.bind(Number(args.port), String(args.address), resolve));
    sockets.set(String(args.sock), entry);
    return {};
  },
  udpCollect,
  udpSend,
  claimOpen: (args) => {
    const c = openFlowClaim(args.options as FlowClaimOptions);
    claims.set(String(args.claim), c);
    return { socketFilterFd: c.socketFilterFd };
  },
  claimAttach: (args) => {
    claim(args).attachIngress(Number(args.ifindex));
    return { ingressAttached: claim(args).ingressAttached };
  },
  claimDetach: (args) => {
    claim(args).detachIngress();
    return { ingressAttached: claim(args).ingressAttached };
  },
  claimSet: (args) => {
    for (const tuple of args.tuples as ClaimTuple[]) claim(args).set(tuple, Number(args.bits));
    return {};
  },
  claimDelete: (args) => ({ deleted: claim(args).delete(args.tuple as ClaimTuple) }),
  claimClose: (args) => {
    const c = claim(args);
    c.close();
    c.close();
    claims.delete(String(args.claim));
    return { socketFilterFd: c.socketFilterFd, ingressAttached: c.ingressAttached };
  },
  // Dies the way a crashed gateway does: no JavaScript cleanup runs, the kernel closes every fd.
  crash: () => process.kill(process.pid, 'SIGKILL'),
  workerStart,
  workerResult: async () => {
    if (worker === undefined) throw new Error('no worker');
    const result = await worker.result;
    await worker.worker.terminate();
    return result;
  },
  exit: () => {
    for (const p of ports.values()) p.close();
    for (const c of claims.values()) c.close();
    for (const { socket } of sockets.values()) socket.close();
    process.exit(0);
  },
};

function serve(): void {
  const lines = createInterface({ input: process.stdin });
  // One request at a time, in order: the tests think in sequences.
  let queue = Promise.resolve();
  lines.on('line', (line) => {
    queue = queue.then(async () => {
      const { id, op, args } = JSON.parse(line) as { id: number; op: string; args: Args };
      try {
        const handler = operations[op];
        if (handler === undefined) throw new Error(`unknown op ${op}`);
        const result: unknown = await handler(args);
        process.stdout.write(`${JSON.stringify({ id, ok: true, result })}\n`);
      } catch (error) {
        const e = error as Error & { code?: string; errno?: number; syscall?: string; interface?: string };
        const detail = { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, interface: e.interface };
        process.stdout.write(`${JSON.stringify({ id, ok: false, error: detail })}\n`);
      }
    });
  });
  lines.on('close', () => process.exit(0));
}

if (process.argv[2] === 'serve') serve();
