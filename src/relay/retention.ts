/**
 * Deleting sent rows (kept by --on-publish=mark), in short batches: the `prune` command and the
 * running relay's retention (OUTBOX_RETENTION) share pruneSent().
 *
 * Retention runs beside the relay loop on the relay's pool, never inside a claim: it deletes only
 * rows with sent_at set, which no claim locks, so it cannot delay or reorder publishing. Every
 * `interval` it deletes what is older than the retention, one window of rows after another until
 * pruneSent ends the round, then sleeps. Its failures are logged and retried at the next round; they never stop the relay.
 */
import type pg from 'pg';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Mapping } from '../mapping/definition.js';
import type { OutboxNames } from '../names.js';
import { NOW_MINUS_SQL, pruneSentWindowSql } from '../sql/retention.js';
import { sleep } from '../sleep.js';

export interface PruneOptions {
  /** Rows published before this are deleted. */
  cutoff: Date;
  batchSize: number;
  /** 0 = no limit. */
  maxRowsPerSecond: number;
  signal?: AbortSignal;
  /** After each batch, with the running total. */
  onBatch?(deletedSoFar: number): void;
  /**
   * End the round after this many windows in a row deleted nothing (default: never; walk to the
   * end). Bounds what a round reads when the table holds mostly pending rows (delete mode, or a
   * backlog after an outage), at the price of leaving old sent rows behind a longer pending stretch
   * for a later round.
   */
  maxFruitlessWindows?: number;
  /** Which table holds seq and sent_at (default native: the outbox; debezium: the capture table). */
  mapping?: Mapping;
}

/**
 * Delete sent rows older than the cutoff, window by window of --batch-size rows in seq order (see
 * pruneSentWindowSql); resolves with how many were deleted. A round ends at the end of the table, or
 * at the first window that deleted nothing while holding a sent row too young to go: seq order
 * follows publishing order closely, so what lies beyond is younger still. (Rows published out of
 * order, e.g. a dead row retried days later, only delay the rows after them by one round at most:
 * a window that still deletes something never ends it.)
 */
export async function pruneSent(pool: pg.Pool, names: OutboxNames, o: PruneOptions): Promise<number> {
  const sql = pruneSentWindowSql(names, o.mapping);
  const started = performance.now();
  let total = 0;
  let after = '0';
  let fruitless = 0;
  while (!o.signal?.aborted) {
    const { rows } = await pool.query<{ deleted: number; last_seq: string | null; scanned: number; young: boolean }>(sql, [o.cutoff, o.batchSize, after]);
    const w = rows[0]!;
    total += w.deleted;
    o.onBatch?.(total);
    fruitless = w.deleted === 0 ? fruitless + 1 : 0;
    if (w.last_seq === null || w.scanned < o.batchSize || (w.deleted === 0 && w.young) || fruitless >= (o.maxFruitlessWindows ?? Infinity)) break;
    after = w.last_seq;
    if (o.maxRowsPerSecond > 0) {
      // Pace to the limit: the batches so far may not have taken less time than their rows allow.
      const due = (total / o.maxRowsPerSecond) * 1000 - (performance.now() - started);
      if (due > 0) await sleep(due, o.signal);
    }
  }
  return total;
}

/** Cut-off "retentionMs before now" by the database's clock. */
export async function cutoffBefore(pool: pg.Pool, ms: number): Promise<{ now: Date; cutoff: Date }> {
  const { rows } = await pool.query<{ now: Date; cutoff: Date }>(NOW_MINUS_SQL, [ms]);
  return rows[0]!;
}

/** Rows per retention window: short transactions, a few ms each. */
const RETENTION_BATCH = 1000;
/**
 * A retention round gives up after this many windows (10,000 rows) without an old sent row: in
 * delete mode, or behind a large backlog, a round reads at most that much instead of every pending row.
 */
export const RETENTION_FRUITLESS_WINDOWS = 10;

/** How often retention looks: a quarter of the retention, between 1 s and 1 min. */
export function retentionInterval(retentionMs: number): number {
  return Math.min(60_000, Math.max(1000, Math.floor(retentionMs / 4)));
}

export class Retention {
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;

  constructor(pool: pg.Pool, names: OutboxNames, retentionMs: number, log: Logger, mapping?: Mapping) {
    const interval = retentionInterval(retentionMs);
    log.info({ retentionMs, intervalMs: interval }, 'retention on: sent rows older than the retention are deleted in batches');
    this.#done = (async () => {
      while (!this.#stop.signal.aborted) {
        try {
          const { cutoff } = await cutoffBefore(pool, retentionMs);
          const deleted = await pruneSent(pool, names, {
            cutoff,
            batchSize: RETENTION_BATCH,
            maxRowsPerSecond: 0,
            maxFruitlessWindows: RETENTION_FRUITLESS_WINDOWS,
            signal: this.#stop.signal,
            ...(mapping ? { mapping } : {}),
          });
          if (deleted > 0) log.debug({ deleted, cutoff }, 'retention deleted sent rows');
        } catch (err) {
          if (!this.#stop.signal.aborted) log.warn({ err: describeError(err) }, 'retention could not delete sent rows; trying again later');
        }
        await sleep(interval, this.#stop.signal);
      }
    })();
  }

  /** Stop after the batch in flight (a few ms). */
  stop(): Promise<void> {
    this.#stop.abort();
    return this.#done;
  }
}
