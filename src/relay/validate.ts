/**
 * Checks a row before it is sent: a row that can never be published is parked dead at once, with
 * its reason, without a round trip to Kafka (and without failing its neighbours' request).
 * Pure; unit-tested in test/unit/validate.test.ts.
 */
import type { OutboxRow } from '../sql/claimBatch.js';
import { rowSize } from './batch.js';

/** Why a row failed: stored in the failures table's error_class, shown by `dead list`. */
export type FailureClass =
  /** headers are not a JSON object of strings (rows written before migration 2's strict CHECK) */
  | 'invalid-headers'
  /** the topic name is not one Kafka accepts */
  | 'invalid-topic'
  /** larger than --max-message-bytes, or Kafka said MESSAGE_TOO_LARGE */
  | 'too-large'
  /** the topic does not exist (yet): retried until --unknown-topic-dead-after-ms */
  | 'unknown-topic'
  /** Kafka refuses the record itself (INVALID_RECORD, CORRUPT_MESSAGE, INVALID_TOPIC_EXCEPTION …) */
  | 'refused'
  /** TOPIC_AUTHORIZATION_FAILED: retried (an ACL can be fixed) until --row-max-attempts */
  | 'not-authorized';

export interface RowProblem {
  class: FailureClass;
  message: string;
}

/** Kafka's own rule (kafka.common.internals.Topic): 1–249 of [a-zA-Z0-9._-], not "." or "..". */
const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

/**
 * sizeOf: the row's size (rowSize, or a per-batch cache of it). nullHeaderValues: a header may have a
 * null value (Kafka allows it; the Debezium mapping sends a NULL header column so). The native table's
 * rows must not (migration 2's CHECK: an object of strings).
 */
export function validateRow(
  row: OutboxRow,
  maxMessageBytes: number,
  sizeOf: (row: OutboxRow) => number = rowSize,
  nullHeaderValues = false,
): RowProblem | undefined {
  const headers: unknown = row.headers;
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
    return { class: 'invalid-headers', message: `headers must be a JSON object of strings, got ${describe(headers)}` };
  }
  for (const name in headers) {
    const value: unknown = (headers as Record<string, unknown>)[name];
    if (typeof value !== 'string' && !(value === null && nullHeaderValues)) {
      return { class: 'invalid-headers', message: `header ${JSON.stringify(name)} must be a string, got ${describe(value)}` };
    }
  }
  if (!TOPIC.test(row.topic) || row.topic === '.' || row.topic === '..') {
    return {
      class: 'invalid-topic',
      message: `topic ${JSON.stringify(row.topic.slice(0, 60))} is not a legal Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)`,
    };
  }
  const size = sizeOf(row);
  if (size > maxMessageBytes) {
    return { class: 'too-large', message: `row is ${size} bytes, more than --max-message-bytes ${maxMessageBytes}` };
  }
  return undefined;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}
