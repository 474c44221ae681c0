/**
 * Capped exponential backoff with full jitter (AWS architecture blog's "full jitter"): spreads
 * retries of many replicas apart while keeping the expected wait at half the exponential step.
 * Pure: `random` is injectable so tests can pin it.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  factor?: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 10_000, factor: 2 };

/** Delay before retry number `attempt` (0 = first retry). */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const factor = policy.factor ?? 2;
  const ceiling = Math.min(policy.maxMs, policy.initialMs * factor ** Math.max(0, attempt));
  return Math.round(random() * ceiling);
}
