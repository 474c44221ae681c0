/**
 * Consumer inbox (`outbox-relay/inbox`): process each event id at most once per consumer, by
 * recording it in a processed-events table in the same PostgreSQL transaction as the handler's own
 * writes. A redelivered or duplicated message finds its id recorded and is skipped; two concurrent
 * deliveries of one id are safe (the second INSERT waits on the primary key for the first
 * transaction, then sees it done — or, if the first rolled back, processes it itself); a handler
 * that throws rolls back its writes and the record together, so the message is processed again when
 * it is redelivered.
 *
 * Library-neutral: a Kafka client adapter (./kafkajs.ts) turns its messages into InboxMessage and
 * commits the offset only after process() resolved, i.e. after the transaction committed.
 */
import type pg from 'pg';
import { OutboxUsageError } from '../errors.js';
import { batchedDelete, chainSql, inTransaction, runMigration, tableName, type TableName } from '../sql.js';
import { quoteIdent } from '../../names.js';

export { OutboxUsageError } from '../errors.js';

/** A message as the inbox sees it, whatever the Kafka client. */
export interface InboxMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** Header values as UTF-8 strings (the relay sends strings). */
  headers: Record<string, string | undefined>;
}

/** The transaction's client: the handler writes through it, never through a pool. */
export type InboxTx = pg.PoolClient;

export type InboxHandler<M extends InboxMessage = InboxMessage> = (tx: InboxTx, message: M) => Promise<void>;

export interface InboxOptions {
  pool: pg.Pool;
  /** Name of this consumer (e.g. the service or consumer group): ids are deduplicated per consumer. */
  consumer: string;
  /** Where the processed-events table lives (default public.processed_events). */
  schema?: string;
  table?: string;
  /**
   * The deduplication key of a message. Default: the `id` header the relay sets (the outbox row's
   * event id). Return a business key instead (e.g. `payment:${chargeId}`) to deduplicate messages
   * that are the same business event under different ids.
   */
  keyOf?: (message: InboxMessage) => string;
}

export type InboxResult = { outcome: 'processed'; eventId: string } | { outcome: 'duplicate'; eventId: string };

export interface Inbox {
  readonly table: TableName;
  /** Create the processed-events table if it is not there (sql/chain/inbox.sql). */
  migrate(): Promise<void>;
  /** Run the handler in a transaction that also records the event id, unless it is recorded already. */
  process<M extends InboxMessage>(message: M, handler: InboxHandler<M>): Promise<InboxResult>;
  /** Whether this consumer has processed the event id (committed). */
  isProcessed(eventId: string): Promise<boolean>;
  /**
   * Retention: delete records older than `olderThanMs` in batches of `batchSize` (default 1000).
   * Keep them longer than any redelivery can come late (topic retention, consumer lag, replays).
   */
  purge(options: { olderThanMs: number; batchSize?: number }): Promise<number>;
}

/** The relay's event id header. */
export function idHeader(message: InboxMessage): string {
  const id = message.headers.id;
  if (id === undefined || id === '') {
    throw new OutboxUsageError(
      `message ${message.topic}/${message.partition}@${message.offset} has no "id" header (not published by outbox-relay?): pass keyOf to deduplicate by a business key`,
    );
  }
  return id;
}

export function createInbox(options: InboxOptions): Inbox {
  if (!options.consumer) throw new OutboxUsageError('createInbox: consumer (a name for this consumer) is required');
  const table = tableName(options.schema ?? 'public', options.table ?? 'processed_events', 'inbox');
  const keyOf = options.keyOf ?? idHeader;
  const { pool, consumer } = options;
  const record = `INSERT INTO ${table.qualified} (consumer, event_id) VALUES ($1, $2) ON CONFLICT (consumer, event_id) DO NOTHING`;
  return {
    table,
    migrate: () =>
      runMigration(
        pool,
        chainSql('inbox', { table: table.qualified, schema: quoteIdent(table.schema), age_idx: quoteIdent(`${table.table}_age_idx`) }),
        `outbox-relay inbox ${table.schema}.${table.table}`,
      ),
    async process(message, handler) {
      const eventId = keyOf(message);
      return inTransaction(pool, async (tx, end) => {
        // Waits for a concurrent transaction recording the same id; then conflicts (it committed) or not.
        const recorded = await tx.query(record, [consumer, eventId]);
        if (recorded.rowCount === 0) {
          await end('ROLLBACK');
          return { outcome: 'duplicate', eventId } as const;
        }
        await handler(tx, message);
        return { outcome: 'processed', eventId } as const;
      });
    },
    async isProcessed(eventId) {
      const r = await pool.query(`SELECT 1 FROM ${table.qualified} WHERE consumer = $1 AND event_id = $2`, [consumer, eventId]);
      return (r.rowCount ?? 0) > 0;
    },
    purge({ olderThanMs, batchSize = 1000 }) {
      if (!(olderThanMs >= 0)) throw new OutboxUsageError(`purge: olderThanMs must be >= 0, got ${olderThanMs}`);
      return batchedDelete(pool, table.qualified, `processed_at < now() - make_interval(secs => $1 / 1000.0)`, olderThanMs, batchSize);
    },
  };
}

/**
 * The consumer seam: what runInbox needs from a Kafka client library. An adapter (./kafkajs.ts for
 * kafkajs) delivers messages one at a time per partition, and commits a message's offset when asked —
 * never by itself (no auto-commit), so an offset is committed only after the message's transaction.
 */
export interface InboxSource {
  /** Start delivering; `each` resolves once the message is done (processed or skipped). */
  run(each: (message: InboxMessage) => Promise<void>): Promise<void>;
  /** Commit the position after this message (offset + 1). */
  commit(message: InboxMessage): Promise<void>;
}

export interface RunInboxOptions {
  /** Called after each message's transaction, before its offset is committed (logging, metrics). */
  onResult?: (result: InboxResult, message: InboxMessage) => void;
}

/**
 * Consume through the inbox: for each message, process() (handler + record, one transaction), then
 * commit its offset. A handler that throws commits nothing: the error goes to the client library,
 * which redelivers the message (kafkajs retries it, then restarts the consumer from the committed
 * offset).
 */
export async function runInbox(source: InboxSource, inbox: Inbox, handler: InboxHandler, options: RunInboxOptions = {}): Promise<void> {
  await source.run(async (message) => {
    const result = await inbox.process(message, handler);
    options.onResult?.(result, message);
    await source.commit(message);
  });
}
