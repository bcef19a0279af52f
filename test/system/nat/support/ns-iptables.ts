/**
 * The iptables adapter pointed at a lab namespace: its CommandRunner runs iptables-save and
 * iptables-restore there (`ip netns exec`), so the real binaries and the real kernel check
 * nvgw's rules without touching the host's firewall.
 */
import type { CommandResult, CommandRunner } from '../../../../src/firewall/iptables.js';
import { IptablesFirewall } from '../../../../src/firewall/iptables.js';
import type { Lab } from '../../../support/netns.js';
import { CommandError } from '../../../support/netns.js';

export function nsRunner(lab: Lab, ns: string): CommandRunner {
  return async (file, args, input): Promise<CommandResult> => {
    try {
      const { stdout, stderr } = await lab.exec(ns, [file, ...args], input === undefined ? {} : { input });
      return { exitCode: 0, stdout, stderr };
    } catch (error) {
      if (error instanceof CommandError) return { exitCode: error.exitCode ?? 1, stdout: error.stdout, stderr: error.stderr };
      throw error;
    }
  };
}

export function nsFirewall(lab: Lab, ns: string, run: CommandRunner = nsRunner(lab, ns)): IptablesFirewall {
  return new IptablesFirewall('iptables', run);
}

/** nvgw's part of iptables-save in ns: the NVGW-* chains, their rules and the jumps into them, counters stripped. */
export async function nvgwRules(lab: Lab, ns: string): Promise<string[]> {
  const { stdout } = await lab.exec(ns, ['iptables-save']);
  let table = '';
  const out: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('*')) table = line;
    else if (/^:NVGW-/.test(line)) out.push(`${table} ${line.replace(/\[\d+:\d+\]$/, '')}`);
    else if (/^-A /.test(line) && /NVGW-/.test(line)) out.push(`${table} ${line}`);
  }
  return out;
}
