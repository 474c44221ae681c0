import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/backoff.js';

describe('backoffDelay', () => {
  const policy = { initialMs: 100, maxMs: 1000 };
  it('grows exponentially up to the cap (upper bound with random = 1)', () => {
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, policy, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
  it('applies full jitter', () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(400);
  });
});

describe('DEFAULT_BACKOFF', () => {
  it('starts at 100 ms, doubles, and caps at 10 s', () => {
    expect([0, 1, 2, 6, 7, 20].map((a) => backoffDelay(a, undefined, () => 1))).toEqual([100, 200, 400, 6400, 10_000, 10_000]);
  });
});
