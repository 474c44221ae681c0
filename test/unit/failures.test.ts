import { describe, expect, it } from 'vitest';
import { nextStep } from '../../src/relay/failures.js';

const policy = { maxAttempts: 3, retryMaxMs: 8000, unknownTopicDeadAfterMs: 60_000 };
const now = new Date('2026-01-01T00:10:00Z');

describe('nextStep', () => {
  it.each(['invalid-headers', 'invalid-topic', 'too-large', 'refused'] as const)('%s is dead at once', (cls) => {
    expect(nextStep({ class: cls, attemptsBefore: 0, firstFailedAt: null }, policy, now)).toEqual({ dead: true });
  });

  it('not-authorized waits with growing, capped delays, then dies after maxAttempts', () => {
    const top = () => 1;
    expect(nextStep({ class: 'not-authorized', attemptsBefore: 0, firstFailedAt: null }, policy, now, top)).toEqual({ dead: false, retryInMs: 1000 });
    expect(nextStep({ class: 'not-authorized', attemptsBefore: 1, firstFailedAt: now }, policy, now, top)).toEqual({ dead: false, retryInMs: 2000 });
    expect(nextStep({ class: 'not-authorized', attemptsBefore: 2, firstFailedAt: now }, policy, now, top)).toEqual({ dead: true });
    const long = { ...policy, maxAttempts: 100 };
    expect(nextStep({ class: 'not-authorized', attemptsBefore: 20, firstFailedAt: now }, long, now, top)).toEqual({ dead: false, retryInMs: 8000 });
  });

  it('jitter never drops below a tenth of the step', () => {
    expect(nextStep({ class: 'not-authorized', attemptsBefore: 1, firstFailedAt: now }, policy, now, () => 0)).toEqual({ dead: false, retryInMs: 200 });
    expect(nextStep({ class: 'not-authorized', attemptsBefore: 1, firstFailedAt: now }, policy, now, () => 0.5)).toEqual({ dead: false, retryInMs: 1000 });
  });

  it('unknown-topic waits until unknownTopicDeadAfterMs after its first failure, whatever the attempts', () => {
    const recent = new Date(now.getTime() - 59_999);
    const old = new Date(now.getTime() - 60_000);
    expect(nextStep({ class: 'unknown-topic', attemptsBefore: 50, firstFailedAt: recent }, policy, now, () => 1).dead).toBe(false);
    expect(nextStep({ class: 'unknown-topic', attemptsBefore: 0, firstFailedAt: null }, policy, now, () => 1).dead).toBe(false);
    expect(nextStep({ class: 'unknown-topic', attemptsBefore: 1, firstFailedAt: old }, policy, now)).toEqual({ dead: true });
    expect(nextStep({ class: 'unknown-topic', attemptsBefore: 0, firstFailedAt: null }, { ...policy, unknownTopicDeadAfterMs: 0 }, now)).toEqual({ dead: true });
  });
});
