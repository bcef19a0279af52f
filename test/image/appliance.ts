/**
 * Boots the appliance image (image/build's output) in qemu with TCG, as a hypervisor would
 * with a NoCloud seed, for the image test:
 * - the root disk is a throwaway qcow2 overlay on the built image (which stays pristine);
 * - the seed is an ISO 9660 volume labelled cidata holding nvgw.conf (image/README.md);
 * - one NIC, user networking, whose only forward is the provider API port, bound to
 *   127.0.0.1 on this machine;
 * - the guest agent's virtio-serial port as a unix socket (guest-agent.ts), the debug
 *   channel the test runs commands through;
 * - the serial console appended to a file.
 * qemu is ended by its PID (stop()).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** nvgw.conf keys (image/nvgw-firstboot). */
export interface Seed {
  apiAddress: string;
  apiToken: string;
  paInterface: string;
  hostname: string;
}

export interface BootOptions {
  imageDir: string;
  workDir: string;
  seed: Seed;
  /** Loopback port on this machine forwarded to the guest's API port. */
  hostApiPort: number;
  guestApiPort: number;
  cpus: number;
  memoryMb: number;
}

export interface Appliance {
  pid: number;
  consolePath: string;
  agentSocket: string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function run(argv: readonly string[]): void {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd!, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
}

/** Writes the seed files and packs them into an ISO 9660 volume labelled cidata. */
export function makeSeedIso(dir: string, seed: Seed): string {
  const src = join(dir, 'seed');
  mkdirSync(src, { recursive: true });
  writeFileSync(
    join(src, 'nvgw.conf'),
    [`api_address=${seed.apiAddress}`, `api_token=${seed.apiToken}`, `pa_interface=${seed.paInterface}`, ''].join('\n'),
  );
  writeFileSync(join(src, 'meta-data'), `instance-id: nvgw-image-test\nlocal-hostname: ${seed.hostname}\n`);
  const iso = join(dir, 'seed.iso');
  run(['genisoimage', '-quiet', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', src]);
  return iso;
}

/** A free TCP port on 127.0.0.1 (bound and released; qemu binds it next). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function bootAppliance(o: BootOptions): Appliance {
  const overlay = join(o.workDir, 'root.qcow2');
  run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', join(o.imageDir, 'nvgw.qcow2'), overlay]);
  const seedIso = makeSeedIso(o.workDir, o.seed);
  const consolePath = join(o.workDir, 'console.log');
  const agentSocket = join(o.workDir, 'qga.sock');
  const cmdline = readFileSync(join(o.imageDir, 'cmdline'), 'utf8').trim();
  const argv = [
    '-accel', 'tcg,thread=multi',
    '-machine', 'q35',
    '-cpu', 'max',
    '-smp', String(o.cpus),
    '-m', String(o.memoryMb),
    '-display', 'none',
    '-no-reboot',
    '-kernel', join(o.imageDir, 'vmlinuz'),
    '-initrd', join(o.imageDir, 'initrd.img'),
    '-append', cmdline,
    '-drive', `file=${overlay},if=virtio,format=qcow2`,
    '-drive', `file=${seedIso},if=virtio,format=raw,readonly=on`,
    '-nic', `user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:${o.hostApiPort}-:${o.guestApiPort}`,
    '-chardev', `socket,id=qga0,path=${agentSocket},server=on,wait=off`,
    '-device', 'virtio-serial-pci',
    '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
    '-serial', `file:${consolePath}`,
    '-monitor', 'none',
  ];
  const child: ChildProcess = spawn('qemu-system-x86_64', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      if (code !== 0 && stderr !== '') console.error(`qemu: ${stderr.trim()}`);
      resolve(code);
    }),
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('qemu-system-x86_64 did not start');
  return {
    pid,
    consolePath,
    agentSocket,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(pid, 'SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
      if (!done) process.kill(pid, 'SIGKILL');
      await exited;
    },
  };
}
