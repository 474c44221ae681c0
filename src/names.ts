/**
 * Every database object name outbox-relay uses, derived in one place from the configured schema and
 * table. Migrations (sql/migrations/*.sql placeholders) and runtime queries (src/sql/*) both read
 * from here, so a renamed table can never be half-renamed.
 */

/** Lower-case SQL identifier, short enough that the longest derived name stays within 63 bytes. */
export const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
export const MAX_TABLE_LENGTH = 48; // + "_migrations" (11), "_captured_idx" (13) < 63
export const MAX_SCHEMA_LENGTH = 48;
/** PostgreSQL rejects NOTIFY channels of 64 bytes or more; the channel is "schema.table". */
export const MAX_CHANNEL_LENGTH = 63;

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

export interface OutboxNames {
  schema: string;
  table: string;
  /** "schema"."table" */
  outbox: string;
  pendingIndex: string;
  wakeup: string;
  notifyFunction: string;
  notifyTrigger: string;
  migrations: string;
  /** "schema"."table_failures": per-row failure state (attempts, next attempt, dead), migration 2. */
  failures: string;
  /**
   * Debezium mapping: "schema"."table_captured", one line per row of the user's outbox table that the
   * relay is to publish (seq, the row's id, created_at, sent_at), filled by a trigger on that table.
   */
  captured: string;
  /** Debezium mapping: the pending index of the capture table, its trigger function and triggers. */
  capturedPendingIndex: string;
  captureFunction: string;
  captureTrigger: string;
  forgetFunction: string;
  forgetTrigger: string;
  /** The strict headers CHECK added by migration 2 (unqualified). */
  headersCheck: string;
  /** Channel name for LISTEN/NOTIFY (unquoted). */
  channel: string;
  /** "schema"."table_members": live replicas and their heartbeats, migration 3. */
  members: string;
  /** "schema"."table_leases": one row per key partition, its owner and lease, migration 3. */
  leases: string;
  /**
   * Text of the advisory lock taken while migrating (pg_advisory_xact_lock(hashtextextended(
   * current_database() || ' ' || key, 0))): a 64-bit key from product, database, schema and table.
   */
  migrationLockKey: string;
  /** application_name of the relay's pooled connections (claims), as seen in pg_stat_activity. */
  relayApplicationName: string;
  /** application_name of the LISTEN connection: operators (and tests) can find and kill it. */
  listenApplicationName: string;
  /** The periodic backlog query's connection (metrics). */
  backlogApplicationName: string;
}

export function outboxNames(schema: string, table: string): OutboxNames {
  const q = (name: string) => `${quoteIdent(schema)}.${quoteIdent(name)}`;
  return {
    schema,
    table,
    outbox: q(table),
    pendingIndex: quoteIdent(`${table}_pending_idx`),
    wakeup: q(`${table}_wakeup`),
    notifyFunction: q(`${table}_notify`),
    notifyTrigger: quoteIdent(`${table}_notify`),
    migrations: q(`${table}_migrations`),
    failures: q(`${table}_failures`),
    captured: q(`${table}_captured`),
    capturedPendingIndex: quoteIdent(`${table}_captured_idx`),
    captureFunction: q(`${table}_capture`),
    captureTrigger: quoteIdent(`${table}_capture`),
    forgetFunction: q(`${table}_forget`),
    forgetTrigger: quoteIdent(`${table}_forget`),
    headersCheck: quoteIdent(`${table}_headers_strict`),
    channel: `${schema}.${table}`,
    members: q(`${table}_members`),
    leases: q(`${table}_leases`),
    migrationLockKey: `outbox-relay migrate ${schema}.${table}`,
    relayApplicationName: `outbox-relay:${schema}.${table}`.slice(0, 63),
    listenApplicationName: `outbox-relay:listen:${schema}.${table}`.slice(0, 63),
    backlogApplicationName: `outbox-relay:backlog:${schema}.${table}`.slice(0, 63),
  };
}

/** The placeholder map for sql/migrations/*.sql. */
export function migrationPlaceholders(names: OutboxNames): Record<string, string> {
  return {
    outbox: names.outbox,
    pending_idx: names.pendingIndex,
    wakeup: names.wakeup,
    notify_fn: names.notifyFunction,
    notify_trg: names.notifyTrigger,
    channel: quoteLiteral(names.channel),
    failures: names.failures,
    members: names.members,
    leases: names.leases,
    headers_check: names.headersCheck,
    captured: names.captured,
    captured_pending_idx: names.capturedPendingIndex,
    capture_fn: names.captureFunction,
    capture_trg: names.captureTrigger,
    forget_fn: names.forgetFunction,
    forget_trg: names.forgetTrigger,
  };
}
