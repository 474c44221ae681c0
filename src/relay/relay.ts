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
import { checkConnection, createPool, logConnectionLost, relayQueryTimeoutMs } from '../db.js';
import { DatabaseRefusedError, describeError } from '../errors.js';
import { WakeListener } from '../listener.js';
import type { Logger } from '../log.js';
import { checkSchema, migrationsFor } from '../migrate.js';
import { outboxNames, type OutboxNames } from '../names.js';
import { RepeatedFailures, refusalMessage, roleOf } from '../pg-errors.js';
import { classifyPublishError } from '../publisher/classify.js';
import { KafkaPublisher, type Publisher } from '../publisher/kafka.js';
import { RdkafkaPublisher } from '../publisher/rdkafka.js';
import { kafkaSecurityName } from '../publisher/security.js';
import { kafkaPreflight, reportFindings } from '../preflight/kafka.js';
import { beginClaimSql, claimBatchSql, type ClaimedRow, type OutboxRow } from '../sql/claimBatch.js';
import { resolveMapping, type Mapping } from '../mapping/definition.js';
import { rowMapper, type RowMapper, type SourceRow } from '../mapping/message.js';
import { deleteSentSql, markSentSql } from '../mapping/source.js';
import { clearFailuresSql, recordFailuresSql } from '../sql/failures.js';
import { clearWaitingSql, setWaitingSql } from '../sql/wakeup.js';
import { sleep, withDeadline } from '../sleep.js';
import { nextStep } from './failures.js';
import { fanOut, type RelayObserver } from './observer.js';
import { Membership } from '../leases/membership.js';
import { publishBatch, type BatchOutcome } from './publish-batch.js';
import { Retention } from './retention.js';
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
  /** Told what the loop does (metrics, health); see ./observer.ts. */
  observers?: RelayObserver[];
}

type ClaimedSourceRow = SourceRow & Pick<ClaimedRow, 'attempts' | 'first_failed_at' | 'age'>;

interface Claim {
  client: pg.PoolClient;
  rows: ClaimedRow[];
  released: boolean;
  /** This relay holds no live lease on any key partition (others own them all): nothing was claimed. */
  standby: boolean;
}

export interface RelayStats {
  batches: number;
  published: number;
  failures: number;
  /** Rows recorded as failed (waiting for a retry or dead). */
  rowFailures: number;
}

export class Relay {
  readonly names: OutboxNames;
  readonly mapping: Mapping;
  readonly #mapRow: RowMapper;
  readonly relayId: string;
  readonly stats: RelayStats = { batches: 0, published: 0, failures: 0, rowFailures: 0 };
  #state: RelayState = 'created';
  readonly #config: RunConfig;
  readonly #log: Logger;
  readonly #publisher: Publisher;
  readonly #hooks: RelayHooks;
  readonly #observe: Required<RelayObserver>;
  readonly #wakeup = new Wakeup();
  /** Every statement the loop runs, built once: names and settings do not change while it runs. */
  readonly #sql: {
    begin: string;
    claim: string;
    complete: string;
    recordFailures: string;
    clearFailures: string;
    setWaiting: string;
    clearWaiting: string;
  };
  readonly #stopSignal = new AbortController();
  #pool: pg.Pool | undefined;
  #membership: Membership | undefined;
  #listener: WakeListener | undefined;
  #retention: Retention | undefined;
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
  /** When the current run of failures began (performance.now()). */
  #failingSince = 0;
  /** Identical consecutive failures to complete a published batch (bounded by MAX_IDENTICAL_COMPLETE_FAILURES). */
  readonly #completeFailures = new RepeatedFailures();
  #standby = false;
  #sleeping = false;
  /** The last DELETE of our idle declaration, awaited before declaring again (keeps them in order). */
  #clearing: Promise<void> | undefined;
  #progress = { at: performance.now(), published: 0 };

  constructor(config: RunConfig, log: Logger, deps: RelayDeps = {}) {
    this.#config = config;
    this.#log = log;
    this.names = outboxNames(config.schema, config.table);
    this.relayId = deps.relayId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.mapping = resolveMapping(config);
    this.#mapRow = rowMapper(this.mapping);
    this.#sql = {
      begin: beginClaimSql(this.names, config.publishTimeoutMs, config.publishTimeoutMs + 10_000, this.relayId),
      claim: claimBatchSql(this.names, this.mapping),
      complete: config.onPublish === 'delete' ? deleteSentSql(this.names, this.mapping) : markSentSql(this.names, this.mapping),
      recordFailures: recordFailuresSql(this.names),
      clearFailures: clearFailuresSql(this.names),
      setWaiting: setWaitingSql(this.names),
      clearWaiting: clearWaitingSql(this.names),
    };
    this.#hooks = deps.hooks ?? {};
    this.#observe = fanOut(...(deps.observers ?? []));
    const publisherOptions = {
      brokers: config.kafkaBrokers,
      clientId: config.kafkaClientId,
      timeoutMs: config.publishTimeoutMs,
      log,
      security: config,
      compression: config.kafkaCompression,
    };
    this.#publisher = deps.publisher ?? (config.kafkaClient === 'librdkafka' ? new RdkafkaPublisher(publisherOptions) : new KafkaPublisher(publisherOptions));
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

  /** The key partitions this relay held a lease on at its last heartbeat. */
  get ownedPartitions(): readonly number[] {
    return this.#membership?.owned ?? [];
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
    this.#observe.stateChanged(from, event, this.#state);
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
      const refusal = refusalMessage(err, { names: this.names, role: roleOf(this.#config.databaseUrl), action: 'starting' });
      throw refusal ? new DatabaseRefusedError(refusal, err) : err;
    }
    this.#to('started');
    if (this.#config.retention !== null) this.#retention = new Retention(this.#pool!, this.names, this.#config.retention, this.#log, this.mapping);
    this.#log.info({ relayId: this.relayId, outbox: `${this.names.schema}.${this.names.table}`, listen: this.#config.listen }, 'relay started');
    try {
      await this.#loop();
    } catch (err) {
      if (!this.#abandoned) {
        // An error the loop cannot retry (e.g. DatabaseRefusedError): close everything, then reject.
        this.#to('stop');
        this.#stopSignal.abort();
        await this.#closeResources();
        this.#to('stopped');
        throw err;
      }
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
        queryTimeoutMs: relayQueryTimeoutMs(c.publishTimeoutMs),
      },
      this.#log,
    );
    await checkConnection(this.#pool, c.databaseUrl);
    await checkSchema(this.#pool, this.names, migrationsFor(this.mapping).migrations);
    this.#log.info({ outbox: `${this.names.schema}.${this.names.table}` }, 'connected to PostgreSQL');
    this.#membership = new Membership({
      pool: this.#pool,
      names: this.names,
      relayId: this.relayId,
      ttlMs: c.leaseTtlMs,
      log: this.#log,
      onChange: (change) => {
        this.#observe.leasesChanged(change);
        // New partitions may hold rows already: claim now rather than at the next poll.
        if (change.gained.length > 0) this.#wakeup.notify();
      },
    });
    await this.#membership.start();
    if (this.#stopping) return;
    await this.#publisher.connect();
    if (this.#stopping) {
      // stop() may already have closed everything while we were connecting.
      await this.#publisher.disconnect();
      return;
    }
    this.#log.info({ brokers: c.kafkaBrokers, security: kafkaSecurityName(c), compression: c.kafkaCompression }, 'connected to Kafka');
    reportFindings(await kafkaPreflight(this.#publisher, this.#pool, this.names, c), this.#log);
    this.#observe.connected();
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
        onConnected: (reconnect) => {
          this.#observe.listenerConnected(reconnect);
          this.#wakeup.notify();
        },
      });
      this.#listener.start();
    }
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      let claim: Claim;
      const claimStarted = performance.now();
      try {
        claim = await this.#claim();
      } catch (err) {
        this.#observe.databaseFailed('claim', describeError(err));
        await this.#fail('claim', err);
        continue;
      }
      const claimed = performance.now();
      this.#observe.claimed((claimed - claimStarted) / 1000, claim.rows.length, claim.standby);
      if (claim.standby !== this.#standby) {
        this.#standby = claim.standby;
        if (claim.standby && this.#waiting) void this.#clearWaiting();
        this.#log.info(
          { standby: claim.standby },
          claim.standby ? 'this relay holds no key partition (other replicas own them all); standing by' : 'this relay is claiming its key partitions',
        );
      }
      if (claim.rows.length === 0) {
        await this.#release(claim);
        this.#recovered();
        this.#to('empty');
        await this.#idle(claim.standby);
        continue;
      }
      this.#to('claimed');
      if (this.#waiting) void this.#clearWaiting();
      const batchNumber = this.stats.batches + 1;
      const started = performance.now();
      let outcome: BatchOutcome;
      try {
        await this.#hooks.beforePublish?.(claim.rows, batchNumber);
        outcome = await publishBatch(claim.rows, {
          publisher: this.#publisher,
          maxMessageBytes: this.#config.maxMessageBytes,
          nullHeaderValues: this.mapping.kind === 'debezium',
          batchMaxBytes: this.#config.batchMaxBytes,
          blockKeys: this.#config.failedRowPolicy === 'block-key',
          deadline: started + this.#config.publishTimeoutMs,
          timeoutMs: this.#config.publishTimeoutMs,
          afterFailedSend: (reason) => this.#replaceProducer(reason),
        });
      } catch (err) {
        await this.#release(claim);
        await this.#publishFailed(err);
        continue;
      }
      if (outcome.acked.length === 0 && outcome.failed.length === 0) {
        await this.#release(claim);
        await this.#publishFailed(outcome.error);
        continue;
      }
      const published = performance.now();
      this.#to('acked');
      if (outcome.acked.length > 0) await this.#hooks.afterAck?.(outcome.acked, batchNumber);
      try {
        await this.#complete(claim, outcome);
      } catch (err) {
        await this.#release(claim);
        this.#observe.databaseFailed('complete', describeError(err));
        await this.#fail('complete', err);
        continue;
      }
      this.#observe.batchCompleted({
        acked: outcome.acked,
        failed: outcome.failed,
        rows: claim.rows.length,
        publishSeconds: (published - started) / 1000,
        claimToAckSeconds: (published - claimed) / 1000,
      });
      this.#completeFailures.reset();
      this.stats.batches += 1;
      this.stats.published += outcome.acked.length;
      this.stats.rowFailures += outcome.failed.length;
      this.#log.debug(
        {
          batch: batchNumber,
          rows: outcome.acked.length,
          failed: outcome.failed.length,
          held: outcome.held.length,
          sends: outcome.sends,
          publishMs: round(published - started),
          completeMs: round(performance.now() - published),
        },
        'batch published',
      );
      if (outcome.error !== undefined) {
        // The batch ended early (broker down, deadline): what was acknowledged is completed, the rest
        // stays pending; back off as for any failed publish.
        await this.#publishFailed(outcome.error);
        continue;
      }
      this.#recovered();
      this.#to('completed');
      this.#reportProgress();
    }
  }

  /** After failures, the first claim or batch that works: say so once, and reset the backoff. */
  #recovered(): void {
    if (this.#failuresInARow === 0) return;
    this.#log.info({ failedAttempts: this.#failuresInARow, downForMs: Math.round(performance.now() - this.#failingSince) }, 'recovered: claiming and publishing again');
    this.#failuresInARow = 0;
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
      claim.standby = begun.at(-1)?.rows[0]?.owns !== true;
      if (claim.standby) return claim;
      const c = this.#config;
      const result = await client.query<ClaimedSourceRow>(this.#sql.claim, [c.batchSize, c.failedRowPolicy === 'block-key', c.claimMaxBytes, this.relayId]);
      // The mapped row is a fresh object: the failure history is added to it rather than copied
      // into another (a spread per row was ~2 µs of the relay's CPU per row; docs/performance.md).
      const rows: ClaimedRow[] = new Array(result.rows.length);
      for (let i = 0; i < rows.length; i++) {
        const r = result.rows[i]!;
        const row = this.#mapRow(r) as ClaimedRow;
        row.attempts = r.attempts;
        row.first_failed_at = r.first_failed_at;
        row.age = r.age;
        rows[i] = row;
      }
      claim.rows = rows;
      return claim;
    } catch (err) {
      await this.#release(claim, err);
      throw err;
    }
  }

  /**
   * Delete or mark the acknowledged rows, record the failed ones, and COMMIT: the only place rows
   * leave the pending set. Held rows are untouched (they stay pending).
   */
  async #complete(claim: Claim, outcome: BatchOutcome): Promise<void> {
    if (this.#abandoned) throw new Error('shutdown deadline passed; batch abandoned unmarked');
    const { client } = claim;
    if (outcome.acked.length > 0) {
      await client.query(this.#sql.complete, [outcome.acked.map((r) => r.seq)]);
      const recovered = outcome.acked.filter((r) => r.attempts > 0);
      if (recovered.length > 0) await client.query(this.#sql.clearFailures, [recovered.map((r) => r.seq)]);
    }
    if (outcome.failed.length > 0) await this.#recordFailures(client, outcome);
    await client.query('COMMIT');
    claim.released = true;
    this.#openClaims.delete(claim);
    claim.client.release();
  }

  async #recordFailures(client: pg.PoolClient, outcome: BatchOutcome): Promise<void> {
    const now = new Date();
    const c = this.#config;
    const policy = { maxAttempts: c.rowMaxAttempts, retryMaxMs: c.rowRetryMaxMs, unknownTopicDeadAfterMs: c.unknownTopicDeadAfterMs };
    const cols = { seq: [] as string[], key: [] as (string | null)[], topic: [] as string[], cls: [] as string[], msg: [] as string[], retry: [] as (number | null)[] };
    for (const f of outcome.failed) {
      const step = nextStep({ class: f.class, attemptsBefore: f.row.attempts, firstFailedAt: f.row.first_failed_at }, policy, now);
      cols.seq.push(f.row.seq);
      cols.key.push(f.row.key);
      cols.topic.push(f.row.topic);
      cols.cls.push(f.class);
      cols.msg.push(f.message.slice(0, 2000));
      cols.retry.push(step.dead ? null : step.retryInMs);
      const row = { seq: f.row.seq, id: f.row.id, topic: f.row.topic, key: f.row.key, errorClass: f.class, attempts: f.row.attempts + 1 };
      if (step.dead) {
        this.#log.error(
          { ...row, keyPolicy: c.failedRowPolicy },
          `row parked as dead (${f.class}): ${f.message}; ${c.failedRowPolicy === 'block-key' ? 'later rows of its key wait' : 'its key goes on'} — see \`outbox-relay dead list\``,
        );
      } else {
        this.#log.warn({ ...row, retryInMs: step.retryInMs }, `row failed (${f.class}): ${f.message}; retrying it later`);
      }
    }
    await client.query(this.#sql.recordFailures, [cols.seq, cols.key, cols.topic, cols.cls, cols.msg, cols.retry]);
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
        // The connection died under the claim (e.g. idle_in_transaction_session_timeout while this
        // process was frozen): the server rolled the claim back; say so once, drop the connection.
        logConnectionLost(this.#log, err);
      });
    }
    claim.client.release(broken ?? undefined);
  }

  async #publishFailed(err: unknown): Promise<void> {
    const failure = classifyPublishError(err);
    this.#observe.publishFailed(failure.kind, failure.message);
    // Whatever the failure, the ack may have been ambiguous: never reuse the producer (see
    // publisher/kafka.ts for why a reused idempotent producer could lose a re-claimed batch).
    if (!this.#stopping) await this.#replaceProducer(failure.type ?? failure.kind);
    await this.#fail('publish', err);
  }

  #replaceProducer(reason: string): Promise<void> {
    this.#observe.producerReplaced(reason);
    return this.#publisher.recreate(reason);
  }

  async #fail(step: string, err: unknown): Promise<void> {
    if (step === 'claim' || step === 'complete') this.#stopIfRefused(step, err);
    this.stats.failures += 1;
    if (this.#failuresInARow === 0) this.#failingSince = performance.now();
    const attempt = this.#failuresInARow++;
    this.#to('failed');
    const delay = backoffDelay(attempt);
    this.#log.warn({ step, err: describeError(err), attempt, retryInMs: delay }, `${step} failed; rows stay pending, retrying`);
    await sleep(delay, this.#stopSignal.signal);
    this.#to('wake');
  }

  /**
   * Throws DatabaseRefusedError (exit 5) when retrying cannot help: PostgreSQL refuses a privilege or
   * an object the relay needs (src/pg-errors.ts), or completing a published batch failed the same way
   * MAX_IDENTICAL_COMPLETE_FAILURES times in a row — each retry would publish the batch once more.
   */
  #stopIfRefused(step: 'claim' | 'complete', err: unknown): void {
    const action = step === 'claim' ? 'claiming rows' : 'completing a batch Kafka had acknowledged (it stays pending)';
    const refusal = refusalMessage(err, { names: this.names, role: roleOf(this.#config.databaseUrl), action });
    if (refusal) throw new DatabaseRefusedError(refusal, err);
    if (step !== 'complete') return;
    const repeats = this.#completeFailures.note(err);
    if (repeats >= MAX_IDENTICAL_COMPLETE_FAILURES) {
      throw new DatabaseRefusedError(
        `completing a published batch failed ${repeats} times in a row with the same error (${describeError(err)}); each retry published the batch again, so the relay stops: fix the cause in the database, then restart (the batch stays pending)`,
        err,
      );
    }
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
    await bounded('stopping retention', 1000, this.#retention?.stop());
    await bounded('handing the partition leases back', CLOSE_MS, this.#membership?.stop());
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

/** After this many identical consecutive failures to complete a published batch, stop (exit 5). */
const MAX_IDENTICAL_COMPLETE_FAILURES = 5;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
