/**
 * Pure mapping from claimed outbox rows to Kafka requests.
 *
 * Message mapping (README "Kafka message mapping"): key = row key (null stays null), value = payload
 * bytes unchanged, headers = the row's headers plus `id` = the event id and `seq` = the row's
 * position in the outbox (both win over row headers of the same names, so consumers can always
 * deduplicate on `id` and, per key, see gaps and repeats in `seq`).
 */
import type { Message, TopicMessages } from 'kafkajs';
import type { OutboxRow } from '../sql/claimBatch.js';

export function toMessage(row: OutboxRow): Message {
  return {
    key: row.key,
    value: row.payload,
    headers: { ...row.headers, id: row.id, seq: row.seq },
  };
}

/** Bytes a row adds to a produce request, roughly: what batchMaxBytes limits. */
export function rowSize(row: OutboxRow): number {
  // id header: 2 + 36 bytes; seq header: 3 + its digits.
  let size = row.payload.length + (row.key === null ? 0 : Buffer.byteLength(row.key)) + 38 + 3 + row.seq.length;
  for (const [name, value] of Object.entries(row.headers)) size += Buffer.byteLength(name) + Buffer.byteLength(value);
  return size;
}

/**
 * Split rows (in outbox order) into consecutive chunks of at most maxBytes each, so that no produce
 * request exceeds the broker's message.max.bytes. A single row larger than maxBytes gets a chunk of its
 * own (the broker then judges it). Order is kept: chunks are sent one after another.
 */
export function chunkBySize<R extends OutboxRow>(rows: R[], maxBytes: number): R[][] {
  const chunks: R[][] = [];
  let current: R[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = rowSize(row);
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
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
