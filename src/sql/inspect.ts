/**
 * Read-only queries of `outbox-relay status` and `outbox-relay doctor`: what is waiting, who is
 * connected, and whether the database is set up the way the relay needs it.
 */
import type { Mapping } from '../mapping/definition.js';
import { sourceRelation } from '../mapping/source.js';
import type { OutboxNames } from '../names.js';

export interface TopicStatusRow {
  topic: string;
  /** Rows not yet sent, including those waiting for a retry or dead. */
  pending: string;
  oldest_pending_seconds: number | null;
  waiting: string;
  dead: string;
  blocked_keys: string;
}

/**
 * Per topic: pending rows and the age of the oldest (partial index on sent_at IS NULL: as cheap as
 * the backlog is small), and from the failures table the rows waiting for a retry, the dead rows and
 * the distinct keys they hold back (under the default block-key policy). Rows come from the mapping's
 * source relation (src/mapping/source.ts), so in debezium mode from the capture table joined with the
 * user's table: `topic` is then the route-by value, which the caller routes to the Kafka topic.
 */
export function topicStatusSql(n: OutboxNames, m: Mapping): string {
  return `SELECT o.topic, count(*) AS pending, extract(epoch FROM now() - min(o.created_at))::float8 AS oldest_pending_seconds,
         count(f.seq) FILTER (WHERE f.dead_at IS NULL) AS waiting, count(f.dead_at) AS dead, count(DISTINCT f.key) AS blocked_keys
  FROM ${sourceRelation(n, m)} o
  LEFT JOIN ${n.failures} f ON f.seq = o.seq
  WHERE o.sent_at IS NULL
  GROUP BY o.topic
  ORDER BY 1`;
}

export interface ConnectionRow {
  pid: number;
  application_name: string;
  /** NULL for another role's connection unless this role has pg_read_all_stats. */
  client_addr: string | null;
  backend_start: Date | null;
  state: string | null;
}

/** The relays' connections: $1 the claim pool's application_name, $2 the LISTEN connection's. */
export const RELAY_CONNECTIONS_SQL = `SELECT pid, application_name, host(client_addr) AS client_addr, backend_start, state
  FROM pg_stat_activity WHERE application_name IN ($1, $2) AND datname = current_database()
  ORDER BY backend_start, pid`;

export interface TriggerRow {
  installed: boolean;
  /** pg_trigger.tgenabled: O (origin, the normal case) or A fire; D (disabled) and R (replica only) do not. */
  enabled: string | null;
}

/** The wake-up trigger ($1 table as regclass text, $2 trigger name). */
export const TRIGGER_SQL = `SELECT count(*) > 0 AS installed, max(tgenabled::text) AS enabled
  FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2`;

/** The outbox's size on disk and its row estimate (from the last ANALYZE; no scan). */
export const TABLE_SIZE_SQL = `SELECT pg_total_relation_size(c.oid)::bigint AS bytes, greatest(c.reltuples, 0)::bigint AS estimated_rows
  FROM pg_class c WHERE c.oid = to_regclass($1)`;

export interface IndexRow {
  exists: boolean;
  valid: boolean | null;
  definition: string | null;
}

/** The pending index ($1 its qualified name as regclass text). */
export const INDEX_SQL = `SELECT count(*) > 0 AS exists, bool_and(i.indisvalid) AS valid, max(pg_get_indexdef(i.indexrelid)) AS definition
  FROM pg_index i WHERE i.indexrelid = to_regclass($1)`;

export interface PrivilegeRow {
  object: string;
  privilege: string;
  granted: boolean;
}

/**
 * What the relay needs, checked for the connecting role: USAGE on the schema; SELECT, UPDATE,
 * DELETE on the outbox; SELECT, INSERT, UPDATE, DELETE on the failures, wakeup and members tables;
 * SELECT, UPDATE on the leases; SELECT on the migrations ledger (src/pg-errors.ts grantsFor is the
 * matching GRANT); in debezium mode also SELECT, UPDATE, DELETE on the capture table ($8, NULL in
 * native mode; the outbox is then the user's table: SELECT, UPDATE for the claim's FOR UPDATE, DELETE
 * for --on-publish=delete). $1 schema, $2..$7 the qualified tables (as regclass text).
 */
export const PRIVILEGES_SQL = `SELECT 'schema ' || $1 AS object, 'USAGE' AS privilege, has_schema_privilege($1, 'USAGE') AS granted
  UNION ALL
  SELECT t.label, p.privilege, has_table_privilege(to_regclass(t.name), p.privilege)
  FROM (VALUES ($2::text, 'outbox', ARRAY['SELECT','UPDATE','DELETE']),
               ($3::text, 'failures', ARRAY['SELECT','INSERT','UPDATE','DELETE']),
               ($4::text, 'wakeup', ARRAY['SELECT','INSERT','UPDATE','DELETE']),
               ($5::text, 'members', ARRAY['SELECT','INSERT','UPDATE','DELETE']),
               ($6::text, 'leases', ARRAY['SELECT','UPDATE']),
               ($7::text, 'migrations', ARRAY['SELECT']),
               ($8::text, 'capture table', ARRAY['SELECT','UPDATE','DELETE'])) AS t(name, label, privileges),
       unnest(t.privileges) AS p(privilege)
  WHERE t.name IS NOT NULL AND to_regclass(t.name) IS NOT NULL`;

export interface SettingRow {
  name: string;
  setting: string;
  unit: string | null;
  source: string;
}

/** Server settings that can end the relay's statements, transactions or idle connections (as this session sees them). */
export const TIMEOUT_SETTINGS_SQL = `SELECT name, setting, unit, source FROM pg_settings
  WHERE name IN ('statement_timeout', 'idle_in_transaction_session_timeout', 'lock_timeout', 'idle_session_timeout', 'transaction_timeout', 'autovacuum')
  ORDER BY name`;

export interface VacuumRow {
  reloptions: string[] | null;
  toast_reloptions: string[] | null;
  n_live_tup: string | null;
  n_dead_tup: string | null;
  last_autovacuum: Date | null;
}

/** Autovacuum on the outbox: reloptions (of the table and its TOAST table) and the dead-tuple count. */
export const VACUUM_SQL = `SELECT c.reloptions, t.reloptions AS toast_reloptions, s.n_live_tup, s.n_dead_tup, s.last_autovacuum
  FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
  WHERE c.oid = to_regclass($1)`;
