import type { OutboxNames } from '../names.js';

/**
 * Delete one batch of sent rows (kept by --on-publish=mark) published before $1 (timestamptz),
 * at most $2 of them, oldest seq first; returns how many went. One short statement (its own
 * transaction), never one huge DELETE: each batch holds its row locks for milliseconds, the WAL and
 * the dead tuples come in slices autovacuum can follow. Pending, waiting and dead rows (sent_at NULL)
 * are never touched; SKIP LOCKED steps over a row someone else holds instead of waiting for it.
 * Walks the primary key in seq order and stops at $2 rows: the oldest sent rows come first.
 */
export function pruneSentBatchSql(n: OutboxNames): string {
  return `WITH gone AS (
    DELETE FROM ${n.outbox} WHERE seq IN (
      SELECT seq FROM ${n.outbox} WHERE sent_at < $1::timestamptz ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED
    )
    RETURNING 1
  )
  SELECT count(*)::integer AS deleted FROM gone`;
}

/** How many sent rows were published before $1 (for --dry-run and the progress total). */
export function countSentBeforeSql(n: OutboxNames): string {
  return `SELECT count(*)::bigint AS n FROM ${n.outbox} WHERE sent_at < $1::timestamptz`;
}

/** The database's clock, and that time minus $1 milliseconds: cut-offs follow the server, not this host. */
export const NOW_MINUS_SQL = `SELECT now() AS now, now() - $1::bigint * interval '1 millisecond' AS cutoff`;
