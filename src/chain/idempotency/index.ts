/**
 * Request idempotency keys (`outbox-relay/idempotency`), framework-agnostic.
 *
 * execute() runs one request under its key, in one PostgreSQL transaction:
 *   1. INSERT the key (unique per scope). The first request inserts it. A concurrent duplicate's
 *      INSERT waits on the primary key for the first transaction — at most `waitMs` (lock_timeout),
 *      then it is answered "in progress" (HTTP: 409 + Retry-After). A key whose time is up is
 *      replaced as if it were new.
 *   2. The first request runs the handler on the same transaction: the business change (and its
 *      outbox event) commit together with the key and the response.
 *   3. A later duplicate finds the committed key: same request fingerprint → the stored response
 *      (status, body, chosen headers); another fingerprint → rejected (HTTP: 422).
 * A handler that throws, a crash or a lost connection before the commit leaves nothing: no key, no
 * business change, so the retry runs the request afresh. There is never a committed key without its
 * response, i.e. no key that claims a success that did not commit.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { OutboxUsageError } from '../errors.js';
import { batchedDelete, chainSql, inTransaction, runMigration, tableName, type TableName } from '../sql.js';
import { quoteIdent } from '../../names.js';

export { OutboxUsageError } from '../errors.js';

/** What is stored and replayed. body must be JSON-serialisable. */
export interface StoredResponse {
  status: number;
  body?: unknown;
  /** Headers to store and send again with every replay (e.g. Location). */
  headers?: Record<string, string>;
}

export interface IdempotentRequest {
  /** The client's idempotency key (1–255 characters). */
  key: string;
  /** A namespace for keys, e.g. the authenticated account: keys are unique per scope. Default ''. */
  scope?: string;
  /** What identifies the request's content (see fingerprintOf): a reused key with another one is refused. */
  fingerprint: string;
}

export type Outcome =
  /** The handler ran now; its response is committed with the business change. */
  | { kind: 'executed'; response: StoredResponse }
  /** An earlier request with this key and fingerprint committed; here is its response. */
  | { kind: 'replayed'; response: StoredResponse; createdAt: Date }
  /** A request with this key is still running (waited waitMs). Retry after retryAfterSeconds. */
  | { kind: 'in-progress'; retryAfterSeconds: number }
  /** The key was used for a different request (another fingerprint). */
  | { kind: 'mismatch' };

export type IdempotentHandler = (tx: pg.PoolClient) => Promise<StoredResponse>;

export interface IdempotencyOptions {
  pool: pg.Pool;
  /** Where the keys live (default public.idempotency_keys). */
  schema?: string;
  table?: string;
  /** How long a key is remembered (default 24 h). After that the same key runs as new. */
  ttlMs?: number;
  /** How long a concurrent duplicate waits for the first request before "in progress" (default 2 s). */
  waitMs?: number;
  /** Retry-After for "in progress" answers, in seconds (default 1). */
  retryAfterSeconds?: number;
}

export interface IdempotencyStore {
  readonly table: TableName;
  readonly ttlMs: number;
  /** Create the keys table if it is not there (sql/chain/idempotency.sql). */
  migrate(): Promise<void>;
  execute(request: IdempotentRequest, handler: IdempotentHandler): Promise<Outcome>;
  /** Retention: delete expired keys in batches (default 1000). Returns how many. */
  purgeExpired(options?: { batchSize?: number }): Promise<number>;
}

const LOCK_NOT_AVAILABLE = '55P03';

/** sha256 over a canonical JSON of the parts (object keys sorted): equal requests, equal fingerprints. */
export function fingerprintOf(...parts: unknown[]): string {
  return createHash('sha256').update(canonicalJson(parts)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  }) ?? 'undefined';
}

export function validKey(key: unknown): key is string {
  return typeof key === 'string' && key.length >= 1 && key.length <= 255;
}

export function createIdempotencyStore(options: IdempotencyOptions): IdempotencyStore {
  const table = tableName(options.schema ?? 'public', options.table ?? 'idempotency_keys', 'idempotency');
  const ttlMs = options.ttlMs ?? 24 * 3600_000;
  const waitMs = options.waitMs ?? 2000;
  const retryAfterSeconds = options.retryAfterSeconds ?? 1;
  if (!(ttlMs > 0)) throw new OutboxUsageError(`ttlMs must be > 0, got ${ttlMs}`);
  if (!(waitMs >= 1)) throw new OutboxUsageError(`waitMs must be >= 1, got ${waitMs}`);
  const { pool } = options;
  const t = table.qualified;
  // A live key conflicts and is left alone (no row returned); an expired one is taken over.
  const claim = `INSERT INTO ${t} AS k (scope, key, fingerprint, expires_at)
      VALUES ($1, $2, $3, now() + make_interval(secs => $4 / 1000.0))
    ON CONFLICT (scope, key) DO UPDATE
      SET fingerprint = EXCLUDED.fingerprint, status = NULL, headers = '{}'::jsonb, body = NULL,
          created_at = now(), expires_at = EXCLUDED.expires_at
      WHERE k.expires_at <= now()
    RETURNING 1`;
  const stored = `SELECT fingerprint, status, headers, body::text AS body, created_at FROM ${t} WHERE scope = $1 AND key = $2`;
  const respond = `UPDATE ${t} SET status = $3, headers = $4::jsonb, body = $5::json WHERE scope = $1 AND key = $2`;

  return {
    table,
    ttlMs,
    migrate: () =>
      runMigration(
        pool,
        chainSql('idempotency', { table: t, schema: quoteIdent(table.schema), expires_idx: quoteIdent(`${table.table}_expires_idx`) }),
        `outbox-relay idempotency ${table.schema}.${table.table}`,
      ),

    async execute(request, handler) {
      if (!validKey(request.key)) throw new OutboxUsageError('idempotency key must be a string of 1 to 255 characters');
      const scope = request.scope ?? '';
      return inTransaction(pool, async (tx, end): Promise<Outcome> => {
        // Bound the wait for a concurrent duplicate; the handler then gets the session's own setting back.
        const before = (
          await tx.query(`WITH s AS (SELECT current_setting('lock_timeout') AS v) SELECT s.v, set_config('lock_timeout', $1, true) FROM s`, [
            String(Math.ceil(waitMs)),
          ])
        ).rows[0].v as string;
        let claimed: boolean;
        try {
          claimed = ((await tx.query(claim, [scope, request.key, request.fingerprint, ttlMs])).rowCount ?? 0) > 0;
        } catch (err) {
          if ((err as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw err;
          await end('ROLLBACK');
          return { kind: 'in-progress', retryAfterSeconds };
        }
        if (!claimed) {
          const row = (await tx.query(stored, [scope, request.key])).rows[0] as
            | { fingerprint: string; status: number | null; headers: Record<string, string>; body: string | null; created_at: Date }
            | undefined;
          await end('ROLLBACK');
          // Gone (purged) between the two statements, or never answered: treat it as still running.
          if (!row || row.status === null) return { kind: 'in-progress', retryAfterSeconds };
          if (row.fingerprint !== request.fingerprint) return { kind: 'mismatch' };
          return {
            kind: 'replayed',
            response: { status: row.status, headers: row.headers, body: row.body === null ? undefined : JSON.parse(row.body) },
            createdAt: row.created_at,
          };
        }
        await tx.query(`SELECT set_config('lock_timeout', $1, true)`, [before]); // the handler's statements wait as usual
        const response = await handler(tx);
        checkResponse(response);
        const body = response.body === undefined ? null : JSON.stringify(response.body);
        await tx.query(respond, [scope, request.key, response.status, JSON.stringify(response.headers ?? {}), body]);
        return { kind: 'executed', response };
      });
    },

    purgeExpired({ batchSize = 1000 } = {}) {
      return batchedDelete(pool, t, 'expires_at <= now() AND $1::boolean', true, batchSize);
    },
  };
}

function checkResponse(response: StoredResponse): void {
  if (!response || !Number.isInteger(response.status) || response.status < 100 || response.status > 599) {
    throw new OutboxUsageError(`an idempotent handler must return { status: 100..599, body?, headers? }, got ${JSON.stringify(response)}`);
  }
  for (const [name, value] of Object.entries(response.headers ?? {})) {
    if (typeof value !== 'string') throw new OutboxUsageError(`response header ${JSON.stringify(name)} must be a string`);
  }
}
