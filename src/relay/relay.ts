/**
 * The relay loop: claim → publish → complete, driven through the state machine in ./state.ts.
 *
 * Claim design (docs/claim-design.md has the reasoning and the measurements): the claiming
 * transaction stays open across the Kafka call and the rows' FOR UPDATE locks are the lease. That
 * costs no extra write per row (a committed lease would double the row writes) and fences by itself:
 * a relay that dies or stalls loses its connection, the locks go with it and the rows are claimed
 * again. The open transaction is bounded three ways: the publish deadline (--publish-timeout-ms),
 * statement_timeout, and idle_in_transaction_session_timeout a little above the deadline, so even a
 * SIGSTOPped relay cannot hold rows or pin xmin for longer than that.
 *
 * One batch at a time: claiming the next batch while one is in flight ("pipelining") was built and
 * measured, and did not pay here (the loop is bound by kafkajs encoding CPU, not by the few ms of
 * the claim), so it was removed rather than kept as an option; docs/claim-design.md has the numbers.
 *
 * Invariants the tests check (../../docs/guarantees.md):
 * - rows are deleted/marked only in `completing`, after every chunk of the batch was acknowledged;
 * - one produce request in flight, one batch claimed at a time;
 * - any failure releases the claim unmarked (ROLLBACK) and backs off; nothing is lost, a batch whose
 *   ack was ambiguous may be published twice (bounded by one batch, detectable by the `id` header).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import { backoffDelay } from '../backoff.js';
import type { RunConfig } from '../config.js';
import { checkConnection, createPool } from '../db.js';
import { describeError } from '../errors.js';
import { WakeListener } from '../listener.js';
import type { Logger } from '../log.js';
import { checkSchema } from '../migrate.js';
import { outboxNames, type OutboxNames } from '../names.js';
import { classifyPublishError } from '../publisher/classify.js';
import { KafkaPublisher, type Publisher } from '../publisher/kafka.js';
import { beginClaimSql, claimBatchSql, type OutboxRow } from '../sql/claimBatch.js';
import { deleteSentSql, markSentSql } from '../sql/completeBatch.js';
import { clearWaitingSql, setWaitingSql } from '../sql/wakeup.js';
import { sleep, withDeadline } from '../sleep.js';
import { chunkBySize } from './batch.js';
import { transition, type RelayEvent, type RelayState } from './state.js';
import { Wakeup } from './wakeup.js';

/** Seams for fault tests; never set in production. */
export interface RelayHooks {
  /** Called with a claimed batch right before it is sent to Kafka. */
  beforePublish?(rows: OutboxRow[], batchNumber: number): void | Promise<void>;
  /** Called after a batch was acknowledged and before it is completed. */
  afterAck?(rows: OutboxRow[], batchNumber: number): void | Promise<void>;
  /** Called when an empty claim was released and the relay is about to declare itself idle. */
  beforeDeclareWaiting?(): void | Promise<void>;
}

export interface RelayDeps {
  publisher?: Publisher;
  hooks?: RelayHooks;
  relayId?: string;
}

interface Claim {
  client: pg.PoolClient;
  rows: OutboxRow[];
  released: boolean;
  /** Another relay holds this outbox's claim lock: nothing was claimed. */
  standby: boolean;
}

export interface RelayStats {
  batches: number;
  published: number;
  failures: number;
}

export class Relay {
  readonly names: OutboxNames;
  readonly relayId: string;
  readonly stats: RelayStats = { batches: 0, published: 0, failures: 0 };
  #state: RelayState = 'created';
  readonly #config: RunConfig;
  readonly #log: Logger;
  readonly #publisher: Publisher;
  readonly #hooks: RelayHooks;
  readonly #wakeup = new Wakeup();
  /** Every statement the loop runs, built once: names and settings do not change while it runs. */
  readonly #sql: { begin: string; claim: string; complete: string; setWaiting: string; clearWaiting: string };
  readonly #stopSignal = new AbortController();
  #pool: pg.Pool | undefined;
  #listener: WakeListener | undefined;
  #runPromise: Promise<void> | undefined;
  #stopPromise: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Resolved at the end of stop(). (Promise.withResolvers needs Node 22; we support 20.) */
  readonly #stopped = deferred();
  #abandoned = false;
  #openClaims = new Set<Claim>();
  /** Whether this relay has declared itself idle (writers NOTIFY while it is). */
  #waiting = false;
  #failuresInARow = 0;
  #standby = false;
  #sleeping = false;
  /** The last DELETE of our idle declaration, awaited before declaring again (keeps them in order). */
  #clearing: Promise<void> | undefined;
  #progress = { at: performance.now(), published: 0 };

  constructor(config: RunConfig, log: Logger, deps: RelayDeps = {}) {
    this.#config = config;
    this.#log = log;
    this.names = outboxNames(config.schema, config.table);
    this.#sql = {
      begin: beginClaimSql(this.names, config.publishTimeoutMs, config.publishTimeoutMs + 10_000),
      claim: claimBatchSql(this.names),
      complete: config.onPublish === 'delete' ? deleteSentSql(this.names) : markSentSql(this.names),
      setWaiting: setWaitingSql(this.names),
      clearWaiting: clearWaitingSql(this.names),
    };
    this.relayId = deps.relayId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#hooks = deps.hooks ?? {};
    this.#publisher =
      deps.publisher ??
      new KafkaPublisher({ brokers: config.kafkaBrokers, clientId: config.kafkaClientId, timeoutMs: config.publishTimeoutMs, log });
  }

  get state(): RelayState {
    return this.#state;
  }

  /** True when stop() had to abandon an in-flight batch (unmarked) at the shutdown deadline. */
  get abandoned(): boolean {
    return this.#abandoned;
  }

  /** True while idle and asleep until a NOTIFY or the poll timer (tests wait for this). */
  get sleeping(): boolean {
    return this.#sleeping;
  }

  get listening(): boolean {
    return this.#listener?.connected ?? false;
  }

  #to(event: RelayEvent): void {
    // After an abandoning shutdown the loop may still be unwinding (e.g. a send that fails late);
    // it no longer owns the state, which stop() already drove to `stopped`.
    if (this.#abandoned && this.#state === 'stopped') return;
    const from = this.#state;
    this.#state = transition(from, event);
    if (from !== this.#state) this.#log.trace({ from, event, to: this.#state }, 'state');
  }

  /**
   * Start and run until stop() has finished; rejects (with a RelayExit for known causes) if startup
   * fails. Resolves when stop() resolves even if an abandoned batch is still unwinding inside.
   */
  run(): Promise<void> {
    if (this.#stopPromise && !this.#runPromise) return this.#stopPromise; // stopped before it ran
    this.#runPromise ??= this.#run();
    return Promise.race([this.#runPromise, this.#stopped.promise]);
  }

  async #run(): Promise<void> {
    this.#to('start');
    try {
      await this.#startup();
    } catch (err) {
      await this.#closeResources();
      this.#to('failed');
      throw err;
    }
    this.#to('started');
    this.#log.info({ relayId: this.relayId, outbox: `${this.names.schema}.${this.names.table}`, listen: this.#config.listen }, 'relay started');
    try {
      await this.#loop();
    } catch (err) {
      if (!this.#abandoned) throw err;
      this.#log.debug({ err: describeError(err) }, 'abandoned batch unwound');
    }
  }

  async #startup(): Promise<void> {
    const c = this.#config;
    this.#pool = createPool(
      {
        databaseUrl: c.databaseUrl,
        connectTimeoutMs: c.dbConnectTimeoutMs,
        applicationName: this.names.relayApplicationName,
        max: 4,
        // Client-side bound too: statement_timeout cannot fire on a connection that is half-open.
        queryTimeoutMs: c.publishTimeoutMs + 15_000,
      },
      this.#log,
    );
    await checkConnection(this.#pool, c.databaseUrl);
    await checkSchema(this.#pool, this.names);
    if (this.#stopping) return;
    await this.#publisher.connect();
    if (this.#stopping) {
      // stop() may already have closed everything while we were connecting.
      await this.#publisher.disconnect();
      return;
    }
    if (c.listen) {
      this.#listener = new WakeListener({
        databaseUrl: c.databaseUrl,
        channel: this.names.channel,
        heartbeatMs: c.listenHeartbeatMs,
        connectTimeoutMs: c.dbConnectTimeoutMs,
        applicationName: this.names.listenApplicationName,
        log: this.#log,
        onNotify: () => this.#wakeup.notify(),
        // Catch-up claim after every (re)connect: notifications sent meanwhile are gone.
        onConnected: () => this.#wakeup.notify(),
      });
      this.#listener.start();
    }
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      let claim: Claim;
      try {
        claim = await this.#claim();
      } catch (err) {
        await this.#fail('claim', err);
        continue;
      }
      if (claim.standby !== this.#standby) {
        this.#standby = claim.standby;
        if (claim.standby && this.#waiting) void this.#clearWaiting();
        this.#log.info(
          { standby: claim.standby },
          claim.standby ? 'another relay is claiming this outbox; standing by' : 'this relay is claiming this outbox',
        );
      }
      if (claim.rows.length === 0) {
        await this.#release(claim);
        this.#to('empty');
        await this.#idle(claim.standby);
        continue;
      }
      this.#to('claimed');
      if (this.#waiting) void this.#clearWaiting();
      const batchNumber = this.stats.batches + 1;
      const started = performance.now();
      try {
        await this.#hooks.beforePublish?.(claim.rows, batchNumber);
        await this.#publisher.send(chunkBySize(claim.rows, this.#config.batchMaxBytes));
      } catch (err) {
        await this.#release(claim);
        await this.#publishFailed(err);
        continue;
      }
      const published = performance.now();
      this.#to('acked');
      await this.#hooks.afterAck?.(claim.rows, batchNumber);
      try {
        await this.#complete(claim);
      } catch (err) {
        await this.#release(claim);
        await this.#fail('complete', err);
        continue;
      }
      this.#failuresInARow = 0;
      this.stats.batches += 1;
      this.stats.published += claim.rows.length;
      this.#to('completed');
      this.#log.debug(
        { batch: batchNumber, rows: claim.rows.length, publishMs: round(published - started), completeMs: round(performance.now() - published) },
        'batch published',
      );
      this.#reportProgress();
    }
  }

  /** One info line every PROGRESS_EVERY_MS while rows flow: a long drain is never silent. */
  #reportProgress(): void {
    const now = performance.now();
    const elapsed = now - this.#progress.at;
    if (elapsed < PROGRESS_EVERY_MS) return;
    const rows = this.stats.published - this.#progress.published;
    this.#log.info(
      { published: rows, rowsPerSecond: Math.round((rows * 1000) / elapsed), totalPublished: this.stats.published, failures: this.stats.failures },
      'progress',
    );
    this.#progress = { at: now, published: this.stats.published };
  }

  get #stopping(): boolean {
    return this.#stopSignal.signal.aborted;
  }

  /** BEGIN, bound the transaction, SELECT … FOR UPDATE SKIP LOCKED. The client stays checked out. */
  async #claim(): Promise<Claim> {
    const pool = this.#pool!;
    const client = await pool.connect();
    const claim: Claim = { client, rows: [], released: false, standby: false };
    this.#openClaims.add(claim);
    try {
      const begun = (await client.query(this.#sql.begin)) as unknown as pg.QueryResult[];
      claim.standby = begun.at(-1)?.rows[0]?.locked !== true;
      if (claim.standby) return claim;
      const result = await client.query<OutboxRow>(this.#sql.claim, [this.#config.batchSize]);
      claim.rows = result.rows;
      return claim;
    } catch (err) {
      await this.#release(claim, err);
      throw err;
    }
  }

  /** Delete or mark the acknowledged rows and COMMIT: the only place rows leave the pending set. */
  async #complete(claim: Claim): Promise<void> {
    if (this.#abandoned) throw new Error('shutdown deadline passed; batch abandoned unmarked');
    await claim.client.query(this.#sql.complete, [claim.rows.map((r) => r.seq)]);
    await claim.client.query('COMMIT');
    claim.released = true;
    this.#openClaims.delete(claim);
    claim.client.release();
  }

  /** ROLLBACK and return the client (destroying it if the connection is in doubt). Never throws. */
  async #release(claim: Claim, cause?: unknown): Promise<void> {
    if (claim.released) return;
    claim.released = true;
    this.#openClaims.delete(claim);
    let broken = cause instanceof Error ? cause : undefined;
    if (!broken) {
      await claim.client.query('ROLLBACK').catch((err: Error) => {
        broken = err;
      });
    }
    claim.client.release(broken ?? undefined);
  }

  async #publishFailed(err: unknown): Promise<void> {
    const failure = classifyPublishError(err);
    // Whatever the failure, the ack may have been ambiguous: never reuse the producer (see
    // publisher/kafka.ts for why a reused idempotent producer could lose a re-claimed batch).
    if (!this.#stopping) await this.#publisher.recreate(failure.type ?? failure.kind);
    if (failure.kind === 'poison') {
      this.#log.error(
        { kafkaError: failure.type },
        `Kafka refuses this batch (${failure.type}): ${failure.message}; the batch stays pending and is retried — check the topic exists and the row sizes`,
      );
    }
    await this.#fail('publish', err, failure.kind === 'poison');
  }

  async #fail(step: string, err: unknown, longest = false): Promise<void> {
    this.stats.failures += 1;
    const attempt = this.#failuresInARow++;
    this.#to('failed');
    const delay = longest ? 10_000 : backoffDelay(attempt);
    this.#log.warn({ step, err: describeError(err), attempt, retryInMs: delay }, `${step} failed; rows stay pending, retrying`);
    await sleep(delay, this.#stopSignal.signal);
    this.#to('wake');
  }

  async #idle(standby: boolean): Promise<void> {
    // Declare this relay waiting so the trigger NOTIFYs, then look once more before sleeping: a row
    // committed just before the declaration would otherwise wait for the poll. A standby relay does
    // not declare: the active one is busy, and asking writers to NOTIFY for us would only tax them.
    if (this.#listener?.connected && !standby) {
      const fresh = !this.#waiting;
      await this.#hooks.beforeDeclareWaiting?.();
      await this.#declareWaiting();
      if (fresh && this.#waiting) {
        this.#to('wake');
        return;
      }
    }
    this.#sleeping = true;
    await this.#wakeup.wait(this.#config.pollIntervalMs);
    this.#sleeping = false;
    this.#to('wake');
  }

  async #declareWaiting(): Promise<void> {
    await this.#clearing;
    try {
      // Valid for three poll intervals; refreshed on every idle poll, so it lapses only if we die.
      await this.#pool!.query(this.#sql.setWaiting, [this.relayId, this.#config.pollIntervalMs * 3]);
      this.#waiting = true;
    } catch (err) {
      this.#log.warn({ err: describeError(err) }, 'could not declare the relay idle; relying on polling');
    }
  }

  #clearWaiting(): Promise<void> {
    this.#waiting = false;
    this.#clearing = this.#pool!.query(this.#sql.clearWaiting, [this.relayId]).then(
      () => undefined,
      (err: Error) => this.#log.debug({ err: describeError(err) }, 'could not clear the idle declaration (it expires by itself)'),
    );
    return this.#clearing;
  }

  /**
   * Graceful shutdown, idempotent (every call returns the same promise). Stops claiming at once; the
   * batch in flight may finish and be completed until the shutdown deadline, after which it is
   * abandoned: its connection is destroyed, so PostgreSQL rolls the claim back and nothing unacked
   * is ever marked.
   */
  stop(): Promise<void> {
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  async #stop(): Promise<void> {
    if (this.#state === 'stopped') {
      // Startup failed and closed everything already.
      this.#stopped.resolve();
      return;
    }
    if (this.#state === 'created') {
      this.#to('stop');
      this.#stopped.resolve();
      return;
    }
    this.#to('stop');
    this.#stopSignal.abort();
    this.#wakeup.notify();
    this.#log.info({ deadlineMs: this.#config.shutdownTimeoutMs }, 'shutting down');
    const run = this.#runPromise ?? Promise.resolve();
    const finished = await withDeadline(
      run.then(() => true, () => true),
      Math.max(1, this.#config.shutdownTimeoutMs),
      'shutdown',
    ).catch(() => false);
    if (!finished) {
      this.#abandoned = true;
      this.#log.warn({ openClaims: this.#openClaims.size }, 'shutdown deadline passed: abandoning the in-flight batch unmarked');
      for (const claim of [...this.#openClaims]) await this.#release(claim, new Error('abandoned at shutdown'));
    }
    await this.#closeResources();
    this.#to('stopped');
    this.#log.info(this.stats, 'relay stopped');
    this.#stopped.resolve();
  }

  /** Close everything once, each step bounded so a dead database or broker cannot stall the exit. */
  #closeResources(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const errors: unknown[] = [];
    const bounded = (what: string, ms: number, work: Promise<unknown> | undefined) =>
      work ? withDeadline(work, ms, what).catch((err: unknown) => errors.push(err)) : undefined;
    if (this.#waiting && this.#pool) await bounded('clearing the idle declaration', 1000, this.#clearWaiting());
    // In parallel and bounded, so the exit comes at most CLOSE_MS after the shutdown deadline.
    await Promise.all([
      bounded('closing the LISTEN connection', CLOSE_MS, this.#listener?.close()),
      bounded('disconnecting from Kafka', CLOSE_MS, this.#publisher.disconnect()),
      bounded('closing the pool', CLOSE_MS, this.#pool?.end()),
    ]);
    if (errors.length > 0) this.#log.warn({ err: describeError(new AggregateError(errors)) }, 'errors while closing');
  }
}

/** Longest the closing of connections may take after the shutdown deadline. */
const CLOSE_MS = 3000;

const PROGRESS_EVERY_MS = 10_000;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
