/**
 * Every native mapping option, on real PostgreSQL and real Kafka, checked by reading the messages
 * back: topic template over columns, key column, explicit partition column, static + row headers,
 * created_at as the Kafka timestamp (and a topic's future-timestamp limit), NULL payload as a
 * tombstone, CloudEvents binary mode.
 */
import { describe, expect, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { createTopic, readAll } from '../support/kafka.js';
import { silentLog, waitFor } from '../support/outbox.js';
import { useFixture } from '../support/fixture.js';

describe('native mapping options', () => {
  const fixture = useFixture();

  /** Columns an application adds to the relay's outbox table for the mapping options. */
  async function addColumns(): Promise<void> {
    await fixture.outbox.pool.query(`ALTER TABLE ${fixture.outbox.names.outbox}
      ADD COLUMN aggregate_type text, ADD COLUMN aggregate_id text, ADD COLUMN part integer, ADD COLUMN event_type text`);
  }

  async function insert(rows: { topic?: string; aggregate_type?: string | null; aggregate_id?: string | null; part?: number | null; event_type?: string; payload: string | null; headers?: Record<string, string>; created_at?: string }[]) {
    for (const r of rows) {
      await fixture.outbox.pool.query(
        `INSERT INTO ${fixture.outbox.names.outbox} (topic, key, aggregate_type, aggregate_id, part, event_type, payload, headers, created_at)
         VALUES ($1, NULL, $2, $3, $4, $5, convert_to($6, 'UTF8'), $7::jsonb, coalesce($8::timestamptz, now()))`,
        [r.topic ?? 'unused', r.aggregate_type ?? null, r.aggregate_id ?? null, r.part ?? null, r.event_type ?? null, r.payload, JSON.stringify(r.headers ?? {}), r.created_at ?? null],
      );
    }
    return (await fixture.outbox.pool.query<{ id: string; seq: string; created_at: Date }>(`SELECT id, seq, created_at FROM ${fixture.outbox.names.outbox} ORDER BY seq`)).rows;
  }

  async function relayUntilDrained(env: Record<string, string>): Promise<void> {
    fixture.start(new Relay(fixture.outbox.config(env), silentLog));
    await waitFor('backlog to drain', async () => (await fixture.outbox.pendingCount()) === 0, 30_000);
  }

  it('topic from a template over columns, key from a column, explicit partition from a column', async () => {
    const topic = await createTopic(4, 'events.orders');
    const type = topic.slice('events.'.length);
    await addColumns();
    const rows = [
      { aggregate_type: type, aggregate_id: 'order-1', part: 3, payload: '{"n":1}' },
      { aggregate_type: type, aggregate_id: 'order-1', part: 3, payload: '{"n":2}' },
      { aggregate_type: type, aggregate_id: 'order-2', part: null, payload: '{"n":3}' },
      { aggregate_type: type, aggregate_id: null, part: 0, payload: '{"n":4}' },
    ];
    const ids = await insert(rows);
    await relayUntilDrained({ OUTBOX_TOPIC_TEMPLATE: 'events.{aggregate_type}', OUTBOX_KEY_COLUMN: 'aggregate_id', OUTBOX_PARTITION_COLUMN: 'part' });

    const got = await readAll([topic]);
    expect(got).toHaveLength(4);
    const byId = new Map(got.map((m) => [m.headers.id, m]));
    ids.forEach(({ id }, i) => {
      const m = byId.get(id)!;
      expect(m, `row ${i}`).toBeDefined();
      expect(m.topic).toBe(topic);
      expect(m.key).toBe(rows[i]!.aggregate_id);
      expect(m.value.toString()).toBe(rows[i]!.payload);
      if (rows[i]!.part !== null) expect(m.partition, `row ${i} partition`).toBe(rows[i]!.part);
    });
    // Order kept for the key on its explicit partition.
    expect([byId.get(ids[0]!.id)!.offset, byId.get(ids[1]!.id)!.offset].map(Number)).toEqual([0, 1]);
    // Nothing failed on the way.
    const claimed = await fixture.outbox.pool.query(`SELECT count(*)::int AS n FROM ${fixture.outbox.names.failures}`);
    expect(claimed.rows[0].n).toBe(0);
  });

  it('a NULL template column parks the row dead as invalid-topic; its neighbours go out', async () => {
    const topic = await createTopic(1, 'events.x');
    await addColumns();
    await insert([
      { aggregate_type: null, aggregate_id: 'a', payload: '1' },
      { aggregate_type: topic.slice('events.'.length), aggregate_id: 'b', payload: '2' },
    ]);
    fixture.start(new Relay(fixture.outbox.config({ OUTBOX_TOPIC_TEMPLATE: 'events.{aggregate_type}', OUTBOX_KEY_COLUMN: 'aggregate_id' }), silentLog));
    const dead = await waitFor('the NULL-topic row to be dead', async () => {
      const r = await fixture.outbox.pool.query<{ error_class: string; key: string }>(`SELECT error_class, key FROM ${fixture.outbox.names.failures} WHERE dead_at IS NOT NULL`);
      return r.rows.length === 1 ? r.rows[0] : undefined;
    });
    expect(dead).toEqual({ error_class: 'invalid-topic', key: 'a' });
    await waitFor('the other row', async () => (await fixture.outbox.pendingCount()) === 1);
    expect((await readAll([topic])).map((m) => m.value.toString())).toEqual(['2']);
  });

  it('headers: static headers, then the row headers, then the id header; NULL payload is a tombstone; created_at is the timestamp', async () => {
    const topic = await createTopic(1, 'compacted', undefined, 1, [{ name: 'cleanup.policy', value: 'compact' }]);
    await addColumns();
    const ids = await insert([
      { topic, payload: '{"v":1}', headers: { type: 'Created', env: 'row-wins' }, created_at: '2026-01-02T03:04:05.678Z' },
      { topic, payload: null, headers: { id: 'spoofed' }, created_at: '2026-01-02T03:04:06.000Z' },
    ]);
    await fixture.outbox.pool.query(`UPDATE ${fixture.outbox.names.outbox} SET key = 'k'`);
    await relayUntilDrained({ OUTBOX_STATIC_HEADERS: 'env=prod,service=orders', OUTBOX_TIMESTAMP: 'created_at' });

    const got = await readAll([topic]);
    expect(got).toHaveLength(2);
    expect(got[0]!.headers).toEqual({ env: 'row-wins', service: 'orders', type: 'Created', id: ids[0]!.id, seq: ids[0]!.seq });
    expect(got[0]!.tombstone).toBe(false);
    expect(got[0]!.value.toString()).toBe('{"v":1}');
    expect(got[0]!.timestamp).toBe(String(Date.parse('2026-01-02T03:04:05.678Z')));
    expect(got[1]!.headers).toEqual({ env: 'prod', service: 'orders', id: ids[1]!.id, seq: ids[1]!.seq });
    expect(got[1]!.tombstone).toBe(true);
    expect(got[1]!.timestamp).toBe(String(Date.parse('2026-01-02T03:04:06.000Z')));
  });

  it('without OUTBOX_TIMESTAMP the producer clock stamps the message, not created_at', async () => {
    const topic = await createTopic(1);
    await addColumns();
    await insert([{ topic, payload: 'x', created_at: '2020-01-01T00:00:00Z' }]);
    const before = Date.now();
    await relayUntilDrained({});
    const [m] = await readAll([topic]);
    expect(Number(m!.timestamp)).toBeGreaterThanOrEqual(before - 5000);
  });

  it('a created_at beyond the topic\'s message.timestamp.after.max.ms is refused and parked dead, not retried forever', async () => {
    const topic = await createTopic(1, 'ts', undefined, 1, [{ name: 'message.timestamp.after.max.ms', value: '60000' }]);
    await addColumns();
    await insert([
      { topic, payload: 'future', created_at: new Date(Date.now() + 3_600_000).toISOString() },
      { topic, payload: 'now' },
    ]);
    await fixture.outbox.pool.query(`UPDATE ${fixture.outbox.names.outbox} SET key = payload::text`);
    fixture.start(new Relay(fixture.outbox.config({ OUTBOX_TIMESTAMP: 'created_at' }), silentLog));
    const dead = await waitFor('the future row to be dead', async () => {
      const r = await fixture.outbox.pool.query<{ error_class: string }>(`SELECT error_class FROM ${fixture.outbox.names.failures} WHERE dead_at IS NOT NULL`);
      return r.rows[0];
    });
    expect(dead.error_class).toBe('refused');
    await waitFor('the other row', async () => (await fixture.outbox.pendingCount()) === 1);
    expect((await readAll([topic])).map((m) => m.value.toString())).toEqual(['now']);
  });

  it('CloudEvents binary mode: ce_* headers from the row and the settings, value untouched', async () => {
    const topic = await createTopic(1);
    await addColumns();
    const ids = await insert([
      { topic, payload: '{"total":42}', event_type: 'com.example.order.created', headers: { traceparent: '00-abc-def-01' }, created_at: '2026-03-04T05:06:07.089Z' },
      { topic, payload: '{}', created_at: '2026-03-04T05:06:08Z' },
    ]);
    await relayUntilDrained({ OUTBOX_CLOUDEVENTS: 'binary', OUTBOX_CE_SOURCE: '/orders-service', OUTBOX_CE_TYPE_COLUMN: 'event_type' });
    const got = await readAll([topic]);
    expect(got.map((m) => m.headers)).toEqual([
      {
        traceparent: '00-abc-def-01',
        ce_specversion: '1.0',
        ce_id: ids[0]!.id,
        ce_source: '/orders-service',
        ce_type: 'com.example.order.created',
        ce_time: '2026-03-04T05:06:07.089Z',
        'content-type': 'application/json',
        id: ids[0]!.id,
        seq: ids[0]!.seq,
      },
      // NULL in the type column: ce_type is the topic (CloudEvents requires a type).
      {
        ce_specversion: '1.0',
        ce_id: ids[1]!.id,
        ce_source: '/orders-service',
        ce_type: topic,
        ce_time: '2026-03-04T05:06:08.000Z',
        'content-type': 'application/json',
        id: ids[1]!.id,
        seq: ids[1]!.seq,
      },
    ]);
    expect(got[0]!.value.toString()).toBe('{"total":42}');
  });
});
