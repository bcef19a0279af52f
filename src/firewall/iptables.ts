/**
 * Applies rendered rules with `iptables-restore --noflush -w` through execa (argv array, never
 * a shell string): one process for the whole change, however many tenants, where one process
 * per rule is O(n^2) at a thousand tenants.
 *
 * iptables-restore commits table by table (iptables-nft included), so a failure in a later
 * table can leave an earlier one changed: then the chains it touched are rolled back to the
 * rules that were in force, and the error is reported. A full apply (whose input is the
 * whole rule set) is first checked with `iptables-restore --test` (parsed, nothing
 * committed), so a rule iptables cannot even parse never reaches the kernel; an incremental
 * apply skips that second process, its rollback covers the same case at half the cost.
 *
 * After a change only the chains that differ are rewritten (ruleset.ts); at start and at each
 * resync (`full`) the kernel is read back with iptables-save and everything is rewritten,
 * which repairs drift (a flushed chain, a deleted jump) and removes chains nvgw no longer has.
 */
import { execa } from 'execa';
import type { FirewallIntent } from './rules.js';
import { buildFirewall, hookedChains } from './rules.js';
import type { Ruleset } from './ruleset.js';
import { parseSaved, planFull, planIncremental, planRemoveAll } from './ruleset.js';

export interface ApplyOptions {
  /** Read the kernel back and rewrite every chain (start, resync): repairs drift. */
  full?: boolean;
}

export interface FirewallPort {
  apply(intent: FirewallIntent, options?: ApplyOptions): Promise<void>;
  /** Removes nvgw's chains and the jumps into them; leaves every other rule alone. */
  remove(): Promise<void>;
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs one command (argv, optional stdin); never throws for a non-zero exit. */
export type CommandRunner = (file: string, args: readonly string[], input?: string) => Promise<CommandResult>;

const execaRunner: CommandRunner = async (file, args, input) => {
  const result = await execa(file, args, { ...(input === undefined ? {} : { input }), reject: false });
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
};

export class FirewallApplyError extends Error {
  constructor(
    message: string,
    /** Whether the rules in force before this apply were restored (or never left). */
    readonly previousInForce: boolean,
  ) {
    super(message);
    this.name = 'FirewallApplyError';
  }
}

export class IptablesFirewall implements FirewallPort {
  /** What this process last put in the kernel; undefined until the first (full) apply. */
  private applied: Ruleset | undefined;
  private readonly hooked = new Set<string>();

  constructor(
    private readonly binary = 'iptables',
    private readonly run: CommandRunner = execaRunner,
  ) {}

  async apply(intent: FirewallIntent, options: ApplyOptions = {}): Promise<void> {
    const next = buildFirewall(intent);
    const hooks = hookedChains(intent);
    const full = options.full === true || this.applied === undefined || hooks.some((h) => !this.hooked.has(`${h.table} ${h.chain}`));
    let previous: Ruleset;
    let text: string;
    if (full) {
      const observed = parseSaved(await this.save());
      previous = observed.ruleset;
      text = planFull(next, observed, hooks);
    } else {
      previous = this.applied!;
      text = planIncremental(previous, next);
    }
    if (text !== '') {
      const test = full ? await this.restore(text, true) : undefined;
      if (test && test.exitCode !== 0) {
        throw new FirewallApplyError(`iptables-restore refused the rules (nothing applied; the previous rules stay in force): ${test.stderr.trim()}`, true);
      }
      const result = await this.restore(text, false);
      if (result.exitCode !== 0) {
        const back = planIncremental(next, previous, { keepRemoved: true });
        const rollback = back === '' ? { exitCode: 0, stderr: '' } : await this.restore(back, false);
        this.applied = rollback.exitCode === 0 ? previous : undefined;
        throw new FirewallApplyError(
          rollback.exitCode === 0
            ? `iptables-restore failed (rolled back; the previous rules stay in force): ${result.stderr.trim()}`
            : `iptables-restore failed and so did the rollback (the next apply rewrites every chain): ${result.stderr.trim()}; rollback: ${rollback.stderr.trim()}`,
          rollback.exitCode === 0,
        );
      }
    }
    this.applied = next;
    for (const h of hooks) this.hooked.add(`${h.table} ${h.chain}`);
  }

  async remove(): Promise<void> {
    const text = planRemoveAll(parseSaved(await this.save()));
    this.applied = undefined;
    this.hooked.clear();
    if (text === '') return;
    const result = await this.restore(text, false);
    if (result.exitCode !== 0) throw new Error(`removing nvgw's chains failed: ${result.stderr.trim()}`);
  }

  private async save(): Promise<string> {
    const result = await this.run(`${this.binary}-save`, []);
    if (result.exitCode !== 0) throw new FirewallApplyError(`${this.binary}-save failed (nothing applied): ${result.stderr.trim()}`, true);
    return result.stdout;
  }

  private restore(text: string, test: boolean): Promise<CommandResult> {
    return this.run(`${this.binary}-restore`, [...(test ? ['--test'] : []), '--noflush', '-w', '5'], text);
  }
}

/** Records what it was asked to apply, for control-plane tests. */
export class FakeFirewall implements FirewallPort {
  applied: FirewallIntent[] = [];
  /** The options of each apply, in order. */
  options: ApplyOptions[] = [];
  failNext: Error | undefined;

  apply(intent: FirewallIntent, options: ApplyOptions = {}): Promise<void> {
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = undefined;
      return Promise.reject(error);
    }
    this.applied.push(intent);
    this.options.push(options);
    return Promise.resolve();
  }

  remove(): Promise<void> {
    this.applied = [];
    return Promise.resolve();
  }
}
