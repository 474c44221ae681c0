/**
 * --mapping debezium on real PostgreSQL and real Kafka: a Debezium-style outbox table the relay did
 * not create, published as Debezium's Outbox Event Router publishes it (the expectations are the
 * router's documented output; npm run test:compat compares with real Debezium, docs/debezium.md).
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { resolveMapping } from '../../src/mapping/definition.js';
import { migrate, migrationsFor } from '../../src/migrate.js';
import { outboxNames, type OutboxNames } from '../../src/names.js';
import { Relay } from '../../src/relay/relay.js';
import { createTopic, readAll } from '../support/kafka.js';
import { debeziumOutboxSql, silentLog, uniqueName, waitFor } from '../support/outbox.js';

interface Setup {
  pool: pg.Pool;
  schema: string;
  names: OutboxNames;
  env: Record<string, string>;
}

describe('debezium mapping', () => {
  let s: Setup;
  const relays: Relay[] = [];
  beforeEach(async () => {
    const schema = uniqueName('dbz');
    const pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 4 });
    // Debezium's canonical outbox table, plus an extra column, created by "the application".
    await pool.query(debeziumOutboxSql(schema, 'part integer,\n        trace text'));
    s = {
      pool,
      schema,
      names: outboxNames(schema, 'outbox'),
      env: { DATABASE_URL: inject('databaseUrl'), KAFKA_BROKERS: inject('kafkaBrokers'), OUTBOX_SCHEMA: schema, OUTBOX_TABLE: 'outbox', OUTBOX_MAPPING: 'debezium', LOG_LEVEL: 'silent' },
    };
  });
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    await s.pool.query(`DROP SCHEMA "${s.schema}" CASCADE`);
    await s.pool.end();
  });

  async function migrateWith(env: Record<string, string>): Promise<void> {
    const config = loadConfig('migrate', { env: { ...s.env, ...env } });
    await migrate(s.pool, s.names, silentLog, migrationsFor(resolveMapping(config)));
  }

  async function insert(rows: { type: string; id: string; event: string; payload: string | null; part?: number; trace?: string }[]): Promise<string[]> {
    const ids: string[] = [];
    for (const r of rows) {
      const res = await s.pool.query<{ id: string }>(
        `INSERT INTO "${s.schema}".outbox (aggregatetype, aggregateid, type, payload, part, trace) VALUES ($1, $2, $3, $4::jsonb, $5, $6) RETURNING id`,
        [r.type, r.id, r.event, r.payload, r.part ?? null, r.trace ?? null],
      );
      ids.push(res.rows[0]!.id);
    }
    return ids;
  }

  const pending = async () => Number((await s.pool.query(`SELECT count(*) FROM ${s.names.captured} WHERE sent_at IS NULL`)).rows[0].count);

  function start(env: Record<string, string>): void {
    const relay = new Relay(loadConfig('run', { env: { ...s.env, ...env } }), silentLog);
    relays.push(relay);
    void relay.run();
  }

  it('defaults + type:header:eventType: topics outbox.event.<aggregatetype>, key aggregateid, value the jsonb text, headers id and eventType; delete mode deletes the user\'s rows', async () => {
    const settings = { OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT: 'type:header:eventType' };
    const [order, customer] = [uniqueName('order'), uniqueName('customer')];
    const [orderTopic, customerTopic] = [await createTopic(3, `outbox.event.${order}`), await createTopic(2, `outbox.event.${customer}`)];
    // createTopic adds its own suffix: route to exactly those names.
    const orderType = orderTopic.slice('outbox.event.'.length);
    const customerType = customerTopic.slice('outbox.event.'.length);
    // A row that exists before `migrate`: Debezium (no_data snapshot) published it; the relay does not.
    await insert([{ type: orderType, id: 'order-0', event: 'Old', payload: '{"old": true}' }]);
    await migrateWith(settings);

    const rows = [
      { type: orderType, id: 'order-1', event: 'OrderCreated', payload: '{"total": 42, "items": [1,2]}' },
      { type: customerType, id: 'cust-1', event: 'CustomerCreated', payload: '{"name": "Grüße"}' },
      { type: orderType, id: 'order-1', event: 'OrderPaid', payload: '{"paid":   true}' },
      { type: orderType, id: 'order-2', event: 'OrderDeleted', payload: null },
    ];
    const ids = await insert(rows);
    // Inserted and deleted in one transaction: Debezium would publish it from the WAL; the relay cannot.
    await s.pool.query(`BEGIN; INSERT INTO "${s.schema}".outbox (aggregatetype, aggregateid, type, payload) VALUES ('${orderType}', 'order-9', 'Gone', '{}');
      DELETE FROM "${s.schema}".outbox WHERE aggregateid = 'order-9'; COMMIT`);

    start(settings);
    await waitFor('the captured rows to be published', async () => (await pending()) === 0, 30_000);

    const got = await readAll([orderTopic, customerTopic]);
    const summary = got.map((m) => ({ topic: m.topic, key: m.key, value: m.tombstone ? null : m.value.toString(), headers: m.headers }));
    const expected = [
      { topic: orderTopic, key: 'order-1', value: '{"items": [1, 2], "total": 42}', headers: { id: ids[0], eventType: 'OrderCreated' } },
      { topic: customerTopic, key: 'cust-1', value: '{"name": "Grüße"}', headers: { id: ids[1], eventType: 'CustomerCreated' } },
      { topic: orderTopic, key: 'order-1', value: '{"paid": true}', headers: { id: ids[2], eventType: 'OrderPaid' } },
      { topic: orderTopic, key: 'order-2', value: null, headers: { id: ids[3], eventType: 'OrderDeleted' } },
    ];
    expect(summary).toHaveLength(expected.length);
    expect(new Set(summary.map((m) => JSON.stringify(m)))).toEqual(new Set(expected.map((m) => JSON.stringify(m))));
    // Per-key order: order-1's two events are on one partition, in insert order.
    const order1 = got.filter((m) => m.key === 'order-1');
    expect(new Set(order1.map((m) => m.partition)).size).toBe(1);
    expect(order1.map((m) => m.headers.eventType)).toEqual(['OrderCreated', 'OrderPaid']);
    // Delete mode: the published rows left the user's table and the capture table; the old row stays.
    const left = await s.pool.query(`SELECT aggregateid FROM "${s.schema}".outbox`);
    expect(left.rows).toEqual([{ aggregateid: 'order-0' }]);
    expect(Number((await s.pool.query(`SELECT count(*) FROM ${s.names.captured}`)).rows[0].count)).toBe(0);
  });

  it('route.topic.regex/replacement, key field, partition placement, expanded JSON (in jsonb key order), tombstone on NULL payload, a NULL header column as a header without a value; mark mode keeps the user\'s rows', async () => {
    const topic = await createTopic(4, 'shop');
    const suffix = topic.slice('shop_'.length);
    const settings = {
      OUTBOX_DEBEZIUM_ROUTE_TOPIC_REGEX: '(?<kind>[a-z]+)-(?<rest>.*)',
      OUTBOX_DEBEZIUM_ROUTE_TOPIC_REPLACEMENT: 'shop_${rest}',
      OUTBOX_DEBEZIUM_EVENT_KEY_FIELD: 'type',
      OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT: 'part:partition,aggregateid:header,trace:header:traceId',
      OUTBOX_DEBEZIUM_EXPAND_JSON_PAYLOAD: 'true',
      // With JsonConverter a NULL payload is the text null unless route.tombstone.on.empty.payload is set.
      OUTBOX_DEBEZIUM_TOMBSTONE_ON_EMPTY_PAYLOAD: 'true',
      OUTBOX_ON_PUBLISH: 'mark',
    };
    await migrateWith(settings);
    const ids = await insert([
      { type: `order-${suffix}`, id: 'a1', event: 'K1', payload: '{"total": 42.50, "note": null, "lines": [{"sku": "x", "qty": 1}]}', part: 3, trace: 't-1' },
      { type: `order-${suffix}`, id: 'a2', event: 'K1', payload: null, part: 3 },
      { type: 'nomatch', id: 'a3', event: 'K2', payload: '{"b": 1, "a": 2}', part: 1 },
    ]);
    start({ ...settings });
    await waitFor('rows to be published or parked', async () => {
      const r = await s.pool.query(`SELECT count(*) FROM ${s.names.captured} c WHERE sent_at IS NULL AND NOT EXISTS (SELECT 1 FROM ${s.names.failures} f WHERE f.seq = c.seq)`);
      return Number(r.rows[0].count) === 0;
    }, 30_000);

    const got = await readAll([topic]);
    expect(got.map((m) => ({ partition: m.partition, key: m.key, value: m.tombstone ? null : m.value.toString(), headers: m.headers }))).toEqual([
      { partition: 3, key: 'K1', value: '{"lines":[{"qty":1,"sku":"x"}],"total":42.5}', headers: { id: ids[0], aggregateid: 'a1', traceId: 't-1' } },
      // Debezium sends a NULL column as a header with a null value (not left out, not the text "null").
      { partition: 3, key: 'K1', value: null, headers: { id: ids[1], aggregateid: 'a2', traceId: null } },
    ]);
    // "nomatch" does not match the regex: its topic is the value itself, which does not exist here.
    const failed = await s.pool.query(`SELECT topic, error_class FROM ${s.names.failures}`);
    expect(failed.rows).toEqual([{ topic: 'nomatch', error_class: 'unknown-topic' }]);
    // Mark mode: the user's rows stay, the capture rows are marked.
    expect(Number((await s.pool.query(`SELECT count(*) FROM "${s.schema}".outbox`)).rows[0].count)).toBe(3);
    expect(Number((await s.pool.query(`SELECT count(*) FROM ${s.names.captured} WHERE sent_at IS NOT NULL`)).rows[0].count)).toBe(2);
  });

  it('mark mode with OUTBOX_RETENTION: the running relay deletes old sent capture rows and the user rows they stand for', async () => {
    const topic = await createTopic(1, 'ret');
    const settings = { OUTBOX_DEBEZIUM_ROUTE_TOPIC_REPLACEMENT: topic, OUTBOX_ON_PUBLISH: 'mark', OUTBOX_RETENTION: '1s' };
    await migrateWith(settings);
    await insert([1, 2, 3].map((i) => ({ type: 'order', id: `r${i}`, event: 'E', payload: `{"i": ${i}}` })));
    start(settings);
    await waitFor('published rows to be deleted by retention, capture rows and user rows', async () => {
      const left = await s.pool.query(`SELECT (SELECT count(*) FROM "${s.schema}".outbox)::int AS users, (SELECT count(*) FROM ${s.names.captured})::int AS captured`);
      return left.rows[0].users === 0 && left.rows[0].captured === 0;
    }, 30_000);
    expect((await readAll([topic])).map((m) => m.key)).toEqual(['r1', 'r2', 'r3']);
  });

  it('migrate refuses a table that does not exist, or an id field it does not have', async () => {
    const missing = outboxNames(s.schema, 'nope');
    await expect(migrate(s.pool, missing, silentLog, migrationsFor(resolveMapping(loadConfig('migrate', { env: { ...s.env, OUTBOX_TABLE: 'nope' } }))))).rejects.toThrow(/does not exist/);
    await expect(migrateWith({ OUTBOX_DEBEZIUM_EVENT_ID_FIELD: 'event_id' })).rejects.toThrow(/has no column event_id/);
  });
});
