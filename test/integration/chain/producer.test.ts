/**
 * Producer helper on real PostgreSQL (and the relay + Kafka for the round trip): events are written
 * only inside the caller's transaction, commit or roll back with it, and come out of Kafka exactly as
 * enqueued, with the returned id as header `id`.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { OutboxUsageError, outboxProducer } from '../../../src/chain/producer/index.js';
import { Relay } from '../../../src/relay/relay.js';
import { useFixture } from '../../support/fixture.js';
import { createTopic, readAll } from '../../support/kafka.js';
import { silentLog, waitFor } from '../../support/outbox.js';

type Events = { [topic: string]: { n: number; text?: string } | Buffer };

describe('producer helper', () => {
  const fixture = useFixture();
  const producer = () => outboxProducer<Events>({ schema: fixture.outbox.schema, table: 'outbox' });
  const count = async () => Number((await fixture.outbox.pool.query(`SELECT count(*) AS n FROM ${fixture.outbox.names.outbox}`)).rows[0].n);

  it('refuses a pool, a client outside a transaction and a failed transaction, writing nothing', async () => {
    const p = producer();
    const event = { topic: 'orders', key: 'k', payload: { n: 1 } };
    await expect(p.enqueue(fixture.outbox.pool, event)).rejects.toThrow(/not a pg\.Pool/);
    const client = await fixture.outbox.pool.connect();
    try {
      await client.query('SELECT 1'); // a completed autocommit statement: status idle
      await expect(p.enqueue(client, event)).rejects.toThrow(OutboxUsageError);
      await expect(p.enqueue(client, event)).rejects.toThrow(/inside your transaction/);
      await client.query('BEGIN');
      await client.query('SELECT 1/0').catch(() => undefined);
      await expect(p.enqueue(client, event)).rejects.toThrow(/has failed/);
      await client.query('ROLLBACK');
      // After COMMIT the client is outside a transaction again.
      await client.query('BEGIN');
      await p.enqueue(client, event);
      await client.query('COMMIT');
      await expect(p.enqueue(client, event)).rejects.toThrow(/inside your transaction/);
    } finally {
      client.release();
    }
    expect(await count()).toBe(1);
  });

  it('a failed transaction whose status pg has not caught up with yet is still refused as failed (25P02)', async () => {
    const p = producer();
    const client = await fixture.outbox.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT 1/0').catch(() => undefined);
      // node-postgres may settle the failed query before ReadyForQuery updates its status: simulate it.
      (client as unknown as { getTransactionStatus(): string }).getTransactionStatus = () => 'T';
      await expect(p.enqueue(client, { topic: 'orders', key: 'k', payload: { n: 1 } })).rejects.toThrow(/has failed/);
      await client.query('ROLLBACK');
    } finally {
      client.release(true);
    }
    expect(await count()).toBe(0);
  });

  it('without pg\'s transaction status (another client, or queries still queued) the server is asked', async () => {
    const p = producer();
    const event = { topic: 'orders', key: 'k', payload: { n: 1 } };
    const client = new pg.Client({ connectionString: fixture.outbox.databaseUrl });
    await client.connect();
    try {
      // Only query(): no getTransactionStatus, no private state to read.
      const bare = { query: (text: string, values?: unknown[]) => client.query(text, values) };
      await expect(p.enqueue(bare, event)).rejects.toThrow(/inside your transaction/);
      await client.query('BEGIN');
      const [id] = await p.enqueueMany(bare, [event]);
      await client.query('ROLLBACK');
      expect(id!.id).toMatch(/^[0-9a-f-]{36}$/);
      // A BEGIN sent but not awaited: pg's last status still says idle, the probe queues behind BEGIN.
      const begun = client.query('BEGIN');
      await p.enqueue(client, event);
      await begun;
      await client.query('COMMIT');
      // A COMMIT sent but not awaited: the probe queues behind it and refuses.
      await client.query('BEGIN');
      const committed = client.query('COMMIT');
      await expect(p.enqueue(client, event)).rejects.toThrow(/inside your transaction/);
      await committed;
    } finally {
      await client.end();
    }
    expect(await count()).toBe(1);
  });

  it('events commit and roll back with the caller\'s transaction, in order, with their ids', async () => {
    const p = producer();
    const client = await fixture.outbox.pool.connect();
    try {
      await client.query('BEGIN');
      await p.enqueueMany(client, [{ topic: 'orders', key: 'a', payload: { n: 0 } }]);
      await client.query('ROLLBACK');
      expect(await count()).toBe(0);
      await client.query('BEGIN');
      const chosen = '0b6a8f4e-58f5-4d77-9a36-3a4f0d1d2c11';
      const enqueued = await p.enqueueMany(client, [
        { topic: 'orders', key: 'a', payload: { n: 1 } },
        { topic: 'orders', key: null, payload: { n: 2 }, id: chosen },
        { topic: 'blobs', payload: Buffer.from([0, 255, 1]), headers: { type: 'Blob' } },
      ]);
      await client.query('COMMIT');
      expect(enqueued.map((e) => e.topic)).toEqual(['orders', 'orders', 'blobs']);
      expect(enqueued[1]!.id).toBe(chosen);
      const rows = await fixture.outbox.pool.query(`SELECT id::text, topic, key, payload, headers FROM ${fixture.outbox.names.outbox} ORDER BY seq`);
      expect(rows.rows.map((r) => r.id)).toEqual(enqueued.map((e) => e.id));
      expect(rows.rows[0].payload.toString()).toBe('{"n":1}');
      expect(rows.rows[1].key).toBeNull();
      expect([...rows.rows[2].payload]).toEqual([0, 255, 1]);
      expect(rows.rows[2].headers).toEqual({ type: 'Blob' });
    } finally {
      client.release();
    }
  });

  it('round trip through the relay: Kafka holds each event as enqueued, header id = the returned id', async () => {
    const topic = await createTopic(2, 'chainprod');
    const p = producer();
    const client = await fixture.outbox.pool.connect();
    let enqueued;
    try {
      await client.query('BEGIN');
      enqueued = await p.enqueueMany(client, [
        { topic, key: 'k1', payload: { n: 1, text: 'grüße' }, headers: { type: 'Json' } },
        { topic, key: 'k1', payload: Buffer.from([9, 0, 9]) },
      ]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    fixture.start(new Relay(fixture.outbox.config(), silentLog));
    await waitFor('outbox drained', async () => (await fixture.outbox.pendingCount()) === 0);
    const received = await readAll([topic]);
    expect(received.map((m) => m.headers.id)).toEqual(enqueued.map((e) => e.id));
    expect(JSON.parse(received[0]!.value.toString('utf8'))).toEqual({ n: 1, text: 'grüße' });
    expect(received[0]!.headers).toEqual({ type: 'Json', id: enqueued[0]!.id, seq: enqueued[0]!.seq });
    expect([...received[1]!.value]).toEqual([9, 0, 9]);
    expect(received[1]!.key).toBe('k1');
  });
});
