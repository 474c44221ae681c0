/**
 * `outbox-relay prune --older-than DURATION`: delete sent rows (kept by --on-publish=mark) published
 * more than DURATION ago, in short batches at a bounded rate (src/relay/retention.ts pruneSent, the
 * same code the running relay's OUTBOX_RETENTION uses). Progress on stderr; one summary on stdout.
 * Debezium mapping: the sent capture rows, and the user's outbox rows they stand for.
 */
import type pg from 'pg';
import { formatDuration } from '../duration.js';
import type { Mapping } from '../mapping/definition.js';
import type { OutboxNames } from '../names.js';
import { cutoffBefore, pruneSent } from '../relay/retention.js';
import { countSentBeforeSql } from '../sql/retention.js';
import { Progress, rateText, type ProgressStream } from './progress.js';

export interface PruneRequest {
  olderThanMs: number;
  batchSize: number;
  maxRowsPerSecond: number;
  dryRun: boolean;
}

export interface CommandOutput {
  json: boolean;
  write(text: string): void;
  /** Where progress goes (stderr). */
  progress?: ProgressStream;
}

export interface PruneResult {
  cutoff: Date;
  /** Rows that matched when the command started. */
  matched: number;
  deleted: number;
  dryRun: boolean;
  /** How long the deleting took. */
  elapsedMs: number;
}

export async function prune(pool: pg.Pool, names: OutboxNames, mapping: Mapping, req: PruneRequest, out: CommandOutput): Promise<PruneResult> {
  const { cutoff } = await cutoffBefore(pool, req.olderThanMs);
  const matched = Number((await pool.query<{ n: string }>(countSentBeforeSql(names, mapping), [cutoff])).rows[0]!.n);
  let deleted = 0;
  const started = performance.now();
  if (!req.dryRun && matched > 0) {
    const progress = new Progress('deleted', matched, out.progress);
    deleted = await pruneSent(pool, names, { cutoff, batchSize: req.batchSize, maxRowsPerSecond: req.maxRowsPerSecond, onBatch: (n) => progress.update(n), mapping });
    progress.finish();
  }
  const elapsedMs = Math.round(performance.now() - started);
  const result = { cutoff, matched, deleted, dryRun: req.dryRun, elapsedMs };
  const what = `sent row${(req.dryRun ? matched : deleted) === 1 ? '' : 's'} published before ${cutoff.toISOString()} (older than ${formatDuration(req.olderThanMs)})`;
  if (out.json) out.write(`${JSON.stringify({ ...result, cutoff: cutoff.toISOString() })}\n`);
  else if (req.dryRun) out.write(`would delete ${matched} ${what}\n`);
  else out.write(`deleted ${deleted} ${what} ${rateText(deleted, elapsedMs)}\n`);
  return result;
}
