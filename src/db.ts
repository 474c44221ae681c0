/**
 * PostgreSQL connections. The pool serves claims, marks and migrations; LISTEN never uses it (see
 * src/listener.ts). node-postgres waits forever for a connection by default: here both the connect
 * and the wait for a pooled client are bounded, TCP keep-alive is on, and idle-client errors are
 * logged instead of crashing the process.
 */
import pg from 'pg';
import { UnavailableError, describeError } from './errors.js';
import type { Logger } from './log.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface DbOptions {
  databaseUrl: string;
  connectTimeoutMs: number;
  applicationName: string;
  max?: number;
  /** Client-side timeout per query (node-postgres query_timeout); none if unset. */
  queryTimeoutMs?: number;
}

export function createPool(options: DbOptions, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    application_name: options.applicationName,
    connectionTimeoutMillis: options.connectTimeoutMs,
    keepAlive: true,
    // The OS default before the first keep-alive probe is two hours; notice a dead peer in seconds.
    keepAliveInitialDelayMillis: 10_000,
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
    max: options.max ?? 4,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (err) => log.warn({ err: describeError(err) }, 'idle PostgreSQL connection failed; it was discarded'));
  return pool;
}

/** Where the URL points, without credentials, for error messages. */
export function describeTarget(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.hostname}:${url.port || '5432'}${url.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/** First contact: turn "cannot connect" into a one-line, actionable UnavailableError. */
export async function checkConnection(pool: pg.Pool, databaseUrl: string): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    throw new UnavailableError(
      `cannot connect to PostgreSQL at ${describeTarget(databaseUrl)} (${describeError(err)}): check DATABASE_URL and that the server is running`,
      err,
    );
  }
}

/** Run fn in a transaction on a pooled client; roll back on error. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => {
      broken = rollbackErr;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

/** The SQLSTATE of a PostgreSQL error (node-postgres puts it in `code`), if any. */
export function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
