/**
 * When a failed request may be sent again, and how long to wait first.
 *
 * Retry only what is known to be transient, with a bound (kube-router's nlretry rule):
 * network errors and 5xx answers, never a 4xx, which would fail the same way again, nor
 * a 5xx whose code says it is permanent (DATAPATH_DISABLED).
 *
 * GET, HEAD, PUT and DELETE are idempotent (RFC 9110 §9.2.2): sending one twice leaves
 * the gateway as sending it once, so they are retried on any network error or 5xx.
 *
 * POST (create one item) is not. If a POST reached the gateway and was committed but the
 * answer was lost, a second POST answers 409 ALREADY_EXISTS for an object that this very
 * client created, so the caller would see a failure for a success. A POST is therefore
 * retried only when the gateway provably did not act on it:
 *   - the connection failed before the request was sent (refused, DNS, connect timeout);
 *   - the answer is 503 STORAGE_FAILED, which the contract defines as "the state store
 *     failed; nothing was changed".
 * Any other failure of a POST (a reset after sending, a timeout waiting for the answer,
 * 500) is reported as is. A caller that needs an idempotent create uses put(), which
 * creates or replaces by key. A POST that only computes (trace) is marked idempotent.
 */

export interface RetryPolicy {
  /** Retries after the first attempt; 0 disables retrying. */
  retries: number;
  /** Delay before the first retry; doubles per retry (full jitter below it). */
  baseDelayMs: number;
  /** No single wait is longer than this, whatever Retry-After says. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 100, maxDelayMs: 2000 };

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/**
 * 5xx codes that describe how the gateway is configured, not a passing failure: asking
 * again gives the same answer (501 DATAPATH_DISABLED: it runs without a data path).
 */
const NOT_TRANSIENT = new Set(['DATAPATH_DISABLED']);

export type AttemptOutcome =
  | { kind: 'network'; sent: boolean; permanent: boolean }
  | { kind: 'status'; status: number; code: string | undefined };

/** Is this outcome worth another attempt of `method`? (Attempt counting is the caller's.) */
export function isRetryable(method: string, idempotent: boolean | undefined, outcome: AttemptOutcome): boolean {
  const safe = idempotent ?? IDEMPOTENT.has(method.toUpperCase());
  if (outcome.kind === 'network') {
    if (outcome.permanent) return false; // a certificate that does not verify will not verify next time
    return safe || !outcome.sent;
  }
  if (outcome.status < 500 || (outcome.code !== undefined && NOT_TRANSIENT.has(outcome.code))) return false;
  if (safe) return true;
  return outcome.status === 503 && outcome.code === 'STORAGE_FAILED';
}

/**
 * Full-jitter exponential backoff (the AWS architecture blog's variant): a uniform wait
 * in [0, min(max, base * 2^retry)), so clients that failed together do not retry together.
 * A Retry-After from the gateway raises the wait, still bounded by maxDelayMs.
 */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  const jittered = Math.floor(random() * ceiling);
  const wanted = retryAfterMs !== undefined ? Math.max(jittered, retryAfterMs) : jittered;
  return Math.min(wanted, policy.maxDelayMs);
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in milliseconds. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
