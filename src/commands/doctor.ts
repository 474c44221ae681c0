/**
 * `outbox-relay doctor`: every check that tells why a relay would not publish, or would publish
 * badly, each with the fix: the schema and its migration version, the pending index, the wake-up
 * trigger, the connecting role's privileges, server settings that would cut the relay short,
 * autovacuum on the outbox, and Kafka: reachable, each topic with pending rows present, led and
 * replicated enough. A finding is `ok`, `warn` (worth knowing, nothing is broken) or `fail`; any
 * `fail` makes the command exit 6 (ExitCode.DOCTOR_PROBLEMS).
 */
import type pg from 'pg';
import { formatDuration } from '../duration.js';
import { RelayExit } from '../errors.js';
import { checkSchema } from '../migrate.js';
import { quoteIdent, type OutboxNames } from '../names.js';
import { grantsFor } from '../pg-errors.js';
import { inspectKafka, type KafkaInspection } from '../publisher/inspect.js';
import {
  INDEX_SQL,
  PRIVILEGES_SQL,
  TIMEOUT_SETTINGS_SQL,
  TRIGGER_SQL,
  VACUUM_SQL,
  pendingTopicsSql,
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
  kafka: { brokers: string[]; clientId: string; timeoutMs: number };
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
  const { role, database } = (await pool.query<{ role: string; database: string }>('SELECT current_user AS role, current_database() AS database')).rows[0]!;

  let tableExists = false;
  try {
    const version = await checkSchema(pool, names);
    tableExists = true;
    add('schema', 'ok', `${what} is at migration version ${version}, the version this outbox-relay needs`);
  } catch (err) {
    if (!(err instanceof RelayExit)) throw err;
    tableExists = (await pool.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [names.outbox])).rows[0]!.t !== null;
    add('schema', 'fail', err.message); // the message ends with its fix (migrate, or upgrade outbox-relay)
  }

  if (tableExists) {
    await checkIndex(pool, names, add);
    await checkTrigger(pool, names, add);
    await checkPrivileges(pool, names, role, add);
    await checkVacuum(pool, names, add);
  }
  await checkSettings(pool, role, database, add);

  const topics = tableExists ? (await pool.query<{ topic: string }>(pendingTopicsSql(names))).rows.map((r) => r.topic) : [];
  checkKafka(await inspectKafka({ ...options.kafka, topics }), options.kafka.brokers, add);
  return findings;
}

type Add = (check: string, severity: Severity, message: string, fix?: string) => void;

async function checkIndex(pool: pg.Pool, names: OutboxNames, add: Add): Promise<void> {
  const index = `${quoteIdent(names.schema)}.${names.pendingIndex}`;
  const r = (await pool.query<IndexRow>(INDEX_SQL, [index])).rows[0]!;
  if (!r.exists) add('pending index', 'fail', `the pending index ${names.pendingIndex} is missing: every claim scans the whole outbox`, `CREATE INDEX CONCURRENTLY ${names.pendingIndex} ON ${names.outbox} (seq) WHERE sent_at IS NULL`);
  else if (!r.valid) add('pending index', 'fail', `the pending index ${names.pendingIndex} is INVALID (a failed CREATE INDEX CONCURRENTLY?): claims cannot use it`, `REINDEX INDEX CONCURRENTLY ${index}`);
  else add('pending index', 'ok', `${names.pendingIndex} is valid`);
}

async function checkTrigger(pool: pg.Pool, names: OutboxNames, add: Add): Promise<void> {
  const r = (await pool.query<TriggerRow>(TRIGGER_SQL, [names.outbox, `${names.table}_notify`])).rows[0]!;
  if (!r.installed) add('wake-up trigger', 'fail', `the trigger ${names.notifyTrigger} is missing: relays learn of new rows only by polling`, 'run `outbox-relay migrate`');
  else if (!triggerFires(r.enabled)) add('wake-up trigger', 'fail', `the trigger ${names.notifyTrigger} is disabled (tgenabled ${r.enabled}): relays learn of new rows only by polling`, `ALTER TABLE ${names.outbox} ENABLE TRIGGER ${names.notifyTrigger}`);
  else add('wake-up trigger', 'ok', `${names.notifyTrigger} is installed and enabled`);
}

async function checkPrivileges(pool: pg.Pool, names: OutboxNames, role: string, add: Add): Promise<void> {
  const rows = (await pool.query<PrivilegeRow>(PRIVILEGES_SQL, [names.schema, names.outbox, names.failures, names.wakeup, names.members, names.leases, names.migrations])).rows;
  const missing = rows.filter((r) => !r.granted).map((r) => `${r.privilege} on ${r.object}`);
  if (missing.length > 0) add('privileges', 'fail', `role ${role} lacks what the relay needs: ${missing.join(', ')}`, `as the table owner: ${grantsFor(names, role)}`);
  else add('privileges', 'ok', `role ${role} has every privilege the relay needs on the outbox, failures, wakeup, members, leases and migrations tables`);
}

const OFF = /^(false|off|no|0)$/i;

async function checkVacuum(pool: pg.Pool, names: OutboxNames, add: Add): Promise<void> {
  const r = (await pool.query<VacuumRow>(VACUUM_SQL, [names.outbox])).rows[0]!;
  const disabled = (options: string[] | null) => (options ?? []).some((o) => { const [k, v] = o.split('='); return k === 'autovacuum_enabled' && OFF.test(v ?? ''); });
  if (disabled(r.reloptions) || disabled(r.toast_reloptions)) {
    add('autovacuum', 'fail', `autovacuum is disabled on ${names.outbox}${disabled(r.reloptions) ? '' : "'s TOAST table"}: every published row leaves a dead tuple that is never cleaned, and claims slow down`, `ALTER TABLE ${names.outbox} RESET (autovacuum_enabled${disabled(r.toast_reloptions) ? ', toast.autovacuum_enabled' : ''})`);
    return;
  }
  const dead = Number(r.n_dead_tup ?? 0);
  const live = Number(r.n_live_tup ?? 0);
  if (dead > DEAD_TUPLES_WARN && dead > live) {
    add('autovacuum', 'warn', `${names.outbox} has ${dead} dead tuples for ${live} live ones (last autovacuum: ${r.last_autovacuum?.toISOString() ?? 'never'}): claims read through them`, `VACUUM (ANALYZE) ${names.outbox}; if it keeps happening, lower autovacuum_vacuum_scale_factor on the table or look for long transactions holding back cleanup`);
  } else {
    add('autovacuum', 'ok', `autovacuum is not disabled on ${names.outbox} (${dead} dead / ${live} live tuples)`);
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

function checkKafka(k: KafkaInspection, brokers: string[], add: Add): void {
  if (!k.reachable) {
    add('kafka', 'fail', `cannot reach Kafka at ${brokers.join(',')} (${k.error ?? 'no answer'})`, 'check KAFKA_BROKERS and that the brokers are up and reachable from here');
    return;
  }
  add('kafka', 'ok', `Kafka at ${brokers.join(',')} answers (${k.brokers} broker${k.brokers === 1 ? '' : 's'})`);
  if (k.topics.length === 0) add('topics', 'ok', 'no pending rows: no topic to check');
  for (const t of k.topics) {
    const check = `topic ${t.topic}`;
    if (!t.exists) {
      add(check, 'fail', `topic ${t.topic} has pending rows but does not exist (the relay does not create topics; its rows wait, then are parked dead)`, `create it, e.g. kafka-topics.sh --create --topic ${t.topic} --partitions <n> --replication-factor <n>`);
      continue;
    }
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

