/**
 * Classify a publish failure, the kafkajs way (every error says whether it is retriable):
 * - "retriable": transient (broker down, leader moving, timeout); retry the batch after a backoff.
 * - "fatal-producer": the idempotent producer's sequence state is broken; reconnecting keeps the stale
 *   state, so the producer must be discarded and a fresh one created before the retry.
 * - "poison": some row of the batch cannot be accepted as is (too large, unknown topic, not allowed).
 *   The relay isolates the row (relay/publish-batch.ts) and records it with ROW_FAILURE_CLASS[type].
 * Pure; unit-tested in test/unit/classify.test.ts.
 */
import type { FailureClass } from '../relay/validate.js';

export type PublishFailureKind = 'retriable' | 'fatal-producer' | 'poison';

export interface PublishFailure {
  kind: PublishFailureKind;
  /** Kafka error type when one was found, e.g. MESSAGE_TOO_LARGE. */
  type: string | undefined;
  message: string;
}

export const FATAL_PRODUCER_TYPES = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'PRODUCER_FENCED',
  // Our own deadline (src/sleep.ts): the ack is ambiguous and the request may still be in flight, so the
  // producer is replaced rather than reused; the retry may duplicate the batch (bounded, detectable).
  'PUBLISH_TIMEOUT',
  // The send resolved but its acknowledgement does not cover every message (publisher/receipt.ts), even
  // after resending the missing partitions: replace the producer and retry the whole batch.
  'INCOMPLETE_RECEIPT',
]);

/** Kafka errors that belong to a row (or its topic), and what the relay records for such a row. */
export const ROW_FAILURE_CLASS: Readonly<Record<string, FailureClass>> = {
  MESSAGE_TOO_LARGE: 'too-large',
  RECORD_LIST_TOO_LARGE: 'too-large',
  INVALID_RECORD: 'refused',
  CORRUPT_MESSAGE: 'refused',
  INVALID_TOPIC_EXCEPTION: 'refused',
  // A timestamp outside the topic's message.timestamp.after.max.ms / before.max.ms (OUTBOX_TIMESTAMP=created_at).
  INVALID_TIMESTAMP: 'refused',
  TOPIC_AUTHORIZATION_FAILED: 'not-authorized',
  UNKNOWN_TOPIC_OR_PARTITION: 'unknown-topic',
};

export const POISON_TYPES = new Set(Object.keys(ROW_FAILURE_CLASS));

/** Walk the error and everything it wraps (kafkajs nests causes and retry wrappers). */
export function* causes(err: unknown, depth = 0): Generator<unknown> {
  if (err === undefined || err === null || depth > 8) return;
  yield err;
  if (typeof err !== 'object') return;
  const e = err as { cause?: unknown; originalError?: unknown; errors?: unknown };
  if (e.cause !== undefined && e.cause !== err) yield* causes(e.cause, depth + 1);
  if (e.originalError !== undefined && e.originalError !== err) yield* causes(e.originalError, depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* causes(inner, depth + 1);
}

export function classifyPublishError(err: unknown): PublishFailure {
  let type: string | undefined;
  for (const cause of causes(err)) {
    const t = (cause as { type?: unknown } | null)?.type;
    if (typeof t !== 'string') continue;
    type ??= t;
    if (FATAL_PRODUCER_TYPES.has(t)) return { kind: 'fatal-producer', type: t, message: messageOf(err) };
    if (POISON_TYPES.has(t)) return { kind: 'poison', type: t, message: messageOf(err) };
  }
  return { kind: 'retriable', type, message: messageOf(err) };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
