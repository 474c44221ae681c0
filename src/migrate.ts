/**
 * Versioned schema migrations from sql/migrations/NNNNNN_name.sql.
 *
 * - All pending migrations apply in one transaction that first takes a transaction-scoped advisory
 *   lock for this outbox, so concurrent `migrate` runs queue up and the later ones find nothing to do.
 *   `SET LOCAL lock_timeout` bounds that wait (lockTimeoutMs).
 * - The DDL itself runs under a short lock_timeout (ddlLockTimeoutMs, 2 s): a table lock that waits
 *   behind a long application transaction would queue every application write behind it, so the
 *   migration gives up the attempt instead, and tries again after a pause (ddlAttempts times) before it
 *   fails with a clear message. No migration scans or rewrites the outbox (see sql/migrations).
 * - The ledger table <table>_migrations records each version in the same transaction as its DDL.
 * - `run` calls checkSchema(): a database behind this binary is "not migrated" (exit 3), one ahead of
 *   it (a newer outbox-relay migrated it) is refused with exit 4 rather than run on a schema it does
 *   not know.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { withTransaction } from './db.js';
import { SchemaAheadError, UnavailableError } from './errors.js';
import type { Logger } from './log.js';
import { sqlstateOf } from './pg-errors.js';
import { sleep } from './sleep.js';
import type { Mapping } from './mapping/definition.js';
import { migrationPlaceholders, quoteIdent, quoteLiteral, type OutboxNames } from './names.js';
import {
  MIGRATION_LOCK_SQL,
  appliedVersionsSql,
  createMigrationsTableSql,
  ledgerExistsSql,
  recordMigrationSql,
} from './sql/migrations.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** sql/migrations, found from both src/ (tests) and dist/ (the package). */
export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'sql', 'migrations');
/** The debezium mapping's own set: what the relay adds beside a table it did not create. */
export const DEBEZIUM_MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'sql', 'migrations-debezium');

/** The migrations of a mapping, and the placeholders they need beyond the names. */
/** Native migrations the debezium mapping applies too, in this order, after its own. */
const SHARED_WITH_DEBEZIUM = ['leases'];

export function migrationsFor(m: Mapping): { migrations: Migration[]; placeholders: Record<string, string> } {
  if (m.kind === 'native') return { migrations: loadMigrations(MIGRATIONS_DIR), placeholders: {} };
  // The debezium set has its own first migration (the capture table beside the user's table), then
  // shares the native set's membership and lease tables (they do not touch the outbox table).
  const own = loadMigrations(DEBEZIUM_MIGRATIONS_DIR);
  const shared = loadMigrations(MIGRATIONS_DIR).filter((n) => SHARED_WITH_DEBEZIUM.includes(n.name));
  return {
    migrations: [...own, ...shared.map((n, i) => ({ ...n, version: own.length + i + 1 }))],
    placeholders: { id_col: quoteIdent(m.idField), id_col_literal: quoteLiteral(m.idField) },
  };
}

const FILE_NAME = /^(\d{6})_([a-z0-9_]+)\.sql$/;

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .map((file) => ({ file, match: FILE_NAME.exec(file) }))
    .filter((entry): entry is { file: string; match: RegExpExecArray } => entry.match !== null)
    .map(({ file, match }) => ({
      version: Number(match[1]),
      name: match[2]!,
      sql: readFileSync(join(dir, file), 'utf8'),
    }))
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration versions must be 1..n without gaps; found ${m.version} at position ${i + 1}`);
  });
  return migrations;
}

/** Fill {{placeholders}}; an unknown placeholder is a bug in the migration, caught before any SQL runs. */
export function renderMigration(sql: string, placeholders: Record<string, string>): string {
  return sql.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (_, name: string) => {
    const value = placeholders[name];
    if (value === undefined) throw new Error(`unknown placeholder {{${name}}} in migration`);
    return value;
  });
}

export interface MigrateResult {
  applied: number[];
  version: number;
}

export async function migrate(
  pool: pg.Pool,
  names: OutboxNames,
  log: Logger,
  options: { lockTimeoutMs?: number; ddlLockTimeoutMs?: number; ddlAttempts?: number; migrations?: Migration[]; placeholders?: Record<string, string> } = {},
): Promise<MigrateResult> {
  const attempts = options.ddlAttempts ?? 10;
  for (let attempt = 1; ; attempt++) {
    const state = { locked: false };
    try {
      return await migrateOnce(pool, names, log, options, state);
    } catch (err) {
      // Only a DDL lock wait is retried; the advisory lock's own timeout means another migrate is stuck.
      if (sqlstateOf(err) !== LOCK_NOT_AVAILABLE || !state.locked) throw err;
      if (attempt >= attempts) {
        throw new UnavailableError(
          `could not lock ${names.schema}.${names.table} for a schema change in ${attempts} attempts (long-running transactions hold it): retry when they are done`,
          err,
        );
      }
      const delay = Math.min(5000, 250 * 2 ** attempt);
      log.warn({ attempt, retryInMs: delay }, 'migration waited too long for a table lock (a long transaction holds it); trying again');
      await sleep(delay);
    }
  }
}

const LOCK_NOT_AVAILABLE = '55P03';

async function migrateOnce(
  pool: pg.Pool,
  names: OutboxNames,
  log: Logger,
  options: { lockTimeoutMs?: number; ddlLockTimeoutMs?: number; migrations?: Migration[]; placeholders?: Record<string, string> },
  state: { locked: boolean },
): Promise<MigrateResult> {
  const migrations = options.migrations ?? loadMigrations();
  const latest = migrations.at(-1)?.version ?? 0;
  const placeholders = { ...migrationPlaceholders(names), ...options.placeholders };
  return withTransaction(pool, async (client) => {
    await client.query(`SET LOCAL lock_timeout = ${Math.trunc(options.lockTimeoutMs ?? 60_000)}`);
    await client.query(MIGRATION_LOCK_SQL, [names.migrationLockKey]);
    state.locked = true;
    await client.query(`SET LOCAL lock_timeout = ${Math.trunc(options.ddlLockTimeoutMs ?? 2000)}`);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${names.schema}"`);
    await client.query(createMigrationsTableSql(names));
    const applied = new Set((await client.query<{ version: number }>(appliedVersionsSql(names))).rows.map((r) => r.version));
    const current = Math.max(0, ...applied);
    if (current > latest) {
      throw new SchemaAheadError(schemaAheadMessage(names, current, latest));
    }
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      log.info({ version: m.version, migration: m.name, outbox: `${names.schema}.${names.table}` }, 'applying migration');
      await client.query(renderMigration(m.sql, placeholders));
      await client.query(recordMigrationSql(names), [m.version, m.name]);
      done.push(m.version);
    }
    return { applied: done, version: Math.max(current, ...done) };
  });
}

function schemaAheadMessage(names: OutboxNames, current: number, latest: number): string {
  return `schema of ${names.schema}.${names.table} is at version ${current}, newer than this outbox-relay knows (${latest}): upgrade outbox-relay`;
}

/** Refuse to run on a schema that is missing, behind, or ahead of this binary. */
export async function checkSchema(pool: pg.Pool, names: OutboxNames, migrations: Migration[] = loadMigrations()): Promise<number> {
  const latest = migrations.at(-1)?.version ?? 0;
  const ledger = `${names.schema}.${names.table}_migrations`;
  const exists = (await pool.query<{ exists: boolean }>(ledgerExistsSql(), [`"${names.schema}"."${names.table}_migrations"`])).rows[0]?.exists;
  if (!exists) {
    throw new UnavailableError(`outbox table ${names.schema}.${names.table} is not set up (no ${ledger}): run \`outbox-relay migrate\` with the same DATABASE_URL, --schema and --table`);
  }
  const versions = (await pool.query<{ version: number }>(appliedVersionsSql(names))).rows.map((r) => r.version);
  const current = Math.max(0, ...versions);
  if (current > latest) throw new SchemaAheadError(schemaAheadMessage(names, current, latest));
  if (current < latest) {
    throw new UnavailableError(`schema of ${names.schema}.${names.table} is at version ${current}, this outbox-relay needs ${latest}: run \`outbox-relay migrate\``);
  }
  return current;
}
