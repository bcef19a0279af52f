/**
 * `npm run test:vrf`: the tests that need a kernel with vrf, gre and ip_gre, run in the test
 * VM (vm.ts) by node's test runner, and one summary line at the end:
 *
 *   node dist/test/vm/vrf-suite.js [COMPILED_TEST_FILE...]
 *
 * Without arguments it runs every dist/test/system/vrf/*.vm.js. Those files are named
 * *.vm.ts so that the host's system tier (`node --test dist/test/system`) never picks them
 * up: on this machine's kernel they cannot pass (nor is this file named like a test file).
 * Exits non-zero when a test failed, when no test ran, or when the guest never reported
 * (timeout, crash).
 */
import { readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { formatTimings, VRF_SUITE_MODULES } from './suite.js';
import { runInVm } from './vm.js';
import type { VmResult } from './vm.js';

/**
 * A bound for a hung guest, not the budget: the suite takes about 2-3 minutes on an
 * otherwise idle 2-core machine (the summary line prints it), and much longer when other
 * work competes for the host's cores.
 */
const TIMEOUT_MS = 600_000;
const SUITE_DIR = join(repoRoot, 'dist', 'test', 'system', 'vrf');

const files = process.argv.length > 2
  ? process.argv.slice(2).map((f) => relative(repoRoot, resolve(f)))
  : readdirSync(SUITE_DIR).filter((f) => f.endsWith('.vm.js')).sort().map((f) => relative(repoRoot, join(SUITE_DIR, f)));
if (files.length === 0) {
  console.error(`test:vrf: no *.vm.js in ${SUITE_DIR}: build first (npm run build)`);
  process.exit(1);
}

console.log(`test:vrf: booting the test VM for ${files.join(' ')}`);
let result: VmResult;
try {
  result = await runInVm({
    // Both files at once: each mostly waits on its own processes, and the guest has 2 vCPUs.
    argv: [process.execPath, '--enable-source-maps', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
    cwd: repoRoot,
    modules: VRF_SUITE_MODULES,
    timeoutMs: TIMEOUT_MS,
    onOutput: (text) => process.stdout.write(text),
  });
} catch (error) {
  // No kernel, no qemu, no busybox: the VM could not even be built.
  console.log(`test:vrf: FAILED (the VM could not start: ${error instanceof Error ? error.message : String(error)})`);
  process.exit(1);
}

/** The spec reporter's closing counts ("ℹ pass 12"). */
const count = (name: string): number | undefined => {
  const match = new RegExp(`^\\S* ?${name} (\\d+)$`, 'm').exec(result.output);
  return match ? Number(match[1]) : undefined;
};
const tests = count('tests');
const passed = count('pass') ?? 0;
const failed = count('fail') ?? 0;
const extra = ['cancelled', 'skipped', 'todo'].map((name) => [name, count(name) ?? 0] as const).filter(([, n]) => n > 0);
const ok = result.status === 0 && tests !== undefined && tests > 0;
const why = result.timedOut
  ? `no result within ${TIMEOUT_MS / 1000} s`
  : result.status === null
    ? 'the guest never reported a status'
    : tests === undefined || tests === 0
      ? 'no test ran'
      : result.status !== 0
        ? `node --test exited ${result.status}`
        : '';

console.log(
  `test:vrf: ${ok ? 'OK' : `FAILED (${why})`} - guest kernel ${result.kernelVersion}; ${passed} passed, ${failed} failed` +
    `${extra.map(([name, n]) => `, ${n} ${name}`).join('')}; ${formatTimings(result.timings)}`,
);
process.exitCode = ok ? 0 : 1;
