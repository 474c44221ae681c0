/**
 * Producer helper (`outbox-relay/producer`): write outbox events on the caller's own pg client,
 * inside the caller's own transaction, next to the business change. The outbox row commits or rolls
 * back with that change; the relay publishes it afterwards.
 *
 * Refuses a pg.Pool (each query could run on another connection, outside the caller's transaction)
 * and a client that is not inside a transaction (the row would commit on its own, even if the
 * business change then rolls back), with a clear error (OutboxUsageError).
 *
 * The relay does not import this module; it only shares the table layout (src/names.ts).
 */
import { OutboxUsageError } from '../errors.js';
import { isInTransaction } from '../tx.js';
import { defaultMapping, type OutboxMapping, type OutboxRowInput } from './mapping.js';

export { defaultMapping, type OutboxMapping, type OutboxRowInput, type DefaultMappingOptions } from './mapping.js';
export { OutboxUsageError } from '../errors.js';

/** JSON values a payload may hold (serialised with JSON.stringify, UTF-8). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json | undefined };

/**
 * The topics this producer writes and each one's payload type: a JSON-serialisable value, or
 * Uint8Array (a Buffer) for a topic whose payloads are raw bytes.
 *   type Events = { 'payments.charged': { chargeId: string; amount: number }; 'avatars': Buffer };
 */
export type TopicMap = Record<string, unknown>;

/** One event to enqueue. The payload's type follows from the topic. */
export type OutboxEvent<Topics extends TopicMap = TopicMap> = {
  [T in keyof Topics & string]: {
    topic: T;
    /** Kafka message key; events sharing a key are published in order. null/omitted = no key. */
    key?: string | null;
    /** Uint8Array/Buffer is sent byte for byte; anything else as JSON text. */
    payload: Topics[T];
    /** Kafka headers (strings). `id` and `seq` are reserved: the relay sends the event id and the row's position under them. */
    headers?: Record<string, string>;
    /** The event id (a UUID), e.g. one derived from the business change; default: a random UUID. */
    id?: string;
  };
}[keyof Topics & string];

export interface Enqueued {
  /** The event id: the Kafka header `id` the relay will send, the inbox's default deduplication key. */
  id: string;
  /** Outbox order. */
  seq: string;
  topic: string;
  key: string | null;
}

/** What enqueue accepts: a pg.Client or a checked-out pool client (anything with query()). */
export interface QueryClient {
  query(text: string, values?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
}

export interface ProducerOptions {
  /** Where and how events are written. Default: the relay's own outbox table, public.outbox. */
  mapping?: OutboxMapping;
  /** Shorthand for mapping: defaultMapping({ schema, table }). */
  schema?: string;
  table?: string;
}

export interface OutboxProducer<Topics extends TopicMap> {
  /** Enqueue one event inside the client's open transaction. */
  enqueue(client: QueryClient, event: OutboxEvent<Topics>): Promise<Enqueued>;
  /** Enqueue several events (one INSERT) inside the client's open transaction, in this order. */
  enqueueMany(client: QueryClient, events: readonly OutboxEvent<Topics>[]): Promise<Enqueued[]>;
}

/** Kafka's topic name rule (kafka.common.internals.Topic). */
const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function outboxProducer<Topics extends TopicMap = TopicMap>(options: ProducerOptions = {}): OutboxProducer<Topics> {
  if (options.mapping && (options.schema !== undefined || options.table !== undefined)) {
    throw new OutboxUsageError('pass either mapping or schema/table, not both');
  }
  const mapping = options.mapping ?? defaultMapping({ schema: options.schema, table: options.table });
  const enqueueMany = async (client: QueryClient, events: readonly OutboxEvent<Topics>[]): Promise<Enqueued[]> => {
    const rows = events.map((e, i) => toRow(e as OutboxEvent, i));
    await requireTransaction(client);
    if (rows.length === 0) return [];
    try {
      return await mapping.insert(client, rows);
    } catch (err) {
      // node-postgres can settle a failed query before the server's ReadyForQuery updates its
      // transaction status, so a failed transaction may still look open to the check above; the
      // server then refuses with 25P02: say what it means.
      if ((err as { code?: unknown }).code === '25P02') throw new OutboxUsageError(FAILED_TRANSACTION, { cause: err });
      throw err;
    }
  };
  return {
    enqueueMany,
    async enqueue(client, event) {
      const [one] = await enqueueMany(client, [event]);
      return one!;
    },
  };
}

/** Validate and encode one event (pure; exported for the unit tests). */
export function toRow(event: OutboxEvent, index = 0): OutboxRowInput {
  const at = `event ${index}`;
  if (typeof event.topic !== 'string' || !TOPIC.test(event.topic) || event.topic === '.' || event.topic === '..') {
    throw new OutboxUsageError(`${at}: topic ${JSON.stringify(event.topic)} is not a legal Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)`);
  }
  if (event.key !== undefined && event.key !== null && typeof event.key !== 'string') {
    throw new OutboxUsageError(`${at}: key must be a string or null`);
  }
  if (event.id !== undefined && !UUID.test(event.id)) throw new OutboxUsageError(`${at}: id ${JSON.stringify(event.id)} is not a UUID`);
  const headers = event.headers ?? {};
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) throw new OutboxUsageError(`${at}: headers must be an object of strings`);
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw new OutboxUsageError(`${at}: header ${JSON.stringify(name)} must be a string`);
    if (name === 'id') throw new OutboxUsageError(`${at}: header "id" is reserved for the event id (the relay sends it); set the event's id instead`);
    if (name === 'seq') throw new OutboxUsageError(`${at}: header "seq" is reserved for the row's position in the outbox (the relay sends it); use another header name`);
  }
  return { id: event.id ?? null, topic: event.topic, key: event.key ?? null, payload: encodePayload(event.payload, at), headers };
}

function encodePayload(payload: unknown, at: string): Buffer {
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (err) {
    throw new OutboxUsageError(`${at}: payload is not JSON-serialisable (${(err as Error).message})`);
  }
  if (text === undefined) throw new OutboxUsageError(`${at}: payload is not JSON-serialisable (${typeof payload})`);
  return Buffer.from(text, 'utf8');
}

const FAILED_TRANSACTION = "enqueue: the client's transaction has failed (an earlier statement errored); roll it back";

/** Refuse a pool and a client outside a transaction. */
export async function requireTransaction(client: QueryClient): Promise<void> {
  const state = await isInTransaction(client);
  if (state === 'pool') {
    throw new OutboxUsageError(
      'enqueue needs the pg client of your open transaction, not a pg.Pool: a pool may run each query on another connection, outside your transaction (const client = await pool.connect(); await client.query("BEGIN"); … enqueue(client, …); COMMIT)',
    );
  }
  if (state === 'aborted') throw new OutboxUsageError(FAILED_TRANSACTION);
  if (state !== 'in-transaction') {
    throw new OutboxUsageError(
      'enqueue must run inside your transaction: the client is not in one, so the event would commit on its own, without your business change (await client.query("BEGIN") first)',
    );
  }
}
