/**
 * PostgreSQL connections. The pool serves claims, marks and migrations; LISTEN never uses it (see
 * src/listener.ts). node-postgres waits forever for a connection by default: here both the connect
 * and the wait for a pooled client are bounded, TCP keep-alive is on, and every connection's errors
 * (idle or checked out) are logged instead of crashing the process.
 */
import pg from 'pg';
import { UnavailableError, describeError } from './errors.js';
import type { Logger } from './log.js';
import { sqlstateOf } from './pg-errors.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface DbOptions {
  databaseUrl: string;
  connectTimeoutMs: number;
  applicationName: string;
  max?: number;
  /** Client-side timeout per query (node-postgres query_timeout); none if unset. */
  queryTimeoutMs?: number;
  /** Server-side statement_timeout for every statement of these connections; none if unset. */
  statementTimeoutMs?: number;
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
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    max: options.max ?? 4,
    idleTimeoutMillis: 30_000,
  });
  handleConnectionErrors(pool, log);
  return pool;
}

/**
 * Every connection of the pool gets an error listener the moment it connects, so an error on a
 * client that is checked out (PostgreSQL ended it: idle_in_transaction_session_timeout 25P03, an
 * administrator's pg_terminate_backend 57P01, a restart) is logged instead of crashing the process
 * with an unhandled 'error' event. node-postgres listens only on idle clients; a checked-out one
 * errors its query, if it has one, and emits 'error' besides. The holder of the client still sees
 * its next query fail and releases it as broken, so the pool drops the connection and claims are
 * rolled back by the server: the rows stay pending. One warn line per connection (a dying
 * connection usually reports twice: the server's message, then the closed socket).
 */
function handleConnectionErrors(pool: pg.Pool, log: Logger): void {
  pool.on('connect', (client) => {
    let reported = false;
    client.on('error', (err) => {
      if (reported) return log.debug({ err: describeError(err), sqlstate: sqlstateOf(err) }, 'PostgreSQL connection error (already reported)');
      reported = true;
      logConnectionLost(log, err);
    });
  });
  // Idle clients' errors are also re-emitted by the pool; the listener above has logged them.
  pool.on('error', () => undefined);
}

/** The one line logged when PostgreSQL ends or loses a connection the relay holds. */
export function logConnectionLost(log: Logger, err: unknown): void {
  log.warn(
    { err: describeError(err), sqlstate: sqlstateOf(err) },
    'PostgreSQL ended or lost a connection; it is dropped and the relay goes on (its claim, if any, was rolled back)',
  );
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

/**
 * The client-side bound of the relay's queries: above the claim's statement_timeout (the publish
 * deadline), because statement_timeout cannot fire on a connection that is half-open.
 */
export function relayQueryTimeoutMs(publishTimeoutMs: number): number {
  return publishTimeoutMs + 15_000;
}
