/**
 * How events become outbox rows. Today there is one mapping, the relay's own table layout
 * (sql/migrations: seq, id, topic, key, payload bytea, headers jsonb, created_at, sent_at), because
 * that is the only layout the relay reads. The mapping is an option so another layout — e.g. a
 * Debezium-style table (id, aggregatetype, aggregateid, type, payload) once the relay can read one —
 * plugs in without changing the producer API.
 */
import { outboxNames } from '../../names.js';
import type { Enqueued, QueryClient } from './index.js';

/** One validated, encoded event. */
export interface OutboxRowInput {
  id: string | null;
  topic: string;
  key: string | null;
  payload: Buffer;
  headers: Record<string, string>;
}

export interface OutboxMapping {
  readonly name: string;
  /** Insert the rows (in order) on the client, inside its transaction; return them with their ids. */
  insert(client: QueryClient, rows: readonly OutboxRowInput[]): Promise<Enqueued[]>;
}

export interface DefaultMappingOptions {
  /** The relay's OUTBOX_SCHEMA (default public). */
  schema?: string | undefined;
  /** The relay's OUTBOX_TABLE (default outbox). */
  table?: string | undefined;
}

/** The relay's outbox table, `<schema>.<table>`: one multi-row INSERT, ids returned in outbox order. */
export function defaultMapping(options: DefaultMappingOptions = {}): OutboxMapping {
  const names = outboxNames(options.schema ?? 'public', options.table ?? 'outbox');
  const sql = `INSERT INTO ${names.outbox} (id, topic, key, payload, headers)
    SELECT coalesce(r.id, gen_random_uuid()), r.topic, r.key, r.payload, r.headers
      FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::jsonb[]) WITH ORDINALITY
           AS r(id, topic, key, payload, headers, ord)
     ORDER BY r.ord
    RETURNING id::text AS id, seq::text AS seq, topic, key`;
  return {
    name: 'default',
    async insert(client, rows) {
      const result = await client.query(sql, [
        rows.map((r) => r.id),
        rows.map((r) => r.topic),
        rows.map((r) => r.key),
        rows.map((r) => r.payload),
        rows.map((r) => JSON.stringify(r.headers)),
      ]);
      return (result.rows as Enqueued[]).sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
    },
  };
}
