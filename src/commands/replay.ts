/**
 * `outbox-relay replay --topic T --since TIME [--until TIME] [--key K]`: publish again rows that
 * --on-publish=mark kept, selected by when they were sent (sent_at). Each is copied as a NEW pending
 * row (src/sql/replay.ts): a new seq puts it behind every row already in the outbox, so it never
 * overtakes its key's newer rows, and the relay publishes it as any other row. The copy keeps the
 * event id — it is the same event, and consumers that deduplicate by the `id` header stay safe — and
 * carries the header `replayed-from-seq` with the seq of the original, so a consumer (or an
 * operator reading the topic) can tell a replay from the first delivery. Batches of --batch-size rows,
 * each its own transaction, in seq order; progress on stderr.
 *
 * Debezium mapping: the copy is a new capture row for the same row of the user's table, so the
 * message is published again exactly as the first time (same id header, key and value): the mapping
 * builds messages from the user's columns only, so there is no replayed-from-seq header.
 */
import type pg from 'pg';
import { UnavailableError } from '../errors.js';
import type { Mapping } from '../mapping/definition.js';
import { topicLabel } from '../mapping/message.js';
import type { OutboxNames } from '../names.js';
import { anySentSql, countReplaySql, replayBatchSql, replayRouteValuesSql } from '../sql/replay.js';
import { Progress, rateText } from './progress.js';
import type { CommandOutput } from './prune.js';

export interface ReplayRequest {
  topic: string;
  since: Date;
  until: Date;
  key?: string;
  batchSize: number;
  dryRun: boolean;
}

export interface ReplayResult {
  matched: number;
  replayed: number;
  dryRun: boolean;
}

export async function replay(pool: pg.Pool, names: OutboxNames, mapping: Mapping, req: ReplayRequest, out: CommandOutput): Promise<ReplayResult> {
  let topic: string | string[] = req.topic;
  if (mapping.kind === 'debezium') {
    // The route-by values whose routed topic is --topic: the router's regex runs here, not in SQL.
    const label = topicLabel(mapping);
    const values = (await pool.query<{ topic: string }>(replayRouteValuesSql(names, mapping), [req.since, req.until, req.key ?? null])).rows.map((r) => r.topic);
    topic = values.filter((v) => label(v) === req.topic);
  }
  const selection = [topic, req.since, req.until, req.key ?? null];
  const matched = Number((await pool.query<{ n: string }>(countReplaySql(names, mapping), selection)).rows[0]!.n);
  if (matched === 0 && !(await pool.query<{ any: boolean }>(anySentSql(names, mapping))).rows[0]!.any) {
    throw new UnavailableError(
      `nothing to replay: ${names.schema}.${names.table} keeps no sent rows (with --on-publish=delete, the default, a row is deleted once Kafka has it); replay works on what a relay running with --on-publish=mark kept`,
    );
  }
  const window = `topic ${req.topic}${req.key !== undefined ? `, key ${req.key}` : ''}, sent from ${req.since.toISOString()} to ${req.until.toISOString()}`;
  let replayed = 0;
  const started = performance.now();
  if (!req.dryRun && matched > 0) {
    const sql = replayBatchSql(names, mapping);
    const progress = new Progress('replayed', matched, out.progress);
    let after = '0';
    for (;;) {
      const { rows } = await pool.query<{ copied: number; last_seq: string | null }>(sql, [...selection, after, req.batchSize]);
      const r = rows[0]!;
      replayed += r.copied;
      progress.update(replayed);
      if (r.last_seq === null || r.copied < req.batchSize) break;
      after = r.last_seq;
    }
    progress.finish();
  }
  const result = { matched, replayed, dryRun: req.dryRun };
  if (out.json) out.write(`${JSON.stringify({ ...result, topic: req.topic, key: req.key ?? null, since: req.since.toISOString(), until: req.until.toISOString() })}\n`);
  else if (req.dryRun) out.write(`would replay ${matched} row${matched === 1 ? '' : 's'} (${window})\n`);
  else out.write(`replayed ${replayed} row${replayed === 1 ? '' : 's'} as new pending rows (${window}) ${rateText(replayed, performance.now() - started)}\n`);
  return result;
}
