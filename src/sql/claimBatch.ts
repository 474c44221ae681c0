import type { OutboxNames } from '../names.js';

/** One outbox row as the relay reads it. */
export interface OutboxRow {
  /** bigint, kept as a string. */
  seq: string;
  id: string;
  topic: string;
  key: string | null;
  payload: Buffer;
  headers: Record<string, string>;
}

/**
 * Claim up to $1 pending rows in outbox order. FOR UPDATE SKIP LOCKED: rows another claimer holds are
 * skipped, not waited for; the locks last until the claiming transaction ends, which happens only
 * after Kafka acknowledged (then the rows are completed) or the batch failed (then they are released).
 * A crashed relay's connection closes and its locks go with it, so nothing stays stuck.
 * Walks the partial index on (seq) WHERE sent_at IS NULL.
 */
export function claimBatchSql(n: OutboxNames): string {
  return `SELECT seq, id, topic, key, payload, headers
  FROM ${n.outbox}
  WHERE sent_at IS NULL
  ORDER BY seq
  LIMIT $1
  FOR UPDATE SKIP LOCKED`;
}
