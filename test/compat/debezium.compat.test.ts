/**
 * Conformance with real Debezium (npm run test:compat; scripts/compat.mjs starts and stops what it
 * needs: a private PostgreSQL with wal_level=logical and Kafka Connect standalone with Debezium
 * 3.7.0.Final's PostgreSQL connector and Outbox Event Router, see stack/debezium.sh).
 *
 * For each scenario (a router configuration and the same settings for outbox-relay), identical rows
 * go into two identical tables: one Debezium captures, one outbox-relay publishes. Debezium runs
 * first, then outbox-relay, to the same topics; the messages are then compared one by one, matched
 * by their `id` header: topic, partition, key bytes, value bytes (or null), and every header (name,
 * value, order); and per partition, the order of the events. The result goes to .compat/latest.md
 * (copied into docs/debezium.md).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { resolveMapping } from '../../src/mapping/definition.js';
import { migrate, migrationsFor } from '../../src/migrate.js';
import { outboxNames } from '../../src/names.js';
import { Relay } from '../../src/relay/relay.js';

const DATABASE_URL = process.env.DEBEZIUM_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5436/postgres';
const CONNECT_URL = process.env.CONNECT_URL ?? 'http://127.0.0.1:18093';
const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const run = randomUUID().slice(0, 8);
const schema = `compat_${run}`;
const log = createLogger('silent');
const kafka = new Kafka({ clientId: 'outbox-relay-compat', brokers: BROKERS.split(','), logLevel: logLevel.NOTHING });

interface Row {
  id: string;
  values: Record<string, string | number | null>;
}

interface Scenario {
  name: string;
  /** Columns after id (uuid primary key). */
  columns: string;
  rows: Row[];
  topics: string[];
  /** Router options (transforms.outbox.*) and connector options beyond the common ones. */
  router: Record<string, string>;
  connector: Record<string, string>;
  relayEnv: Record<string, string>;
}

interface Msg {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: [string, string | null][];
}

const PAYLOADS = [
  '{"total": 42, "items": [1,2]}',
  '{"name": "Grüße 😀", "quote": "say \\"hi\\"\\n", "empty": {}, "list": []}',
  '{"amount": 42.50, "rate": 0.125, "big": 12345678901, "neg": -7, "exp": 1e3, "tiny": 0.0001}',
  '{"nested": {"deep": {"deeper": [{"a": 1}, {"a": 2}]}}, "flag": true, "off": false}',
  '{"note": null, "id": "x"}',
  '{"z": 1, "a": 2, "mm": 3}',
  null, // tombstone
  '"just a string"',
  '42',
];
/** With table.expand.json.payload, Debezium 3.7.0 kills its task on a top-level array payload (docs/debezium.md): only without. */
const TOP_LEVEL_ARRAY = '[1, 2, 3]';

function rowsFor(payloads: (string | null)[], make: (i: number, payload: string | null) => Record<string, string | number | null>): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < 60; i++) rows.push({ id: randomUUID(), values: make(i, payloads[i % payloads.length]!) });
  return rows;
}

const scenarios: Scenario[] = [
  {
    name: 'defaults + type:header:eventType (StringConverter)',
    columns: 'aggregatetype varchar(255) NOT NULL, aggregateid varchar(255) NOT NULL, type varchar(255) NOT NULL, payload jsonb',
    rows: rowsFor([...PAYLOADS, TOP_LEVEL_ARRAY], (i, payload) => ({
      aggregatetype: `${schema}_${i % 3 === 0 ? 'customer' : 'order'}`,
      aggregateid: `agg-${i % 7}`,
      type: i % 2 === 0 ? 'Created' : 'Updated',
      payload,
    })),
    topics: [`outbox.event.${schema}_customer`, `outbox.event.${schema}_order`],
    router: { 'table.fields.additional.placement': 'type:header:eventType' },
    connector: {},
    relayEnv: { OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT: 'type:header:eventType' },
  },
  {
    name: 'route.by.field, route.topic.replacement, table.field.event.key, header and partition placement, table.expand.json.payload (JsonConverter, schemas.enable=false)',
    columns:
      'aggregatetype varchar(255) NOT NULL, aggregateid varchar(255) NOT NULL, type varchar(255) NOT NULL, payload jsonb, tenant varchar(64) NOT NULL, customer_id varchar(64), part integer',
    rows: rowsFor(PAYLOADS, (i, payload) => ({
      aggregatetype: 'order',
      aggregateid: `agg-${i % 5}`,
      type: `Type${i % 4}`,
      payload,
      tenant: i % 2 === 0 ? 'acme' : 'globex',
      customer_id: i % 11 === 0 ? null : `cust-${i % 6}`,
      part: i % 3,
    })),
    topics: [`${schema}.acme.events`, `${schema}.globex.events`],
    router: {
      'route.by.field': 'tenant',
      'route.topic.replacement': `${schema}.\${routedByValue}.events`,
      'table.field.event.key': 'customer_id',
      'table.fields.additional.placement': 'type:header:eventType,aggregateid:header,part:partition',
      'table.expand.json.payload': 'true',
    },
    connector: { 'value.converter': 'org.apache.kafka.connect.json.JsonConverter', 'value.converter.schemas.enable': 'false' },
    relayEnv: {
      OUTBOX_DEBEZIUM_ROUTE_BY_FIELD: 'tenant',
      OUTBOX_DEBEZIUM_ROUTE_TOPIC_REPLACEMENT: `${schema}.\${routedByValue}.events`,
      OUTBOX_DEBEZIUM_EVENT_KEY_FIELD: 'customer_id',
      OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT: 'type:header:eventType,aggregateid:header,part:partition',
      OUTBOX_DEBEZIUM_EXPAND_JSON_PAYLOAD: 'true',
    },
  },
  {
    name: 'route.topic.regex with groups, route.tombstone.on.empty.payload, text payload, integer and nullable header columns',
    columns: 'aggregatetype varchar(255) NOT NULL, aggregateid varchar(255) NOT NULL, type varchar(255) NOT NULL, payload text, version integer, trace varchar(64)',
    rows: rowsFor(['{"a": 1}', '', '   ', null, 'plain text', '{"b":2}'], (i, payload) => ({
      aggregatetype: `${i % 2 === 0 ? 'invoice' : 'refund'}-${schema}`,
      aggregateid: `inv-${i % 4}`,
      type: 'Changed',
      payload,
      version: i,
      trace: i % 5 === 0 ? null : `t-${i}`,
    })),
    topics: [`${schema}.invoice`, `${schema}.refund`],
    router: {
      'route.topic.regex': '(?<kind>[a-z]+)-(?<rest>.*)',
      'route.topic.replacement': '${rest}.${kind}',
      'route.tombstone.on.empty.payload': 'true',
      'table.fields.additional.placement': 'version:header,trace:header:traceId',
    },
    connector: {},
    relayEnv: {
      OUTBOX_DEBEZIUM_ROUTE_TOPIC_REGEX: '(?<kind>[a-z]+)-(?<rest>.*)',
      OUTBOX_DEBEZIUM_ROUTE_TOPIC_REPLACEMENT: '${rest}.${kind}',
      OUTBOX_DEBEZIUM_TOMBSTONE_ON_EMPTY_PAYLOAD: 'true',
      OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT: 'version:header,trace:header:traceId',
    },
  },
];

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });

async function connect(method: 'PUT' | 'DELETE' | 'GET', path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${CONNECT_URL}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok && !(method === 'DELETE' && res.status === 404)) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Thrown inside an until() check: stop waiting at once. */
class Fatal extends Error {}

async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (err instanceof Fatal) throw err;
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function highWatermarks(topics: string[]): Promise<Map<string, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const out = new Map<string, number>();
    for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) out.set(`${topic}/${p.partition}`, Number(p.high));
    return out;
  } finally {
    await admin.disconnect();
  }
}

const total = (marks: Map<string, number>) => [...marks.values()].reduce((a, b) => a + b, 0);

/** Every message of the topics, with raw key/value bytes and headers in wire order. */
async function readTopics(topics: string[]): Promise<Msg[]> {
  const expected = total(await highWatermarks(topics));
  const consumer = kafka.consumer({ groupId: `compat-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const out: Msg[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${expected}`)), 60_000);
      void consumer.run({
        eachMessage: async ({ topic, partition, message }) => {
          out.push({
            topic,
            partition,
            offset: Number(message.offset),
            key: message.key,
            value: message.value,
            headers: Object.entries(message.headers ?? {}).flatMap(([k, v]) =>
              (Array.isArray(v) ? v : [v]).map((x) => [k, x === undefined || x === null ? null : Buffer.from(x).toString('utf8')] as [string, string | null]),
            ),
          });
          if (out.length >= expected) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition || a.offset - b.offset);
}

const idOf = (m: Msg) => m.headers.find(([k]) => k === 'id')?.[1] ?? '(no id)';
const show = (b: Buffer | null) => (b === null ? 'null' : JSON.stringify(b.toString('utf8')));

interface Result {
  scenario: string;
  debezium: number;
  relay: number;
  compared: number;
  differences: string[];
}

function compare(s: Scenario, dbz: Msg[], relay: Msg[]): Result {
  const differences: string[] = [];
  const relayById = new Map(relay.map((m) => [idOf(m), m]));
  for (const d of dbz) {
    const r = relayById.get(idOf(d));
    if (!r) {
      differences.push(`${idOf(d)}: published by Debezium only`);
      continue;
    }
    relayById.delete(idOf(d));
    const diff = (what: string, a: string, b: string) => a !== b && differences.push(`${idOf(d)} ${what}: debezium ${a}, outbox-relay ${b}`);
    diff('topic', d.topic, r.topic);
    diff('partition', String(d.partition), String(r.partition));
    diff('key', show(d.key), show(r.key));
    diff('value', show(d.value), show(r.value));
    diff('headers', JSON.stringify(d.headers), JSON.stringify(r.headers));
  }
  for (const id of relayById.keys()) differences.push(`${id}: published by outbox-relay only`);
  // Order: per topic-partition, the same events in the same order.
  const order = (msgs: Msg[]) => {
    const m = new Map<string, string[]>();
    for (const x of msgs) m.set(`${x.topic}/${x.partition}`, [...(m.get(`${x.topic}/${x.partition}`) ?? []), idOf(x)]);
    return m;
  };
  const [od, or] = [order(dbz), order(relay)];
  for (const [tp, ids] of od) if (JSON.stringify(ids) !== JSON.stringify(or.get(tp) ?? [])) differences.push(`${tp}: events in a different order`);
  return { scenario: s.name, debezium: dbz.length, relay: relay.length, compared: dbz.length, differences };
}

describe('conformance with Debezium 3.7.0 Outbox Event Router', () => {
  const results: Result[] = [];
  const started = Date.now();

  beforeAll(async () => {
    await pool.query(`CREATE SCHEMA "${schema}"`);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: scenarios.flatMap((s) => s.topics).map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1 })), waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
  });

  afterAll(async () => {
    for (const [i] of scenarios.entries()) await connect('DELETE', `/connectors/compat-${run}-${i}`).catch(() => undefined);
    await pool.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'compat_${run}%' AND NOT active`).catch(() => undefined);
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await pool.end();
    const lines = [
      `Debezium conformance (npm run test:compat), ${new Date().toISOString()}, Node ${process.version}, Debezium 3.7.0.Final on Kafka Connect 4.4.0, PostgreSQL (private, wal_level=logical), ${Math.round((Date.now() - started) / 1000)} s for the comparisons (start-up not included)`,
      '',
      '| scenario | Debezium messages | outbox-relay messages | compared | identical | different |',
      '|---|---|---|---|---|---|',
      ...results.map((r) => `| ${r.scenario} | ${r.debezium} | ${r.relay} | ${r.compared} | ${r.compared - r.differences.length} | ${r.differences.length} |`),
      '',
      ...results.flatMap((r) => r.differences.slice(0, 20).map((d) => `- DIFFERENT, ${r.scenario}: ${d}`)),
    ];
    mkdirSync('.compat', { recursive: true });
    writeFileSync('.compat/latest.md', `${lines.join('\n')}\n`);
  });

  it('publishes the same topics, partitions, keys, values and headers as Debezium, in the same order', async () => {
    // 1. Tables: one per system and scenario, identical.
    for (const [i, s] of scenarios.entries()) {
      for (const t of [`dbz_${i}`, `relay_${i}`]) await pool.query(`CREATE TABLE "${schema}"."${t}" (id uuid PRIMARY KEY, ${s.columns})`);
      const env = relayEnv(i, s);
      await migrate(pool, outboxNames(schema, `relay_${i}`), log, migrationsFor(resolveMapping(loadConfig('migrate', { env }))));
    }
    // 2. Debezium: one connector per scenario, its own slot and publication.
    const url = new URL(DATABASE_URL);
    for (const [i, s] of scenarios.entries()) {
      await connect('PUT', `/connectors/compat-${run}-${i}/config`, {
        'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
        'tasks.max': '1',
        'database.hostname': url.hostname,
        'database.port': url.port,
        'database.user': 'postgres',
        'database.password': 'unused',
        'database.dbname': 'postgres',
        'topic.prefix': `compat_${run}_${i}`,
        'plugin.name': 'pgoutput',
        'slot.name': `compat_${run}_${i}`,
        'publication.name': `compat_${run}_${i}_pub`,
        'publication.autocreate.mode': 'filtered',
        'table.include.list': `${schema}.dbz_${i}`,
        'snapshot.mode': 'no_data',
        'tombstones.on.delete': 'false',
        'extended.headers.enabled': 'false',
        'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
        'value.converter': 'org.apache.kafka.connect.storage.StringConverter',
        transforms: 'outbox',
        'transforms.outbox.type': 'io.debezium.transforms.outbox.EventRouter',
        'transforms.outbox.table.op.invalid.behavior': 'warn',
        ...Object.fromEntries(Object.entries(s.router).map(([k, v]) => [`transforms.outbox.${k}`, v])),
        ...s.connector,
      });
    }
    await until('both replication slots to be streaming', async () => {
      const r = await pool.query(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name LIKE 'compat_${run}%' AND active`);
      return r.rows[0].n === scenarios.length;
    });
    // 3. The same rows, in the same order and transactions, into both tables.
    for (const [i, s] of scenarios.entries()) {
      for (const row of s.rows) {
        const cols = ['id', ...Object.keys(row.values)];
        const params = [row.id, ...Object.values(row.values)];
        for (const t of [`dbz_${i}`, `relay_${i}`]) {
          await pool.query(`INSERT INTO "${schema}"."${t}" (${cols.join(', ')}) VALUES (${cols.map((_, j) => `$${j + 1}`).join(', ')})`, params);
        }
      }
    }
    const all = scenarios.flatMap((s) => s.topics);
    const expected = scenarios.reduce((n, s) => n + s.rows.length, 0);
    // 4. Debezium publishes; then it is stopped (connectors deleted, slots dropped).
    await until(`Debezium to publish ${expected} messages`, async () => {
      for (const [i] of scenarios.entries()) {
        const status = (await connect('GET', `/connectors/compat-${run}-${i}/status`)) as { tasks: { state: string; trace?: string }[] };
        const failed = status.tasks.find((t) => t.state === 'FAILED');
        if (failed) throw new Fatal(`Debezium's task for scenario ${i} failed: ${failed.trace?.split('\n').slice(0, 3).join(' ')}`);
      }
      return total(await highWatermarks(all)) >= expected;
    });
    const afterDebezium = await highWatermarks(all);
    for (const [i] of scenarios.entries()) await connect('DELETE', `/connectors/compat-${run}-${i}`);
    await until('the slots to be released', async () => {
      const r = await pool.query(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name LIKE 'compat_${run}%' AND active`);
      return r.rows[0].n === 0;
    });
    await pool.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'compat_${run}%'`);
    // 5. outbox-relay publishes the other tables to the same topics.
    const relays = scenarios.map((s, i) => new Relay(loadConfig('run', { env: relayEnv(i, s) }), log));
    const runs = relays.map((r) => r.run());
    for (const [i] of scenarios.entries()) {
      await until(`outbox-relay to publish relay_${i}`, async () => {
        const r = await pool.query(`SELECT count(*)::int AS n FROM "${schema}"."relay_${i}_captured" WHERE sent_at IS NULL`);
        return r.rows[0].n === 0;
      });
    }
    await Promise.all(relays.map((r) => r.stop()));
    await Promise.all(runs);
    // 6. Compare.
    const messages = await readTopics(all);
    const isDebezium = (m: Msg) => m.offset < (afterDebezium.get(`${m.topic}/${m.partition}`) ?? 0);
    for (const s of scenarios) {
      const mine = messages.filter((m) => s.topics.includes(m.topic));
      results.push(compare(s, mine.filter(isDebezium), mine.filter((m) => !isDebezium(m))));
    }
    for (const r of results) {
      expect(r.debezium, r.scenario).toBe(scenarios.find((s) => s.name === r.scenario)!.rows.length);
      expect(r.differences, r.scenario).toEqual([]);
    }
  });
});

function relayEnv(i: number, s: Scenario): Record<string, string> {
  return {
    DATABASE_URL,
    KAFKA_BROKERS: BROKERS,
    OUTBOX_SCHEMA: schema,
    OUTBOX_TABLE: `relay_${i}`,
    OUTBOX_MAPPING: 'debezium',
    OUTBOX_HTTP_ADDR: 'off',
    LOG_LEVEL: 'silent',
    ...s.relayEnv,
  };
}
