import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/backoff.js';
import { Wakeup } from '../../src/relay/wakeup.js';

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

describe('Wakeup', () => {
  it('does not lose a notify that arrives before wait()', async () => {
    const w = new Wakeup();
    w.notify();
    expect(await w.wait(10_000)).toBe('notify');
  });
  it('times out without a notify, and a notify during wait ends it', async () => {
    const w = new Wakeup();
    expect(await w.wait(5)).toBe('timeout');
    const waiting = w.wait(10_000);
    w.notify();
    expect(await waiting).toBe('notify');
    expect(w.take()).toBe(false);
  });
});
