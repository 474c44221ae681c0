import type { Mapping } from '../mapping/definition.js';
import { sourceRelation } from '../mapping/source.js';
import type { OutboxNames } from '../names.js';

export interface TopicBacklog {
  topic: string;
  pending: number;
  /** null when every row of the topic is dead (or waiting): nothing the relay could publish now. */
  oldestPendingAgeSeconds: number | null;
  dead: number;
}

export interface BacklogSample {
  topics: TopicBacklog[];
  blockedKeys: number;
  /** Dead row versions of the outbox table (n_dead_tup), when it was read. */
  deadTuples?: number;
}

/**
 * The backlog per topic, for the metrics (src/backlog/poller.ts runs it every
 * OUTBOX_BACKLOG_INTERVAL_MS, never per scrape). One round trip, two statements:
 * 1. per topic: rows not yet published (pending, waiting or dead), the age of the oldest one that is
 *    not dead (database clock), and the dead ones. Reads the pending rows through the partial index
 *    on (seq) WHERE sent_at IS NULL plus the heap for their topic: O(backlog), measured in
 *    docs/operations.md; the failures table is normally empty.
 * 2. blocked keys: distinct keys of waiting or dead rows, when $1 (policy block-key) says they block.
 * 3. dead tuples of the outbox table (cumulative statistics, no scan; 0 if none are reported yet).
 */
export function backlogSql(n: OutboxNames, m: Mapping): { topics: string; blockedKeys: string; deadTuples: string } {
  return {
    topics: `SELECT o.topic,
       count(*)::float8 AS pending,
       extract(epoch FROM now() - min(o.created_at) FILTER (WHERE f.dead_at IS NULL))::float8 AS oldest_age,
       count(f.dead_at)::float8 AS dead
  FROM ${sourceRelation(n, m)} o
  LEFT JOIN ${n.failures} f ON f.seq = o.seq
  WHERE o.sent_at IS NULL
  GROUP BY o.topic`,
    blockedKeys: `SELECT count(DISTINCT key)::float8 AS blocked FROM ${n.failures} WHERE $1::boolean AND key IS NOT NULL`,
    deadTuples: `SELECT coalesce((SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = '${n.outbox.replaceAll("'", "''")}'::regclass), 0)::float8 AS dead_tuples`,
  };
}

export function toSample(
  topicRows: { topic: string; pending: number; oldest_age: number | null; dead: number }[],
  blockedKeys: number,
  deadTuples?: number,
): BacklogSample {
  return {
    ...(deadTuples === undefined ? {} : { deadTuples }),
    topics: topicRows.map((r) => ({ topic: r.topic, pending: r.pending, oldestPendingAgeSeconds: r.oldest_age === null ? null : Math.max(0, r.oldest_age), dead: r.dead })),
    blockedKeys,
  };
}
