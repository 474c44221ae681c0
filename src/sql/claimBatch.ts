import { NATIVE_MAPPING, type Mapping } from '../mapping/definition.js';
import { sourceRelation } from '../mapping/source.js';
import { quoteLiteral, type OutboxNames } from '../names.js';
import { ownedPartitionsSql, partitionOfSql } from './leases.js';

/** One outbox row as the relay publishes it, after the mapping (src/mapping/message.ts). */
export interface OutboxRow {
  /** bigint, kept as a string. */
  seq: string;
  id: string;
  topic: string;
  /** The message key, and the key whose order the relay keeps (NULL = none). */
  key: string | null;
  /** The message value; null = a tombstone. */
  payload: Buffer | null;
  /**
   * Every header of the message: an object of strings (null = a header without a value, which only the
   * Debezium mapping produces), unless the row predates migration 2 (see relay/validate.ts).
   */
  headers: Record<string, string | null>;
  /** An explicit partition (a mapping's partition column), else null: the partitioner decides. */
  partition?: number | null;
  /** The Kafka timestamp in ms since the epoch, as a decimal string; null: the producer's clock. */
  timestamp?: string | null;
}

/** A claimed row with its failure history. */
export interface ClaimedRow extends OutboxRow {
  /** Failed publish attempts so far (0 for a row that never failed). */
  attempts: number;
  /** When this row first failed, if it did. */
  first_failed_at: Date | null;
  /** Seconds since the row's created_at when it was claimed (database clock). */
  age: number;
}

/**
 * Claim up to $1 pending rows in outbox order, from the key partitions relay $4 holds a live lease on
 * (src/sql/leases.ts, judged by the database clock at this very statement), stopping once their
 * payloads reach $3 bytes (the first
 * row always comes, whatever its size: so a few huge rows are claimed one at a time, not all at once
 * into memory); $2 (boolean) says whether a failed row holds back the later rows of its key (the
 * default key policy, "block-key") or not ("skip").
 *
 * - Rows that failed and wait for their next attempt, or are dead, are left out (the failures table,
 *   normally empty). With $2, so are the later rows of their keys: a blocked key.
 * - FOR UPDATE SKIP LOCKED: rows another session holds are not waited for. But a skipped row must not
 *   be overtaken by the later rows of its key (an operator's SELECT … FOR UPDATE, an application
 *   transaction updating the row): after locking, the same range is read again without locks, and a
 *   locked row is kept only if no earlier row of its key was skipped. NULL keys have no order to keep.
 *   (Locking first and checking after costs ~1 ms per 500 rows; reading the candidates first and then
 *   locking them cost twice that: docs/bad-rows.md.)
 * - Rows past the byte budget stay locked but unclaimed until the transaction ends; the next claim
 *   takes them.
 * - The locks last until the claiming transaction ends, which happens only after Kafka acknowledged
 *   (then the rows are completed) or the batch failed (then they are released). A crashed relay's
 *   connection closes and its locks go with it, so nothing stays stuck.
 * Walks the partial index on (seq) WHERE sent_at IS NULL.
 *
 * The rows come from the mapping's source relation (src/mapping/source.ts): the outbox itself, or
 * in debezium mode the capture table joined with the user's table, with the same columns either way.
 * They still need the mapping's rowMapper (src/mapping/message.ts) to become OutboxRows.
 */
export function claimBatchSql(n: OutboxNames, m: Mapping = NATIVE_MAPPING): string {
  const source = sourceRelation(n, m);
  // Parsing a timestamptz into a Date costs ~0.4 µs a row in node-postgres: fetched only for a
  // mapping that uses it (the message timestamp, CloudEvents' ce_time). age is computed here either way.
  const createdAt = usesCreatedAt(m) ? 'k.created_at' : 'NULL::timestamptz AS created_at';
  const claimable = `o.sent_at IS NULL
      AND ${partitionOfSql('o')} = ANY (${ownedPartitionsSql(n, '$4')})
      AND NOT EXISTS (SELECT 1 FROM held h WHERE h.seq = o.seq)
      AND NOT EXISTS (SELECT 1 FROM blocked b WHERE b.key = o.key AND b.from_seq < o.seq)`;
  return `WITH held AS (
    SELECT f.seq, f.key FROM ${n.failures} f
    WHERE f.dead_at IS NOT NULL OR f.next_attempt_at > now()
  ), blocked AS (
    SELECT key, min(seq) AS from_seq FROM held WHERE $2::boolean AND key IS NOT NULL GROUP BY key
  ), locked AS (
    SELECT o.seq, o.id, o.topic, o.key, o.payload, o.headers, o.partition, o.created_at, o.ce_type FROM ${source} o
    WHERE ${claimable}
    ORDER BY o.seq
    LIMIT $1
    FOR UPDATE SKIP LOCKED
  ), skipped AS (
    SELECT o.seq, o.key FROM ${source} o
    WHERE o.seq <= (SELECT max(seq) FROM locked) AND o.key IS NOT NULL
      AND ${claimable}
      AND NOT EXISTS (SELECT 1 FROM locked l WHERE l.seq = o.seq)
  ), kept AS (
    SELECT l.*, sum(coalesce(octet_length(l.payload), 0)) OVER (ORDER BY l.seq) - coalesce(octet_length(l.payload), 0) AS bytes_before
    FROM locked l
    WHERE NOT EXISTS (SELECT 1 FROM skipped s WHERE s.key = l.key AND s.seq < l.seq)
  )
  SELECT k.seq, k.id, k.topic, k.key, k.payload, k.headers, k.partition, ${createdAt}, k.ce_type,
         coalesce(f.attempts, 0) AS attempts, f.first_failed_at,
         extract(epoch FROM statement_timestamp() - k.created_at)::float8 AS age
  FROM kept k
  LEFT JOIN ${n.failures} f ON f.seq = k.seq
  WHERE k.bytes_before < $3
  ORDER BY k.seq`;
}

/** Whether the mapping's messages need the row's created_at (src/mapping/message.ts). */
export function usesCreatedAt(m: Mapping): boolean {
  return m.timestamp === 'created_at' || (m.kind === 'native' && m.cloudEvents !== undefined);
}

/**
 * Opens the claiming transaction (one simple-protocol round trip): bounds it, and says whether this
 * relay holds a live lease on any key partition (migration 3, src/leases/); one that holds none has
 * nothing to claim and skips the claim statement. The last statement's single boolean answers.
 */
export function beginClaimSql(n: OutboxNames, boundMs: number, idleInTransactionMs: number, relayId: string): string {
  return [
    'BEGIN',
    `SET LOCAL statement_timeout = ${Math.trunc(boundMs)}`,
    `SET LOCAL idle_in_transaction_session_timeout = ${Math.trunc(idleInTransactionMs)}`,
    `SELECT cardinality(${ownedPartitionsSql(n, quoteLiteral(relayId))}) > 0 AS owns`,
  ].join('; ');
}
