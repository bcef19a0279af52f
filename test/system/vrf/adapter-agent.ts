/**
 * The netlink kernel adapter, kept running inside one network namespace for the whole test
 * file (`ip netns exec <ns> node adapter-agent.js serve`): one JSON request per line on
 * stdin, one JSON answer per line on stdout. test/system/kernel/ns-agent.ts does the same
 * one request per process; under TCG a node start costs seconds, so the VM suite pays it
 * once.
 *
 *   {"op":"detect"} | {"op":"observe"} | {"op":"plan","intent":...} | {"op":"reconcile","intent":...}
 *   -> {"ok":true,"answer":...} or {"ok":false,"error":"..."}
 *
 * Does nothing unless started with "serve", so a test runner that loads it exits at once.
 */
import { createInterface } from 'node:readline';
import type { KernelIntent } from '../../../src/kernel/intent.js';
import { reconcileKernel } from '../../../src/kernel/kernel-port.js';
import { createNetlinkKernel } from '../../../src/kernel/netlink-kernel.js';
import { planKernel } from '../../../src/kernel/plan.js';

export type AgentRequest = { op: 'detect' } | { op: 'observe' } | { op: 'plan'; intent: KernelIntent } | { op: 'reconcile'; intent: KernelIntent };

async function serve(): Promise<void> {
  const kernel = createNetlinkKernel();
  const lines = createInterface({ input: process.stdin });
  try {
    for await (const line of lines) {
      if (line.trim() === '') continue;
      let reply: object;
      try {
        const request = JSON.parse(line) as AgentRequest;
        let answer: unknown;
        switch (request.op) {
          case 'detect':
            answer = { backend: await kernel.detectBackend() };
            break;
          case 'observe':
            answer = await kernel.observe();
            break;
          case 'plan':
            answer = planKernel(request.intent, await kernel.observe());
            break;
          case 'reconcile':
            answer = await reconcileKernel(kernel, request.intent);
            break;
        }
        reply = { ok: true, answer };
      } catch (error) {
        reply = { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
      }
      process.stdout.write(`${JSON.stringify(reply)}\n`);
    }
  } finally {
    kernel.close();
  }
}

if (process.argv[2] === 'serve') {
  serve().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  });
}
