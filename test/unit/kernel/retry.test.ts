// Bounded retry of transient kernel errors only (kube-router nlretry).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KernelError, KernelErrorCode, rejected } from '../../../src/kernel/errors.js';
import { withRetry } from '../../../src/kernel/retry.js';

function setup(): { sleeps: number[]; options: { attempts: number; baseDelayMs: number; sleep: (ms: number) => Promise<void> } } {
  const sleeps: number[] = [];
  return { sleeps, options: { attempts: 4, baseDelayMs: 10, sleep: async (ms) => void sleeps.push(ms) } };
}

describe('withRetry', () => {
  it('retries EBUSY with a doubling delay until it succeeds', async () => {
    const { sleeps, options } = setup();
    let calls = 0;
    const result = await withRetry(async () => {
      if (++calls < 3) throw rejected('EBUSY', 'link nvgw-t5001');
      return 'ok';
    }, options);
    assert.deepEqual(result, { value: 'ok', attempts: 3 });
    assert.deepEqual(sleeps, [10, 20]);
  });

  it('retries an interrupted dump', async () => {
    const { options } = setup();
    let calls = 0;
    const result = await withRetry(async () => {
      if (++calls === 1) throw new KernelError(KernelErrorCode.DumpInterrupted, 'route dump: interrupted');
      return calls;
    }, options);
    assert.equal(result.attempts, 2);
  });

  it('fails at once on a real rejection such as EEXIST or EINVAL', async () => {
    const { sleeps, options } = setup();
    let calls = 0;
    await assert.rejects(
      withRetry(async () => {
        calls++;
        throw rejected('EINVAL', 'route 10.0.0.0/8 table 1001 metric 0');
      }, options),
      (error: KernelError) => error.errno === 'EINVAL' && (error as KernelError & { attempts: number }).attempts === 1,
    );
    assert.equal(calls, 1);
    assert.deepEqual(sleeps, []);
  });

  it('stops after the bound and rethrows the last transient error', async () => {
    const { options } = setup();
    let calls = 0;
    await assert.rejects(
      withRetry(async () => {
        calls++;
        throw rejected('EAGAIN', 'rule 1000 iif nvgw-t5001 lookup 1001');
      }, options),
      /kernel said EAGAIN/,
    );
    assert.equal(calls, 4);
  });

  it('never retries an error that is not the kernel\'s', async () => {
    const { options } = setup();
    let calls = 0;
    await assert.rejects(
      withRetry(async () => {
        calls++;
        throw new TypeError('bug');
      }, options),
      TypeError,
    );
    assert.equal(calls, 1);
  });
});
