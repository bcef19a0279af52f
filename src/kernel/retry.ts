/**
 * Bounded retry of transient kernel errors only (kube-router internal/nlretry): EBUSY,
 * EAGAIN, EINTR, ENOBUFS and interrupted dumps. Anything else fails at once, so a real
 * rejection (EEXIST, EINVAL, ENODEV) is reported on the first attempt, never masked.
 */
import { isTransient } from './errors.js';

export interface RetryOptions {
  /** Total attempts, first included. */
  attempts: number;
  /** Delay before the second attempt; doubled before each further one. */
  baseDelayMs: number;
  sleep: (ms: number) => Promise<void>;
}

export const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 10, sleep: defaultSleep };

export interface RetryResult<T> {
  value: T;
  attempts: number;
}

/** Runs `op` until it succeeds, fails with a non-transient error, or runs out of attempts. */
export async function withRetry<T>(op: () => Promise<T>, options: RetryOptions = DEFAULT_RETRY): Promise<RetryResult<T>> {
  let delay = options.baseDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await op(), attempts: attempt };
    } catch (error) {
      if (attempt >= options.attempts || !isTransient(error)) {
        if (error instanceof Error) Object.assign(error, { attempts: attempt });
        throw error;
      }
      await options.sleep(delay);
      delay *= 2;
    }
  }
}

/** How many attempts a failed withRetry made (1 when the error did not come from it). */
export function attemptsOf(error: unknown): number {
  if (typeof error === 'object' && error !== null && 'attempts' in error && typeof error.attempts === 'number') {
    return error.attempts;
  }
  return 1;
}
