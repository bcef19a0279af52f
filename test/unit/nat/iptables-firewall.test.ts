// The iptables adapter against a fake iptables: one process per apply, incremental after a
// change, full at a resync, and the previous rules kept in force when iptables-restore fails.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CommandResult, FirewallApplyError } from '../../../src/firewall/iptables.js';
import { IptablesFirewall } from '../../../src/firewall/iptables.js';
import type { FirewallIntent } from '../../../src/firewall/rules.js';
import { renderIntent } from './fixtures.js';

interface Call {
  file: string;
  args: readonly string[];
  input: string;
}

/** iptables-save/-restore over an in-memory text; `failRestore` fails the next real (non --test) restores. */
function setup() {
  const calls: Call[] = [];
  const fake = { saved: '*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n', failTest: false, failRestore: 0 };
  const run = (file: string, args: readonly string[], input?: string): Promise<CommandResult> => {
    calls.push({ file, args, input: input ?? '' });
    if (file.endsWith('-save')) return Promise.resolve({ exitCode: 0, stdout: fake.saved, stderr: '' });
    if (args.includes('--test')) return Promise.resolve(fake.failTest ? { exitCode: 2, stdout: '', stderr: 'Bad argument' } : { exitCode: 0, stdout: '', stderr: '' });
    if (fake.failRestore > 0) {
      fake.failRestore--;
      return Promise.resolve({ exitCode: 1, stdout: '', stderr: 'iptables-restore: line 40 failed' });
    }
    return Promise.resolve({ exitCode: 0, stdout: '', stderr: '' });
  };
  return { sut: new IptablesFirewall('iptables', run), calls, fake };
}

const restores = (calls: Call[]) => calls.filter((c) => c.file === 'iptables-restore' && !c.args.includes('--test'));

/** The fixture with red's SNAT address changed: one domain's change. */
function redChanged(): FirewallIntent {
  const intent = renderIntent();
  const red = intent.nat!.domains.find((d) => d.mark === 1001)!;
  red.nat!.snat = '203.0.113.12';
  return intent;
}

describe('the iptables firewall adapter', () => {
  it('starts with a full apply: reads the kernel, tests, then one iptables-restore --noflush that hooks every chain', async () => {
    const { sut, calls } = setup();
    await sut.apply(renderIntent());
    assert.deepEqual(calls.map((c) => [c.file, ...c.args].join(' ')), ['iptables-save', 'iptables-restore --test --noflush -w 5', 'iptables-restore --noflush -w 5']);
    assert.match(calls[2]!.input, /^-I POSTROUTING 1 -j NVGW-POSTROUTING$/m);
    assert.match(calls[2]!.input, /^-I PREROUTING 1 -j NVGW-ZONES$/m);
  });

  it('applies one domain\'s change by rewriting only the chains it touches', async () => {
    const { sut, calls } = setup();
    await sut.apply(renderIntent());
    calls.length = 0;
    await sut.apply(redChanged());
    assert.ok(!calls.some((c) => c.file === 'iptables-save'), 'no read-back after a change');
    const declared = restores(calls)[0]!.input.split('\n').filter((l) => l.startsWith(':'));
    assert.deepEqual(declared, [':NVGW-S-3e9 - [0:0]']);
  });

  it('runs no process at all when the rules did not change', async () => {
    const { sut, calls } = setup();
    await sut.apply(renderIntent());
    calls.length = 0;
    await sut.apply(renderIntent());
    assert.deepEqual(calls, []);
  });

  it('rewrites everything on a resync (full), which repairs a flushed chain', async () => {
    const { sut, calls } = setup();
    await sut.apply(renderIntent());
    calls.length = 0;
    await sut.apply(renderIntent(), { full: true });
    assert.equal(calls[0]!.file, 'iptables-save');
    assert.match(restores(calls)[0]!.input, /^-A NVGW-S-3e8 /m);
  });

  it('checks a full rule set with iptables-restore --test first: refused, it changes nothing', async () => {
    const { sut, calls, fake } = setup();
    await sut.apply(renderIntent());
    calls.length = 0;
    fake.failTest = true;
    await assert.rejects(sut.apply(redChanged(), { full: true }), (error: FirewallApplyError) => error.previousInForce && /nothing applied/.test(error.message));
    assert.deepEqual(restores(calls), []);
  });

  it('applies a change without the --test process: its rollback covers a refusal', async () => {
    const { sut, calls } = setup();
    await sut.apply(renderIntent());
    calls.length = 0;
    await sut.apply(redChanged());
    assert.deepEqual(calls.map((c) => [c.file, ...c.args].join(' ')), ['iptables-restore --noflush -w 5']);
  });

  it('a failed iptables-restore is rolled back to the rules in force, and the next change starts from them', async () => {
    const { sut, calls, fake } = setup();
    await sut.apply(renderIntent());
    calls.length = 0;
    fake.failRestore = 1;
    await assert.rejects(sut.apply(redChanged()), (error: FirewallApplyError) => error.previousInForce && /rolled back/.test(error.message));
    const [attempt, rollback] = restores(calls);
    assert.match(attempt!.input, /--to-source 203\.0\.113\.12/);
    assert.match(rollback!.input, /^-A NVGW-S-3e9 .*--to-source 203\.0\.113\.10$/m, 'the rollback puts red\'s previous SNAT back');
    calls.length = 0;
    await sut.apply(redChanged());
    assert.match(restores(calls)[0]!.input, /--to-source 203\.0\.113\.12/, 'the retry still has the change to make');
  });

  it('when the rollback fails too, the next apply reads the kernel back and rewrites everything', async () => {
    const { sut, calls, fake } = setup();
    await sut.apply(renderIntent());
    fake.failRestore = 2;
    await assert.rejects(sut.apply(redChanged()), (error: FirewallApplyError) => !error.previousInForce);
    calls.length = 0;
    await sut.apply(redChanged());
    assert.equal(calls[0]!.file, 'iptables-save');
  });

  it('removes every NVGW chain through one restore', async () => {
    const { sut, calls, fake } = setup();
    fake.saved = '*nat\n:POSTROUTING ACCEPT [0:0]\n:NVGW-POSTROUTING - [0:0]\n-A POSTROUTING -j NVGW-POSTROUTING\nCOMMIT\n';
    await sut.remove();
    assert.equal(restores(calls)[0]!.input, '*nat\n:NVGW-POSTROUTING - [0:0]\n-D POSTROUTING -j NVGW-POSTROUTING\n-X NVGW-POSTROUTING\nCOMMIT\n');
  });
});
