// `nvgw lab up`, `check` and `down` as a user runs them, each in its own process: the lab
// outlives `up`, `check` is green, and `down` leaves no namespace, process or iptables rule.
// The test's lab has its own prefix and state directory, so a developer's running lab
// (prefix nvlab, /run/nvgw-lab) is never touched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { LabState } from '../../../src/lab/state.js';
import { repoRoot } from '../../support/paths.js';

const PREFIX = 'nvlt';
const dir = mkdtempSync(join(tmpdir(), 'nvgw-lab-test-'));
const env = { ...process.env, NVGW_LAB_PREFIX: PREFIX, NVGW_LAB_DIR: join(dir, 'lab') };

function nvgwLab(command: string): { code: number | null; output: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'nvgw.js'), 'lab', command], { env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

function namespaces(): string[] {
  const out = spawnSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' }).stdout.trim();
  return out ? (JSON.parse(out) as Array<{ name: string }>).map((n) => n.name) : [];
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const nvgwRules = (ns?: string): string[] => {
  const argv = ns === undefined ? ['iptables-save'] : ['ip', 'netns', 'exec', ns, 'iptables-save'];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l.includes('NVGW')) : [];
};

describe('nvgw lab', { timeout: 180_000 }, () => {
  after(() => {
    if (existsSync(env.NVGW_LAB_DIR)) nvgwLab('down');
    rmSync(dir, { recursive: true, force: true });
  });

  it('comes up, passes its check, and goes down leaving no namespace, process or iptables rule behind', () => {
    const rootRulesBefore = nvgwRules();
    const up = nvgwLab('up');
    assert.equal(up.code, 0, up.output);
    const state = JSON.parse(readFileSync(join(env.NVGW_LAB_DIR, 'state.json'), 'utf8')) as LabState;
    assert.equal(state.phase, 'up');
    assert.ok(state.namespaces.length >= 10 && state.namespaces.every((ns) => ns.startsWith(`${PREFIX}-`)), state.namespaces.join(' '));
    const pids = [state.gateway!.pid, ...state.ovsPids];
    assert.equal(state.ovsPids.length, 6, 'two OVS daemons per host');
    assert.ok(pids.every(alive), 'a lab process died after `up` exited');
    assert.ok(nvgwRules(state.gateway!.ns).length > 0, 'the gateway installed no NVGW chains');

    const again = nvgwLab('up');
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /already up/);

    const check = nvgwLab('check');
    console.log(check.output.replace(/^/gm, '# '));
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, /0 failed/);
    assert.match(check.output, /tenant <-> other tenant \(must fail\).*blocked \| pass/);

    assert.equal(nvgwLab('status').code, 0);

    const down = nvgwLab('down');
    assert.equal(down.code, 0, down.output);
    const left = namespaces().filter((ns) => state.namespaces.includes(ns) || ns.startsWith(`${PREFIX}-`));
    assert.deepEqual(left, [], 'lab namespaces remain');
    assert.deepEqual(pids.filter(alive), [], 'lab processes remain');
    for (const ns of state.namespaces) assert.deepEqual(nvgwRules(ns), [], `NVGW rules remain in ${ns}`);
    assert.deepEqual(nvgwRules().filter((rule) => !rootRulesBefore.includes(rule)), [], 'the lab left NVGW rules in the root namespace');
    assert.ok(!existsSync(env.NVGW_LAB_DIR), 'the state directory remains');

    const twice = nvgwLab('down');
    assert.equal(twice.code, 0, twice.output);
  });
});
