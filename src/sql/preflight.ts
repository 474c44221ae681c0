import type { OutboxNames } from '../names.js';

/**
 * The topics that have unpublished rows, with how many (bounded: the first 100,000 pending rows in
 * seq order through the partial index on pending rows, at most 1000 topics), for the start-up
 * preflight's "do these topics exist" check.
 */
export function pendingTopicsSql(n: OutboxNames): string {
  return `SELECT topic, count(*)::float8 AS rows
  FROM (SELECT topic FROM ${n.outbox} WHERE sent_at IS NULL ORDER BY seq LIMIT 100000) pending
  GROUP BY topic ORDER BY topic LIMIT 1000`;
}
