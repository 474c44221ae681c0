/**
 * The kafkajs adapter of the inbox's consumer seam (`outbox-relay/inbox/kafkajs`): the only module
 * of the inbox that knows kafkajs types.
 *
 *   const consumer = kafka.consumer({ groupId: 'ledger' });
 *   await consumer.connect();
 *   await consumer.subscribe({ topic: 'payments.charged' });
 *   await runKafkajsInbox(consumer, inbox, async (tx, message) => { … tx.query(…) … });
 *
 * The consumer runs with autoCommit: false; the adapter commits each message's offset after its
 * transaction committed (or after it was skipped as a duplicate).
 */
import type { Consumer, ConsumerRunConfig, IHeaders, KafkaMessage } from 'kafkajs';
import { runInbox, type Inbox, type InboxHandler, type InboxMessage, type InboxSource, type RunInboxOptions } from './index.js';

export function fromKafkajs(topic: string, partition: number, message: KafkaMessage): InboxMessage {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    headers: headerStrings(message.headers),
  };
}

function headerStrings(headers: IHeaders | undefined): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    out[name] = first === undefined ? undefined : Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}

export interface KafkajsSourceOptions {
  /** Passed to consumer.run() (partitionsConsumedConcurrently …); autoCommit is always false. */
  run?: Omit<ConsumerRunConfig, 'autoCommit' | 'eachMessage' | 'eachBatch'>;
}

export function kafkajsSource(consumer: Consumer, options: KafkajsSourceOptions = {}): InboxSource {
  return {
    run: (each) =>
      consumer.run({
        ...options.run,
        autoCommit: false,
        eachMessage: ({ topic, partition, message }) => each(fromKafkajs(topic, partition, message)),
      }),
    commit: (message) =>
      consumer.commitOffsets([{ topic: message.topic, partition: message.partition, offset: (BigInt(message.offset) + 1n).toString() }]),
  };
}

/** runInbox on a connected, subscribed kafkajs consumer. */
export function runKafkajsInbox(
  consumer: Consumer,
  inbox: Inbox,
  handler: InboxHandler,
  options: RunInboxOptions & KafkajsSourceOptions = {},
): Promise<void> {
  return runInbox(kafkajsSource(consumer, options), inbox, handler, options);
}
