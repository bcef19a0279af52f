/**
 * The container image, as far as it can be tested without a container engine: the build
 * context image/container-context assembles holds everything the Containerfile COPYs, and
 * its entrypoint, run as the container would (root, a fresh network namespace holding a PA
 * interface, only
 * CAP_NET_ADMIN and CAP_NET_RAW, the Containerfile's ENV), serves the provider API.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../support/paths.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot && process.env.CI) throw new Error('test/image needs root and CI is set: refusing to skip');

function run(argv: readonly string[]): string {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd!, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The ENV lines of the Containerfile, as the container sees them. */
function containerEnv(containerfile: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of containerfile.matchAll(/^ENV\s+(\w+)=(\S+)\s*$/gm)) env[m[1]!] = m[2]!;
  return env;
}

describe('the container build context and entrypoint', { skip: !isRoot && 'needs root (network namespaces)' }, () => {
  const ns = `nvgw-ct-${randomBytes(3).toString('hex')}`;
  let ctx = '';
  let state = '';
  let child: ChildProcess | undefined;
  let output = '';

  before(() => {
    ctx = mkdtempSync(join(tmpdir(), 'nvgw-container-ctx-'));
    state = mkdtempSync(join(tmpdir(), 'nvgw-container-state-'));
    run(['bash', join(repoRoot, 'image', 'container-context'), ctx]);
    run(['ip', 'netns', 'add', ns]);
    run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    // The PA interface the container is given (`ip link set IF netns ...` in real use).
    run(['ip', '-n', ns, 'link', 'add', 'fabric0', 'type', 'veth', 'peer', 'name', 'fabric0-peer']);
    run(['ip', '-n', ns, 'link', 'set', 'fabric0-peer', 'up']);
    run(['ip', '-n', ns, 'addr', 'add', '10.1.1.10/24', 'dev', 'fabric0']);
    run(['ip', '-n', ns, 'link', 'set', 'fabric0', 'up']);
  });

  after(async () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      process.kill(child.pid, 'SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    }
    spawnSync('ip', ['netns', 'del', ns]);
    for (const dir of [ctx, state]) if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('holds every path the Containerfile COPYs', () => {
    const containerfile = readFileSync(join(ctx, 'Containerfile'), 'utf8');
    const sources = [...containerfile.matchAll(/^COPY\s+(?:--\S+\s+)*(\S+)\s+\S+\s*$/gm)].map((m) => m[1]!);
    assert.ok(sources.length > 0, 'the Containerfile copies nothing');
    for (const src of sources) assert.ok(existsSync(join(ctx, src)), `${src} is missing from the context`);
    const entrypoint = /^ENTRYPOINT\s+\["([^"]+)"/m.exec(containerfile)?.[1];
    assert.equal(entrypoint, '/opt/nvgw/libexec/entrypoint');
    assert.ok(existsSync(join(ctx, entrypoint)), 'the entrypoint is in the context');
  });

  it('refuses to start without CAP_NET_ADMIN', () => {
    const r = spawnSync('setpriv', ['--inh-caps=-all', '--bounding-set=-net_admin', join(ctx, 'opt/nvgw/libexec/entrypoint')], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /CAP_NET_ADMIN is missing/);
  });

  it('serves the provider API in a fresh network namespace with only NET_ADMIN and NET_RAW', async () => {
    const token = randomBytes(16).toString('hex');
    writeFileSync(join(state, 'api-token'), `${token}\n`, { mode: 0o600 });
    const env = {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      ...containerEnv(readFileSync(join(ctx, 'Containerfile'), 'utf8')),
      NVGW_API_TOKEN_FILE: join(state, 'api-token'),
      NVGW_STATE_PATH: join(state, 'state.db'),
      NVGW_DATAPATH_FABRIC_INTERFACE: 'fabric0',
    };
    // As the runtime would: root, capabilities bounded to the two the container is given.
    child = spawn(
      'ip',
      ['netns', 'exec', ns, 'setpriv', '--bounding-set=-all,+net_admin,+net_raw', '--inh-caps=-all', '--', join(ctx, 'opt/nvgw/libexec/entrypoint')],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.setEncoding('utf8').on('data', (t: string) => (output += t));
    child.stderr?.setEncoding('utf8').on('data', (t: string) => (output += t));
    const deadline = Date.now() + 60_000;
    let body = '';
    for (;;) {
      assert.equal(child.exitCode, null, `the entrypoint exited: ${output}`);
      const r = spawnSync('ip', ['netns', 'exec', ns, 'node', '-e', `
        fetch('http://127.0.0.1:8470/v1/status', { headers: { authorization: 'Bearer ${token}' } })
          .then(async (r) => { process.stdout.write(r.status + ' ' + await r.text()); })
          .catch(() => process.exit(1));`], { encoding: 'utf8' });
      if (r.status === 0 && r.stdout.startsWith('200 ')) {
        body = r.stdout.slice(4);
        break;
      }
      assert.ok(Date.now() < deadline, `the API did not answer within 60 s: ${output}`);
      await sleep(500);
    }
    console.log(`container test: /v1/status in namespace ${ns}: ${body}`);
    const status = JSON.parse(body) as { backend: string; datapath: { state: string } };
    assert.equal(status.datapath.state, 'running', 'the data path runs on the given PA interface');
    assert.match(status.backend, /^(vrf|policy-routing)$/);
    const caps = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    console.log(`container test: entrypoint's process: ${caps.split('\n').filter((l) => l.startsWith('Cap')).join('; ')}`);
  });
});
