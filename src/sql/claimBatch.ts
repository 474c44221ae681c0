import { quoteLiteral, type OutboxNames } from '../names.js';

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

/**
 * Opens the claiming transaction (one simple-protocol round trip): bounds it, and takes the outbox's
 * claim lock without waiting. Only the relay holding that lock claims, so rows of one key are never
 * in flight from two relays at once (SKIP LOCKED alone would let a second relay skip a locked head
 * row and publish the key's next row first). The lock is transaction-scoped: it goes with the claim's
 * COMMIT/ROLLBACK, or with the connection of a relay that died, so a standby takes over at its next
 * poll. The last statement's single boolean says whether this relay got it.
 */
export function beginClaimSql(n: OutboxNames, boundMs: number, idleInTransactionMs: number): string {
  return [
    'BEGIN',
    `SET LOCAL statement_timeout = ${Math.trunc(boundMs)}`,
    `SET LOCAL idle_in_transaction_session_timeout = ${Math.trunc(idleInTransactionMs)}`,
    `SELECT pg_try_advisory_xact_lock(hashtext(${quoteLiteral(n.claimLockKey)})) AS locked`,
  ].join('; ');
}
