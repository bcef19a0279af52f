// Self-tests of the namespace lab (test/support/netns.ts): what it makes works, failures say
// what failed, and whatever happens it leaves nothing behind.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Lab } from '../../support/netns.js';
import { CommandError, createLab, linkMac, run, sweepStale } from '../../support/netns.js';

const PREFIX = 'nvhn';
const netnsModule = new URL('../../support/netns.js', import.meta.url).href;

function namespaces(): string[] {
  const out = spawnSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' }).stdout.trim();
  return out ? (JSON.parse(out) as Array<{ name: string }>).map((n) => n.name) : [];
}

function rootLinks(): string[] {
  return (JSON.parse(spawnSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' }).stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
}

/** Alive and not a zombie (a daemon re-parented to a PID 1 that never reaps stays one). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms: ${cond.toString()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (after ${ms} ms)`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A PID that has certainly exited (a child we started and reaped). */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  const pid = child.pid;
  assert.ok(pid);
  await new Promise((r) => child.on('exit', r));
  return pid;
}

describe('network namespace lab', { timeout: 60_000 }, () => {
  let lab: Lab;
  let a: string;
  let b: string;
  let c: string;

  before(async () => {
    lab = await createLab(PREFIX);
    a = await lab.namespace('a');
    b = await lab.namespace('b');
    c = await lab.namespace('c');
    await lab.bridge(b, 'br0');
    await lab.veth({ ns: a, ifname: 'eth0', addresses: ['10.77.0.1/24'], mac: '02:00:00:77:00:01' }, { ns: b, ifname: 'to-a', master: 'br0' });
    await lab.veth({ ns: c, ifname: 'eth0', addresses: ['10.77.0.3/24'], mtu: 1400 }, { ns: b, ifname: 'to-c', master: 'br0', mtu: 1400 });
  });
  after(() => lab.destroy());

  it('names namespaces after the prefix, the process and a counter', () => {
    assert.match(a, new RegExp(`^${PREFIX}${process.pid}-\\d+-a$`));
    assert.deepEqual(lab.namespaces.slice(0, 3), [a, b, c]);
    for (const ns of [a, b, c]) assert.ok(namespaces().includes(ns), ns);
  });

  it('joins namespaces by veth through a bridge, with the requested MAC and MTU', async () => {
    const r = await lab.ping(a, '10.77.0.3', { count: 2 });
    assert.equal(r.received, 2, r.output);
    assert.equal(await linkMac(a, 'eth0'), '02:00:00:77:00:01');
    const [link] = JSON.parse((await lab.exec(c, ['ip', '-j', 'link', 'show', 'eth0'])).stdout) as Array<{ mtu: number }>;
    assert.equal(link?.mtu, 1400);
  });

  it('leaves no temporary veth in the root namespace', () => {
    assert.deepEqual(rootLinks().filter((l) => l.startsWith(PREFIX)), []);
  });

  it('reports lost pings as a result, not an error', async () => {
    const r = await lab.ping(a, '10.77.0.99', { count: 1, waitSeconds: 1 });
    assert.deepEqual([r.transmitted, r.received], [1, 0]);
  });

  it('routes with replace semantics, so applying a route twice succeeds', async () => {
    await lab.addRoute(a, '10.78.0.0/16', { via: '10.77.0.3' });
    await lab.addRoute(a, '10.78.0.0/16', { via: '10.77.0.3' });
    const { stdout } = await lab.exec(a, ['ip', 'route', 'show', '10.78.0.0/16']);
    assert.match(stdout, /via 10\.77\.0\.3/);
  });

  it('turns IPv6 off in new namespaces unless asked', async () => {
    const { stdout } = await lab.exec(a, ['sysctl', '-n', 'net.ipv6.conf.all.disable_ipv6']);
    assert.equal(stdout.trim(), '1');
  });

  it('names the command, the namespace and stderr when a command fails', async () => {
    await assert.rejects(lab.exec(a, ['ip', 'link', 'set', 'nosuchdev', 'up']), (e: unknown) => {
      assert.ok(e instanceof CommandError);
      assert.equal(e.exitCode, 1);
      assert.match(e.message, /ip link set nosuchdev up/);
      assert.match(e.message, new RegExp(`in namespace ${a}`));
      assert.match(e.message, /nosuchdev/);
      assert.match(e.stderr, /Cannot find device|does not exist/);
      return true;
    });
  });

  it('rejects interface names longer than the kernel allows', async () => {
    await assert.rejects(lab.veth({ ns: a, ifname: 'sixteen-chars-xx' }, { ns: b, ifname: 'x' }), /1-15/);
  });

  it('runs background processes in a namespace and waits for their output', async () => {
    const p = lab.spawn(a, ['ip', 'monitor', 'link']);
    await lab.exec(a, ['ip', 'link', 'add', 'dummyx', 'type', 'bridge']);
    await p.waitForOutput(/dummyx/);
    const exit = await p.stop();
    assert.equal(exit.signal, 'SIGTERM');
    assert.equal(alive(p.pid), false);
  });

  it('rejects waitForOutput when the process exits without printing it', async () => {
    const p = lab.spawn(a, ['ip', 'link', 'show', 'lo']);
    await assert.rejects(p.waitForOutput(/never printed/, 5000), /exited/);
  });
});

describe('lab clean-up', { timeout: 60_000 }, () => {
  it('destroy ends spawned processes by PID and removes namespaces, links and the temp dir, idempotently', async () => {
    const lab = await createLab(PREFIX);
    const x = await lab.namespace('x');
    const y = await lab.namespace('y');
    await lab.veth({ ns: x, ifname: 'eth0' }, { ns: y, ifname: 'eth0' });
    const sleeper = lab.spawn(x, ['sleep', '600']);
    // A process the lab did not spawn but that runs inside one of its namespaces (like a
    // daemon a test started there) is found by `ip netns pids`. Our own child, so it is reaped.
    const untracked = spawn('ip', ['netns', 'exec', x, 'sleep', '602']);
    const untrackedExit = new Promise((r) => untracked.once('exit', r));
    await waitFor(() => spawnSync('ip', ['netns', 'pids', x], { encoding: 'utf8' }).stdout.includes(String(untracked.pid)));
    const tmp = lab.tmpDir;
    let deferredRan = false;
    lab.defer(() => {
      deferredRan = true;
    });
    lab.defer(() => {
      throw new Error('a failing clean-up step');
    });
    assert.ok(existsSync(tmp));
    // A failing step is reported, and everything else is still removed.
    await assert.rejects(lab.destroy(), /1 clean-up step/);
    await lab.destroy();
    assert.equal(deferredRan, true);
    await within(sleeper.exited, 3000, 'the spawned process survived destroy');
    assert.equal(alive(sleeper.pid), false);
    try {
      await within(untrackedExit, 3000, 'a process inside a lab namespace survived destroy');
    } finally {
      untracked.kill('SIGKILL');
    }
    assert.ok(!namespaces().includes(x) && !namespaces().includes(y));
    assert.equal(existsSync(tmp), false);
    await assert.rejects(lab.namespace('late'), /destroyed/);
  });

  it('cleans up from the exit handler when the process exits without destroy', async () => {
    const code = `
      import { createLab } from ${JSON.stringify(netnsModule)};
      const lab = await createLab(${JSON.stringify(PREFIX)}, { sweep: false });
      const ns = await lab.namespace('orphan');
      console.log(ns);
      process.exit(0);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const ns = r.stdout.trim();
    assert.match(ns, /orphan$/);
    assert.ok(!namespaces().includes(ns), `${ns} survived its process`);
  });

  it('cleans up when the process is killed by SIGTERM', async () => {
    const code = `
      import { createLab } from ${JSON.stringify(netnsModule)};
      const lab = await createLab(${JSON.stringify(PREFIX)}, { sweep: false });
      const ns = await lab.namespace('term');
      lab.spawn(ns, ['sleep', '600']);
      console.log(ns);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ns = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
    assert.ok(namespaces().includes(ns));
    child.kill('SIGTERM');
    const [, signal] = (await new Promise((r) => child.on('exit', (...args) => r(args)))) as [number | null, string | null];
    assert.equal(signal, 'SIGTERM');
    assert.ok(!namespaces().includes(ns), `${ns} survived SIGTERM`);
  });

  it('sweepStale removes only the dead runs of its own prefix family, and their processes', async () => {
    const dead = await deadPid();
    const stale = `${PREFIX}${dead}-1-stale`;
    const otherFamily = `nvhx${dead}-1-stale`;
    const live = `${PREFIX}${process.pid}-9999-live`;
    const staleTmp = join(tmpdir(), `${PREFIX}-${dead}-sweeptest`);
    const liveTmp = join(tmpdir(), `${PREFIX}-${process.pid}-sweeptest`);
    mkdirSync(liveTmp, { recursive: true });
    for (const ns of [stale, otherFamily, live]) await run(['ip', 'netns', 'add', ns]);
    mkdirSync(staleTmp, { recursive: true });
    const tempVeth = `${PREFIX}${dead.toString(36).padStart(5, '0')}zzza`;
    await run(['ip', 'link', 'add', tempVeth, 'type', 'veth', 'peer', 'name', `${PREFIX}${dead.toString(36).padStart(5, '0')}zzzb`]);
    const orphan = spawn('ip', ['netns', 'exec', stale, 'sleep', '600']);
    const orphanExit = new Promise((r) => orphan.once('exit', r));
    await new Promise((r) => setTimeout(r, 200));
    try {
      const removed = await sweepStale(PREFIX);
      assert.deepEqual(removed, [stale]);
      const left = namespaces();
      assert.ok(!left.includes(stale));
      assert.ok(left.includes(otherFamily), 'another prefix family was touched');
      assert.ok(left.includes(live), 'a namespace of a live process was touched');
      assert.ok(!rootLinks().includes(tempVeth), 'stale temporary veth left in the root namespace');
      assert.equal(existsSync(staleTmp), false);
      assert.equal(existsSync(liveTmp), true, 'the temp dir of a live process was removed');
      await within(orphanExit, 3000, 'a process inside a stale namespace survived the sweep');
    } finally {
      for (const ns of [stale, otherFamily, live]) spawnSync('ip', ['netns', 'del', ns]);
      rmSync(liveTmp, { recursive: true, force: true });
      spawnSync('ip', ['link', 'del', tempVeth]);
      orphan.kill('SIGKILL');
    }
  });
});
