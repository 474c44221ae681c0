/**
 * Consumer inbox on real PostgreSQL and Kafka: duplicate and concurrent deliveries of one event id
 * have one effect; the offset is committed only after the transaction; a handler that throws records
 * nothing and gets the message again; retention deletes old records in batches.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createInbox, type Inbox, type InboxMessage, type InboxTx } from '../../../src/chain/inbox/index.js';
import { runKafkajsInbox } from '../../../src/chain/inbox/kafkajs.js';
import { client, createTopic } from '../../support/kafka.js';
import { gate, openAllGates } from '../../support/gate.js';
import { createTestOutbox, uniqueName, waitFor, type TestOutbox } from '../../support/outbox.js';

function message(id: string, offset = '0'): InboxMessage {
  return { topic: 't', partition: 0, offset, key: null, value: Buffer.from('{}'), headers: { id } };
}


describe('consumer inbox', () => {
  let db: TestOutbox;
  let inbox: Inbox;
  const consumers: Consumer[] = [];
  beforeEach(async () => {
    db = await createTestOutbox({ migrate: false });
    await db.pool.query(`CREATE SCHEMA ${db.schema}; CREATE TABLE ${db.schema}.effects (event_id text, note text)`);
    inbox = createInbox({ pool: db.pool, consumer: 'ledger', schema: db.schema });
    await inbox.migrate();
  });
  afterEach(async () => {
    openAllGates();
    await Promise.all(consumers.splice(0).map((c) => c.disconnect()));
    await db.drop();
  });
  const effect = (note = '') => async (tx: InboxTx, m: InboxMessage) => {
    await tx.query(`INSERT INTO ${db.schema}.effects VALUES ($1, $2)`, [m.headers.id, note]);
  };
  const effects = async () => (await db.pool.query(`SELECT event_id, note FROM ${db.schema}.effects`)).rows;

  it('a redelivered id has no effect; another consumer name processes it for itself', async () => {
    const id = randomUUID();
    expect(await inbox.process(message(id), effect())).toEqual({ outcome: 'processed', eventId: id });
    expect(await inbox.process(message(id, '7'), effect())).toEqual({ outcome: 'duplicate', eventId: id });
    expect(await effects()).toHaveLength(1);
    const other = createInbox({ pool: db.pool, consumer: 'audit', schema: db.schema });
    expect((await other.process(message(id), effect('audit'))).outcome).toBe('processed');
    expect(await effects()).toHaveLength(2);
    expect(await inbox.isProcessed(id)).toBe(true);
  });

  it('two concurrent deliveries of one id: one effect; the second waits and sees it done', async () => {
    const id = randomUUID();
    const hold = gate();
    const inHandler = gate();
    const first = inbox.process(message(id), async (tx, m) => {
      inHandler.open();
      await hold.opened;
      await effect('first')(tx, m);
    });
    await inHandler.opened;
    const second = inbox.process(message(id), effect('second'));
    // The second is blocked on the first's uncommitted record, not done.
    const early = await Promise.race([second.then(() => 'settled'), new Promise((r) => setTimeout(r, 200, 'waiting'))]);
    expect(early).toBe('waiting');
    hold.open();
    expect((await first).outcome).toBe('processed');
    expect((await second).outcome).toBe('duplicate');
    expect(await effects()).toEqual([{ event_id: id, note: 'first' }]);
  });

  it('concurrent deliveries where the first fails: the waiting one processes it', async () => {
    const id = randomUUID();
    const hold = gate();
    const inHandler = gate();
    const first = inbox.process(message(id), async () => {
      inHandler.open();
      await hold.opened;
      throw new Error('boom');
    });
    await inHandler.opened;
    const second = inbox.process(message(id), effect('second'));
    hold.open();
    await expect(first).rejects.toThrow('boom');
    expect((await second).outcome).toBe('processed');
    expect(await effects()).toEqual([{ event_id: id, note: 'second' }]);
  });

  it('a handler that throws leaves nothing recorded and nothing written; the next delivery processes it', async () => {
    const id = randomUUID();
    await expect(
      inbox.process(message(id), async (tx, m) => {
        await effect('half')(tx, m);
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    expect(await inbox.isProcessed(id)).toBe(false);
    expect(await effects()).toEqual([]);
    expect((await inbox.process(message(id), effect('again'))).outcome).toBe('processed');
    expect(await effects()).toEqual([{ event_id: id, note: 'again' }]);
  });

  it('a business key replaces the id header; a message without either is refused', async () => {
    const byCharge = createInbox({ pool: db.pool, consumer: 'ledger', schema: db.schema, keyOf: (m) => `charge:${JSON.parse(m.value!.toString()).charge}` });
    const m1 = { ...message(randomUUID()), value: Buffer.from('{"charge":7}') };
    const m2 = { ...message(randomUUID()), value: Buffer.from('{"charge":7}') }; // same charge, another event id
    expect((await byCharge.process(m1, effect())).outcome).toBe('processed');
    expect(await byCharge.process(m2, effect())).toEqual({ outcome: 'duplicate', eventId: 'charge:7' });
    await expect(inbox.process({ ...message(''), headers: {} }, effect())).rejects.toThrow(/no "id" header/);
    expect(await effects()).toHaveLength(1);
  });

  it('retention: purge deletes records older than the window, in batches, and keeps the rest', async () => {
    for (let i = 0; i < 7; i++) await inbox.process(message(`old-${i}`), async () => undefined);
    await db.pool.query(`UPDATE ${inbox.table.qualified} SET processed_at = now() - interval '2 days'`);
    await inbox.process(message('new'), async () => undefined);
    expect(await inbox.purge({ olderThanMs: 24 * 3600_000, batchSize: 3 })).toBe(7);
    const left = await db.pool.query(`SELECT event_id FROM ${inbox.table.qualified}`);
    expect(left.rows).toEqual([{ event_id: 'new' }]);
  });

  describe('with kafkajs on the real broker', () => {
    async function consume(topic: string, handler: (tx: InboxTx, m: InboxMessage) => Promise<void>, seen: string[]) {
      const groupId = uniqueName('inbox');
      const consumer = client().consumer({ groupId, maxWaitTimeInMs: 50, retry: { initialRetryTime: 50, retries: 2 } });
      consumers.push(consumer);
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await runKafkajsInbox(consumer, inbox, handler, { onResult: (r) => seen.push(r.outcome) });
      return groupId;
    }
    async function send(topic: string, ...ids: string[]) {
      const producer = client().producer();
      await producer.connect();
      await producer.send({ topic, messages: ids.map((id) => ({ key: 'k', value: '{}', headers: { id } })) });
      await producer.disconnect();
    }
    async function committed(groupId: string, topic: string): Promise<string> {
      const admin = client().admin();
      await admin.connect();
      try {
        const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
        return t!.partitions[0]!.offset;
      } finally {
        await admin.disconnect();
      }
    }

    it('a duplicated message has one effect; the offset is committed only after the transaction', async () => {
      const topic = await createTopic(1, 'inbox');
      const id = randomUUID();
      await send(topic, id, id);
      const hold = gate();
      const inHandler = gate();
      const seen: string[] = [];
      const groupId = await consume(
        topic,
        async (tx, m) => {
          inHandler.open();
          await hold.opened;
          await effect()(tx, m);
        },
        seen,
      );
      await inHandler.opened;
      // In the handler's transaction: nothing committed in Kafka yet (-1: no committed offset).
      await new Promise((r) => setTimeout(r, 300)); // give a wrong early commit time to land
      expect(await committed(groupId, topic)).toBe('-1');
      hold.open();
      await waitFor('both deliveries done and offset 2 committed', async () => seen.length === 2 && (await committed(groupId, topic)) === '2', 30_000);
      expect(seen).toEqual(['processed', 'duplicate']);
      expect(await effects()).toEqual([{ event_id: id, note: '' }]);
    });

    it('a handler that throws: nothing recorded, no offset committed, the message is redelivered and processed once', async () => {
      const topic = await createTopic(1, 'inbox');
      const id = randomUUID();
      await send(topic, id);
      let attempts = 0;
      const seen: string[] = [];
      const groupId = await consume(
        topic,
        async (tx, m) => {
          attempts += 1;
          await effect(`attempt ${attempts}`)(tx, m);
          if (attempts === 1) {
            expect(await committed(groupId, topic)).toBe('-1');
            throw new Error('transient handler failure');
          }
        },
        seen,
      );
      await waitFor('redelivered and committed', async () => seen.length === 1 && (await committed(groupId, topic)) === '1', 30_000);
      expect(attempts).toBe(2);
      expect(seen).toEqual(['processed']);
      expect(await effects()).toEqual([{ event_id: id, note: 'attempt 2' }]);
    });
  });
});
