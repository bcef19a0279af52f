/**
 * Network namespaces for the kernel adapter's system tests. Every namespace is named
 * `nvgwk-<pid>-<suffix>`, so parallel runs never collide and a crashed run's leftovers are
 * recognisable (their pid is dead) and swept. Links are only ever created inside these
 * namespaces, never in the host's. Every command has a timeout; a child that hangs is
 * killed by the execa call that started it, and no other process is touched.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { KernelIntent } from '../../../src/kernel/intent.js';
import type { KernelObserved, KernelPlan, LinkState, ReconcileResult, SlicedResult } from '../../../src/kernel/kernel-port.js';
import type { PassScope } from '../../../src/kernel/pass-scope.js';

const PREFIX = `nvgwk-${process.pid}-`;
const AGENT = fileURLToPath(new URL('./ns-agent.js', import.meta.url));
const TIMEOUT_MS = 30_000;

export async function run(file: string, args: string[], input?: string): Promise<string> {
  const result = await execa(file, args, { timeout: TIMEOUT_MS, ...(input !== undefined ? { input } : {}) });
  return result.stdout;
}

/** `ip -n <ns> ...`. */
export async function ip(ns: string, ...args: string[]): Promise<string> {
  return run('ip', ['-n', ns, ...args]);
}

/** `ip -n <ns> -j ...`, parsed. */
export async function ipJson<T = Record<string, unknown>[]>(ns: string, ...args: string[]): Promise<T> {
  const out = (await ip(ns, '-j', ...args)).trim();
  return JSON.parse(out === '' ? '[]' : out) as T;
}

/** A command inside the namespace. */
export async function inNs(ns: string, file: string, ...args: string[]): Promise<string> {
  return run('ip', ['netns', 'exec', ns, file, ...args]);
}

/** Whether a command inside the namespace exits 0. */
export async function succeeds(ns: string, file: string, ...args: string[]): Promise<boolean> {
  const result = await execa('ip', ['netns', 'exec', ns, file, ...args], { timeout: TIMEOUT_MS, reject: false });
  return result.exitCode === 0;
}

async function agent<T>(ns: string, request: object): Promise<T> {
  const out = await run('ip', ['netns', 'exec', ns, process.execPath, '--enable-source-maps', AGENT], JSON.stringify(request));
  return JSON.parse(out) as T;
}

/** The netlink adapter, run in a child process inside `ns`. */
export const adapter = {
  detect: (ns: string): Promise<{ backend: string }> => agent(ns, { op: 'detect' }),
  observe: (ns: string): Promise<KernelObserved> => agent(ns, { op: 'observe' }),
  plan: (ns: string, intent: KernelIntent): Promise<KernelPlan> => agent(ns, { op: 'plan', intent }),
  reconcile: (ns: string, intent: KernelIntent): Promise<ReconcileResult> => agent(ns, { op: 'reconcile', intent }),
  /** observe({ linkState: false }), then observeLinkState(ifnames) against it. */
  linkState: (ns: string, ifnames: string[]): Promise<{ base: KernelObserved; links: LinkState }> => agent(ns, { op: 'linkState', ifnames }),
  /** A sliced pass; the neighbours are the intent's own, handed over slice by slice. */
  sliced: (ns: string, intent: KernelIntent, slices: PassScope[]): Promise<SlicedResult> => agent(ns, { op: 'sliced', intent, slices }),
};

function pidAlive(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}

async function listNamespaces(): Promise<string[]> {
  const out = (await run('ip', ['-j', 'netns', 'list'])).trim();
  return out === '' ? [] : (JSON.parse(out) as { name: string }[]).map((n) => n.name);
}

export interface Lab {
  /** Creates `nvgwk-<pid>-<suffix>` with loopback up. */
  namespace(suffix: string): Promise<string>;
  /** Deletes every namespace this lab created (and whatever was in them). */
  cleanup(): Promise<void>;
}

export async function createLab(): Promise<Lab> {
  for (const name of await listNamespaces()) {
    const pid = /^nvgwk-(\d+)-/.exec(name)?.[1];
    if (pid !== undefined && !pidAlive(Number(pid))) await run('ip', ['netns', 'del', name]).catch(() => '');
  }
  const created: string[] = [];
  return {
    async namespace(suffix) {
      const name = `${PREFIX}${suffix}`;
      await run('ip', ['netns', 'add', name]);
      created.push(name);
      await ip(name, 'link', 'set', 'lo', 'up');
      return name;
    },
    async cleanup() {
      for (const name of created.splice(0)) await run('ip', ['netns', 'del', name]).catch(() => '');
    },
  };
}

/**
 * A VM: namespace `vm` with eth0 (given MAC, address, default route) joined by a veth to a
 * bridge in `gw` that also holds `port` (the data-path end of a tenant veth), standing in
 * for the NVGRE data path. The veth is created with both ends directly in their namespaces,
 * so no link ever appears in the host's namespace.
 */
export async function attachVm(
  gw: string,
  vm: string,
  opts: { bridge: string; port: string; mac: string; address: string; gateway: string },
): Promise<void> {
  const hostEnd = `${opts.bridge}v`;
  await ip(gw, 'link', 'add', opts.bridge, 'type', 'bridge');
  await ip(gw, 'link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm);
  await ip(gw, 'link', 'set', hostEnd, 'master', opts.bridge, 'up');
  await ip(gw, 'link', 'set', opts.port, 'master', opts.bridge);
  await ip(gw, 'link', 'set', opts.bridge, 'up');
  await ip(vm, 'link', 'set', 'eth0', 'address', opts.mac, 'up');
  await ip(vm, 'addr', 'add', opts.address, 'dev', 'eth0');
  await ip(vm, 'route', 'add', 'default', 'via', opts.gateway);
}
