// The ledger consumer: books each payments.charged event as one immutable journal entry
// (debit the customer, credit the merchant), through the inbox, so a redelivered event is skipped.
import { createInbox } from 'outbox-relay/inbox';
import { runKafkajsInbox } from 'outbox-relay/inbox/kafkajs';

/**
 * @param {{ kafka: import('kafkajs').Kafka, pool: import('pg').Pool, schema: string, topic: string, groupId: string,
 *           onDelivery?: (d: { outcome: 'processed' | 'duplicate', eventId: string, partition: number, offset: string }) => void }} options
 */
export async function startLedger({ kafka, pool, schema, topic, groupId, onDelivery }) {
  const inbox = createInbox({ pool, consumer: 'ledger', schema, table: 'processed_events' });
  await inbox.migrate();
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await runKafkajsInbox(
    consumer,
    inbox,
    async (tx, message) => {
      const event = JSON.parse(message.value.toString('utf8'));
      await tx.query(
        `INSERT INTO ${schema}.ledger_entries (event_id, charge_id, debit_account, credit_account, amount) VALUES ($1, $2, $3, $4, $5)`,
        [message.headers.id, event.chargeId, `customer:${event.customer}`, 'merchant', event.amount],
      );
    },
    { onResult: (result, message) => onDelivery?.({ ...result, partition: message.partition, offset: message.offset }) },
  );
  return { inbox, stop: () => consumer.disconnect() };
}
