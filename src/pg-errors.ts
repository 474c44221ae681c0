/**
 * PostgreSQL errors by SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html):
 * which ones the relay retries and which ones it cannot get past by retrying. Pure: no I/O, so the
 * table is unit-tested (test/unit/pg-errors.test.ts) and the relay loop only asks classifyPgError().
 *
 * - fatal: the database refuses what the relay needs — a privilege or an object is missing. Retrying
 *   cannot help and, after a publish, would publish the same batch again and again. The relay stops
 *   with exit code 5 and one line naming what is missing and how to fix it.
 * - retry: the condition ends by itself (a lost or terminated connection, a restart, a deadlock, a
 *   full disk or memory pressure): back off and claim again; the rows stay pending.
 * - unknown: anything else, including errors without a SQLSTATE (a socket error): retried with
 *   backoff, but a batch whose completion fails identically again and again is bounded by
 *   RepeatedFailures below.
 */
import type { OutboxNames } from './names.js';
import type { Mapping } from './mapping/definition.js';

export type PgErrorKind = 'fatal' | 'retry' | 'unknown';

export interface PgErrorClass {
  kind: PgErrorKind;
  /** SQLSTATE, when the error carries one. */
  code?: string;
  /** The condition name of the SQLSTATE (or of its class), e.g. insufficient_privilege. */
  condition?: string;
  /** For fatal errors: what must be done before the relay can run (see refusalFix). */
  fix?: 'grant' | 'migrate';
}

interface Rule {
  condition: string;
  kind: Exclude<PgErrorKind, 'unknown'>;
  fix?: PgErrorClass['fix'];
}

/** Exact SQLSTATEs; looked up before the classes below. */
const CODES: Record<string, Rule> = {
  '42501': { condition: 'insufficient_privilege', kind: 'fatal', fix: 'grant' },
  '42P01': { condition: 'undefined_table', kind: 'fatal', fix: 'migrate' },
  '42703': { condition: 'undefined_column', kind: 'fatal', fix: 'migrate' },
  '42883': { condition: 'undefined_function', kind: 'fatal', fix: 'migrate' },
  '3F000': { condition: 'invalid_schema_name', kind: 'fatal', fix: 'migrate' },
  '40001': { condition: 'serialization_failure', kind: 'retry' },
  '40P01': { condition: 'deadlock_detected', kind: 'retry' },
  '57P01': { condition: 'admin_shutdown', kind: 'retry' },
  '57P02': { condition: 'crash_shutdown', kind: 'retry' },
  '57P03': { condition: 'cannot_connect_now', kind: 'retry' },
  '25P03': { condition: 'idle_in_transaction_session_timeout', kind: 'retry' },
};

/** SQLSTATE classes (the first two characters). */
const CLASSES: Record<string, Rule> = {
  '08': { condition: 'connection_exception', kind: 'retry' },
  '53': { condition: 'insufficient_resources', kind: 'retry' },
};

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The SQLSTATE of a node-postgres error (DatabaseError.code), if any. */
export function sqlstateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && SQLSTATE.test(code) ? code : undefined;
}

export function classifyPgError(err: unknown): PgErrorClass {
  const code = sqlstateOf(err);
  if (!code) return { kind: 'unknown' };
  const rule = CODES[code] ?? CLASSES[code.slice(0, 2)];
  if (!rule) return { kind: 'unknown', code };
  return { kind: rule.kind, code, condition: rule.condition, ...(rule.fix ? { fix: rule.fix } : {}) };
}

/** Every privilege the relay needs on its outbox, as GRANT statements for `role`. */
export function grantsFor(names: OutboxNames, role: string, mapping?: Mapping): string {
  const r = role.startsWith('<') ? role : `"${role.replaceAll('"', '""')}"`;
  return [
    `GRANT USAGE ON SCHEMA "${names.schema.replaceAll('"', '""')}" TO ${r}`,
    `GRANT SELECT, UPDATE, DELETE ON ${names.outbox} TO ${r}`,
    ...(mapping?.kind === 'debezium' ? [`GRANT SELECT, UPDATE, DELETE ON ${names.captured} TO ${r}`] : []),
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${names.failures} TO ${r}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${names.wakeup} TO ${r}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${names.members} TO ${r}`,
    `GRANT SELECT, UPDATE ON ${names.leases} TO ${r}`,
    `GRANT SELECT ON ${names.migrations} TO ${r}`,
  ].join('; ');
}

/** The role a connection string logs in as, for the GRANT hint ("<role>" when the URL names none). */
export function roleOf(databaseUrl: string): string {
  try {
    return decodeURIComponent(new URL(databaseUrl).username) || '<the relay’s role>';
  } catch {
    return '<the relay’s role>';
  }
}

/**
 * The one line for a fatal error, or undefined if `err` is not fatal: what PostgreSQL said, its
 * SQLSTATE, what the relay was doing, and how to fix it.
 */
export function refusalMessage(err: unknown, context: { names: OutboxNames; role: string; action: string }): string | undefined {
  const c = classifyPgError(err);
  if (c.kind !== 'fatal') return undefined;
  const said = err instanceof Error ? err.message : String(err);
  const fix =
    c.fix === 'grant'
      ? `grant the relay's role what it needs, as the table owner: ${grantsFor(context.names, context.role)}`
      : `the outbox schema is missing or incomplete: run \`outbox-relay migrate\` with the same DATABASE_URL, --schema and --table (PostgreSQL 13 or newer)`;
  return `the database refuses what the relay needs: ${said} (SQLSTATE ${c.code} ${c.condition}) while ${context.action}; ${fix}`;
}

/**
 * The one line for `outbox-relay migrate` refused by PostgreSQL (insufficient_privilege: no CREATE
 * on the database or schema, not the owner of an existing object), or undefined for anything else.
 * Migrations need a role that may create objects; the relay itself then needs only the GRANTs.
 */
export function migrateRefusalMessage(err: unknown, context: { names: OutboxNames; role: string }): string | undefined {
  const c = classifyPgError(err);
  if (c.code !== '42501') return undefined;
  const said = err instanceof Error ? err.message : String(err);
  const schema = `"${context.names.schema.replaceAll('"', '""')}"`;
  return (
    `migrate was refused: ${said} (SQLSTATE 42501 insufficient_privilege); run \`outbox-relay migrate\` as a role that may ` +
    `create objects (the database owner, or one granted CREATE ON DATABASE and, if schema ${schema} exists, its owner), ` +
    `then give the relay's own role only what it needs: ${grantsFor(context.names, context.role)}`
  );
}

/**
 * Counts consecutive identical failures (same SQLSTATE and message). Errors of kind `retry` are
 * transient by definition and are not counted: they neither extend nor break a run of identical ones.
 */
export class RepeatedFailures {
  #last: string | undefined;
  #count = 0;

  /** Record a failure; returns how many identical ones came in a row (0 for a `retry` kind). */
  note(err: unknown): number {
    if (classifyPgError(err).kind === 'retry') return 0;
    const key = `${sqlstateOf(err) ?? ''}\u0000${err instanceof Error ? err.message : String(err)}`;
    this.#count = key === this.#last ? this.#count + 1 : 1;
    this.#last = key;
    return this.#count;
  }

  reset(): void {
    this.#last = undefined;
    this.#count = 0;
  }
}
