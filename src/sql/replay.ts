/**
 * `outbox-relay replay`: sent rows (kept by --on-publish=mark) inserted again as new pending rows.
 * Selection: $1 topic, $2 sent at or after (timestamptz), $3 sent before (timestamptz), $4 key (NULL = any).
 *
 * Debezium mapping: $1 is the list of route-by values that route to the topic (the router's regex
 * runs in the relay, see src/mapping/message.ts topicLabel), rows come from the capture table joined
 * with the user's table, and a copy is a new capture row for the same user row.
 */
import type { Mapping } from '../mapping/definition.js';
import { sourceRelation, trackingTable } from '../mapping/source.js';
import type { OutboxNames } from '../names.js';

/** The header a replayed row carries: the seq of the row it copies (native mapping only). */
export const REPLAY_HEADER = 'replayed-from-seq';

const WINDOW = `o.sent_at IS NOT NULL AND o.sent_at >= $2::timestamptz AND o.sent_at < $3::timestamptz
    AND ($4::text IS NULL OR o.key = $4::text)`;
const selected = (m: Mapping) => `${WINDOW} AND o.topic ${m.kind === 'native' ? '= $1::text' : '= ANY ($1::text[])'}`;
const rows = (n: OutboxNames, m: Mapping) => (m.kind === 'native' ? `${n.outbox} o` : `${sourceRelation(n, m)} o`);

/** How many rows a replay would copy. */
export function countReplaySql(n: OutboxNames, m: Mapping): string {
  return `SELECT count(*)::bigint AS n FROM ${rows(n, m)} WHERE ${selected(m)}`;
}

/** Debezium mapping: the route-by values of the rows sent in the window ($1 since, $2 until, $3 key), for the caller to route. */
export function replayRouteValuesSql(n: OutboxNames, m: Mapping): string {
  return `SELECT DISTINCT o.topic FROM ${rows(n, m)}
  WHERE o.sent_at IS NOT NULL AND o.sent_at >= $1::timestamptz AND o.sent_at < $2::timestamptz AND ($3::text IS NULL OR o.key = $3::text) AND o.topic IS NOT NULL`;
}

/** Whether the outbox keeps any sent row at all (it does not in delete mode). */
export function anySentSql(n: OutboxNames, m: Mapping): string {
  return `SELECT EXISTS (SELECT 1 FROM ${trackingTable(n, m)} WHERE sent_at IS NOT NULL) AS any`;
}

/**
 * Copy the next batch, in seq order, after seq $5, at most $6 rows: each copy is a new pending row
 * (new seq, so it goes behind every row already in the outbox and never overtakes its key's newer
 * rows), with the same event id, topic, key and payload, and (native) the headers plus
 * REPLAY_HEADER. The identity values are drawn in the SELECT's order, so the copies keep the
 * originals' order. Returns how many were copied and the highest original seq (the cursor for the
 * next batch).
 */
export function replayBatchSql(n: OutboxNames, m: Mapping): string {
  const copy =
    m.kind === 'native'
      ? `INSERT INTO ${n.outbox} (id, topic, key, payload, headers)
    SELECT id, topic, key, payload, headers || jsonb_build_object('${REPLAY_HEADER}', seq::text) FROM ${n.outbox} WHERE seq IN (SELECT seq FROM source) ORDER BY seq`
      : `INSERT INTO ${n.captured} (id)
    SELECT c.id FROM ${n.captured} c WHERE c.seq IN (SELECT seq FROM source) ORDER BY c.seq`;
  return `WITH source AS (
    SELECT o.seq FROM ${rows(n, m)}
    WHERE ${selected(m)} AND o.seq > $5::bigint
    ORDER BY o.seq LIMIT $6
  ), copied AS (
    ${copy}
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM copied)::integer AS copied, (SELECT max(seq) FROM source)::text AS last_seq`;
}
