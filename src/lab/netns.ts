/**
 * A lab of network namespaces for the system tier (root only). Everything a lab makes is
 * named after its prefix, its process id and a counter, and `destroy()` removes it all.
 *
 *   const lab = await createLab('nvdp');            // also sweeps what a crashed run left
 *   const fabric = await lab.namespace('fabric');   // e.g. "nvdp4242-1-fabric": lo up, IPv6 off
 *   await lab.bridge(fabric, 'br0');
 *   const gw = await lab.namespace('gw');
 *   await lab.veth({ ns: gw, ifname: 'fab0', addresses: ['10.1.1.40/24'] },
 *                  { ns: fabric, ifname: 'gw', master: 'br0' });
 *   await lab.addRoute(gw, '10.9.0.0/16', { via: '10.1.1.1' });
 *   const { stdout } = await lab.exec(gw, ['ip', '-j', 'addr']);   // throws CommandError with stderr
 *   const p = lab.spawn(gw, ['iperf3', '-s', '--forceflush']);      // tracked, killed by PID on destroy
 *   await p.waitForOutput(/listening/);  await p.stop();
 *   const r = await lab.ping(gw, '10.1.1.11', { count: 3 });        // { transmitted, received, ... }
 *   await lab.destroy();                 // idempotent; also run on 'exit', SIGINT and SIGTERM
 *
 * API
 *   createLab(prefix, opts?): Promise<Lab>       prefix: 2-6 lowercase letters (a "family")
 *   sweepStale(prefix): Promise<string[]>        removes namespaces, root-namespace veths and temp
 *                                                dirs of this family whose creating process is dead
 *   run(argv, opts?) / runIn(ns, argv, opts?)    one command, argv array; CommandError on failure
 *   linkMac(ns, ifname): Promise<string> / checkIfname(name)   (throws beyond 15 characters)
 *   Lab.namespace(role, { ipv6? }) -> ns name
 *   Lab.bridge(ns, name, { mtu? })
 *   Lab.veth(a: LinkEnd, b: LinkEnd)             made in the root namespace under temporary names,
 *                                                then moved and renamed; `master` enslaves to a bridge
 *   Lab.addAddress(ns, ifname, cidr) / Lab.addRoute(ns, dest, { via?, dev? }) (route replace)
 *   Lab.sysctl(ns, key, value) / Lab.exec(ns, argv, opts?) / Lab.spawn(ns, argv, opts?)
 *   Lab.ping(ns, dst, opts?) -> PingResult       never throws for lost replies: assert on `received`
 *   Lab.defer(fn)                                runs (last first) at the start of destroy()
 *   Lab.tmpDir                                   private temp dir, removed by destroy()
 *   Lab.destroy() / Lab.destroySync()
 *
 * Only processes this lab started are ended, always by PID: the tracked children of spawn(),
 * then any process still inside one of the lab's own namespaces (daemons such as `iperf3 -D`
 * that a test started there). Nothing outside the lab's namespaces is touched.
 */
import { spawn as spawnChild, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
  /** Kill the command (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
  /** Extra environment variables (merged over process.env). */
  env?: Record<string, string>;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** A command that exited non-zero, was killed, or could not start; the message includes stderr. */
export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly ns: string | undefined,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
    cause?: unknown,
  ) {
    const where = ns === undefined ? '' : ` (in namespace ${ns})`;
    const how = signal !== null ? `killed by ${signal}` : exitCode !== null ? `exit code ${exitCode}` : 'failed to start';
    const output = (stderr.trim() || stdout.trim()).slice(-4000);
    super(`\`${argv.join(' ')}\`${where}: ${how}${output ? `\n${output}` : ''}`, { cause });
    this.name = 'CommandError';
  }
}

const nsArgv = (ns: string | undefined, argv: readonly string[]): string[] =>
  ns === undefined ? [...argv] : ['ip', 'netns', 'exec', ns, ...argv];

/** Runs argv in the root namespace; resolves with its output, rejects with CommandError. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runIn(undefined, argv, opts);
}

/** Runs argv inside namespace ns (`ip netns exec`), or in the root namespace when ns is undefined. */
export function runIn(ns: string | undefined, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = nsArgv(ns, argv);
  const [cmd, ...args] = full;
  if (cmd === undefined) return Promise.reject(new Error('runIn: empty argv'));
  return new Promise((resolve, reject) => {
    const child = spawnChild(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CommandError(argv, ns, null, null, '', e.message, e));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CommandError(argv, ns, code, signal, stdout, stderr));
    });
    child.stdin.on('error', () => undefined); // a command that ignores stdin may close it early
    child.stdin.end(opts.input ?? '');
  });
}

function runSyncQuiet(argv: readonly string[]): { ok: boolean; stdout: string; stderr: string } {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return { ok: false, stdout: '', stderr: 'empty argv' };
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error?.message ?? '') };
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Keep at most this many characters of each output stream (the tail); default 1 MiB. */
  maxOutput?: number;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A process started by Lab.spawn: tracked by PID and ended by destroy() if still running. */
export interface BackgroundProcess {
  readonly pid: number;
  readonly ns: string | undefined;
  readonly argv: readonly string[];
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ProcessExit>;
  running(): boolean;
  /** Resolves when stdout or stderr matches; rejects if the process exits first or on timeout. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends `signal` (default SIGTERM), then SIGKILL after graceMs (default 3 s); resolves on exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ProcessExit>;
}

export interface LinkEnd {
  ns: string;
  /** Name inside ns (at most 15 characters). */
  ifname: string;
  mac?: string;
  mtu?: number;
  /** Enslave to this bridge (which must exist in ns). */
  master?: string;
  /** CIDR addresses, e.g. '10.1.1.40/24'. */
  addresses?: string[];
  /** Bring the interface up (default true). */
  up?: boolean;
}

export interface PingOptions {
  count?: number;
  /** Seconds between requests (ping -i); default 0.2. */
  interval?: number;
  /** Seconds to wait for each reply (ping -W); default 1. */
  waitSeconds?: number;
  /** Source address or interface (ping -I). */
  source?: string;
  /** ICMP payload size (ping -s). */
  size?: number;
  /** Set DF and never fragment (ping -M do). */
  dontFragment?: boolean;
}

export interface PingResult {
  transmitted: number;
  received: number;
  /** Average round trip in milliseconds, if any reply came back. */
  avgRttMs: number | undefined;
  output: string;
}

export interface Lab {
  readonly prefix: string;
  /** Private directory for pcaps, OVS databases and logs; removed by destroy(). */
  readonly tmpDir: string;
  /** Every namespace this lab made, in creation order. */
  readonly namespaces: readonly string[];
  namespace(role: string, opts?: { ipv6?: boolean }): Promise<string>;
  bridge(ns: string, name: string, opts?: { mtu?: number }): Promise<void>;
  veth(a: LinkEnd, b: LinkEnd): Promise<void>;
  addAddress(ns: string, ifname: string, cidr: string): Promise<void>;
  addRoute(ns: string, dest: string, opts: { via?: string; dev?: string }): Promise<void>;
  sysctl(ns: string, key: string, value: string | number): Promise<void>;
  exec(ns: string | undefined, argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  spawn(ns: string | undefined, argv: readonly string[], opts?: SpawnOptions): BackgroundProcess;
  ping(ns: string, dst: string, opts?: PingOptions): Promise<PingResult>;
  defer(fn: () => void | Promise<void>): void;
  destroy(): Promise<void>;
  destroySync(): void;
}

const PREFIX_RE = /^[a-z]{2,6}$/;
const ROLE_RE = /^[a-z0-9][a-z0-9_.]{0,31}$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
/** Temporary veth names in the root namespace: prefix, PID (5 base-36 digits), counter (3), side. */
const tempVethRe = (prefix: string): RegExp => new RegExp(`^${prefix}([0-9a-z]{5})[0-9a-z]{3}[ab]$`);
const nsRe = (prefix: string): RegExp => new RegExp(`^${prefix}(\\d+)-\\d+-[a-z0-9_.]+$`);
const tmpRe = (prefix: string): RegExp => new RegExp(`^${prefix}-(\\d+)-`);

function checkPrefix(prefix: string): void {
  if (!PREFIX_RE.test(prefix)) throw new Error(`lab prefix must be 2-6 lowercase letters, got ${JSON.stringify(prefix)}`);
}

export function checkIfname(name: string): void {
  if (!IFNAME_RE.test(name)) throw new Error(`interface name ${JSON.stringify(name)} is not 1-15 of [A-Za-z0-9_.-]`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNamespaces(): string[] {
  const r = runSyncQuiet(['ip', '-j', 'netns', 'list']);
  if (!r.ok || r.stdout.trim() === '') return [];
  return (JSON.parse(r.stdout) as Array<{ name: string }>).map((e) => e.name);
}

function pidsIn(ns: string): number[] {
  const r = runSyncQuiet(['ip', 'netns', 'pids', ns]);
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 1 && n !== process.pid);
}

/** Kills (SIGKILL, by PID) every process still inside ns; they were started there by a lab. */
function killPidsIn(ns: string): void {
  for (const pid of pidsIn(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Removes what a crashed earlier run of this prefix family left behind: namespaces named
 * `${prefix}<pid>-<n>-<role>`, temporary veths in the root namespace and temp directories
 * `${prefix}-<pid>-*`, but only those whose creating process is no longer alive.
 * Returns the namespaces it deleted.
 */
export async function sweepStale(prefix: string): Promise<string[]> {
  checkPrefix(prefix);
  const removed: string[] = [];
  const re = nsRe(prefix);
  for (const ns of listNamespaces()) {
    const m = re.exec(ns);
    if (!m || processAlive(Number(m[1]))) continue;
    killPidsIn(ns);
    if (runSyncQuiet(['ip', 'netns', 'del', ns]).ok) removed.push(ns);
  }
  const links = runSyncQuiet(['ip', '-j', 'link', 'show']);
  if (links.ok && links.stdout.trim() !== '') {
    const vre = tempVethRe(prefix);
    for (const { ifname } of JSON.parse(links.stdout) as Array<{ ifname: string }>) {
      const m = vre.exec(ifname);
      if (m && !processAlive(parseInt(m[1] ?? '', 36))) runSyncQuiet(['ip', 'link', 'del', ifname]);
    }
  }
  const tre = tmpRe(prefix);
  for (const entry of readdirSync(tmpdir())) {
    const m = tre.exec(entry);
    if (m && !processAlive(Number(m[1]))) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
  return removed;
}

/** The MAC address of ifname in namespace ns. */
export async function linkMac(ns: string, ifname: string): Promise<string> {
  const { stdout } = await run(['ip', '-n', ns, '-j', 'link', 'show', 'dev', ifname]);
  const [link] = JSON.parse(stdout) as Array<{ address?: string }>;
  if (!link?.address) throw new Error(`no MAC address for ${ifname} in ${ns}`);
  return link.address;
}

const liveLabs = new Set<LabImpl>();
let signalHandlersInstalled = false;

/** On SIGINT/SIGTERM node exits without 'exit' handlers; clean up, then die of the same signal. */
function installSignalHandlers(): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const handler = (): void => {
      for (const lab of [...liveLabs]) lab.destroySync();
      process.removeListener(signal, handler);
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

class LabImpl implements Lab {
  readonly tmpDir: string;
  readonly namespaces: string[] = [];
  private counter = 0;
  private readonly processes = new Set<BackgroundProcess>();
  private readonly deferred: Array<() => void | Promise<void>> = [];
  private readonly tempVeths = new Set<string>();
  private destroyed = false;
  private readonly onExit = (): void => this.destroySync();

  constructor(
    readonly prefix: string,
    private readonly persistentDir?: string,
  ) {
    if (persistentDir !== undefined) {
      // A persistent lab outlives this process: no exit handlers, its directory is given.
      mkdirSync(persistentDir, { recursive: true });
      this.tmpDir = persistentDir;
      return;
    }
    this.tmpDir = mkdtempSync(join(tmpdir(), `${prefix}-${process.pid}-`));
    liveLabs.add(this);
    process.on('exit', this.onExit);
    installSignalHandlers();
  }

  /** PIDs of the processes spawn() started that are still running. */
  pids(): number[] {
    return [...this.processes].map((p) => p.pid);
  }

  private next(): number {
    this.counter += 1;
    return this.counter;
  }

  private alive(): void {
    if (this.destroyed) throw new Error('lab already destroyed');
  }

  async namespace(role: string, opts: { ipv6?: boolean } = {}): Promise<string> {
    this.alive();
    if (!ROLE_RE.test(role)) throw new Error(`namespace role ${JSON.stringify(role)} must match ${ROLE_RE}`);
    // Persistent names carry no PID (the creating process is gone when `down` runs), and do
    // not match nsRe, so sweepStale never takes them for a crashed run's leftovers.
    const name = this.persistentDir !== undefined ? `${this.prefix}-${role}` : `${this.prefix}${process.pid}-${this.next()}-${role}`;
    await run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    // The gateway speaks IPv4 only; IPv6 router solicitations and MLD reports would only be
    // noise in every capture.
    if (opts.ipv6 !== true) {
      await this.sysctl(name, 'net.ipv6.conf.all.disable_ipv6', 1).catch(() => undefined);
      await this.sysctl(name, 'net.ipv6.conf.default.disable_ipv6', 1).catch(() => undefined);
    }
    return name;
  }

  async bridge(ns: string, name: string, opts: { mtu?: number } = {}): Promise<void> {
    this.alive();
    checkIfname(name);
    await run(['ip', '-n', ns, 'link', 'add', name, ...(opts.mtu ? ['mtu', String(opts.mtu)] : []), 'type', 'bridge']);
    await run(['ip', '-n', ns, 'link', 'set', name, 'up']);
  }

  async veth(a: LinkEnd, b: LinkEnd): Promise<void> {
    this.alive();
    checkIfname(a.ifname);
    checkIfname(b.ifname);
    const n = this.next();
    if (n >= 36 ** 3) throw new Error('lab: too many links for one process');
    const base = `${this.prefix}${process.pid.toString(36).padStart(5, '0')}${n.toString(36).padStart(3, '0')}`;
    const tmpA = `${base}a`;
    const tmpB = `${base}b`;
    // Created in the root namespace under names unique to this process (the root namespace has
    // its own eth0 and maybe other labs' links), then each end is moved and renamed.
    this.tempVeths.add(tmpA);
    try {
      await run(['ip', 'link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB]);
      for (const [tmp, end] of [[tmpA, a], [tmpB, b]] as const) {
        await run(['ip', 'link', 'set', tmp, 'netns', end.ns]);
        await run(['ip', '-n', end.ns, 'link', 'set', tmp, 'name', end.ifname]);
      }
    } catch (e) {
      // Once both ends are in namespaces the pair dies with them; a half-moved pair is removed here.
      runSyncQuiet(['ip', 'link', 'del', tmpA]);
      runSyncQuiet(['ip', 'link', 'del', tmpB]);
      throw e;
    } finally {
      this.tempVeths.delete(tmpA);
    }
    for (const end of [a, b]) await this.configureEnd(end);
  }

  private async configureEnd(end: LinkEnd): Promise<void> {
    const ip = (...args: string[]): Promise<RunResult> => run(['ip', '-n', end.ns, ...args]);
    if (end.mac) await ip('link', 'set', end.ifname, 'address', end.mac);
    if (end.mtu) await ip('link', 'set', end.ifname, 'mtu', String(end.mtu));
    if (end.master) await ip('link', 'set', end.ifname, 'master', end.master);
    for (const cidr of end.addresses ?? []) await ip('addr', 'add', cidr, 'dev', end.ifname);
    if (end.up !== false) await ip('link', 'set', end.ifname, 'up');
  }

  async addAddress(ns: string, ifname: string, cidr: string): Promise<void> {
    await run(['ip', '-n', ns, 'addr', 'add', cidr, 'dev', ifname]);
  }

  async addRoute(ns: string, dest: string, opts: { via?: string; dev?: string }): Promise<void> {
    const args = ['ip', '-n', ns, 'route', 'replace', dest];
    if (opts.via) args.push('via', opts.via);
    if (opts.dev) args.push('dev', opts.dev);
    await run(args);
  }

  async sysctl(ns: string, key: string, value: string | number): Promise<void> {
    await runIn(ns, ['sysctl', '-q', '-w', `${key}=${value}`]);
  }

  exec(ns: string | undefined, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return runIn(ns, argv, opts);
  }

  spawn(ns: string | undefined, argv: readonly string[], opts: SpawnOptions = {}): BackgroundProcess {
    this.alive();
    const full = nsArgv(ns, argv);
    const [cmd, ...args] = full;
    if (cmd === undefined) throw new Error('spawn: empty argv');
    const env = opts.env ? { ...process.env, ...opts.env } : process.env;
    if (this.persistentDir !== undefined) return this.spawnDetached(ns, argv, full, env);
    const child = spawnChild(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    if (child.pid === undefined) {
      child.on('error', () => undefined);
      throw new Error(`spawn: could not start \`${full.join(' ')}\``);
    }
    const pid = child.pid;
    const max = opts.maxOutput ?? 1 << 20;
    let out = '';
    let err = '';
    const waiters = new Set<() => void>();
    const notify = (): void => {
      for (const w of [...waiters]) w();
    };
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out = (out + s).slice(-max);
      notify();
    });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      err = (err + s).slice(-max);
      notify();
    });
    let exitInfo: ProcessExit | undefined;
    const exited = new Promise<ProcessExit>((resolve) => {
      child.on('error', (e) => {
        err += `\n${e.message}`;
        exitInfo ??= { code: null, signal: null };
        resolve(exitInfo);
        notify();
      });
      child.on('exit', (code, signal) => {
        exitInfo = { code, signal };
        resolve(exitInfo);
        notify();
      });
    });
    const proc: BackgroundProcess = {
      pid,
      ns,
      argv,
      child,
      stdout: () => out,
      stderr: () => err,
      exited,
      running: () => exitInfo === undefined,
      waitForOutput: (pattern, timeoutMs = 10_000) =>
        new Promise<void>((resolve, reject) => {
          const check = (): void => {
            if (pattern.test(out) || pattern.test(err)) finish();
            else if (exitInfo) finish(new Error(`\`${full.join(' ')}\` exited (${JSON.stringify(exitInfo)}) before printing ${pattern}:\n${err.slice(-2000)}`));
          };
          const finish = (e?: Error): void => {
            clearTimeout(timer);
            waiters.delete(check);
            if (e) reject(e);
            else resolve();
          };
          const timer = setTimeout(() => finish(new Error(`\`${full.join(' ')}\` printed no ${pattern} within ${timeoutMs} ms:\n${err.slice(-2000)}${out.slice(-2000)}`)), timeoutMs);
          waiters.add(check);
          check();
        }),
      stop: async (signal = 'SIGTERM', graceMs = 3000) => {
        if (exitInfo) return exitInfo;
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(timer);
        return result;
      },
    };
    this.processes.add(proc);
    void exited.then(() => this.processes.delete(proc));
    return proc;
  }

  /**
   * A daemon of a persistent lab: its own session (so no terminal signal reaches it) and its
   * output in a log file rather than a pipe, which would break when this process exits.
   */
  private spawnDetached(ns: string | undefined, argv: readonly string[], full: string[], env: NodeJS.ProcessEnv): BackgroundProcess {
    const [cmd, ...args] = full;
    const logDir = join(this.tmpDir, 'log');
    mkdirSync(logDir, { recursive: true });
    const logFile = join(logDir, `${this.next()}-${(argv[0] ?? 'process').split('/').pop() ?? 'process'}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawnChild(cmd ?? '', args, { stdio: ['ignore', fd, fd], env, detached: true });
    closeSync(fd);
    if (child.pid === undefined) {
      child.on('error', () => undefined);
      throw new Error(`spawn: could not start \`${full.join(' ')}\``);
    }
    child.unref();
    const pid = child.pid;
    const log = (): string => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    };
    let exitInfo: ProcessExit | undefined;
    const exited = new Promise<ProcessExit>((resolve) => {
      child.on('error', () => resolve((exitInfo ??= { code: null, signal: null })));
      child.on('exit', (code, signal) => resolve((exitInfo = { code, signal })));
    });
    const proc: BackgroundProcess = {
      pid,
      ns,
      argv,
      child,
      stdout: log,
      stderr: log,
      exited,
      running: () => exitInfo === undefined,
      waitForOutput: async (pattern, timeoutMs = 10_000) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const text = log();
          if (pattern.test(text)) return;
          if (exitInfo) throw new Error(`\`${full.join(' ')}\` exited (${JSON.stringify(exitInfo)}) before printing ${pattern}:\n${text.slice(-2000)}`);
          if (Date.now() > deadline) throw new Error(`\`${full.join(' ')}\` printed no ${pattern} within ${timeoutMs} ms:\n${text.slice(-2000)}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      },
      stop: async (signal = 'SIGTERM', graceMs = 3000) => {
        if (exitInfo) return exitInfo;
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(timer);
        return result;
      },
    };
    this.processes.add(proc);
    void exited.then(() => this.processes.delete(proc));
    return proc;
  }

  async ping(ns: string, dst: string, opts: PingOptions = {}): Promise<PingResult> {
    const count = opts.count ?? 3;
    const args = ['ping', '-n', '-c', String(count), '-i', String(opts.interval ?? 0.2), '-W', String(opts.waitSeconds ?? 1)];
    if (opts.source) args.push('-I', opts.source);
    if (opts.size !== undefined) args.push('-s', String(opts.size));
    if (opts.dontFragment) args.push('-M', 'do');
    args.push(dst);
    let output: string;
    try {
      output = (await runIn(ns, args)).stdout;
    } catch (e) {
      // ping exits 1 when replies are missing: that is a result, not an error.
      if (!(e instanceof CommandError) || e.exitCode !== 1) throw e;
      output = e.stdout;
    }
    const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
    if (!m) throw new Error(`ping ${dst} in ${ns}: unexpected output:\n${output}`);
    const rtt = /= [\d.]+\/([\d.]+)\//.exec(output);
    return { transmitted: Number(m[1]), received: Number(m[2]), avgRttMs: rtt ? Number(rtt[1]) : undefined, output };
  }

  defer(fn: () => void | Promise<void>): void {
    this.deferred.push(fn);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const errors: unknown[] = [];
    while (this.deferred.length > 0) {
      const fn = this.deferred.pop();
      try {
        await fn?.();
      } catch (e) {
        errors.push(e);
      }
    }
    await Promise.all([...this.processes].map((p) => p.stop('SIGTERM', 2000)));
    this.destroySync();
    if (errors.length > 0) throw new AggregateError(errors, `lab ${this.prefix}: ${errors.length} clean-up step(s) failed`);
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    liveLabs.delete(this);
    process.removeListener('exit', this.onExit);
    for (const p of this.processes) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of this.namespaces) killPidsIn(ns);
    for (const tmp of this.tempVeths) runSyncQuiet(['ip', 'link', 'del', tmp]);
    for (const ns of [...this.namespaces].reverse()) runSyncQuiet(['ip', 'netns', 'del', ns]);
    rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

/**
 * Creates a lab whose names start with `prefix` (2-6 lowercase letters). First sweeps what a
 * crashed earlier run of the same prefix left (see sweepStale), unless opts.sweep is false.
 * The lab cleans itself up on process exit, SIGINT and SIGTERM if destroy() was not called.
 */
export async function createLab(prefix: string, opts: { sweep?: boolean } = {}): Promise<Lab> {
  checkPrefix(prefix);
  if (process.getuid?.() !== 0) throw new Error('createLab: the system tier needs root (network namespaces)');
  if (opts.sweep !== false) await sweepStale(prefix);
  return new LabImpl(prefix);
}

/** A lab whose namespaces and daemons outlive the creating process (`nvgw lab up`). */
export interface PersistentLab extends Lab {
  /** PIDs of the daemons this process started that are still running. */
  pids(): number[];
}

/**
 * Creates (or re-attaches to) a persistent lab: namespaces are named `${prefix}-${role}`,
 * spawn() starts detached daemons that log under dir/log, and nothing is cleaned up on exit.
 * Removing it is the caller's job (src/lab/lab.ts, by recorded names and PIDs); destroy()
 * is not meant for it.
 */
export function createPersistentLab(prefix: string, dir: string): PersistentLab {
  checkPrefix(prefix);
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces)');
  return new LabImpl(prefix, dir);
}
