/**
 * The Kafka side through librdkafka (@confluentinc/kafka-javascript), an optional client chosen with
 * KAFKA_CLIENT=librdkafka; kafkajs (./kafka.ts) stays the default. docs/performance.md has the
 * measurements behind it and how to install it (it is built from source on install).
 *
 * The same guarantees as the kafkajs publisher, in librdkafka's terms:
 * - enable.idempotence, acks=all, max.in.flight.requests.per.connection=1: one request in flight, so a
 *   partition's messages keep their order, and the broker drops retry duplicates within the session;
 * - partitioner murmur2_random: a keyed message lands where a Java producer (and kafkajs's default
 *   partitioner) puts it; keyless messages go to a random partition;
 * - every message has its own delivery report (partition, offset or error): send() resolves only when
 *   each message of each chunk reported success, so no partition can be skipped silently (the kafkajs
 *   receipt check, ./receipt.ts, is not needed: there is no per-broker response to lose);
 * - after any failed send the relay calls recreate(): the old handle is destroyed without flushing
 *   (queued messages are purged, its connections closed) and a new producer (new producer id) is made;
 *   message.timeout.ms is the publish timeout, so no message outlives the batch that sent it.
 * Topic lookups, size limits and the start-up preflight use a kafkajs admin client (metadata only, no
 * produce path), so both clients answer them the same way.
 */
import { createRequire } from 'node:module';
import { ConfigError, describeError } from '../errors.js';
import type { OutboxRow } from '../sql/claimBatch.js';
import { withDeadline } from '../sleep.js';
import { KafkaPublisher, type PublisherOptions } from './kafka.js';
import type { ClusterFacts, Publisher } from './publisher.js';
import { partitionKey } from './receipt.js';
import { NO_SECURITY, connectFailure } from './security.js';

/** The module, as far as this file uses it (it is optional: loaded at connect, not imported). */
interface RdkafkaModule {
  Producer: new (config: Record<string, unknown>) => RdProducer;
}
interface DeliveryReport {
  topic: string;
  partition: number;
  offset: number;
  opaque: number;
}
interface RdError {
  code: number;
  message: string;
}
interface RdProducer {
  connect(options: unknown, cb: (err: RdError | null) => void): void;
  on(event: 'delivery-report', fn: (err: RdError | null, report: DeliveryReport) => void): void;
  on(event: 'event.error', fn: (err: RdError) => void): void;
  produce(topic: string, partition: number, value: Buffer | null, key: string | null, timestamp: number | null, opaque: number, headers: Record<string, string>[]): boolean;
  setPollInBackground(on: boolean): void;
  disconnect(timeoutMs: number, cb: (err: unknown) => void): void;
  /** Disconnect without flushing: what fencing needs. */
  _disconnect(cb: (err: unknown) => void): void;
}

export const RDKAFKA_PACKAGE = '@confluentinc/kafka-javascript';

/** librdkafka's error codes (rdkafka.h rd_kafka_resp_err_t) by the Kafka error type the relay classifies (./classify.ts). */
const TYPES: Record<number, string> = {
  [-192]: 'PUBLISH_TIMEOUT', // ERR__MSG_TIMED_OUT: message.timeout.ms passed, the ack is ambiguous
  [-188]: 'UNKNOWN_TOPIC_OR_PARTITION', // ERR__UNKNOWN_TOPIC
  [-190]: 'UNKNOWN_TOPIC_OR_PARTITION', // ERR__UNKNOWN_PARTITION
  [-150]: 'INVALID_PRODUCER_EPOCH', // ERR__FATAL: the idempotent producer cannot go on
  2: 'CORRUPT_MESSAGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  10: 'MESSAGE_TOO_LARGE',
  17: 'INVALID_TOPIC_EXCEPTION',
  18: 'RECORD_LIST_TOO_LARGE',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  32: 'INVALID_TIMESTAMP',
  45: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
  47: 'INVALID_PRODUCER_EPOCH',
  49: 'INVALID_PRODUCER_ID_MAPPING',
  59: 'UNKNOWN_PRODUCER_ID',
  87: 'INVALID_RECORD',
  90: 'PRODUCER_FENCED',
};

/** A message librdkafka could not deliver; `type` is the Kafka error type ./classify.ts reads. */
export class DeliveryError extends Error {
  readonly type: string | undefined;
  constructor(
    readonly code: number,
    message: string,
    readonly topic: string,
    readonly partition: number | undefined,
  ) {
    super(`librdkafka could not deliver to ${partitionKey(topic, partition)}: ${message} (code ${code})`);
    this.name = 'DeliveryError';
    this.type = TYPES[code];
  }
}

let loaded: RdkafkaModule | undefined;
function load(): RdkafkaModule {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)(RDKAFKA_PACKAGE) as RdkafkaModule;
  } catch (err) {
    throw new ConfigError(
      `KAFKA_CLIENT=librdkafka needs the optional package ${RDKAFKA_PACKAGE}, which is not installed or did not build (${describeError(err).split('\n')[0]}): install it with CKJS_LINKING=dynamic (docs/performance.md), or use KAFKA_CLIENT=kafkajs`,
    );
  }
  return loaded;
}

/** One chunk in flight: its messages' delivery reports arrive by opaque number. */
interface InFlight {
  base: number;
  rows: OutboxRow[];
  partitions: (number | undefined)[];
  remaining: number;
  error: DeliveryError | undefined;
  done: () => void;
}

interface Handle {
  producer: RdProducer;
  connected: boolean;
}

export class RdkafkaPublisher implements Publisher {
  /** Metadata only (topics, limits, preflight); its producer is never connected. */
  readonly #meta: KafkaPublisher;
  #current: Handle | undefined;
  #next = 0;
  #inFlight: InFlight | undefined;
  #last = new Map<string, string>();

  constructor(private readonly options: PublisherOptions) {
    const s = options.security;
    if (s && (s.kafkaSsl || s.kafkaSaslMechanism !== 'none')) {
      throw new ConfigError('KAFKA_CLIENT=librdkafka supports PLAINTEXT brokers only so far (no KAFKA_SSL, no KAFKA_SASL_MECHANISM): use KAFKA_CLIENT=kafkajs for TLS or SASL');
    }
    load(); // fail at start, with how to install it, not at the first connect
    this.#meta = new KafkaPublisher(options);
  }

  #config(): Record<string, unknown> {
    const o = this.options;
    return {
      'bootstrap.servers': o.brokers.join(','),
      'client.id': o.clientId,
      'enable.idempotence': true,
      acks: -1,
      'max.in.flight.requests.per.connection': 1,
      partitioner: 'murmur2_random',
      'compression.codec': o.compression ?? 'none',
      // The relay awaits each chunk: nothing to wait for before sending it.
      'linger.ms': 0,
      'message.timeout.ms': o.timeoutMs,
      'socket.connection.setup.timeout.ms': Math.min(o.timeoutMs, 10_000),
      'allow.auto.create.topics': false,
      // A topic missing from the metadata fails its messages soon, as unknown-topic, instead of
      // waiting out the publish timeout (the relay checks topics before sending anyway).
      'topic.metadata.propagation.max.ms': Math.min(5000, Math.max(1000, Math.trunc(o.timeoutMs / 3))),
      dr_cb: true,
    };
  }

  #newHandle(): Handle {
    const { Producer } = load();
    let producer: RdProducer;
    try {
      producer = new Producer(this.#config());
    } catch (err) {
      throw new ConfigError(`librdkafka refused its configuration: ${describeError(err)}`);
    }
    producer.on('delivery-report', (err, report) => this.#delivered(err, report));
    producer.on('event.error', (err) => this.options.log.debug({ err: err.message, code: err.code }, 'librdkafka error event'));
    return { producer, connected: false };
  }

  async #connect(handle: Handle): Promise<void> {
    await withDeadline(
      new Promise<void>((resolve, reject) =>
        handle.producer.connect(null, (err) => (err ? reject(new Error(`cannot connect to Kafka: ${err.message}`)) : resolve())),
      ),
      this.options.timeoutMs,
      'connecting to Kafka',
    );
    handle.producer.setPollInBackground(true);
    handle.connected = true;
  }

  async connect(): Promise<void> {
    const handle = this.#newHandle();
    try {
      await this.#connect(handle);
    } catch (err) {
      void fence(handle);
      // The same one-line exit as kafkajs's (exit 3: check KAFKA_BROKERS and that the brokers are up).
      throw connectFailure(err, { ...NO_SECURITY, ...this.options.security, kafkaBrokers: this.options.brokers });
    }
    this.#current = handle;
  }

  #delivered(err: RdError | null, report: DeliveryReport): void {
    const f = this.#inFlight;
    if (!f) return; // a fenced producer's late report
    const i = report.opaque - f.base;
    if (i < 0 || i >= f.rows.length || f.partitions[i] !== undefined) return;
    const partition = report.partition >= 0 ? report.partition : undefined;
    f.partitions[i] = partition ?? -1;
    if (err && err.code !== 0) f.error ??= new DeliveryError(err.code, err.message, report.topic, partition);
    else if (!(report.offset >= 0)) f.error ??= new DeliveryError(-1, 'acknowledged without an offset', report.topic, partition);
    if (--f.remaining === 0) f.done();
  }

  async send(chunks: OutboxRow[][], timeoutMs = this.options.timeoutMs): Promise<void> {
    const current = this.#current;
    if (!current) throw new Error('publisher is not connected');
    this.#last = new Map();
    const work = (async () => {
      if (!current.connected) await this.#connect(current);
      for (const chunk of chunks) await this.#sendChunk(current, chunk);
    })();
    work.catch(() => undefined);
    try {
      await withDeadline(work, timeoutMs, 'publishing a batch to Kafka');
    } finally {
      this.#inFlight = undefined;
    }
  }

  async #sendChunk(handle: Handle, rows: OutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    const base = this.#next;
    this.#next += rows.length;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const f: InFlight = { base, rows, partitions: new Array(rows.length), remaining: rows.length, error: undefined, done };
    this.#inFlight = f;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const headers: Record<string, string>[] = [];
      for (const name in row.headers) headers.push({ [name]: row.headers[name]! });
      const timestamp = row.timestamp === undefined || row.timestamp === null ? null : Number(row.timestamp);
      const partition = row.partition === undefined || row.partition === null ? -1 : row.partition;
      try {
        handle.producer.produce(row.topic, partition, row.payload, row.key, timestamp, base + i, headers);
      } catch (err) {
        // Refused before queueing (e.g. larger than message.max.bytes): that row fails, the rest of
        // the chunk is not sent; what was queued is left to the relay's recreate().
        const e = err as Partial<RdError>;
        f.error = new DeliveryError(e.code ?? -1, e.message ?? String(err), row.topic, row.partition ?? undefined);
        f.remaining -= rows.length - i;
        if (f.remaining === 0) done();
        break;
      }
    }
    await finished;
    for (let i = 0; i < rows.length; i++) {
      const p = f.partitions[i];
      if (p !== undefined && p >= 0) this.#last.set(rows[i]!.seq, partitionKey(rows[i]!.topic, p));
    }
    if (f.error) throw f.error;
  }

  partitionsOfLastSend(): ReadonlyMap<string, string> {
    return this.#last;
  }

  missingTopics(topics: string[]): Promise<string[]> {
    return this.#meta.missingTopics(topics);
  }

  messageLimits(topics: string[]): Promise<ReadonlyMap<string, number>> {
    return this.#meta.messageLimits(topics);
  }

  clusterFacts(topics: string[]): Promise<ClusterFacts> {
    return this.#meta.clusterFacts(topics);
  }

  async recreate(reason: string): Promise<void> {
    this.options.log.info({ reason }, 'replacing the Kafka producer');
    const old = this.#current;
    this.#inFlight = undefined;
    // Connected lazily in send(), under that batch's deadline, as with kafkajs.
    this.#current = this.#newHandle();
    if (old) await withDeadline(fence(old), 5000, 'disconnecting the old producer').catch(() => undefined);
  }

  async disconnect(): Promise<void> {
    const current = this.#current;
    this.#current = undefined;
    await this.#meta.disconnect();
    if (current?.connected) {
      await withDeadline(
        new Promise<void>((resolve) => current.producer.disconnect(2000, () => resolve())),
        5000,
        'disconnecting from Kafka',
      ).catch(() => undefined);
    }
  }
}

/** Destroy a producer without flushing: queued messages are dropped, its connections closed. */
function fence(handle: Handle): Promise<void> {
  handle.connected = false;
  return new Promise<void>((resolve) => {
    try {
      handle.producer._disconnect(() => resolve());
    } catch {
      resolve(); // never connected
    }
  });
}
