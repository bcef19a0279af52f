/**
 * Runs a plan's steps in order through an adapter's executor, shared by the netlink adapter
 * and the fake so both report alike. A failed step is recorded with the object it names
 * and the run goes on; only steps that need a link whose creation failed are skipped
 * (trying them would just fail again with ENODEV and hide the first cause).
 */
import { KernelError } from './errors.js';
import type { ApplyReport, KernelPlan, KernelStep, StepOutcome } from './kernel-port.js';
import { attemptsOf, withRetry } from './retry.js';
import type { RetryOptions } from './retry.js';

export async function executePlan(
  plan: KernelPlan,
  execute: (step: KernelStep) => Promise<void>,
  retry: RetryOptions,
): Promise<ApplyReport> {
  const report: ApplyReport = { ok: true, done: [], failed: [], skipped: [] };
  /** Links whose create step did not succeed in this run. */
  const missing = new Map<string, string>();

  for (const step of plan.steps) {
    const outcome: StepOutcome = { id: step.id, kind: step.kind, op: step.op, status: 'done', attempts: 0 };
    const blocker = step.requires.find((name) => missing.has(name));
    if (blocker !== undefined) {
      outcome.status = 'skipped';
      outcome.error = { code: 'DEPENDENCY_FAILED', message: `${step.id}: not tried, it needs link ${blocker}: ${missing.get(blocker) ?? ''}` };
      report.skipped.push(outcome);
      if (makesReady(step) && !missing.has(step.link.name)) missing.set(step.link.name, `needs link ${blocker}`);
      continue;
    }
    try {
      const { attempts } = await withRetry(() => execute(step), retry);
      outcome.attempts = attempts;
      report.done.push(outcome);
    } catch (error) {
      outcome.status = 'failed';
      outcome.attempts = attemptsOf(error);
      outcome.error = describe(step, error);
      report.failed.push(outcome);
      if (makesReady(step)) {
        missing.set(step.link.name, outcome.error.message);
        if (step.op === 'create' && step.link.peer !== undefined) missing.set(step.link.peer, outcome.error.message);
      }
    }
  }
  report.ok = report.failed.length === 0 && report.skipped.length === 0;
  return report;
}

// Steps after which a link is usable: its creation, and the update that enslaves it and
// brings it up. When one fails, what needs the link would only fail after it (ENODEV,
// ENETDOWN) or land in the wrong table, so it is skipped. A failed MAC or MTU change alone
// does not block anything.
function makesReady(step: KernelStep): step is Extract<KernelStep, { kind: 'link'; op: 'create' | 'update' }> {
  if (step.kind !== 'link') return false;
  if (step.op === 'create') return true;
  return step.op === 'update' && (step.changes.up !== undefined || step.changes.master !== undefined);
}

function describe(step: KernelStep, error: unknown): { code: string; errno?: string; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  const prefixed = message.startsWith(step.id) ? message : `${step.id}: ${message}`;
  if (error instanceof KernelError) {
    return error.errno === undefined ? { code: error.code, message: prefixed } : { code: error.code, errno: error.errno, message: prefixed };
  }
  return { code: 'INTERNAL', message: prefixed };
}
