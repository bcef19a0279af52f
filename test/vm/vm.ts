/**
 * A throwaway virtual machine for the tests this machine's kernel cannot run (no vrf, gre
 * or ip_gre modules here): Debian's linux-image-amd64 kernel booted in qemu (TCG: no KVM)
 * with the host's own root filesystem as its root, so the guest runs the very node,
 * node_modules, dist/ and tools the host has.
 *
 *   const result = await runInVm({ argv: ['node', '--test', 'dist/test/system/vrf/a.vm.js'], cwd: repoRoot });
 *   result.status      // the command's exit status inside the guest, or null (timeout, crash)
 *
 * How it is built, every run, in a private temporary directory (removed afterwards):
 * - an initramfs (newc cpio, uncompressed): a static busybox, test/vm/guest-init.sh as
 *   /init, and the modules that reach the host tree (virtio_pci, 9pnet_virtio, 9p and their
 *   dependencies, resolved by the host's `modprobe --show-depends` for the guest kernel);
 * - a run directory, shared read-write over 9p: job.env (modules to load, working
 *   directory), command.sh (the command), and afterwards status (its exit status).
 * The host's / is shared read-only over 9p (`multidevs=remap`: it spans several devices);
 * the guest puts tmpfs on /tmp, /run, /var/{tmp,log,lib}, loads the job's modules with the
 * host's modprobe and runs the command in a chroot of the host tree (guest-init.sh).
 *
 * The guest has no network device (`-nic none`): the tests build their networks from
 * namespaces inside it. Its console (serial, ttyS0) is streamed to `onOutput` as it comes.
 * The qemu process is ended by its PID when the timeout passes or the caller is signalled.
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { repoRoot } from '../support/paths.js';

/** The modules guest-init.sh needs before it can mount the host tree. */
const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p'];
const GUEST_INIT = join(repoRoot, 'test', 'vm', 'guest-init.sh');
const BUSYBOX = '/bin/busybox';
const DEFAULT_TIMEOUT_MS = 240_000;

export interface VmOptions {
  /** The command to run in the guest, as root, in `cwd` (a path of the host tree). */
  argv: readonly string[];
  cwd: string;
  /** Modules the guest loads (with their dependencies) before the command runs. */
  modules?: readonly string[];
  /** Extra environment for the command. */
  env?: Record<string, string>;
  /** The whole run, boot included; then qemu is killed. Default 240 s. */
  timeoutMs?: number;
  memoryMb?: number;
  cpus?: number;
  /** A kernel version with a /boot/vmlinuz-<version>; default: see findGuestKernel. */
  kernelVersion?: string;
  /** Each chunk of the guest's console output, as it arrives. */
  onOutput?: (text: string) => void;
}

export interface VmTimings {
  initramfsMs: number;
  /** From starting qemu to the guest's "modules loaded" line: the command starts right after. */
  bootMs: number | undefined;
  totalMs: number;
  /**
   * CPU time qemu used (user + system, all its threads): unlike the wall-clock times it
   * hardly depends on what else the host runs, so runs on a busy machine stay comparable.
   */
  qemuCpuMs: number | undefined;
}

export interface VmResult {
  /** The command's exit status, or null when the guest never reported one. */
  status: number | null;
  timedOut: boolean;
  kernelVersion: string;
  /** The whole console output, without the CRs the guest's tty puts before each LF. */
  output: string;
  timings: VmTimings;
}

/** Versions ordered like `sort -V` for the dotted/dashed numbers Debian uses. */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isInteger(nx) && Number.isInteger(ny) ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * The newest kernel that has both an image in /boot and a vrf module under /lib/modules
 * (installed by Debian's linux-image-amd64; scripts/setup). NVGW_VM_KERNEL overrides.
 */
export function findGuestKernel(env: NodeJS.ProcessEnv = process.env): string {
  const wanted = env.NVGW_VM_KERNEL;
  const versions = readdirSync('/boot')
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => existsSync(`/lib/modules/${v}/kernel/drivers/net/vrf.ko`))
    .sort(compareVersions);
  const version = wanted ?? versions.at(-1);
  if (version === undefined || !existsSync(`/boot/vmlinuz-${version}`)) {
    throw new Error(`no guest kernel: need /boot/vmlinuz-<version> and /lib/modules/<version>/kernel/drivers/net/vrf.ko${wanted ? ` for NVGW_VM_KERNEL=${wanted}` : ''} (Debian's linux-image-amd64; run scripts/setup)`);
  }
  return version;
}

/** Runs a host tool (argv, no shell); resolves with its stdout. */
function runTool(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new Error(`${file}: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString());
      else reject(new Error(`${file} ${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString().trim()}`));
    });
  });
}

/** Module files in load order (dependencies first, no duplicates) for the boot modules. */
async function bootModuleFiles(version: string): Promise<string[]> {
  const files: string[] = [];
  for (const name of BOOT_MODULES) {
    // "insmod /lib/modules/<v>/kernel/.../x.ko" per module, or "builtin x" when built in.
    const out = await runTool('modprobe', ['--set-version', version, '--show-depends', name]);
    for (const line of out.split('\n')) {
      const path = /^insmod (\S+\.ko)\b/.exec(line.trim())?.[1];
      if (path !== undefined && !files.includes(path)) files.push(path);
    }
  }
  return files;
}

/** Every path under dir, relative and directories first, as cpio wants them listed. */
function listTree(dir: string, prefix = '.'): string[] {
  const entries: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = `${prefix}/${entry.name}`;
    entries.push(rel);
    if (entry.isDirectory()) entries.push(...listTree(join(dir, entry.name), rel));
  }
  return entries;
}

/** Builds the initramfs for `version` into `workDir`/initramfs.cpio; returns its path. */
export async function buildInitramfs(version: string, workDir: string): Promise<string> {
  const root = join(workDir, 'initramfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'lib', 'modules'), { recursive: true });
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing (Debian's busybox-static; run scripts/setup)`);
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  copyFileSync(GUEST_INIT, join(root, 'init'));
  chmodSync(join(root, 'init'), 0o755);
  const modules = await bootModuleFiles(version);
  for (const file of modules) copyFileSync(file, join(root, 'lib', 'modules', basename(file)));
  writeFileSync(join(root, 'modules.list'), modules.map((f) => `${basename(f)}\n`).join(''));
  const image = join(workDir, 'initramfs.cpio');
  // cpio reads the list on stdin, relative to its working directory.
  await new Promise<void>((resolve, reject) => {
    const child = spawn('cpio', ['--create', '--format=newc', '--quiet', '--owner=0:0', `--file=${image}`], { cwd: root, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', (e) => reject(new Error(`cpio: ${e.message} (Debian's cpio; run scripts/setup)`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`cpio exited ${code}: ${stderr.trim()}`))));
    child.stdin.on('error', () => undefined); // a failing cpio reports through its exit status
    child.stdin.end(`${listTree(root).join('\n')}\n`);
  });
  return image;
}

const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

/** Boots the guest, runs the command, and resolves when qemu has exited. */
export async function runInVm(options: VmOptions): Promise<VmResult> {
  const started = Date.now();
  const version = options.kernelVersion ?? findGuestKernel();
  const workDir = mkdtempSync(join(tmpdir(), 'nvgw-vm-'));
  const runDir = join(workDir, 'run');
  mkdirSync(runDir);
  try {
    const image = await buildInitramfs(version, workDir);
    const initramfsMs = Date.now() - started;

    writeFileSync(
      join(runDir, 'job.env'),
      [
        `NVGW_VM_MODULES=${shellQuote((options.modules ?? []).join(' '))}`,
        `NVGW_VM_CWD=${shellQuote(options.cwd)}`,
        `CI=${shellQuote(process.env.CI ?? '')}`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(runDir, 'command.sh'),
      [
        ...Object.entries(options.env ?? {}).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
        `exec ${options.argv.map(shellQuote).join(' ')}`,
        '',
      ].join('\n'),
    );

    const args = [
      '-M', 'pc', '-accel', 'tcg,thread=multi', '-cpu', 'max',
      '-smp', String(options.cpus ?? 2), '-m', String(options.memoryMb ?? 1536),
      '-nodefaults', '-no-user-config', '-display', 'none', '-nic', 'none', '-no-reboot',
      '-kernel', `/boot/vmlinuz-${version}`, '-initrd', image,
      '-append', 'console=ttyS0 quiet loglevel=3 panic=-1',
      '-serial', 'stdio',
      '-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
      '-virtfs', `local,path=${runDir},mount_tag=run,security_model=none,multidevs=remap`,
    ];
    const qemuStarted = Date.now();
    let bootMs: number | undefined;
    let output = '';
    let timedOut = false;
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = (): void => {
      if (qemu.exitCode !== null || qemu.signalCode !== null) return;
      qemu.kill('SIGTERM');
      setTimeout(() => {
        if (qemu.exitCode === null && qemu.signalCode === null) qemu.kill('SIGKILL');
      }, 5000).unref();
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      kill();
      process.exitCode = 128 + (signal === 'SIGINT' ? 2 : 15);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const timer = setTimeout(() => {
      timedOut = true;
      options.onOutput?.(`\nnvgw-vm: no result after ${Math.round((options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)} s: ending qemu (pid ${qemu.pid})\n`);
      kill();
    }, (options.timeoutMs ?? DEFAULT_TIMEOUT_MS) - (qemuStarted - started));
    // qemu's CPU time, sampled until it exits (its /proc entry goes with it).
    let qemuCpuMs: number | undefined;
    const ticksPerSecond = 100; // USER_HZ on Linux
    const sampleCpu = (): void => {
      try {
        const fields = readFileSync(`/proc/${qemu.pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
        qemuCpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
      } catch {
        // already gone: keep the last sample
      }
    };
    const sampler = setInterval(sampleCpu, 1000);
    // setEncoding: a UTF-8 character split between two reads stays one character.
    const onData = (chunk: string): void => {
      const text = chunk.replaceAll('\r', '');
      output += text;
      if (bootMs === undefined && output.includes('nvgw-vm: modules loaded')) bootMs = Date.now() - qemuStarted;
      if (text.includes('nvgw-vm: command exited')) sampleCpu();
      options.onOutput?.(text);
    };
    qemu.stdout.setEncoding('utf8').on('data', onData);
    qemu.stderr.setEncoding('utf8').on('data', onData);
    await new Promise<void>((resolve) => {
      qemu.on('error', (e) => {
        output += `\nqemu-system-x86_64: ${e.message} (Debian's qemu-system-x86; run scripts/setup)\n`;
        options.onOutput?.(`\nqemu-system-x86_64: ${e.message}\n`);
        resolve();
      });
      qemu.on('close', () => resolve());
    });
    clearTimeout(timer);
    clearInterval(sampler);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);

    const statusFile = join(runDir, 'status');
    const status = !timedOut && existsSync(statusFile) ? Number(readFileSync(statusFile, 'utf8').trim()) : null;
    return {
      status: status !== null && Number.isInteger(status) ? status : null,
      timedOut,
      kernelVersion: version,
      output,
      timings: { initramfsMs, bootMs, totalMs: Date.now() - started, qemuCpuMs },
    };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
