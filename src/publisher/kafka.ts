/**
 * The Kafka side: one idempotent kafkajs producer, one request in flight.
 *
 * - idempotent: true, acks = -1 (all in-sync replicas), maxInFlightRequests: 1 — kafkajs's idempotent
 *   producer is only correct with one request in flight; the broker then drops retry duplicates
 *   within the producer session.
 * - The Java-compatible murmur2 partitioner (kafkajs DefaultPartitioner), so a key lands on the same
 *   partition as it would from Debezium or any Java producer.
 * - After a fatal idempotence error (see classify.ts) the producer is discarded and a new one created:
 *   reconnecting would keep the stale producer id / sequence numbers.
 * - Every send is bounded by a deadline; kafkajs itself retries retriable errors underneath.
 */
import { Kafka, Partitioners, logLevel as KafkaLogLevel, type Producer, type logCreator } from 'kafkajs';
import { UnavailableError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { toTopicMessages } from '../relay/batch.js';
import type { OutboxRow } from '../sql/claimBatch.js';
import { withDeadline } from '../sleep.js';

export interface PublisherOptions {
  brokers: string[];
  clientId: string;
  /** Bound on one batch (all its chunks) and on connecting. */
  timeoutMs: number;
  log: Logger;
}

/** What the relay loop needs from a publisher. */
export interface Publisher {
  connect(): Promise<void>;
  /** Send chunks one after another; resolves only when every chunk is acknowledged. */
  send(chunks: OutboxRow[][]): Promise<void>;
  /** Throw the producer away and create a fresh one (new producer id, new sequence numbers). */
  recreate(reason: string): Promise<void>;
  disconnect(): Promise<void>;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [KafkaLogLevel.ERROR]: 'warn', // kafkajs logs every failed connection attempt as ERROR; the relay logs the outcome
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'debug',
  [KafkaLogLevel.DEBUG]: 'debug',
};

function kafkajsLogger(log: Logger): logCreator {
  return () =>
    ({ namespace, level, log: entry }) => {
      const { message, ...extra } = entry;
      log[LEVELS[level] ?? 'debug']({ kafkajs: namespace, ...extra }, message);
    };
}

export class KafkaPublisher implements Publisher {
  readonly #kafka: Kafka;
  #producer: Producer | undefined;
  /** false after recreate() until the new producer has connected. */
  #ready = false;

  constructor(private readonly options: PublisherOptions) {
    this.#kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      connectionTimeout: 3000,
      requestTimeout: options.timeoutMs,
      logLevel: options.log.isLevelEnabled('debug') ? KafkaLogLevel.INFO : KafkaLogLevel.WARN,
      logCreator: kafkajsLogger(options.log.child({ component: 'kafkajs' })),
      retry: { initialRetryTime: 100, maxRetryTime: 5000, retries: 10 },
    });
  }

  #newProducer(): Producer {
    return this.#kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // Retry "forever" inside kafkajs (it warns if an idempotent producer limits retries); our
      // deadline in send() is what bounds a batch.
      retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: Number.MAX_SAFE_INTEGER },
    });
  }

  async connect(): Promise<void> {
    const producer = this.#newProducer();
    try {
      await withDeadline(producer.connect(), this.options.timeoutMs, 'connecting to Kafka');
    } catch (err) {
      await withDeadline(producer.disconnect(), 5000, 'disconnecting').catch(() => undefined);
      throw new UnavailableError(
        `cannot connect to Kafka at ${this.options.brokers.join(',')} (${describeError(err)}): check KAFKA_BROKERS and that the brokers are up`,
        err,
      );
    }
    this.#producer = producer;
    this.#ready = true;
  }

  async send(chunks: OutboxRow[][]): Promise<void> {
    const producer = this.#producer;
    if (!producer) throw new Error('publisher is not connected');
    const work = (async () => {
      if (!this.#ready) {
        await producer.connect();
        this.#ready = true;
      }
      for (const chunk of chunks) {
        await producer.sendBatch({ topicMessages: toTopicMessages(chunk), acks: -1, timeout: this.options.timeoutMs });
      }
    })();
    await withDeadline(work, this.options.timeoutMs, 'publishing a batch to Kafka');
  }

  async recreate(reason: string): Promise<void> {
    this.options.log.warn({ reason }, 'recreating the Kafka producer');
    const old = this.#producer;
    this.#ready = false;
    // The new producer connects lazily in send(), under that batch's deadline, so a broker that is
    // down makes the next batch fail and back off instead of blocking here.
    this.#producer = this.#newProducer();
    if (old) await withDeadline(old.disconnect(), 5000, 'disconnecting the old producer').catch(() => undefined);
  }

  async disconnect(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    if (producer) await withDeadline(producer.disconnect(), 5000, 'disconnecting from Kafka').catch(() => undefined);
  }
}
