/**
 * Fatal idempotence errors: the relay must throw the producer away and create a fresh one (a
 * reconnect would keep the stale producer id and sequence numbers), then retry the batch.
 * The error is injected at the publisher seam around the real KafkaPublisher: every message still
 * goes through the real idempotent producer to the real broker.
 */
import { KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it, inject } from 'vitest';
import { KafkaPublisher, type Publisher } from '../../src/publisher/kafka.js';
import { Relay } from '../../src/relay/relay.js';
import type { OutboxRow } from '../../src/sql/claimBatch.js';
import { check, writeKeyed } from '../support/checker.js';
import { createTopic, readAll } from '../support/kafka.js';
import { silentLog, waitFor } from '../support/outbox.js';
import { useFixture } from '../support/fixture.js';

class FaultyPublisher implements Publisher {
  readonly recreated: string[] = [];
  sends = 0;
  constructor(
    private readonly real: KafkaPublisher,
    private readonly fault: { onSend: number; type: string; afterSending: boolean },
  ) {}
  connect() {
    return this.real.connect();
  }
  partitionsOfLastSend() {
    return this.real.partitionsOfLastSend();
  }
  missingTopics(topics: string[]) {
    return this.real.missingTopics(topics);
  }
  async send(chunks: OutboxRow[][]) {
    this.sends += 1;
    const inject = this.sends === this.fault.onSend;
    if (inject && this.fault.afterSending) await this.real.send(chunks);
    if (inject) throw new KafkaJSProtocolError({ type: this.fault.type, code: 45, retriable: false, message: `injected ${this.fault.type}` } as never);
    await this.real.send(chunks);
  }
  async recreate(reason: string) {
    this.recreated.push(reason);
    await this.real.recreate(reason);
  }
  disconnect() {
    return this.real.disconnect();
  }
}

describe('fatal producer errors', () => {
  const fixture = useFixture();

  for (const [type, afterSending] of [
    ['OUT_OF_ORDER_SEQUENCE_NUMBER', false],
    ['UNKNOWN_PRODUCER_ID', false],
    ['INVALID_PRODUCER_EPOCH', true],
  ] as const) {
    it(`${type}${afterSending ? ' after the batch reached Kafka (ambiguous ack)' : ''}: new producer, batch retried, lost 0`, async () => {
      const topic = await createTopic(2);
      const written = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 5, perKey: 100, rowsPerTx: 100 });
      const config = fixture.outbox.config({ OUTBOX_BATCH_SIZE: '50' });
      const real = new KafkaPublisher({ brokers: inject('kafkaBrokers').split(','), clientId: 'test', timeoutMs: 10_000, log: silentLog });
      const publisher = new FaultyPublisher(real, { onSend: 2, type, afterSending });
      fixture.start(new Relay(config, silentLog, { publisher }));
      await waitFor('backlog to drain', async () => (await fixture.outbox.pendingCount()) === 0);

      expect(publisher.recreated).toEqual([type]);
      const result = check(written, await readAll([topic]));
      expect(result.lost).toEqual([]);
      expect(result.orderViolations).toEqual([]);
      // Failing before sending duplicates nothing; failing after the broker took the batch
      // republishes exactly that batch (the G3 bound), detectable by the `id` header.
      expect(result.duplicates).toBe(afterSending ? 50 : 0);
    });
  }
});
