/**
 * `outbox-relay replay`: sent rows (kept by --on-publish=mark) inserted again as new pending rows.
 * Selection: $1 topic, $2 sent at or after (timestamptz), $3 sent before (timestamptz), $4 key (NULL = any).
 */
import type { OutboxNames } from '../names.js';

/** The header a replayed row carries: the seq of the row it copies. */
export const REPLAY_HEADER = 'replayed-from-seq';

const SELECTED = `sent_at IS NOT NULL AND topic = $1 AND sent_at >= $2::timestamptz AND sent_at < $3::timestamptz
    AND ($4::text IS NULL OR key = $4::text)`;

/** How many rows a replay would copy. */
export function countReplaySql(n: OutboxNames): string {
  return `SELECT count(*)::bigint AS n FROM ${n.outbox} WHERE ${SELECTED}`;
}

/** Whether the outbox keeps any sent row at all (it does not in delete mode). */
export function anySentSql(n: OutboxNames): string {
  return `SELECT EXISTS (SELECT 1 FROM ${n.outbox} WHERE sent_at IS NOT NULL) AS any`;
}

/**
 * Copy the next batch, in seq order, after seq $5, at most $6 rows: each copy is a new pending row
 * (new seq, so it goes behind every row already in the outbox and never overtakes its key's newer
 * rows), with the same event id, topic, key and payload, and the headers plus REPLAY_HEADER. The
 * identity values are drawn in the SELECT's order, so the copies keep the originals' order. Returns
 * how many were copied and the highest original seq (the cursor for the next batch).
 */
export function replayBatchSql(n: OutboxNames): string {
  return `WITH source AS (
    SELECT seq, id, topic, key, payload, headers FROM ${n.outbox}
    WHERE ${SELECTED} AND seq > $5::bigint
    ORDER BY seq LIMIT $6
  ), copied AS (
    INSERT INTO ${n.outbox} (id, topic, key, payload, headers)
    SELECT id, topic, key, payload, headers || jsonb_build_object('${REPLAY_HEADER}', seq::text) FROM source ORDER BY seq
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM copied)::integer AS copied, (SELECT max(seq) FROM source)::text AS last_seq`;
}
