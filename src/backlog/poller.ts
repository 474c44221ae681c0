/**
 * The periodic backlog query behind the backlog gauges (pending rows, oldest pending age, dead rows,
 * blocked keys, the table's dead tuples). It runs every OUTBOX_BACKLOG_INTERVAL_MS on a connection of its own, bounded by a
 * statement timeout, and hands each sample to the metrics; a scrape never runs SQL. When PostgreSQL
 * does not answer, the last sample stays and outbox_relay_backlog_sample_age_seconds grows.
 */
import type pg from 'pg';
import { createPool } from '../db.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Mapping } from '../mapping/definition.js';
import { topicLabel } from '../mapping/message.js';
import type { OutboxNames } from '../names.js';
import { backlogSql, toSample, type BacklogSample } from '../sql/backlog.js';
import { sleep } from '../sleep.js';

export interface BacklogPollerOptions {
  databaseUrl: string;
  names: OutboxNames;
  mapping: Mapping;
  intervalMs: number;
  connectTimeoutMs: number;
  blockKeys: boolean;
  log: Logger;
  onSample(sample: BacklogSample): void;
}

export class BacklogPoller {
  readonly #o: BacklogPollerOptions;
  readonly #stop = new AbortController();
  #pool: pg.Pool | undefined;
  #loop: Promise<void> | undefined;
  #failing = false;

  constructor(options: BacklogPollerOptions) {
    this.#o = options;
  }

  start(): void {
    const o = this.#o;
    // The query may take a while on a large backlog; it must still end well within the interval.
    const timeoutMs = Math.max(1000, Math.min(30_000, o.intervalMs));
    this.#pool = createPool(
      {
        databaseUrl: o.databaseUrl,
        connectTimeoutMs: o.connectTimeoutMs,
        applicationName: o.names.backlogApplicationName,
        max: 1,
        statementTimeoutMs: timeoutMs,
        queryTimeoutMs: timeoutMs + 5000,
      },
      o.log,
    );
    this.#loop = this.#run();
  }

  /** One sample now (also used by the loop). */
  async sample(): Promise<BacklogSample> {
    const sql = backlogSql(this.#o.names, this.#o.mapping);
    const label = topicLabel(this.#o.mapping);
    const pool = this.#pool!;
    const topics = await pool.query<{ topic: string; pending: number; oldest_age: number | null; dead: number }>(sql.topics);
    const blocked = await pool.query<{ blocked: number }>(sql.blockedKeys, [this.#o.blockKeys]);
    const dead = await pool.query<{ dead_tuples: number }>(sql.deadTuples);
    return toSample(topics.rows.map((r) => ({ ...r, topic: label(r.topic) })), blocked.rows[0]?.blocked ?? 0, dead.rows[0]?.dead_tuples);
  }

  async #run(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      try {
        this.#o.onSample(await this.sample());
        if (this.#failing) this.#o.log.info('backlog query works again');
        this.#failing = false;
      } catch (err) {
        if (!this.#failing && !this.#stop.signal.aborted) {
          this.#o.log.warn({ err: describeError(err) }, 'backlog query failed; the backlog metrics keep their last values (see outbox_relay_backlog_sample_age_seconds)');
        }
        this.#failing = true;
      }
      await sleep(this.#o.intervalMs, this.#stop.signal);
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    await this.#pool?.end().catch(() => undefined);
  }
}
