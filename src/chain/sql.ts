/**
 * The chain library's tables: SQL lives in sql/chain/*.sql (shipped with the package), with
 * {{placeholders}} filled in here from a schema and table name checked like the relay's own
 * (src/names.ts). Each file is idempotent (IF NOT EXISTS) and runs in one transaction under an
 * advisory lock, so parallel migrate() calls are safe.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { IDENTIFIER, MAX_TABLE_LENGTH, quoteIdent } from '../names.js';
import { OutboxUsageError } from './errors.js';

/** sql/chain, found from both src/chain (tests) and dist/chain (the package). */
export const CHAIN_SQL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'sql', 'chain');

export interface TableName {
  schema: string;
  table: string;
  /** "schema"."table" */
  qualified: string;
}

export function tableName(schema: string, table: string, what: string): TableName {
  for (const [kind, name] of [
    ['schema', schema],
    ['table', table],
  ] as const) {
    if (!IDENTIFIER.test(name) || name.length > MAX_TABLE_LENGTH) {
      throw new OutboxUsageError(`${what} ${kind} ${JSON.stringify(name)} must be a lower-case SQL identifier of at most ${MAX_TABLE_LENGTH} characters`);
    }
  }
  return { schema, table, qualified: `${quoteIdent(schema)}.${quoteIdent(table)}` };
}

export function chainSql(file: 'inbox' | 'idempotency', placeholders: Record<string, string>): string {
  const text = readFileSync(join(CHAIN_SQL_DIR, `${file}.sql`), 'utf8');
  return text.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = placeholders[name];
    if (value === undefined) throw new Error(`sql/chain/${file}.sql: unknown placeholder {{${name}}}`);
    return value;
  });
}

export async function runMigration(pool: pg.Pool, sql: string, lockKey: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
    await client.query(sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Delete rows matching `where` (SQL on the table's columns, $1 bound) in batches until none are left. */
export async function batchedDelete(pool: pg.Pool, table: string, where: string, value: unknown, batchSize: number): Promise<number> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new OutboxUsageError(`batchSize must be a positive integer, got ${batchSize}`);
  let total = 0;
  for (;;) {
    const r = await pool.query(`DELETE FROM ${table} WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${table} WHERE ${where} LIMIT ${batchSize}))`, [value]);
    total += r.rowCount ?? 0;
    if ((r.rowCount ?? 0) < batchSize) return total;
  }
}

/**
 * Run fn on a client checked out of the pool, as one transaction: BEGIN before, COMMIT after (fn may
 * end it itself with ROLLBACK and return `{ ended: true }`-style results through its own value), and
 * ROLLBACK when fn throws. While checked out the client has an 'error' listener (pg-pool removes its
 * own), so a connection PostgreSQL ends mid-transaction fails the transaction instead of the process;
 * such a client is discarded, not returned to the pool.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (tx: pg.PoolClient, end: (sql: 'COMMIT' | 'ROLLBACK') => Promise<void>) => Promise<T>): Promise<T> {
  const tx = await pool.connect();
  let broken = false;
  let ended = false;
  const onError = () => {
    broken = true;
  };
  tx.on('error', onError);
  const end = async (sql: 'COMMIT' | 'ROLLBACK') => {
    ended = true;
    await tx.query(sql);
  };
  try {
    await tx.query('BEGIN');
    const result = await fn(tx, end);
    if (!ended) await end('COMMIT');
    return result;
  } catch (err) {
    if (!broken) await tx.query('ROLLBACK').catch(() => (broken = true));
    throw err;
  } finally {
    tx.off('error', onError);
    tx.release(broken);
  }
}
