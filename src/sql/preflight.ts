import type { Mapping } from '../mapping/definition.js';
import { sourceRelation } from '../mapping/source.js';
import type { OutboxNames } from '../names.js';

/** How many pending rows (in seq order) the preflight looks at: bounded, so start-up stays quick on a huge backlog. */
export const PREFLIGHT_SCAN_ROWS = 100_000;

/** The first pending rows, in seq order, through the partial index on pending rows (either mapping). */
const firstPending = (n: OutboxNames, m: Mapping, columns: string) =>
  `(SELECT ${columns} FROM ${sourceRelation(n, m)} o WHERE o.sent_at IS NULL ORDER BY o.seq LIMIT ${PREFLIGHT_SCAN_ROWS}) pending`;

/**
 * The topics that have unpublished rows, with how many (bounded: the first PREFLIGHT_SCAN_ROWS
 * pending rows, at most 1000 topics), for the preflight's "do these topics exist" check. In debezium
 * mode `topic` is the route-by value: the caller routes it (src/mapping/message.ts topicLabel).
 */
export function pendingTopicsSql(n: OutboxNames, m: Mapping): string {
  return `SELECT topic, count(*)::float8 AS rows
  FROM ${firstPending(n, m, 'o.topic')}
  GROUP BY topic ORDER BY topic LIMIT 1000`;
}

/**
 * Pending rows that may be over a size limit, for the preflight's "would be parked as too-large"
 * count: among the first PREFLIGHT_SCAN_ROWS pending rows that are not dead yet, those whose stored
 * bytes (payload, key, headers as text, type column, topic) exceed $1, in seq order after seq $2, at
 * most $3 rows (the caller pages, so large payloads are held a page at a time). A superset: the
 * caller maps each row (src/mapping/message.ts) and measures it as the relay does.
 */
export function oversizedCandidatesSql(n: OutboxNames, m: Mapping): string {
  const columns = 'o.seq, o.id, o.topic, o.key, o.payload, o.headers, o.partition, o.created_at, o.ce_type';
  return `SELECT pending.* FROM ${firstPending(n, m, columns)}
  WHERE coalesce(octet_length(pending.payload), 0) + coalesce(octet_length(pending.key), 0) + coalesce(octet_length(pending.headers::text), 0)
        + coalesce(octet_length(pending.ce_type), 0) + coalesce(octet_length(pending.topic), 0) > $1::bigint
    AND pending.seq > $2::bigint
    AND NOT EXISTS (SELECT 1 FROM ${n.failures} f WHERE f.seq = pending.seq AND f.dead_at IS NOT NULL)
  ORDER BY pending.seq LIMIT $3`;
}
