/**
 * Applies rendered rules with one `iptables-restore --noflush -w` through execa (argv
 * array, never a shell string): one process for the whole rule set, however many tenants,
 * where one process per rule is O(n^2) at a thousand tenants. A failed restore leaves the
 * previous rules in force (iptables-restore commits per table atomically) and is reported.
 */
import { execa } from 'execa';
import type { FirewallIntent } from './rules.js';
import { CHAINS, renderFirewall } from './rules.js';

export interface FirewallPort {
  apply(intent: FirewallIntent): Promise<void>;
  /** Removes nvgw's chains and the jumps into them; leaves every other rule alone. */
  remove(): Promise<void>;
}

export class IptablesFirewall implements FirewallPort {
  constructor(private readonly binary = 'iptables') {}

  async apply(intent: FirewallIntent): Promise<void> {
    // Chains first (restore creates them), then the jumps, which need the chains to exist.
    await this.restore(renderFirewall(intent));
    for (const { table, chain, from } of CHAINS) {
      const check = await execa(this.binary, ['-w', '5', '-t', table, '-C', from, '-j', chain], { reject: false });
      if (check.exitCode !== 0) await execa(this.binary, ['-w', '5', '-t', table, '-I', from, '1', '-j', chain]);
    }
  }

  async remove(): Promise<void> {
    for (const { table, chain, from } of CHAINS) {
      while ((await execa(this.binary, ['-w', '5', '-t', table, '-D', from, '-j', chain], { reject: false })).exitCode === 0);
      await execa(this.binary, ['-w', '5', '-t', table, '-F', chain], { reject: false });
      await execa(this.binary, ['-w', '5', '-t', table, '-X', chain], { reject: false });
    }
  }

  private async restore(text: string): Promise<void> {
    const result = await execa(`${this.binary}-restore`, ['--noflush', '-w', '5'], { input: text, reject: false });
    if (result.exitCode !== 0) {
      throw new Error(`iptables-restore failed (previous rules stay in force): ${String(result.stderr).trim()}`);
    }
  }
}

/** Records what it was asked to apply, for control-plane tests. */
export class FakeFirewall implements FirewallPort {
  applied: FirewallIntent[] = [];
  failNext: Error | undefined;

  apply(intent: FirewallIntent): Promise<void> {
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = undefined;
      return Promise.reject(error);
    }
    this.applied.push(intent);
    return Promise.resolve();
  }

  remove(): Promise<void> {
    this.applied = [];
    return Promise.resolve();
  }
}
