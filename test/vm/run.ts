/**
 * Runs one command in the test VM (vm.ts) and exits with its status:
 *
 *   node dist/test/vm/run.js [--timeout SECONDS] [--modules 'veth vrf ...'] -- COMMAND [ARG...]
 *
 * The command runs as root in the repository's root directory of the host tree, with the
 * modules of VRF_SUITE_MODULES loaded unless --modules says otherwise. For example, a
 * shell in a namespace-ready guest kernel: `-- sh -c 'ip -d link show type vrf; uname -r'`.
 */
import { repoRoot } from '../support/paths.js';
import { formatTimings, VRF_SUITE_MODULES } from './suite.js';
import { runInVm } from './vm.js';

function usage(message: string): never {
  console.error(`run: ${message}\nusage: node dist/test/vm/run.js [--timeout SECONDS] [--modules 'NAME ...'] -- COMMAND [ARG...]`);
  process.exit(2);
}

const args = process.argv.slice(2);
let timeoutMs = 240_000;
let modules: readonly string[] = VRF_SUITE_MODULES;
while (args.length > 0 && args[0] !== '--') {
  const flag = args.shift();
  const value = args.shift();
  if (value === undefined) usage(`${flag} needs a value`);
  if (flag === '--timeout' && Number(value) > 0) timeoutMs = Number(value) * 1000;
  else if (flag === '--modules') modules = value.split(/\s+/).filter(Boolean);
  else usage(`unknown option ${flag}`);
}
args.shift();
if (args.length === 0) usage('no command');

const result = await runInVm({ argv: args, cwd: repoRoot, modules, timeoutMs, onOutput: (text) => process.stdout.write(text) });
console.log(`run: guest kernel ${result.kernelVersion}; ${formatTimings(result.timings)}; status ${result.status ?? (result.timedOut ? 'none (timed out)' : 'none (the guest did not report one)')}`);
process.exitCode = result.status ?? 1;
