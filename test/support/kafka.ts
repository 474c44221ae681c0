/** Topics and a read-everything consumer on the real Kafka broker (kafkajs), per test. */
import { Kafka, logLevel, type IHeaders, type KafkaConfig } from 'kafkajs';
import { inject } from 'vitest';
import { uniqueName } from './outbox.js';

export interface Received {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer;
  /** The value was null (a tombstone); `value` is then empty. */
  tombstone?: boolean;
  /** The message timestamp, ms since the epoch, as kafkajs gives it. */
  timestamp?: string;
  headers: Record<string, string | null>;
}

/**
 * Where the test's own clients connect: a bootstrap list, or one with TLS/SASL settings (a secured
 * broker's listener, read back with the same settings the relay used).
 */
export type KafkaTarget = string | { brokers: string; ssl?: KafkaConfig['ssl']; sasl?: KafkaConfig['sasl'] };

/** The run's broker by default; fault tests with a broker (or cluster) of their own pass its address. */
export function client(target: KafkaTarget = inject('kafkaBrokers')): Kafka {
  const { brokers, ...security } = typeof target === 'string' ? { brokers: target } : target;
  return new Kafka({ clientId: 'outbox-relay-test', brokers: brokers.split(','), logLevel: logLevel.NOTHING, ...security });
}

export async function createTopic(
  partitions = 3,
  prefix = 'topic',
  brokers?: KafkaTarget,
  replicationFactor = 1,
  configEntries: { name: string; value: string }[] = [],
): Promise<string> {
  const topic = uniqueName(prefix);
  const admin = client(brokers).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor, configEntries }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  return topic;
}

async function messageCount(topics: string[], brokers?: KafkaTarget): Promise<number> {
  const admin = client(brokers).admin();
  await admin.connect();
  try {
    let total = 0;
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) total += Number(p.high) - Number(p.low);
    }
    return total;
  } finally {
    await admin.disconnect();
  }
}

/** Header values as text; a header without a value (Kafka allows one) stays null. */
function headersOf(headers: IHeaders | undefined): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k] = v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  return out;
}

/**
 * Read every message the topics hold right now, from the beginning (all of them, duplicates
 * included): the high watermarks say how many to expect, the consumer resolves when it has them.
 */
export async function readAll(topics: string[], timeoutMs = 60_000, brokers?: KafkaTarget): Promise<Received[]> {
  const expected = await messageCount(topics, brokers);
  const received: Received[] = [];
  if (expected === 0) return received;
  const consumer = client(brokers).consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${received.length} of ${expected} messages in ${timeoutMs} ms`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ topic, partition, message }) => {
          received.push({
            topic,
            partition,
            offset: message.offset,
            key: message.key === null ? null : message.key.toString('utf8'),
            value: message.value ?? Buffer.alloc(0),
            tombstone: message.value === null,
            timestamp: message.timestamp,
            headers: headersOf(message.headers),
          });
          if (received.length >= expected) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  // Per partition, offsets are in order; sort for a stable view.
  return received.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition || Number(a.offset) - Number(b.offset));
}
