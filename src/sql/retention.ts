import type { Mapping } from '../mapping/definition.js';
import { NATIVE_MAPPING } from '../mapping/definition.js';
import { trackingTable } from '../mapping/source.js';
import { quoteIdent, type OutboxNames } from '../names.js';

/**
 * Delete the sent rows (kept by --on-publish=mark) published before $1 (timestamptz) among the next
 * $2 rows in seq order after seq $3: one window of the primary key, one short statement (its own
 * transaction), never one huge DELETE. Each window holds its row locks for milliseconds, and the WAL
 * and dead tuples come in slices autovacuum can follow. Pending, waiting and dead rows (sent_at NULL)
 * are read but never locked or touched, so claims are not disturbed; a row someone else holds is
 * skipped (SKIP LOCKED), not waited for.
 *
 * Walking windows of the primary key, rather than asking for "$2 rows with sent_at < $1", keeps a
 * round's cost at the rows it deletes plus one window: sent_at has no index, and the other query
 * would read every younger row to the end of the table each time it comes back short. Returns the
 * rows deleted, the window's last seq (the next cursor), how many rows the window held, and whether
 * it held a sent row too young to delete (see pruneSent for when that ends a round).
 *
 * Debezium mapping: the window walks the capture table (it holds seq and sent_at); a deleted capture
 * row takes the user's outbox row with it (as --on-publish=delete does), unless another capture row
 * still refers to that row (a re-published event not sent yet).
 */
export function pruneSentWindowSql(n: OutboxNames, m: Mapping = NATIVE_MAPPING): string {
  if (m.kind === 'native') {
    return `WITH win AS (
    SELECT seq, sent_at FROM ${n.outbox} WHERE seq > $3::bigint ORDER BY seq LIMIT $2
  ), doomed AS (
    SELECT seq FROM ${n.outbox} WHERE seq IN (SELECT seq FROM win WHERE sent_at < $1::timestamptz) FOR UPDATE SKIP LOCKED
  ), gone AS (
    DELETE FROM ${n.outbox} WHERE seq IN (SELECT seq FROM doomed) RETURNING 1
  )
  SELECT (SELECT count(*) FROM gone)::integer AS deleted, (SELECT max(seq) FROM win)::text AS last_seq,
         (SELECT count(*) FROM win)::integer AS scanned, EXISTS (SELECT 1 FROM win WHERE sent_at >= $1::timestamptz) AS young`;
  }
  const idCol = `t.${quoteIdent(m.idField)}`;
  return `WITH win AS (
    SELECT seq, sent_at FROM ${n.captured} WHERE seq > $3::bigint ORDER BY seq LIMIT $2
  ), doomed AS (
    SELECT seq, id FROM ${n.captured} WHERE seq IN (SELECT seq FROM win WHERE sent_at < $1::timestamptz) FOR UPDATE SKIP LOCKED
  ), gone AS (
    DELETE FROM ${n.captured} WHERE seq IN (SELECT seq FROM doomed) RETURNING id
  ), users AS (
    DELETE FROM ${n.outbox} t USING gone WHERE ${idCol} = gone.id
      AND NOT EXISTS (SELECT 1 FROM ${n.captured} c WHERE c.id = gone.id AND c.seq NOT IN (SELECT seq FROM doomed))
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM gone)::integer AS deleted, (SELECT max(seq) FROM win)::text AS last_seq,
         (SELECT count(*) FROM win)::integer AS scanned, EXISTS (SELECT 1 FROM win WHERE sent_at >= $1::timestamptz) AS young,
         (SELECT count(*) FROM users)::integer AS user_rows`;
}

/** How many sent rows were published before $1 (for --dry-run and the progress total). */
export function countSentBeforeSql(n: OutboxNames, m: Mapping = NATIVE_MAPPING): string {
  return `SELECT count(*)::bigint AS n FROM ${trackingTable(n, m)} WHERE sent_at < $1::timestamptz`;
}

/** The database's clock, and that time minus $1 milliseconds: cut-offs follow the server, not this host. */
export const NOW_MINUS_SQL = `SELECT now() AS now, now() - $1::bigint * interval '1 millisecond' AS cutoff`;
