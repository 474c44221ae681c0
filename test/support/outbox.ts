/** A migrated outbox in a schema of its own, per test, on the real PostgreSQL. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig, type RunConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { migrate } from '../../src/migrate.js';
import { outboxNames, type OutboxNames } from '../../src/names.js';

export const silentLog = createLogger('silent');

export interface TestOutbox {
  schema: string;
  names: OutboxNames;
  pool: pg.Pool;
  databaseUrl: string;
  kafkaBrokers: string;
  /** Environment for a spawned relay pointed at this outbox. */
  env: Record<string, string>;
  config(overrides?: Record<string, string>): RunConfig;
  insert(rows: NewRow[], client?: pg.ClientBase): Promise<void>;
  pendingCount(): Promise<number>;
  drop(): Promise<void>;
}

export interface NewRow {
  topic: string;
  key: string | null;
  payload: Buffer;
  headers?: Record<string, string>;
}

/**
 * A schema holding Debezium's canonical outbox table (id, aggregatetype, aggregateid, type, payload),
 * as "the application" creates it, for --mapping debezium; extra columns after payload if given.
 */
export function debeziumOutboxSql(schema: string, extraColumns = ''): string {
  return `CREATE SCHEMA "${schema}";
      CREATE TABLE "${schema}".outbox (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        aggregatetype varchar(255) NOT NULL,
        aggregateid varchar(255) NOT NULL,
        type varchar(255) NOT NULL,
        payload jsonb${extraColumns ? `,\n        ${extraColumns}` : ''}
      )`;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export async function createTestOutbox(options: { migrate?: boolean; databaseUrl?: string } = {}): Promise<TestOutbox> {
  const databaseUrl = options.databaseUrl ?? inject('databaseUrl');
  const kafkaBrokers = inject('kafkaBrokers');
  const schema = uniqueName('t');
  const names = outboxNames(schema, 'outbox');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4, application_name: 'outbox-relay-test' });
  pool.on('error', () => undefined); // idle clients die when a fault test crashes the database
  if (options.migrate !== false) await migrate(pool, names, silentLog);
  const env = {
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: kafkaBrokers,
    OUTBOX_SCHEMA: schema,
    OUTBOX_TABLE: 'outbox',
  };
  return {
    schema,
    names,
    pool,
    databaseUrl,
    kafkaBrokers,
    env,
    config: (overrides = {}) => loadConfig('run', { env: { ...env, LOG_LEVEL: 'silent', ...overrides } }),
    async insert(rows, client) {
      // At most 65535 bind parameters per statement: 4 per row, so chunks of 10,000 rows.
      for (let start = 0; start < rows.length; start += 10_000) {
        const chunk = rows.slice(start, start + 10_000);
        const values: unknown[] = [];
        const tuples = chunk.map((r, i) => {
          values.push(r.topic, r.key, r.payload, JSON.stringify(r.headers ?? {}));
          return `($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, $${i * 4 + 4}::jsonb)`;
        });
        await (client ?? pool).query(`INSERT INTO ${names.outbox} (topic, key, payload, headers) VALUES ${tuples.join(', ')}`, values);
      }
    },
    async pendingCount() {
      const r = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${names.outbox} WHERE sent_at IS NULL`);
      return Number(r.rows[0]!.n);
    },
    async drop() {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

/** Poll a condition (a cheap query, not a fixed sleep) until it holds or the timeout passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
