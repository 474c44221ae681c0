/**
 * The Kafka side: one idempotent kafkajs producer, one request in flight.
 *
 * - idempotent: true, acks = -1 (all in-sync replicas), maxInFlightRequests: 1 — kafkajs's idempotent
 *   producer is only correct with one request in flight; the broker then drops retry duplicates
 *   within the producer session.
 * - The Java-compatible murmur2 partitioner (kafkajs DefaultPartitioner), so a key lands on the same
 *   partition as it would from Debezium or any Java producer.
 *
 * After ANY failed send the producer is fenced and replaced, never reused:
 * - A fatal idempotence error (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID,
 *   INVALID_PRODUCER_EPOCH) leaves stale sequence state that a reconnect would keep.
 * - Any other failure may be an ambiguous ack: the broker may have written the batch under sequence
 *   numbers kafkajs has not advanced. The relay then re-claims, and the re-claimed batch can differ
 *   (a lower-seq row that committed late). Sent by the same producer with the same sequence numbers,
 *   the broker would take it for a retry of the written batch, ack it and drop it: rows marked sent
 *   that never reached Kafka. A new producer id makes that impossible.
 * - kafkajs does not cancel a send's internal retries when we stop waiting for it; such a "zombie"
 *   would reconnect once the broker is back and deliver its batch again, late. Fencing closes the old
 *   producer's sockets and makes its socket factory refuse new ones, and its retries are bounded,
 *   so a zombie dies quietly instead of delivering (found by test/fault/kafka-outage.test.ts).
 *
 * A resolved send is never trusted (./receipt.ts): kafkajs can resolve a send that skipped a
 * partition whose leader moved mid-call (kafkajs issue #1303; test/fault/cluster.test.ts loses rows
 * without this). Every message is pinned to its partition on first use, so retries and resends keep
 * it there, and the acknowledgement is checked against what was sent:
 * - partitions missing from it are sent again on the same producer. That is safe and duplicate-free:
 *   kafkajs rolls a partition's sequence number back when its request fails, so the resend carries
 *   the same sequence numbers, and a broker that did write them drops the copy as a duplicate;
 * - if they are still missing after MAX_RESENDS, or the receipt does not match what was sent at all,
 *   the send fails (IncompleteReceiptError): the producer is replaced and the batch retried.
 */
import './kafkajs-null-headers.js'; // before kafkajs produces: null header values (see the module)
import net from 'node:net';
import tls from 'node:tls';
import kafkajs, {
  Kafka,
  Partitioners,
  logLevel as KafkaLogLevel,
  type Admin,
  type ICustomPartitioner,
  type ISocketFactory,
  type Producer,
  type RecordMetadata,
  type TopicMessages,
  type logCreator,
} from 'kafkajs';
import type { Compression } from '../config.js';
import { ConfigError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { toTopicMessages } from './kafkajs-messages.js';
import type { OutboxRow } from '../sql/claimBatch.js';
import { withDeadline } from '../sleep.js';
import { classifyPublishError } from './classify.js';
import type { ClusterFacts, Publisher } from './publisher.js';
import { fetchApiVersions, type ApiRange } from './api-versions.js';
import { compressionType, registerCodec } from './codecs.js';
import { NO_SECURITY, connectFailure, kafkaSecurity, type KafkaSecurity, type SecuritySettings } from './security.js';
import { checkReceipt, partitionKey, type PartitionAck, type Receipt, type SentMessage } from './receipt.js';

export interface PublisherOptions {
  brokers: string[];
  clientId: string;
  /** Bound on one batch (all its chunks) and on connecting. */
  timeoutMs: number;
  log: Logger;
  /** TLS and SASL settings (default: PLAINTEXT, no SASL); files are read in the constructor. */
  security?: Omit<SecuritySettings, 'kafkaBrokers'>;
  /** Produce-request compression (default none). */
  compression?: Compression;
}

/** The client-neutral seam (./publisher.ts); this module is its kafkajs implementation. */
export type { ClusterFacts, Publisher } from './publisher.js';

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
      // We bound retries on purpose and never reuse a producer after a failure (see the header).
      if (message.startsWith('Limiting retries for the idempotent producer')) return;
      log[LEVELS[level] ?? 'debug']({ kafkajs: namespace, ...extra }, message);
    };
}

/** How often one chunk's unacknowledged partitions are sent again before the send fails. */
const MAX_RESENDS = 3;

/** A send resolved, but the broker's acknowledgement does not cover every message. */
export class IncompleteReceiptError extends Error {
  readonly type = 'INCOMPLETE_RECEIPT';
  constructor(readonly receipt: Receipt) {
    super(
      `Kafka acknowledged ${receipt.acknowledged} messages of the chunk; not acknowledged: ${[...receipt.missing, ...receipt.problems].join(', ')}`,
    );
    this.name = 'IncompleteReceiptError';
  }
}

/**
 * kafkajs's Java-compatible DefaultPartitioner (murmur2 of the key, round robin without one), made
 * to decide once per message: the choice is written into message.partition, so kafkajs's internal
 * retries, our resends and the receipt check all see the same partition.
 */
const pinningPartitioner: ICustomPartitioner = () => {
  const choose = Partitioners.DefaultPartitioner();
  return (args) => {
    const message = args.message;
    message.partition ??= choose(args);
    return message.partition;
  };
};

/** kafkajs's own socket factory, plus a fence: once fenced, open sockets close and new ones fail. */
function fencedSocketFactory(): { factory: ISocketFactory; fence(): void } {
  let fenced = false;
  const open = new Set<net.Socket>();
  const factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    const socket = ssl
      ? tls.connect({ host, port, ...(!net.isIP(host) ? { servername: host } : {}), ...ssl }, onConnect)
      : net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    if (fenced) {
      socket.destroy(new Error('producer fenced'));
      return socket;
    }
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    return socket;
  };
  return {
    factory,
    fence: () => {
      fenced = true;
      for (const socket of open) socket.destroy();
    },
  };
}

interface FencedProducer {
  producer: Producer;
  fence(): void;
  connected: boolean;
}

/** Key of the broker's message.max.bytes among the topic limits #describeLimits returns (not a legal topic name). */
const BROKER_LIMIT = '(broker)';

/** How long a topic seen on the cluster is trusted to exist without asking again. */
const TOPIC_CACHE_MS = 60_000;

export class KafkaPublisher implements Publisher {
  #current: FencedProducer | undefined;
  #admin: { admin: Admin; connected: boolean } | undefined;
  /** Topics known to exist, with when that was last confirmed. */
  readonly #topics = new Map<string, number>();
  /** Topics' max.message.bytes, with when it was read. */
  readonly #limits = new Map<string, { limit: number | undefined; at: number }>();
  /** The last send's chunks and messages; partitionsOfLastSend() reads them only after a refusal. */
  #last: { chunk: OutboxRow[]; topicMessages: TopicMessages[] }[] = [];

  readonly #settings: SecuritySettings;
  readonly #security: KafkaSecurity;
  readonly #compression: ReturnType<typeof compressionType>;

  constructor(private readonly options: PublisherOptions) {
    this.#settings = { ...NO_SECURITY, ...options.security, kafkaBrokers: options.brokers };
    this.#security = kafkaSecurity(this.#settings);
    this.#compression = compressionType(options.compression ?? 'none');
  }

  /** How the relay connects, for log lines: "SASL/SCRAM-SHA-512 over TLS", "PLAINTEXT". */
  get securityName(): string {
    return this.#security.describe;
  }

  #kafka(socketFactory?: ISocketFactory): Kafka {
    const o = this.options;
    const { ssl, sasl } = this.#security;
    return new Kafka({
      clientId: o.clientId,
      brokers: o.brokers,
      ...(ssl ? { ssl } : {}),
      ...(sasl ? { sasl } : {}),
      connectionTimeout: 3000,
      requestTimeout: o.timeoutMs,
      ...(socketFactory ? { socketFactory } : {}),
      logLevel: o.log.isLevelEnabled('debug') ? KafkaLogLevel.INFO : KafkaLogLevel.WARN,
      logCreator: kafkajsLogger(o.log.child({ component: 'kafkajs' })),
      retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 8 },
    });
  }

  #newProducer(): FencedProducer {
    const sockets = fencedSocketFactory();
    const kafka = this.#kafka(sockets.factory);
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: pinningPartitioner,
      // Bounded (~10 s of retries at most) so a fenced producer's send ends by itself.
      retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 8 },
    });
    return { producer, fence: sockets.fence, connected: false };
  }

  async connect(): Promise<void> {
    const compression = this.options.compression ?? 'none';
    await registerCodec(compression).catch((err: unknown) => {
      throw new ConfigError(`KAFKA_COMPRESSION=${compression} cannot load its codec (${describeError(err)}): reinstall outbox-relay's dependencies for this platform, or choose another codec`);
    });
    const current = this.#newProducer();
    try {
      await withDeadline(current.producer.connect(), this.options.timeoutMs, 'connecting to Kafka');
    } catch (err) {
      current.fence();
      await withDeadline(current.producer.disconnect(), 5000, 'disconnecting').catch(() => undefined);
      throw connectFailure(err, this.#settings, { tokenRequested: this.#security.tokenRequested() });
    }
    current.connected = true;
    this.#current = current;
  }

  /** The shared admin client, connected within the publish timeout. */
  async #connectedAdmin(what: string): Promise<Admin> {
    this.#admin ??= { admin: this.#kafka().admin({ retry: { retries: 2 } }), connected: false };
    const current = this.#admin;
    if (!current.connected) {
      await withDeadline(current.admin.connect(), this.options.timeoutMs, what);
      current.connected = true;
    }
    return current.admin;
  }

  async missingTopics(topics: string[]): Promise<string[]> {
    const now = Date.now();
    const unsure = topics.filter((t) => (this.#topics.get(t) ?? -Infinity) < now - TOPIC_CACHE_MS);
    if (unsure.length === 0) return [];
    const admin = await this.#connectedAdmin('listing Kafka topics');
    const existing = new Set(await withDeadline(admin.listTopics(), this.options.timeoutMs, 'listing Kafka topics'));
    for (const t of existing) this.#topics.set(t, now);
    return unsure.filter((t) => !existing.has(t));
  }

  /**
   * Each topic's max.message.bytes (the largest record batch its partitions take), cached like the
   * topic list; none with compression on. Only known limits are returned: a topic that does not exist, or configs the relay may
   * not describe (DescribeConfigs ACL), are left out and the broker judges those rows.
   */
  async messageLimits(topics: string[]): Promise<ReadonlyMap<string, number>> {
    // Compressed, a row's size on the wire is not known before the send: the broker judges it.
    if (this.#compression !== undefined) return new Map();
    const now = Date.now();
    const unsure = topics.filter((t) => (this.#limits.get(t)?.at ?? -Infinity) < now - TOPIC_CACHE_MS);
    if (unsure.length > 0) {
      let found = new Map<string, number>();
      try {
        found = await this.#describeLimits(unsure);
      } catch (err) {
        this.options.log.debug({ err: describeError(err) }, 'cannot read the topics\' max.message.bytes; the broker will judge row sizes');
      }
      // Unknown limits are remembered too: a relay without DescribeConfigs asks once a minute, not per batch.
      for (const t of unsure) this.#limits.set(t, { limit: found.get(t), at: now });
    }
    const out = new Map<string, number>();
    for (const t of topics) {
      const limit = this.#limits.get(t)?.limit;
      if (limit !== undefined) out.set(t, limit);
    }
    return out;
  }

  async #describeLimits(topics: string[], brokerId?: number): Promise<Map<string, number>> {
    const admin = await this.#connectedAdmin('describing Kafka topic configs');
    const resources = [
      ...topics.map((name) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] })),
      ...(brokerId !== undefined ? [{ type: kafkajs.ConfigResourceTypes.BROKER, name: String(brokerId), configNames: ['message.max.bytes'] }] : []),
    ];
    const described = await withDeadline(admin.describeConfigs({ resources, includeSynonyms: false }), this.options.timeoutMs, 'describing Kafka topic configs');
    const out = new Map<string, number>();
    for (const r of described.resources) {
      const value = Number(r.configEntries.find((e) => e.configName === 'max.message.bytes' || e.configName === 'message.max.bytes')?.configValue);
      if (r.errorCode === 0 && Number.isFinite(value)) out.set(r.resourceType === kafkajs.ConfigResourceTypes.BROKER ? BROKER_LIMIT : r.resourceName, value);
    }
    return out;
  }

  /** What the start-up preflight (src/preflight/kafka.ts) checks: brokers, API versions, topics, size limits. */
  async clusterFacts(topics: string[]): Promise<ClusterFacts> {
    const admin = await this.#connectedAdmin('describing the Kafka cluster');
    const cluster = await withDeadline(admin.describeCluster(), this.options.timeoutMs, 'describing the Kafka cluster');
    const seed = cluster.brokers[0];
    let apiVersions: ClusterFacts['apiVersions'];
    if (seed) {
      const where = `${seed.host}:${seed.port}`;
      try {
        apiVersions = { broker: where, versions: await fetchApiVersions(seed.host, seed.port, this.#security.ssl, Math.min(this.options.timeoutMs, 10_000)) };
      } catch (err) {
        apiVersions = { broker: where, error: describeError(err) };
      }
    }
    const missing = new Set(await this.missingTopics(topics));
    let limits: Map<string, number> | undefined;
    let limitsError: string | undefined;
    try {
      limits = await this.#describeLimits(
        topics.filter((t) => !missing.has(t)),
        cluster.controller ?? seed?.nodeId,
      );
    } catch (err) {
      limitsError = describeError(err);
    }
    const brokerLimit = limits?.get(BROKER_LIMIT);
    limits?.delete(BROKER_LIMIT);
    const now = Date.now();
    for (const [topic, limit] of limits ?? []) this.#limits.set(topic, { limit, at: now });
    return {
      brokers: cluster.brokers.map((b) => `${b.host}:${b.port}`),
      apiVersions,
      missingTopics: [...missing],
      ...(limits ? { topicLimits: limits } : {}),
      ...(brokerLimit !== undefined ? { brokerLimit } : {}),
      ...(limitsError !== undefined ? { limitsError } : {}),
    };
  }

  async send(chunks: OutboxRow[][], timeoutMs = this.options.timeoutMs): Promise<void> {
    const current = this.#current;
    if (!current) throw new Error('publisher is not connected');
    const work = (async () => {
      if (!current.connected) {
        await current.producer.connect();
        current.connected = true;
      }
      this.#last = [];
      for (const chunk of chunks) {
        const topicMessages = toTopicMessages(chunk);
        this.#last.push({ chunk, topicMessages });
        try {
          await this.#sendChunk(current.producer, topicMessages);
        } catch (err) {
          // A topic deleted since it was last seen: ask the cluster again next time.
          if (classifyPublishError(err).type === 'UNKNOWN_TOPIC_OR_PARTITION') for (const t of topicMessages) this.#topics.delete(t.topic);
          throw err;
        }
      }
    })();
    work.catch(() => undefined); // a fenced zombie's late rejection is expected
    await withDeadline(work, timeoutMs, 'publishing a batch to Kafka');
  }

  /** One sendBatch, then its receipt check; unacknowledged partitions are sent again (see the header). */
  async #sendChunk(producer: Producer, topicMessages: TopicMessages[]): Promise<void> {
    let pending = topicMessages;
    for (let resend = 0; ; resend++) {
      const acks = await producer.sendBatch({
        topicMessages: pending,
        acks: -1,
        timeout: this.options.timeoutMs,
        ...(this.#compression !== undefined ? { compression: this.#compression } : {}),
      });
      const receipt = checkReceipt(sentMessages(pending), acks.map(toPartitionAck));
      if (receipt.complete) return;
      if (resend >= MAX_RESENDS || receipt.problems.length > 0) throw new IncompleteReceiptError(receipt);
      this.options.log.warn(
        { missing: receipt.missing, acknowledged: receipt.acknowledged, resend: resend + 1 },
        'Kafka acknowledged only part of a send (a partition leader moved); sending the missing partitions again',
      );
      pending = onlyPartitions(pending, new Set(receipt.missing));
    }
  }

  partitionsOfLastSend(): ReadonlyMap<string, string> {
    const partitions = new Map<string, string>();
    for (const { chunk, topicMessages } of this.#last) {
      // toTopicMessages keeps outbox order within each topic; the partitioner pinned each message.
      const byTopic = new Map(topicMessages.map((t) => [t.topic, t.messages]));
      const next = new Map<string, number>();
      for (const row of chunk) {
        const i = next.get(row.topic) ?? 0;
        next.set(row.topic, i + 1);
        const partition = byTopic.get(row.topic)?.[i]?.partition;
        if (partition !== undefined) partitions.set(row.seq, partitionKey(row.topic, partition));
      }
    }
    return partitions;
  }

  async recreate(reason: string): Promise<void> {
    this.options.log.info({ reason }, 'replacing the Kafka producer');
    const old = this.#current;
    // The new producer connects lazily in send(), under that batch's deadline, so a broker that is
    // down makes the next batch fail and back off instead of blocking here.
    this.#current = this.#newProducer();
    if (old) {
      old.fence();
      await withDeadline(old.producer.disconnect(), 5000, 'disconnecting the old producer').catch(() => undefined);
    }
  }

  async disconnect(): Promise<void> {
    const current = this.#current;
    this.#current = undefined;
    const admin = this.#admin;
    this.#admin = undefined;
    if (admin?.connected) await withDeadline(admin.admin.disconnect(), 5000, 'disconnecting the admin client').catch(() => undefined);
    if (current) {
      await withDeadline(current.producer.disconnect(), 5000, 'disconnecting from Kafka').catch(() => undefined);
      current.fence();
    }
  }
}

function sentMessages(topicMessages: TopicMessages[]): SentMessage[] {
  return topicMessages.flatMap(({ topic, messages }) => messages.map((m) => ({ topic, partition: m.partition })));
}

function toPartitionAck(meta: RecordMetadata): PartitionAck {
  return { topic: meta.topicName, partition: meta.partition, errorCode: meta.errorCode, baseOffset: meta.baseOffset };
}

/** The messages of the given `topic:partition`s, order kept. */
function onlyPartitions(topicMessages: TopicMessages[], keys: Set<string>): TopicMessages[] {
  return topicMessages
    .map(({ topic, messages }) => ({ topic, messages: messages.filter((m) => keys.has(partitionKey(topic, m.partition))) }))
    .filter(({ messages }) => messages.length > 0);
}
