/**
 * Fatal idempotence errors: the relay must throw the producer away and create a fresh one (a
 * reconnect would keep the stale producer id and sequence numbers), then retry the batch.
 * The error is injected at the publisher seam around the real KafkaPublisher: every message still
 * goes through the real idempotent producer to the real broker.
 */
import { KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { check, writeKeyed } from '../support/checker.js';
import { createTopic, readAll } from '../support/kafka.js';
import { silentLog, waitFor } from '../support/outbox.js';
import { useFixture } from '../support/fixture.js';
import { realPublisher, SeamPublisher } from '../support/publisher.js';

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
      const publisher = new SeamPublisher(realPublisher(), async (n, send) => {
        if (n !== 2) return send();
        if (afterSending) await send();
        throw new KafkaJSProtocolError({ type, code: 45, retriable: false, message: `injected ${type}` } as never);
      });
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
