/**
 * The receipt check: never trust a resolved send.
 *
 * A producer's send resolving is not proof that every message was written. kafkajs 2.2.4's
 * `sendBatch` keeps one response per broker across its internal retries and, on a retry, sends only
 * to brokers that have not answered yet; when a partition's leader moves to a broker that already
 * answered for another partition of the same call, that partition's messages are never sent again
 * and the call still resolves (kafkajs issue #1303). A relay that believed it would delete rows that
 * never reached Kafka.
 *
 * So the publisher pins every message to one partition before it is sent (see kafka.ts) and,
 * after the send resolves, compares what it sent with what the broker acknowledged: every
 * (topic, partition) it sent to must have exactly one acknowledgement without an error code and with
 * an offset, none may be acknowledged that it did not send to, and the acknowledged partitions' message
 * counts must add up to the whole chunk. Pure; unit-tested in test/unit/receipt.test.ts.
 */

/** What a send was asked to write: one entry per message, by the partition it is pinned to. */
export interface SentMessage {
  topic: string;
  /** Undefined if the client never assigned one (the message cannot have been written). */
  partition: number | undefined;
}

/** One acknowledgement from the broker: a produce response's per-partition result. */
export interface PartitionAck {
  topic: string;
  partition: number;
  errorCode: number;
  /** The offset of the first message written, as the client reports it (kafkajs: a decimal string). */
  baseOffset: string | number | undefined;
}

export interface Receipt {
  /** True when every message is covered by exactly one good acknowledgement. */
  complete: boolean;
  /** Messages in acknowledged partitions. */
  acknowledged: number;
  /** `topic:partition` sent to but not (well) acknowledged, in first-seen order. */
  missing: string[];
  /** Acknowledgements that do not match what was sent: unknown partitions, repeats, errors, no offset. */
  problems: string[];
}

export function partitionKey(topic: string, partition: number | undefined): string {
  return `${topic}:${partition ?? '?'}`;
}

export function checkReceipt(sent: readonly SentMessage[], acks: readonly PartitionAck[]): Receipt {
  const expected = new Map<string, number>();
  for (const m of sent) {
    const key = partitionKey(m.topic, m.partition);
    expected.set(key, (expected.get(key) ?? 0) + 1);
  }
  const problems: string[] = [];
  const good = new Set<string>();
  for (const ack of acks) {
    const key = partitionKey(ack.topic, ack.partition);
    if (!expected.has(key)) problems.push(`${key}: acknowledged but nothing was sent there`);
    else if (good.has(key)) problems.push(`${key}: acknowledged twice`);
    else if (ack.errorCode !== 0) problems.push(`${key}: error code ${ack.errorCode}`);
    else if (!validOffset(ack.baseOffset)) problems.push(`${key}: no offset (${String(ack.baseOffset)})`);
    else good.add(key);
  }
  const missing: string[] = [];
  let acknowledged = 0;
  for (const [key, count] of expected) {
    if (good.has(key)) acknowledged += count;
    else missing.push(key);
  }
  return { complete: acknowledged === sent.length && problems.length === 0, acknowledged, missing, problems };
}

function validOffset(offset: string | number | undefined): boolean {
  if (offset === undefined || offset === null || offset === '') return false;
  const n = Number(offset);
  return Number.isInteger(n) && n >= 0;
}
