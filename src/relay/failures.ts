/**
 * What happens to a row that failed: wait and retry, or dead. Pure; unit-tested in
 * test/unit/failures.test.ts.
 *
 * - Rows that can never succeed as written (invalid-headers, invalid-topic, too-large, refused) are
 *   dead at once.
 * - unknown-topic waits (the topic may be created, or be created late by a deploy) until
 *   unknownTopicDeadAfterMs after its first failure.
 * - not-authorized waits (an ACL can be fixed) until maxAttempts attempts have failed.
 * Waiting rows back off exponentially with jitter, capped at retryMaxMs.
 */
import type { FailureClass } from './validate.js';

export interface FailurePolicy {
  maxAttempts: number;
  retryMaxMs: number;
  unknownTopicDeadAfterMs: number;
}

export type NextStep = { dead: true } | { dead: false; retryInMs: number };

const NEVER_SUCCEEDS: ReadonlySet<FailureClass> = new Set(['invalid-headers', 'invalid-topic', 'too-large', 'refused']);

export function nextStep(
  failure: { class: FailureClass; attemptsBefore: number; firstFailedAt: Date | null },
  policy: FailurePolicy,
  now: Date,
  random: () => number = Math.random,
): NextStep {
  if (NEVER_SUCCEEDS.has(failure.class)) return { dead: true };
  const attempts = failure.attemptsBefore + 1;
  if (failure.class === 'unknown-topic') {
    const since = failure.firstFailedAt ? now.getTime() - failure.firstFailedAt.getTime() : 0;
    if (since >= policy.unknownTopicDeadAfterMs) return { dead: true };
  } else if (attempts >= policy.maxAttempts) {
    return { dead: true };
  }
  // Jittered exponential backoff from 1 s, capped; at least a tenth of the step, so never an instant retry.
  const ceiling = Math.min(policy.retryMaxMs, 1000 * 2 ** (attempts - 1));
  return { dead: false, retryInMs: Math.max(Math.ceil(ceiling / 10), Math.round(random() * ceiling)) };
}
