/**
 * `outbox-relay doctor`: every check that tells why a relay would not publish, or would publish
 * badly, each with the fix: the schema and its migration version, the pending index, the wake-up
 * trigger (and in debezium mode the capture triggers), the connecting role's privileges, server
 * settings that would cut the relay short, autovacuum on the outbox, and Kafka. The Kafka checks are
 * the relay's own start-up preflight (src/preflight/kafka.ts), run over a connection made exactly as
 * the relay makes it (KafkaPublisher, with the TLS/SASL settings): brokers reachable, the broker's API
 * versions, idempotent writes allowed (InitProducerId), the topics with pending rows exist, the size
 * limits known and the pending rows over them; then each existing topic's partitions: led and
 * replicated enough. A finding is `ok`, `warn` (worth knowing, nothing is broken) or `fail`; any
 * `fail` makes the command exit 6 (ExitCode.DOCTOR_PROBLEMS).
 */
import type pg from 'pg';
import type { DoctorConfig } from '../config.js';
import { formatDuration } from '../duration.js';
import { RelayExit, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Mapping } from '../mapping/definition.js';
import { trackingTable } from '../mapping/source.js';
import { checkSchema, migrationsFor } from '../migrate.js';
import { quoteIdent, type OutboxNames } from '../names.js';
import { grantsFor } from '../pg-errors.js';
import { kafkaPreflight, pendingTopics, type Finding as PreflightFinding } from '../preflight/kafka.js';
import { inspectKafka, type KafkaInspection } from '../publisher/inspect.js';
import { KafkaPublisher } from '../publisher/kafka.js';
import { NO_SECURITY, kafkaSecurity, refusesIdempotence } from '../publisher/security.js';
import {
  INDEX_SQL,
  PRIVILEGES_SQL,
  TIMEOUT_SETTINGS_SQL,
  TRIGGER_SQL,
  VACUUM_SQL,
  type IndexRow,
  type PrivilegeRow,
  type SettingRow,
  type TriggerRow,
  type VacuumRow,
} from '../sql/inspect.js';
import type { CommandOutput } from './prune.js';
import { triggerFires } from './status.js';

export type Severity = 'ok' | 'warn' | 'fail';

export interface Finding {
  check: string;
  severity: Severity;
  message: string;
  /** What to do about it (warn/fail). */
  fix?: string;
}

export interface DoctorOptions {
  /** The Kafka, security, size and mapping settings, as the relay would have them. */
  config: DoctorConfig;
  mapping: Mapping;
  log: Logger;
  /** Bound on connecting to Kafka and on each Kafka request. */
  timeoutMs: number;
}

/** The relay's defaults that the settings checks compare against (doctor does not read run's settings). */
const LISTEN_HEARTBEAT_MS = 10_000;
const PUBLISH_TIMEOUT_MS = 30_000;
/** Dead tuples above this, and above the live ones, are worth a warning. */
const DEAD_TUPLES_WARN = 100_000;

export async function diagnose(pool: pg.Pool, names: OutboxNames, options: DoctorOptions): Promise<Finding[]> {
  const findings: Finding[] = [];
  const add = (check: string, severity: Severity, message: string, fix?: string) => findings.push({ check, severity, message, ...(fix ? { fix } : {}) });
  const what = `${names.schema}.${names.table}`;
  const mapping = options.mapping;
  const { role, database } = (await pool.query<{ role: string; database: string }>('SELECT current_user AS role, current_database() AS database')).rows[0]!;

  let tableExists = false;
  try {
    const version = await checkSchema(pool, names, migrationsFor(mapping).migrations);
    tableExists = true;
    add('schema', 'ok', `${what} is at migration version ${version}, the version this outbox-relay needs${mapping.kind === 'debezium' ? ` (debezium mapping: capture table ${names.captured})` : ''}`);
  } catch (err) {
    if (!(err instanceof RelayExit)) throw err;
    tableExists = (await pool.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [trackingTable(names, mapping)])).rows[0]!.t !== null;
    add('schema', 'fail', err.message); // the message ends with its fix (migrate, or upgrade outbox-relay)
  }

  if (tableExists) {
    await checkIndex(pool, names, mapping, add);
    await checkTrigger(pool, names, mapping, add);
    await checkPrivileges(pool, names, mapping, role, add);
    for (const table of mapping.kind === 'native' ? [names.outbox] : [names.captured, names.outbox]) await checkVacuum(pool, table, add);
  }
  await checkSettings(pool, role, database, add);
  await checkKafka(pool, names, tableExists, options, add);
  return findings;
}

type Add = (check: string, severity: Severity, message: string, fix?: string) => void;

async function checkIndex(pool: pg.Pool, names: OutboxNames, mapping: Mapping, add: Add): Promise<void> {
  const name = mapping.kind === 'native' ? names.pendingIndex : names.capturedPendingIndex;
  const index = `${quoteIdent(names.schema)}.${name}`;
  const r = (await pool.query<IndexRow>(INDEX_SQL, [index])).rows[0]!;
  if (!r.exists) add('pending index', 'fail', `the pending index ${name} is missing: every claim scans the whole outbox`, `CREATE INDEX CONCURRENTLY ${name} ON ${trackingTable(names, mapping)} (seq) WHERE sent_at IS NULL`);
  else if (!r.valid) add('pending index', 'fail', `the pending index ${name} is INVALID (a failed CREATE INDEX CONCURRENTLY?): claims cannot use it`, `REINDEX INDEX CONCURRENTLY ${index}`);
  else add('pending index', 'ok', `${name} is valid`);
}

async function checkTrigger(pool: pg.Pool, names: OutboxNames, mapping: Mapping, add: Add): Promise<void> {
  const triggers: [check: string, name: string, without: string][] = [['wake-up trigger', names.notifyTrigger, 'relays learn of new rows only by polling']];
  if (mapping.kind === 'debezium') {
    // Without them rows inserted into the user's table are never captured (never published), or deleted rows linger as pending.
    triggers.push(['capture trigger', names.captureTrigger, `rows inserted into ${names.outbox} are not captured and never published`]);
    triggers.push(['forget trigger', names.forgetTrigger, `rows deleted from ${names.outbox} before they were published stay pending in ${names.captured}`]);
  }
  for (const [check, name, without] of triggers) {
    const r = (await pool.query<TriggerRow>(TRIGGER_SQL, [names.outbox, name.slice(1, -1)])).rows[0]!;
    if (!r.installed) add(check, 'fail', `the trigger ${name} is missing: ${without}`, 'run `outbox-relay migrate`');
    else if (!triggerFires(r.enabled)) add(check, 'fail', `the trigger ${name} is disabled (tgenabled ${r.enabled}): ${without}`, `ALTER TABLE ${names.outbox} ENABLE TRIGGER ${name}`);
    else add(check, 'ok', `${name} is installed and enabled`);
  }
}

async function checkPrivileges(pool: pg.Pool, names: OutboxNames, mapping: Mapping, role: string, add: Add): Promise<void> {
  const captured = mapping.kind === 'debezium' ? names.captured : null;
  const rows = (await pool.query<PrivilegeRow>(PRIVILEGES_SQL, [names.schema, names.outbox, names.failures, names.wakeup, names.members, names.leases, names.migrations, captured])).rows;
  const missing = rows.filter((r) => !r.granted).map((r) => `${r.privilege} on ${r.object}`);
  if (missing.length > 0) add('privileges', 'fail', `role ${role} lacks what the relay needs: ${missing.join(', ')}`, `as the table owner: ${grantsFor(names, role, mapping)}`);
  else add('privileges', 'ok', `role ${role} has every privilege the relay needs on the outbox${captured ? ', capture' : ''}, failures, wakeup, members, leases and migrations tables`);
}

const OFF = /^(false|off|no|0)$/i;

async function checkVacuum(pool: pg.Pool, table: string, add: Add): Promise<void> {
  const r = (await pool.query<VacuumRow>(VACUUM_SQL, [table])).rows[0]!;
  const disabled = (options: string[] | null) => (options ?? []).some((o) => { const [k, v] = o.split('='); return k === 'autovacuum_enabled' && OFF.test(v ?? ''); });
  if (disabled(r.reloptions) || disabled(r.toast_reloptions)) {
    add('autovacuum', 'fail', `autovacuum is disabled on ${table}${disabled(r.reloptions) ? '' : "'s TOAST table"}: every published row leaves a dead tuple that is never cleaned, and claims slow down`, `ALTER TABLE ${table} RESET (autovacuum_enabled${disabled(r.toast_reloptions) ? ', toast.autovacuum_enabled' : ''})`);
    return;
  }
  const dead = Number(r.n_dead_tup ?? 0);
  const live = Number(r.n_live_tup ?? 0);
  if (dead > DEAD_TUPLES_WARN && dead > live) {
    add('autovacuum', 'warn', `${table} has ${dead} dead tuples for ${live} live ones (last autovacuum: ${r.last_autovacuum?.toISOString() ?? 'never'}): claims read through them`, `VACUUM (ANALYZE) ${table}; if it keeps happening, lower autovacuum_vacuum_scale_factor on the table or look for long transactions holding back cleanup`);
  } else {
    add('autovacuum', 'ok', `autovacuum is not disabled on ${table} (${dead} dead / ${live} live tuples)`);
  }
}

/** Where a setting comes from, and the statement that would change it there. */
function settingFix(s: SettingRow, role: string, database: string, value: string): string {
  const r = quoteIdent(role);
  const d = quoteIdent(database);
  switch (s.source) {
    case 'user':
      return `ALTER ROLE ${r} SET ${s.name} = ${value}`;
    case 'database':
      return `ALTER DATABASE ${d} SET ${s.name} = ${value}`;
    case 'database user':
      return `ALTER ROLE ${r} IN DATABASE ${d} SET ${s.name} = ${value}`;
    case 'client':
      return `remove ${s.name} from the connection's options (PGOPTIONS or ?options= in DATABASE_URL)`;
    default:
      return `set ${s.name} = ${value} for the relay's role: ALTER ROLE ${r} SET ${s.name} = ${value} (it is ${s.source === 'default' ? 'the default' : `set in the ${s.source}`})`;
  }
}

function ms(s: SettingRow): number {
  const n = Number(s.setting);
  return s.unit === 's' ? n * 1000 : s.unit === 'min' ? n * 60_000 : n;
}

async function checkSettings(pool: pg.Pool, role: string, database: string, add: Add): Promise<void> {
  const settings = new Map((await pool.query<SettingRow>(TIMEOUT_SETTINGS_SQL)).rows.map((s) => [s.name, s]));
  const shown = (s: SettingRow) => (ms(s) === 0 ? `${s.name} is off` : `${s.name} = ${formatDuration(ms(s))} (from ${s.source})`);
  const statement = settings.get('statement_timeout');
  if (statement) {
    // Claims set their own (SET LOCAL, src/sql/claimBatch.ts beginClaimSql); outside them the relay
    // runs only short statements (idle declaration, retention batches, startup checks).
    if (ms(statement) > 0 && ms(statement) < 1000)
      add('statement_timeout', 'fail', `${shown(statement)}: shorter than the relay's own short statements outside claims (idle declaration, retention batches)`, settingFix(statement, role, database, "'5s'"));
    else add('statement_timeout', 'ok', `${shown(statement)}; claims set their own per transaction`);
  }
  const idleTx = settings.get('idle_in_transaction_session_timeout');
  if (idleTx) add('idle_in_transaction_session_timeout', 'ok', `${shown(idleTx)}; claims set their own per transaction (a little above the publish timeout)`);
  const lock = settings.get('lock_timeout');
  if (lock) add('lock_timeout', 'ok', `${shown(lock)}; claims never wait for row locks (SKIP LOCKED, a try-lock), so at most a claim queued behind DDL fails and is retried`);
  const idleSession = settings.get('idle_session_timeout');
  if (idleSession) {
    if (ms(idleSession) > 0 && ms(idleSession) < LISTEN_HEARTBEAT_MS + 5000)
      add('idle_session_timeout', 'fail', `${shown(idleSession)}: it ends the idle LISTEN connection between two heartbeats (every ${formatDuration(LISTEN_HEARTBEAT_MS)} by default), so wake-ups are lost and the relay reconnects again and again`, settingFix(idleSession, role, database, '0'));
    else add('idle_session_timeout', 'ok', `${shown(idleSession)}${ms(idleSession) > 0 ? '; longer than the LISTEN heartbeat (10 s by default), which keeps that connection busy' : ''}`);
  }
  const transaction = settings.get('transaction_timeout');
  if (transaction) {
    // PostgreSQL 17+. The claim does not override it, and a claim stays open while its batch is in flight.
    if (ms(transaction) > 0 && ms(transaction) < PUBLISH_TIMEOUT_MS + 10_000)
      add('transaction_timeout', 'fail', `${shown(transaction)}: it ends claims while their batch is still in flight to Kafka (up to OUTBOX_PUBLISH_TIMEOUT_MS, ${formatDuration(PUBLISH_TIMEOUT_MS)} by default): batches are published again and again`, settingFix(transaction, role, database, '0'));
    else add('transaction_timeout', 'ok', `${shown(transaction)}`);
  }
  const autovacuum = settings.get('autovacuum');
  if (autovacuum && OFF.test(autovacuum.setting)) add('autovacuum', 'fail', 'autovacuum is off for the whole server: the outbox fills with dead tuples', 'set autovacuum = on in postgresql.conf and reload');
}

/** Severity of a preflight finding in doctor's terms: what stops the relay or its rows fails, the rest warns. */
function severityOf(f: PreflightFinding): Severity {
  if (f.ok) return 'ok';
  return f.fatal || f.blocking ? 'fail' : 'warn';
}

/**
 * Kafka, as the relay sees it: connect as the relay connects (its security settings; an idempotent
 * producer, so InitProducerId tells whether idempotent writes are allowed), the relay's start-up
 * preflight, then each existing topic with pending rows: leaders and in-sync replicas.
 */
async function checkKafka(pool: pg.Pool, names: OutboxNames, tableExists: boolean, options: DoctorOptions, add: Add): Promise<void> {
  const c = options.config;
  const where = c.kafkaBrokers.join(',');
  // kafkajs logs every failed connection attempt; doctor prints the outcome as one line.
  const log = options.log.child({ component: 'kafka' }, { level: 'error' });
  const publisher = new KafkaPublisher({ brokers: c.kafkaBrokers, clientId: c.kafkaClientId, timeoutMs: options.timeoutMs, log, security: c, compression: c.kafkaCompression });
  try {
    try {
      await publisher.connect();
    } catch (err) {
      // connectFailure's line: what failed (unreachable, TLS, SASL, idempotent writes refused) and the fix.
      const message = err instanceof RelayExit ? err.message : `cannot connect to Kafka at ${where} (${describeError(err)}): check KAFKA_BROKERS and that the brokers are up`;
      add(refusesIdempotence(err) ? 'kafka-idempotence' : 'kafka-brokers', 'fail', message);
      return;
    }
    if (!tableExists) {
      add('kafka-brokers', 'ok', `Kafka at ${where} answers (${publisher.securityName}); no outbox to check the topics of`);
      return;
    }
    for (const f of await kafkaPreflight(publisher, pool, names, c)) {
      const message = f.check === 'kafka-brokers' ? `Kafka at ${where} answers (${publisher.securityName}): ${f.detail ?? ''}` : ((f.ok ? f.detail : f.problem) ?? '');
      add(f.check, severityOf(f), message, f.ok ? undefined : f.fix);
    }
    const topics = (await pendingTopics(pool, names, options.mapping)).map((p) => p.topic);
    if (topics.length === 0) {
      add('topics', 'ok', 'no pending rows: no topic to check');
      return;
    }
    const security = kafkaSecurity({ ...NO_SECURITY, ...c });
    partitionHealth(await inspectKafka({ brokers: c.kafkaBrokers, clientId: c.kafkaClientId, timeoutMs: options.timeoutMs, topics, security }), add);
  } finally {
    await publisher.disconnect().catch(() => undefined);
  }
}

/** Leaders and in-sync replicas of the existing topics with pending rows (missing ones are the preflight's kafka-topics finding). */
function partitionHealth(k: KafkaInspection, add: Add): void {
  if (!k.reachable) {
    add('topics', 'fail', `cannot describe the topics with pending rows (${k.error ?? 'no answer'})`, 'allow the relay\'s principal to Describe the topics, and check the brokers');
    return;
  }
  for (const t of k.topics) {
    if (!t.exists) continue;
    const check = `topic ${t.topic}`;
    const leaderless = t.partitions.filter((p) => p.leader < 0).map((p) => p.partition);
    const needed = t.minInsyncReplicas ?? 1;
    const short = t.partitions.filter((p) => p.leader >= 0 && p.inSync < needed).map((p) => `${p.partition} (${p.inSync} in sync)`);
    const under = t.partitions.filter((p) => p.inSync < p.replicas).length;
    if (leaderless.length > 0) add(check, 'fail', `partitions without a leader: ${leaderless.join(', ')}; sends to them fail`, 'bring the brokers holding their replicas back, or reassign the partitions');
    if (short.length > 0) add(check, 'fail', `fewer in-sync replicas than min.insync.replicas=${needed} on partitions ${short.join(', ')}: the relay's acks=all sends are refused (NOT_ENOUGH_REPLICAS)`, 'bring the lagging or stopped brokers back');
    if (leaderless.length === 0 && short.length === 0) {
      const isr = t.minInsyncReplicas === undefined ? 'min.insync.replicas not readable (DESCRIBE_CONFIGS)' : `min.insync.replicas=${t.minInsyncReplicas}`;
      if (under > 0) add(check, 'warn', `${under} of ${t.partitions.length} partitions under-replicated (${isr} still met)`, 'check the brokers that lag behind');
      else add(check, 'ok', `${t.partitions.length} partitions, each with a leader and all replicas in sync (${isr})`);
    }
  }
}

export async function doctor(pool: pg.Pool, names: OutboxNames, options: DoctorOptions, out: CommandOutput): Promise<Finding[]> {
  const findings = await diagnose(pool, names, options);
  const failed = findings.filter((f) => f.severity === 'fail').length;
  const warned = findings.filter((f) => f.severity === 'warn').length;
  if (out.json) {
    out.write(`${JSON.stringify({ ok: failed === 0, problems: failed, warnings: warned, findings }, null, 2)}\n`);
    return findings;
  }
  const label: Record<Severity, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };
  for (const f of findings) out.write(`${label[f.severity]}  ${f.check}: ${f.message}${f.fix ? ` — fix: ${f.fix}` : ''}\n`);
  out.write(failed === 0 ? `doctor: no problems (${findings.length} checks${warned > 0 ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''})\n` : `doctor: ${failed} problem${failed === 1 ? '' : 's'} found${warned > 0 ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}\n`);
  return findings;
}

