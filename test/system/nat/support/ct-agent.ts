/**
 * The conntrack channel inside a lab namespace, for test/system/nat/ctnetlink.test.ts:
 *
 *   ip netns exec NS node ct-agent.js serve [--worker] [--recv-buffer BYTES]
 *
 * The first stdout line is {"ready":{"port","recvBufferBytes","threadId"}}. Then one JSON
 * command per stdin line, {"id":N,"op":...}, answered by {"id":N,"result":...} or
 * {"id":N,"error":"..."}:
 *   dump | get {entry} | update {entry, change}     result: the request's seq
 *   block {ms}    answered first, then the channel's thread spins for ms (its socket is not read)
 *   throwOnce     adds a message listener that throws once; the uncaught exception is reported
 * and everything the channel reports is streamed: {"message":CtMessage}, {"overrun":true},
 * {"socketError":"..."}, {"uncaught":"..."}. With --worker the channel lives in a worker_thread (where the data
 * path runs) and the main thread only relays lines. Does nothing unless started with
 * "serve", so a test runner that loads it exits at once.
 */
import { createInterface } from 'node:readline';
import { isMainThread, parentPort, threadId, Worker, workerData } from 'node:worker_threads';
import { openConntrackChannel } from '../../../../src/kernel/conntrack-channel.js';
import type { CtChange, CtKey } from '../../../../src/nat/ctnetlink.js';

export interface AgentCommand {
  id: number;
  op: 'dump' | 'get' | 'update' | 'block' | 'throwOnce';
  entry?: CtKey;
  change?: CtChange;
  ms?: number;
}

/** Runs the channel in this thread; `post` sends one line's object to the test. */
function serveChannel(recvBufferBytes: number | undefined, post: (line: object) => void): (command: AgentCommand) => void {
  // No poll loop here: the channel reads its socket on a short timer.
  const channel = openConntrackChannel({ pollEveryMs: 5, ...(recvBufferBytes === undefined ? {} : { recvBufferBytes }) });
  channel.onMessage((message) => post({ message }));
  channel.onOverrun(() => post({ overrun: true }));
  channel.onError((error) => post({ socketError: error.message }));
  post({ ready: { port: channel.port, recvBufferBytes: channel.recvBufferBytes, threadId } });
  return (command) => {
    try {
      switch (command.op) {
        case 'dump':
          return post({ id: command.id, result: channel.dump() });
        case 'get':
          return post({ id: command.id, result: channel.get(command.entry!) });
        case 'update':
          return post({ id: command.id, result: channel.update(command.entry!, command.change ?? {}) });
        case 'throwOnce': {
          let thrown = false;
          channel.onMessage(() => {
            if (thrown) return;
            thrown = true;
            throw new Error('a listener threw');
          });
          return post({ id: command.id, result: 'armed' });
        }
        case 'block': {
          post({ id: command.id, result: 'blocking' });
          // After the answer is out: a busy loop, so the event loop never reads the socket meanwhile.
          setTimeout(() => {
            const until = Date.now() + (command.ms ?? 0);
            while (Date.now() < until) {
              // spin
            }
          }, 0);
          return;
        }
      }
    } catch (error) {
      post({ id: command.id, error: error instanceof Error ? error.message : String(error) });
    }
  };
}

// Pipes are written synchronously on Linux, so a line is out before a busy loop starts.
const writeLine = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

function main(): void {
  const args = process.argv.slice(3);
  const at = args.indexOf('--recv-buffer');
  const recvBufferBytes = at >= 0 ? Number(args[at + 1]) : undefined;
  let handle: (command: AgentCommand) => void;
  if (args.includes('--worker')) {
    const worker = new Worker(new URL(import.meta.url), { workerData: { recvBufferBytes } });
    worker.on('message', (line: object) => writeLine(line));
    worker.on('error', (error) => {
      console.error(error.stack ?? error.message);
      process.exit(1);
    });
    handle = (command) => worker.postMessage(command);
  } else {
    handle = serveChannel(recvBufferBytes, writeLine);
  }
  process.on('uncaughtException', (error) => writeLine({ uncaught: error.message }));
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => handle(JSON.parse(line) as AgentCommand));
  // The test ends us by closing stdin (or by PID).
  lines.on('close', () => process.exit(0));
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const data = workerData as { recvBufferBytes?: number };
  const handle = serveChannel(data.recvBufferBytes, (line) => port.postMessage(line));
  port.on('message', (command: AgentCommand) => handle(command));
} else if (process.argv[2] === 'serve') {
  main();
}
