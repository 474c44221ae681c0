/**
 * The failures table (migration 2): one line per row that failed to publish. Every statement the
 * relay and the `dead` commands run against it.
 */
import type { Mapping } from '../mapping/definition.js';
import { sourceRelation, trackingTable } from '../mapping/source.js';
import type { OutboxNames } from '../names.js';

/**
 * Record failed rows, in the claiming transaction. Parallel arrays: $1 seq, $2 key, $3 topic,
 * $4 error class, $5 message, $6 retry delay in ms (NULL = dead).
 */
export function recordFailuresSql(n: OutboxNames): string {
  return `INSERT INTO ${n.failures} AS f (seq, key, topic, attempts, error_class, last_error, next_attempt_at, dead_at)
  SELECT u.seq, u.key, u.topic, 1, u.class, u.error,
         CASE WHEN u.retry_ms IS NOT NULL THEN now() + u.retry_ms * interval '1 millisecond' END,
         CASE WHEN u.retry_ms IS NULL THEN now() END
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[]) AS u(seq, key, topic, class, error, retry_ms)
  ON CONFLICT (seq) DO UPDATE SET
    attempts = f.attempts + 1, error_class = excluded.error_class, last_error = excluded.last_error,
    last_failed_at = now(), next_attempt_at = excluded.next_attempt_at, dead_at = excluded.dead_at`;
}

/** Forget the failures of rows that were published after all ($1: seq[]). */
export function clearFailuresSql(n: OutboxNames): string {
  return `DELETE FROM ${n.failures} WHERE seq = ANY($1::bigint[])`;
}

/**
 * Which dead rows a `dead` command acts on: $1 event id, $2 key, $3 topic (each NULL = any). The id is
 * compared as text (a debezium table's id column may not be a uuid); `--id` is a UUID, lower-cased as
 * PostgreSQL prints uuids.
 */
const SELECTED = `f.dead_at IS NOT NULL
    AND ($1::text IS NULL OR o.id = lower($1::text))
    AND ($2::text IS NULL OR f.key = $2::text)
    AND ($3::text IS NULL OR f.topic = $3::text)`;

export interface DeadRow {
  seq: string;
  id: string;
  topic: string;
  key: string | null;
  bytes: number;
  error_class: string;
  last_error: string;
  attempts: number;
  first_failed_at: Date;
  dead_at: Date;
}

const DEAD_COLUMNS = `f.seq, o.id, f.topic, f.key, octet_length(o.payload) AS bytes, f.error_class, f.last_error,
         f.attempts, f.first_failed_at, f.dead_at`;

/** Dead rows in outbox order; $4 = most rows. */
export function listDeadSql(n: OutboxNames, m: Mapping): string {
  return `SELECT ${DEAD_COLUMNS}
  FROM ${n.failures} f JOIN ${sourceRelation(n, m)} o ON o.seq = f.seq
  WHERE ${SELECTED}
  ORDER BY f.seq
  LIMIT $4`;
}

/** Make dead rows pending again: they keep their seq, so their place in their key's order. */
export function retryDeadSql(n: OutboxNames, m: Mapping): string {
  return `DELETE FROM ${n.failures} f USING ${sourceRelation(n, m)} o
  WHERE o.seq = f.seq AND ${SELECTED}
  RETURNING ${DEAD_COLUMNS}`;
}

/**
 * Delete dead rows from the outbox for good (their failure lines go in the same statement). In
 * debezium mode the capture line goes; the user's row stays in their table, never to be published.
 */
export function discardDeadSql(n: OutboxNames, m: Mapping): string {
  return `WITH gone AS (
    DELETE FROM ${trackingTable(n, m)} d USING ${n.failures} f, ${sourceRelation(n, m)} o
    WHERE d.seq = f.seq AND o.seq = f.seq AND ${SELECTED}
    RETURNING ${DEAD_COLUMNS}
  ), forgotten AS (
    DELETE FROM ${n.failures} WHERE seq IN (SELECT seq FROM gone)
  )
  SELECT * FROM gone ORDER BY seq`;
}
