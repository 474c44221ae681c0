import { afterEach, describe, expect, it, vi } from 'vitest';
import { Wakeup } from '../../src/relay/wakeup.js';

describe('Wakeup', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

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

  it('keeps a notify that arrives after a wait timed out, while nobody waits', async () => {
    vi.useFakeTimers();
    const w = new Wakeup();
    const first = w.wait(100);
    await vi.advanceTimersByTimeAsync(100);
    expect(await first).toBe('timeout');
    w.notify(); // nobody waits now: it must be kept for the next wait
    expect(w.take()).toBe(true);
    w.notify();
    const next = w.wait(10_000);
    await vi.advanceTimersByTimeAsync(0);
    expect(await Promise.race([next, Promise.resolve('still waiting')])).toBe('notify');
  });

  it('one notify wakes one wait: the next wait sleeps until its timeout', async () => {
    vi.useFakeTimers();
    const w = new Wakeup();
    w.notify();
    w.notify();
    expect(await w.wait(1000)).toBe('notify');
    const second = w.wait(1000);
    let settled: string | undefined;
    void second.then((r) => (settled = r));
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe('timeout');
  });

  it('take() consumes a pending notify once', () => {
    const w = new Wakeup();
    expect(w.take()).toBe(false);
    w.notify();
    expect(w.take()).toBe(true);
    expect(w.take()).toBe(false);
  });
});
