/**
 * Mapped rows as kafkajs messages: the only place the relay's OutboxRow meets kafkajs's Message type.
 * The row already carries everything (src/mapping/message.ts put the id header in, chose the topic,
 * key, partition and timestamp); this only changes the shape.
 */
import type { Message, TopicMessages } from 'kafkajs';
import type { OutboxRow } from '../sql/claimBatch.js';

export function toMessage(row: OutboxRow): Message {
  // kafkajs's types have no null header value; its encoder writes one once kafkajs-null-headers.ts fixed it.
  const message: Message = { key: row.key, value: row.payload, headers: row.headers as Message['headers'] };
  if (row.partition !== undefined && row.partition !== null) message.partition = row.partition;
  if (row.timestamp !== undefined && row.timestamp !== null) message.timestamp = row.timestamp;
  return message;
}

/** Group rows by topic for one kafkajs sendBatch call, keeping outbox order within each topic. */
export function toTopicMessages(rows: OutboxRow[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>();
  for (const row of rows) {
    let messages = byTopic.get(row.topic);
    if (!messages) byTopic.set(row.topic, (messages = []));
    messages.push(toMessage(row));
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}
