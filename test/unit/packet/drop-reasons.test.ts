import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DROP_REASONS } from '../../../src/packet/drop-reasons.js';

describe('DROP_REASONS', () => {
  it('names every reason once, in lowercase kebab case, with a description', () => {
    const names = DROP_REASONS.map((d) => d.reason);
    assert.equal(new Set(names).size, names.length);
    for (const { reason, description } of DROP_REASONS) {
      assert.match(reason, /^[a-z0-9]+(-[a-z0-9]+)*$/);
      assert.ok(description.length > 10, reason);
    }
  });

  it('includes the reasons the data path applies after decoding', () => {
    const names = new Set<string>(DROP_REASONS.map((d) => d.reason));
    for (const reason of [
      'unknown-vsid',
      'spoofed-outer-pa',
      'spoofed-inner-ca',
      'nat-rule-not-forwarded',
      'ttl-exceeded',
      'no-route',
    ]) {
      assert.ok(names.has(reason), reason);
    }
  });
});
