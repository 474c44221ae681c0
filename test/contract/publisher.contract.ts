/**
 * The contract every Kafka client implementation of the relay's Publisher seam must pass
 * (src/publisher/publisher.ts), on a real broker. Run it from a test file with the implementation:
 *
 *   publisherContract({ name: 'kafkajs', create: (o) => new KafkaPublisher(o), classify: classifyPublishError });
 *
 * (test/integration/publisher-kafkajs.test.ts). It checks what the relay relies on, and only that:
 * - send/ack: every row of every chunk is written once, with its topic, key, value (null = tombstone),
 *   headers (a header with a null value included), explicit partition and timestamp, by the time send() resolves;
 * - order: one key's rows land on one partition in the order sent;
 * - partitioning: a key lands where the Java client's murmur2 partitioner puts it;
 * - idempotence: messages carry a producer id (an idempotent producer), and recreate() starts a new one;
 * - receipts: partitionsOfLastSend() names the partition each row really went to;
 * - missingTopics(): only the ones that do not exist;
 * - error classification shapes: an unknown topic and a message larger than the topic allows are
 *   rejected and classified as row failures (poison) with the Kafka error type, and the refused row's
 *   partition is known.
 * Reading back uses kafkajs as a plain consumer (the reader is test equipment, not the client under test).
 */
import { randomUUID } from 'node:crypto';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { PublishFailure } from '../../src/publisher/classify.js';
import type { Publisher } from '../../src/publisher/publisher.js';
import type { OutboxRow } from '../../src/sql/claimBatch.js';
import { createTopic, readAll } from '../support/kafka.js';
import { silentLog } from '../support/outbox.js';
import type { Logger } from '../../src/log.js';

export interface ClientUnderTest {
  name: string;
  create(options: { brokers: string[]; clientId: string; timeoutMs: number; log: Logger }): Publisher;
  classify(err: unknown): PublishFailure;
}

let seq = 0;
function row(topic: string, over: Partial<OutboxRow> = {}): OutboxRow {
  const id = randomUUID();
  seq += 1;
  return { seq: String(seq), id, topic, key: `k${seq % 5}`, payload: Buffer.from(`v${seq}`), headers: { id }, ...over };
}

/** Producer ids of the messages of the topics, by the id header (from the record batches). */
async function producerIds(topics: string[]): Promise<Map<string, string>> {
  const kafka = new Kafka({ clientId: 'contract-reader', brokers: inject('kafkaBrokers').split(','), logLevel: logLevel.NOTHING });
  const expected = (await readAll(topics)).length;
  const consumer = kafka.consumer({ groupId: `contract-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const out = new Map<string, string>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.size} of ${expected}`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const ctx = (message as unknown as { batchContext?: { producerId?: string } }).batchContext;
          out.set(String(message.headers?.id), ctx?.producerId ?? '(none)');
          if (out.size >= expected) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

export function publisherContract(client: ClientUnderTest): void {
  describe(`Publisher contract: ${client.name}`, () => {
    const open: Publisher[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((p) => p.disconnect().catch(() => undefined)));
    });
    async function connected(timeoutMs = 15_000): Promise<Publisher> {
      const p = client.create({ brokers: inject('kafkaBrokers').split(','), clientId: 'contract', timeoutMs, log: silentLog });
      open.push(p);
      await p.connect();
      return p;
    }

    it('send/ack: every row written once with its topic, key, value, tombstone, headers (a null value too), explicit partition and timestamp; receipts name the partitions', async () => {
      const [a, b] = [await createTopic(3), await createTopic(2)];
      const p = await connected();
      const rows = [
        row(a, { headers: { type: 'T', 'trace-id': 'x' } }),
        // A header without a value (Kafka allows it; the Debezium mapping sends a NULL column so).
        row(b, { key: null, headers: { trace: null } }),
        row(a, { payload: null }),
        row(a, { partition: 2 }),
        row(b, { timestamp: '1700000000123' }),
        row(a, { payload: Buffer.from([0, 255, 10]) }),
      ];
      for (const r of rows) r.headers = { ...r.headers, id: r.id };
      await p.send([rows.slice(0, 3), rows.slice(3)]);
      const got = await readAll([a, b]);
      expect(got).toHaveLength(rows.length);
      const byId = new Map(got.map((m) => [m.headers.id, m]));
      const receipts = p.partitionsOfLastSend();
      for (const r of rows) {
        const m = byId.get(r.id)!;
        expect(m, r.seq).toBeDefined();
        expect(m.topic).toBe(r.topic);
        expect(m.key).toBe(r.key);
        expect(m.tombstone).toBe(r.payload === null);
        if (r.payload !== null) expect(m.value.equals(r.payload)).toBe(true);
        expect(m.headers).toEqual(r.headers);
        if (r.partition !== undefined && r.partition !== null) expect(m.partition).toBe(r.partition);
        if (r.timestamp) expect(m.timestamp).toBe(r.timestamp);
        expect(receipts.get(r.seq), `receipt of row ${r.seq}`).toBe(`${m.topic}:${m.partition}`);
      }
    });

    it('order: each key on one partition, in the order sent, across chunks and sends', async () => {
      const topic = await createTopic(3);
      const p = await connected();
      const rows = Array.from({ length: 300 }, (_, i) => row(topic, { key: `key-${i % 10}` }));
      await p.send([rows.slice(0, 100), rows.slice(100, 200)]);
      await p.send([rows.slice(200)]);
      const got = await readAll([topic]);
      const position = new Map(rows.map((r, i) => [r.id, i]));
      const byKey = new Map<string, { partition: number; offset: number; i: number }[]>();
      for (const m of got) byKey.set(m.key!, [...(byKey.get(m.key!) ?? []), { partition: m.partition, offset: Number(m.offset), i: position.get(m.headers.id!)! }]);
      expect(byKey.size).toBe(10);
      for (const [key, list] of byKey) {
        expect(new Set(list.map((x) => x.partition)).size, key).toBe(1);
        const byOffset = [...list].sort((x, y) => x.offset - y.offset).map((x) => x.i);
        expect(byOffset, key).toEqual([...byOffset].sort((x, y) => x - y));
      }
    });

    it("partitioning: a key lands on the partition Java's murmur2 partitioner picks", async () => {
      const topic = await createTopic(3);
      const p = await connected();
      const rows = Array.from({ length: 60 }, (_, i) => row(topic, { key: `customer-${i}` }));
      await p.send([rows]);
      const receipts = p.partitionsOfLastSend();
      // kafkajs's DefaultPartitioner is the Java client's murmur2 (toPositive(murmur2(key)) % partitions).
      const java = Partitioners.DefaultPartitioner();
      const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
      for (const r of rows) {
        const expected = java({ topic, partitionMetadata, message: { key: r.key, value: null } });
        expect(receipts.get(r.seq), r.key!).toBe(`${topic}:${expected}`);
      }
      const got = await readAll([topic]);
      const byId = new Map(got.map((m) => [m.headers.id, m.partition]));
      for (const r of rows) expect(`${topic}:${byId.get(r.id)}`).toBe(receipts.get(r.seq));
    });

    it('idempotence: messages carry a producer id; recreate() fences it and the next send has a new one', async () => {
      const topic = await createTopic(1);
      const p = await connected();
      const first = row(topic);
      await p.send([[first]]);
      await p.recreate('contract test');
      const second = row(topic);
      await p.send([[second]]);
      const ids = await producerIds([topic]);
      const [pid1, pid2] = [ids.get(first.id), ids.get(second.id)];
      expect(Number(pid1)).toBeGreaterThanOrEqual(0);
      expect(Number(pid2)).toBeGreaterThanOrEqual(0);
      expect(pid2).not.toBe(pid1);
    });

    it('missingTopics() names only the topics that do not exist', async () => {
      const topic = await createTopic(1);
      const p = await connected();
      const missing = `missing_${randomUUID().slice(0, 8)}`;
      expect(await p.missingTopics([topic, missing])).toEqual([missing]);
    });

    it('errors: a message larger than the topic allows is a row failure (MESSAGE_TOO_LARGE) and its partition is known', async () => {
      const topic = await createTopic(1, 'small', undefined, 1, [{ name: 'max.message.bytes', value: '2048' }]);
      const p = await connected();
      const big = row(topic, { payload: Buffer.alloc(8192, 1) });
      const err = await p.send([[big]]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeDefined();
      expect(client.classify(err)).toMatchObject({ kind: 'poison', type: 'MESSAGE_TOO_LARGE' });
      expect(p.partitionsOfLastSend().get(big.seq)).toBe(`${topic}:0`);
    });

    it('errors: a send to a topic that does not exist is rejected and classified as unknown-topic (poison)', async () => {
      const p = await connected(12_000);
      const err = await p.send([[row(`missing_${randomUUID().slice(0, 8)}`)]]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeDefined();
      expect(client.classify(err)).toMatchObject({ kind: 'poison', type: 'UNKNOWN_TOPIC_OR_PARTITION' });
    });
  });
}
