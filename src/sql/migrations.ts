import type { OutboxNames } from '../names.js';

/** The migrations ledger: one row per applied migration. */
export function createMigrationsTableSql(n: OutboxNames): string {
  return `CREATE TABLE IF NOT EXISTS ${n.migrations} (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;
}

export function appliedVersionsSql(n: OutboxNames): string {
  return `SELECT version FROM ${n.migrations} ORDER BY version`;
}

export function recordMigrationSql(n: OutboxNames): string {
  return `INSERT INTO ${n.migrations} (version, name) VALUES ($1, $2)`;
}

/** NULL when the ledger does not exist yet (to_regclass never raises). */
export function ledgerExistsSql(): string {
  return `SELECT to_regclass($1) IS NOT NULL AS exists`;
}

/**
 * Serialise concurrent `migrate` runs for one outbox; released at COMMIT/ROLLBACK. A 64-bit key from
 * the product, database, schema and table (names.ts migrationLockKey), so it cannot plausibly meet an
 * application's own advisory locks (a 32-bit hashtext key could).
 */
export const MIGRATION_LOCK_SQL = `SELECT pg_advisory_xact_lock(hashtextextended(current_database() || ' ' || $1, 0))`;
