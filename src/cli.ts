/**
 * Command-line wiring: commander options generated from the settings table (src/config.ts), the
 * `run` and `migrate` commands, signals, and the mapping from errors to one-line messages and exit
 * codes (src/errors.ts). No relay logic lives here.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import {
  SETTINGS,
  loadConfig,
  loggableConfig,
  settingsFor,
  shownDefault,
  type Command as CommandName,
  type ConfigSources,
  type MigrateConfig,
  type SettingKey,
} from './config.js';
import { checkConnection, createPool } from './db.js';
import { ConfigError, DatabaseRefusedError, ExitCode, RelayExit, describeError, renderExitCodesHelp } from './errors.js';
import { migrateRefusalMessage, roleOf } from './pg-errors.js';
import { createLogger } from './log.js';
import { resolveMapping, type Mapping } from './mapping/definition.js';
import { checkSchema, migrate, migrationsFor } from './migrate.js';
import { outboxNames } from './names.js';
import { changeDead, listDead, type DeadSelector } from './commands/dead.js';
import { doctor } from './commands/doctor.js';
import { prune } from './commands/prune.js';
import { replay } from './commands/replay.js';
import { status } from './commands/status.js';
import { DURATION_EXPECT, TIME_EXPECT, parseDuration, parseTime } from './duration.js';
import type { Logger } from './log.js';
import type { OutboxNames } from './names.js';
import type pg from 'pg';
import type { RelayHooks } from './relay/relay.js';
import { Daemon } from './daemon.js';
import { onShutdownSignals } from './signals.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const EXIT_CODES_HELP = renderExitCodesHelp();

const MAPPING_HELP = `
Mapping (README "Kafka message mapping"): --mapping native publishes the relay's own table
(topic/key/partition columns or a topic template, static headers, created_at as the Kafka
timestamp, CloudEvents binary headers); --mapping debezium publishes an existing Debezium-style
outbox table (--table) as Debezium's Outbox Event Router would: same topics, keys, values, headers.

  outbox-relay migrate --mapping debezium --table outbox   # adds outbox_captured + triggers beside it
  outbox-relay run --mapping debezium --table outbox

Debezium mode: a row deleted in the transaction that inserted it is NEVER published. Debezium reads
the write-ahead log, which still carries such a row; a polling relay only sees rows that exist when
it reads. Applications that insert-then-delete must stop deleting (use --on-publish delete to let
the relay delete published rows). Rows already in the table when \`migrate\` runs are not published.`;

const ROOT_HELP = `
outbox-relay publishes the rows your application writes to a PostgreSQL outbox table to Kafka:
at least once, in commit order per key, marking a row only after Kafka acknowledged it.

Quick start:
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres KAFKA_BROKERS=127.0.0.1:9092
  outbox-relay migrate          # create the outbox table (safe to run again)
  outbox-relay run              # relay until SIGTERM

In your application's transaction:
  INSERT INTO outbox (topic, key, payload, headers)
  VALUES ('orders', 'order-42', convert_to('{"status":"paid"}', 'UTF8'), '{"type":"OrderPaid"}');

Rows Kafka can never take are parked as dead instead of stopping the relay:
  outbox-relay dead list        # see them and why; \`outbox-relay dead --help\` for retry/discard

Operating it:
  outbox-relay status           # what is pending per topic, which relays are connected
  outbox-relay doctor           # check the setup end to end; each problem with its fix
  outbox-relay replay --topic orders --since 2h       # publish kept (mark mode) rows again
  outbox-relay prune --older-than 7d                  # delete kept rows (or OUTBOX_RETENTION)

Settings come from flags > environment > --env-file files > defaults; see \`outbox-relay run --help\`.
${EXIT_CODES_HELP}`;

function addSettings(cmd: Command, name: CommandName): Command {
  for (const key of settingsFor(name)) {
    const spec = SETTINGS[key];
    const defaultText = spec.default === undefined ? 'required' : `default ${shownDefault(key)}`;
    const help = `${spec.doc} [env ${spec.env}; ${defaultText}]`;
    if (spec.arg === null && spec.default === false) {
      cmd.addOption(new Option(spec.flag, `${spec.doc} Off by default; this flag turns it on. [env ${spec.env}=true]`));
    } else if (spec.arg === null) {
      // The other booleans default to true; the flag turns them off.
      const off = `${spec.doc} On by default; this flag turns it off. [env ${spec.env}=false]`;
      cmd.addOption(new Option(`${spec.flag.replace('--', '--no-')}`, off));
    } else {
      cmd.addOption(new Option(`${spec.flag} ${spec.arg}`, help));
    }
    if ('secret' in spec && spec.secret) {
      cmd.addOption(new Option(`${spec.flag}-file <path>`, `read ${spec.env} from this file (trailing newline removed) [env ${spec.env}_FILE]`));
    }
  }
  cmd.addOption(
    new Option('--env-file <path>', 'read settings from a .env file (repeatable; later files win; the environment and flags override)').argParser(
      (value: string, previous: string[] = []) => [...previous, value],
    ),
  );
  return cmd;
}

/** Settings given on the command line only (commander also fills in defaults, which must not win over env). */
function flagValues(cmd: Command, name: CommandName): ConfigSources['flags'] {
  const flags: Partial<Record<SettingKey, string | boolean>> = {};
  const opts = cmd.opts<Record<string, unknown>>();
  for (const key of settingsFor(name)) {
    if (cmd.getOptionValueSource(key) === 'cli') flags[key] = opts[key] as string | boolean;
  }
  return flags;
}

/** `--<secret flag>-file <path>` values given on the command line. */
function fileFlagValues(cmd: Command, name: CommandName): ConfigSources['fileFlags'] {
  const files: Partial<Record<SettingKey, string>> = {};
  const opts = cmd.opts<Record<string, unknown>>();
  for (const key of settingsFor(name)) {
    const attr = `${key}File`;
    if (cmd.getOptionValueSource(attr) === 'cli') files[key] = opts[attr] as string;
  }
  return files;
}

function sources(cmd: Command, name: CommandName): ConfigSources {
  return {
    flags: flagValues(cmd, name),
    fileFlags: fileFlagValues(cmd, name),
    env: process.env,
    envFiles: cmd.opts<{ envFile?: string[] }>().envFile ?? [],
  };
}

async function runCommand(cmd: Command): Promise<number> {
  const config = loadConfig('run', sources(cmd, 'run'));
  const log = createLogger(config.logLevel, undefined, config.logFormat);
  log.info({ version: VERSION, node: process.version, config: loggableConfig(config) }, 'starting outbox-relay');
  const seams = testHooks();
  if (seams.notice) log.warn(seams.notice);
  const daemon = new Daemon(config, log, { version: VERSION, hooks: seams.hooks });
  const relay = daemon.relay;
  let forced = false;
  const signals = onShutdownSignals({
    first: (signal) => {
      log.info({ signal }, 'signal received: stopping gracefully (send it again to force)');
      void daemon.stop();
    },
    second: (signal) => {
      forced = true;
      log.warn({ signal }, 'second signal: forcing exit; in-flight rows stay pending');
      log.flush();
      process.exit(ExitCode.FORCED);
    },
  });
  try {
    await daemon.run();
    await daemon.stop();
    if (relay.abandoned) {
      // An abandoned kafkajs request may keep the event loop busy; the rows are safe (unmarked),
      // so exit now instead of waiting for it.
      log.flush();
      process.exit(forced ? ExitCode.FORCED : ExitCode.OK);
    }
    return forced ? ExitCode.FORCED : ExitCode.OK;
  } finally {
    signals.dispose();
    log.flush();
  }
}

async function migrateCommand(cmd: Command): Promise<number> {
  const config = loadConfig('migrate', sources(cmd, 'migrate'));
  const log = createLogger(config.logLevel, undefined, config.logFormat);
  const pool = createPool(
    { databaseUrl: config.databaseUrl, connectTimeoutMs: config.dbConnectTimeoutMs, applicationName: 'outbox-relay:migrate', max: 1 },
    log,
  );
  try {
    await checkConnection(pool, config.databaseUrl);
    const names = outboxNames(config.schema, config.table);
    const result = await migrate(pool, names, log, migrationsFor(resolveMapping(config))).catch((err: unknown) => {
      const line = migrateRefusalMessage(err, { names, role: roleOf(config.databaseUrl) });
      throw line ? new DatabaseRefusedError(line, err) : err;
    });
    const what = `${config.schema}.${config.table}`;
    process.stdout.write(
      result.applied.length > 0
        ? `migrated ${what} to version ${result.version} (applied ${result.applied.join(', ')})\n`
        : `${what} is already at version ${result.version}; nothing to do\n`,
    );
    return ExitCode.OK;
  } finally {
    await pool.end().catch(() => undefined);
    log.flush();
  }
}

const DEAD_HELP = `
Rows the relay cannot publish (headers that are not strings, an illegal or missing topic, too
large, refused by Kafka) are parked as dead with their reason instead of stopping the relay. With
the default --failed-row-policy=block-key, the later rows of a dead row's key wait behind it.

Examples:
  outbox-relay dead list                          # every dead row, oldest first
  outbox-relay dead list --topic orders --json    # as JSON, for scripts
  outbox-relay dead retry --key order-42          # after fixing the cause: publish again, in order
  outbox-relay dead retry --all --dry-run         # what --all would retry
  outbox-relay dead discard --id <event id>       # give up on one row (an audit line is logged)
${EXIT_CODES_HELP}`;

async function deadCommand(action: 'list' | 'retry' | 'discard', cmd: Command): Promise<number> {
  const opts = cmd.opts<{ id?: string; key?: string; topic?: string; all?: boolean; json?: boolean; dryRun?: boolean; limit?: string }>();
  const selector: DeadSelector = { id: opts.id, key: opts.key, topic: opts.topic };
  if (opts.id !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(opts.id)) {
    throw new ConfigError(`--id ${JSON.stringify(opts.id)} is not an event id: expected a UUID (the row's id column, the message's id header)`);
  }
  if (action !== 'list' && opts.id === undefined && opts.key === undefined && !opts.all) {
    throw new ConfigError(`dead ${action} needs --id <event id>, --key <key>${action === 'retry' ? ' or --all' : ''}: say which dead rows`);
  }
  const limit = positiveInt('--limit', opts.limit, 100);
  return withOutbox('dead', cmd, { schema: true }, async ({ pool, names, mapping, log, out }) => {
    if (action === 'list') await listDead(pool, names, mapping, selector, limit, out);
    else await changeDead(action, pool, names, mapping, selector, { dryRun: opts.dryRun === true, log }, out);
    return ExitCode.OK;
  });
}

interface OutboxContext {
  pool: pg.Pool;
  names: OutboxNames;
  mapping: Mapping;
  log: Logger;
  out: { json: boolean; write(text: string): void; progress: NodeJS.WriteStream };
}

/**
 * The frame of every operator command (dead, status, doctor, replay, prune): its settings, logs on
 * stderr (stdout carries the answer), one pooled connection named `outbox-relay:<command>`, the
 * connection checked (exit 3), the schema checked unless the command reports on it itself.
 */
async function withOutbox(
  name: Exclude<CommandName, 'run' | 'migrate' | 'doctor'>,
  cmd: Command,
  options: { schema: boolean },
  fn: (c: OutboxContext) => Promise<number>,
): Promise<number> {
  const config = loadConfig(name, sources(cmd, name));
  return withOutboxConfig(name, config, cmd, options, fn);
}

async function withOutboxConfig(
  name: CommandName,
  config: MigrateConfig,
  cmd: Command,
  options: { schema: boolean },
  fn: (c: OutboxContext) => Promise<number>,
): Promise<number> {
  const mapping = resolveMapping(config);
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, undefined, config.logFormat, 2);
  const pool = createPool(
    { databaseUrl: config.databaseUrl, connectTimeoutMs: config.dbConnectTimeoutMs, applicationName: `outbox-relay:${name}`, max: 1 },
    log,
  );
  const out = { json: cmd.opts<{ json?: boolean }>().json === true, write: (text: string) => void process.stdout.write(text), progress: process.stderr };
  try {
    await checkConnection(pool, config.databaseUrl);
    const names = outboxNames(config.schema, config.table);
    if (options.schema) await checkSchema(pool, names, migrationsFor(mapping).migrations);
    return await fn({ pool, names, mapping, log, out });
  } finally {
    await pool.end().catch(() => undefined);
    log.flush();
  }
}

function positiveInt(flag: string, value: string | undefined, fallback: number, min = 1): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${flag} ${JSON.stringify(value)} is invalid: expected an integer of at least ${min}`);
  return n;
}

function duration(flag: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new ConfigError(`${flag} ${JSON.stringify(value)} is invalid: expected ${DURATION_EXPECT}`);
  return ms;
}

function time(flag: string, value: string, now: Date): Date {
  const t = parseTime(value, now);
  if (t === undefined) throw new ConfigError(`${flag} ${JSON.stringify(value)} is invalid: expected ${TIME_EXPECT}`);
  return t;
}

async function statusCommand(cmd: Command): Promise<number> {
  return withOutbox('status', cmd, { schema: true }, async ({ pool, names, mapping, out }) => {
    await status(pool, names, mapping, out);
    return ExitCode.OK;
  });
}

/** Bound on doctor's Kafka connection and each of its Kafka requests. */
const DOCTOR_KAFKA_TIMEOUT_MS = 10_000;

async function doctorCommand(cmd: Command): Promise<number> {
  const config = loadConfig('doctor', sources(cmd, 'doctor'));
  return withOutboxConfig('doctor', config, cmd, { schema: false }, async ({ pool, names, mapping, log, out }) => {
    const findings = await doctor(pool, names, { config, mapping, log, timeoutMs: DOCTOR_KAFKA_TIMEOUT_MS }, out);
    return findings.some((f) => f.severity === 'fail') ? ExitCode.DOCTOR_PROBLEMS : ExitCode.OK;
  });
}

async function replayCommand(cmd: Command): Promise<number> {
  const opts = cmd.opts<{ topic: string; since: string; until?: string; key?: string; batchSize?: string; dryRun?: boolean }>();
  const batchSize = positiveInt('--batch-size', opts.batchSize, 500);
  // Relative times ("2h") count back from the database's clock, read once, so --since and --until agree.
  return withOutbox('replay', cmd, { schema: true }, async ({ pool, names, mapping, out }) => {
    const now = (await pool.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now;
    const since = time('--since', opts.since, now);
    const until = opts.until === undefined ? now : time('--until', opts.until, now);
    if (since >= until) throw new ConfigError(`--since ${opts.since} is not before --until ${opts.until ?? '(now)'}: nothing could match`);
    await replay(pool, names, mapping, { topic: opts.topic, since, until, key: opts.key, batchSize, dryRun: opts.dryRun === true }, out);
    return ExitCode.OK;
  });
}

async function pruneCommand(cmd: Command): Promise<number> {
  const opts = cmd.opts<{ olderThan: string; batchSize?: string; maxRowsPerSecond?: string; dryRun?: boolean }>();
  const olderThanMs = duration('--older-than', opts.olderThan);
  const batchSize = positiveInt('--batch-size', opts.batchSize, 1000);
  const maxRowsPerSecond = positiveInt('--max-rows-per-second', opts.maxRowsPerSecond, 5000, 0);
  return withOutbox('prune', cmd, { schema: true }, async ({ pool, names, mapping, out }) => {
    await prune(pool, names, mapping, { olderThanMs, batchSize, maxRowsPerSecond, dryRun: opts.dryRun === true }, out);
    return ExitCode.OK;
  });
}

const STATUS_HELP = `
Per topic: pending rows (not yet sent, including rows waiting for a retry and dead rows), the age
of the oldest, rows waiting for a retry, dead rows, and the distinct keys those hold back. Then the
relays connected (pg_stat_activity, by application_name: the claim pool and the LISTEN connection,
with client address and since when), and whether the wake-up trigger is installed and enabled.
With --mapping debezium: the capture table's rows, per Kafka topic they are routed to.

Example:
  outbox-relay status --json | jq '.topics[] | select(.dead > 0)'
${EXIT_CODES_HELP}`;

const DOCTOR_HELP = `
Checks, one line each, ok / warn / FAIL, and the fix for what is not ok: the outbox table and its
migration version, the pending index, the wake-up trigger (debezium mode: also the capture and
forget triggers), the privileges of the connecting role, server settings that would cut the relay
short (statement_timeout, idle_session_timeout, transaction_timeout; the claim sets its own
statement and idle-in-transaction timeouts), autovacuum on the outbox.

Then Kafka, with the relay's own start-up preflight, connecting exactly as the relay does (give
doctor the relay's settings: TLS/SASL, compression, size limits):
  kafka-brokers       the brokers answer (else one FAIL line saying why: unreachable, TLS, SASL)
  kafka-api-versions  the broker speaks what the idempotent producer needs
  kafka-idempotence   idempotent writes allowed (InitProducerId; else the ACL to add)
  kafka-topics        each topic with pending rows that does not exist, named
  kafka-message-size  message.max.bytes and each topic's max.message.bytes known; pending rows over
                      their topic's limit (they would be parked as too-large), counted per topic
and for every existing topic with pending rows: every partition has a leader and at least
min.insync.replicas replicas in sync. Exits 6 when any check fails (warnings alone exit 0).

Example:
  outbox-relay doctor --env-file relay.env || echo "fix the FAIL lines above"
${EXIT_CODES_HELP}`;

const REPLAY_HELP = `
Publishes again the rows of a topic that were sent in a time window. Works on what a relay running
with --on-publish=mark kept (with delete, the default, nothing is kept: the command says so).
Each row is copied as a NEW pending row: it goes behind every row already in the outbox (it never
overtakes newer rows of its key), keeps its event id (the same event: a consumer deduplicating by
the id header treats it as a duplicate) and carries the header replayed-from-seq=<seq of the
original>, so a consumer can tell a replay from the first delivery. The
running relay publishes the copies as usual. TIME is an ISO-8601 timestamp (no offset = UTC) or a
duration ago (30m, 2h, 7d); the window is by sent_at, --since inclusive, --until exclusive.
With --mapping debezium, --topic is the routed topic and each copy is a new capture row for the
same row of your table: the same message again, without the replayed-from-seq header.

Examples:
  outbox-relay replay --topic orders --since 2h --dry-run        # how many rows
  outbox-relay replay --topic orders --since 2026-11-30T08:00Z --until 2026-11-30T09:00Z --key order-42
${EXIT_CODES_HELP}`;

const PRUNE_HELP = `
Deletes sent rows (kept by --on-publish=mark) published more than DURATION ago: it walks the
table in seq order, --batch-size rows at a time, each step one short transaction (never one huge
DELETE), at most --max-rows-per-second rows deleted (0 = no limit).
Pending, waiting and dead rows are never touched. Progress on stderr, a summary on stdout. To do
this continuously, run the relay with OUTBOX_RETENTION instead. With --mapping debezium it deletes
the old sent capture rows and the rows of your table they stand for (not a row a replayed copy
still points at).

Example:
  outbox-relay prune --older-than 7d --dry-run      # how many rows; then without --dry-run
${EXIT_CODES_HELP}`;

/**
 * Fault-test seams, inert unless the test harness turns them on with two variables:
 *
 *   OUTBOX_RELAY_TEST_SEAMS=1  OUTBOX_RELAY_TEST_KILL=<point>:<n>[:SIGSTOP]
 *
 * makes the process SIGKILL itself (or SIGSTOP itself, to freeze with the claim open) at batch n, at
 * `before-publish` (claimed, nothing sent) or `after-ack` (Kafka acknowledged, not yet marked — the
 * crash window of guarantee G3). Not settings: they exist so test/fault can hit those windows
 * deterministically. A second, dedicated switch is required because one stray variable (a test
 * .env copied into a deployment) must never kill a production relay; NODE_ENV=test was not used
 * as the switch because other tools and platforms set NODE_ENV for their own reasons. Both are read
 * from the process environment only, never from --env-file files.
 */
export function testHooks(env: NodeJS.ProcessEnv = process.env): { hooks?: RelayHooks; notice?: string } {
  const spec = env.OUTBOX_RELAY_TEST_KILL;
  if (spec === undefined || spec === '') return {};
  if (env.OUTBOX_RELAY_TEST_SEAMS !== '1') {
    return { notice: 'OUTBOX_RELAY_TEST_KILL is set but ignored: test seams are off (they need OUTBOX_RELAY_TEST_SEAMS=1 as well); unset it' };
  }
  const match = /^(before-publish|after-ack):(\d+)(?::(SIGKILL|SIGSTOP))?$/.exec(spec);
  if (!match) return { notice: `OUTBOX_RELAY_TEST_KILL=${JSON.stringify(spec)} is not <before-publish|after-ack>:<batch>[:SIGSTOP]; ignored` };
  const n = Number(match[2]);
  const signal = (match[3] ?? 'SIGKILL') as NodeJS.Signals;
  let fired = false; // once: a batch that failed is retried under the same number
  const kill = (_rows: unknown, batch: number) => {
    if (batch !== n || fired) return;
    fired = true;
    process.kill(process.pid, signal);
  };
  return {
    hooks: match[1] === 'after-ack' ? { afterAck: kill } : { beforePublish: kill },
    notice: `test seams are on: this relay sends itself ${signal} at ${match[1]} of batch ${n} (OUTBOX_RELAY_TEST_KILL)`,
  };
}

export function buildProgram(handlers: {
  run: (cmd: Command) => Promise<number>;
  migrate: (cmd: Command) => Promise<number>;
  dead: (action: 'list' | 'retry' | 'discard', cmd: Command) => Promise<number>;
  status: (cmd: Command) => Promise<number>;
  doctor: (cmd: Command) => Promise<number>;
  replay: (cmd: Command) => Promise<number>;
  prune: (cmd: Command) => Promise<number>;
}): {
  program: Command;
  result: () => Promise<number>;
} {
  let pending: Promise<number> = Promise.resolve(ExitCode.OK);
  const program = new Command('outbox-relay')
    .version(VERSION, '-V, --version')
    .description('Relay transactional-outbox rows from PostgreSQL to Kafka.')
    .addHelpText('after', ROOT_HELP)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  addSettings(
    program
      .command('run')
      .description('Publish pending outbox rows to Kafka until SIGTERM/SIGINT (LISTEN/NOTIFY wake-up, polling as safety net).')
      .addHelpText('after', `${MAPPING_HELP}\n${EXIT_CODES_HELP}`),
    'run',
  ).action((_opts, cmd: Command) => {
    pending = handlers.run(cmd);
  });
  addSettings(
    program
      .command('migrate')
      .description('Create or upgrade the outbox schema. Safe to run again and from many processes at once.')
      .addHelpText('after', `${MAPPING_HELP}\n${EXIT_CODES_HELP}`),
    'migrate',
  ).action((_opts, cmd: Command) => {
    pending = handlers.migrate(cmd);
  });
  const dead = program
    .command('dead')
    .description('List, retry or discard the rows the relay parked as dead (bad headers, illegal or missing topic, too large, refused).')
    .addHelpText('after', DEAD_HELP);
  const selectors = (c: Command, what: string) =>
    c
      .option('--id <event id>', `${what} the dead row with this event id`)
      .option('--key <key>', `${what} the dead rows of this key`)
      .option('--topic <topic>', 'only dead rows of this topic')
      .option('--json', 'print the rows as JSON');
  const actions = {
    list: (c: Command) =>
      selectors(c.description('Show dead rows, oldest first, with their reason.'), 'show').option('--limit <n>', 'show at most this many rows (default 100)'),
    retry: (c: Command) =>
      selectors(c.description("Make dead rows pending again; they keep their place in their key's order."), 'retry')
        .option('--all', 'retry every dead row (with --topic: every dead row of that topic)')
        .option('--dry-run', 'show what would be retried, change nothing'),
    discard: (c: Command) =>
      selectors(c.description('Delete dead rows from the outbox for good, logging an audit line for each.'), 'discard').option(
        '--dry-run',
        'show what would be discarded, change nothing',
      ),
  };
  const examples = {
    list: 'outbox-relay dead list --topic orders --json',
    retry: 'outbox-relay dead retry --key order-42 --dry-run   # then without --dry-run',
    discard: 'outbox-relay dead discard --id 0b6a…-…   # the event id from `dead list`',
  };
  for (const [action, define] of Object.entries(actions) as ['list' | 'retry' | 'discard', (c: Command) => Command][]) {
    const sub = define(dead.command(action)).addHelpText('after', `\nExample:\n  ${examples[action]}\n${EXIT_CODES_HELP}`);
    addSettings(sub, 'dead').action((_opts, cmd: Command) => {
      pending = handlers.dead(action, cmd);
    });
  }
  const operations: ['status' | 'doctor' | 'replay' | 'prune', string, string, (c: Command) => Command][] = [
    ['status', 'Show pending rows per topic, the relays connected and the wake-up trigger.', STATUS_HELP, (c) => c.option('--json', 'print one JSON object')],
    ['doctor', "Check the database, the privileges, the settings and Kafka (the relay's start-up preflight); print each problem with its fix (exit 6 if any).", DOCTOR_HELP, (c) => c.option('--json', 'print the findings as JSON')],
    [
      'replay',
      'Publish again the rows of a topic sent in a time window (kept by --on-publish=mark), as new pending rows.',
      REPLAY_HELP,
      (c) =>
        c
          .requiredOption('--topic <topic>', 'the topic whose rows to replay')
          .requiredOption('--since <time>', 'rows sent at or after this time (ISO-8601, or a duration ago: 2h)')
          .option('--until <time>', 'rows sent before this time (default: now)')
          .option('--key <key>', 'only the rows of this key')
          .option('--batch-size <rows>', 'rows copied per transaction (default 500)')
          .option('--dry-run', 'count what would be replayed, change nothing')
          .option('--json', 'print the result as JSON'),
    ],
    [
      'prune',
      'Delete sent rows (kept by --on-publish=mark) older than a duration, in short batches at a bounded rate.',
      PRUNE_HELP,
      (c) =>
        c
          .requiredOption('--older-than <duration>', 'delete rows sent longer ago than this (e.g. 7d, 12h)')
          .option('--batch-size <rows>', 'rows looked at per transaction, in seq order (default 1000)')
          .option('--max-rows-per-second <n>', 'rate limit, 0 = none (default 5000)')
          .option('--dry-run', 'count what would be deleted, change nothing')
          .option('--json', 'print the result as JSON'),
    ],
  ];
  for (const [name, description, help, define] of operations) {
    addSettings(define(program.command(name).description(description)).addHelpText('after', help), name).action((_opts, cmd: Command) => {
      pending = handlers[name](cmd);
    });
  }
  return { program, result: () => pending };
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const { program, result } = buildProgram({
    run: runCommand,
    migrate: migrateCommand,
    dead: deadCommand,
    status: statusCommand,
    doctor: doctorCommand,
    replay: replayCommand,
    prune: pruneCommand,
  });
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      return ExitCode.USAGE;
    }
    await program.parseAsync(argv);
    return await result();
  } catch (err) {
    return report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end up here too, with exit code 0.
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  if (err instanceof RelayExit) {
    process.stderr.write(`outbox-relay: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`outbox-relay: internal error: ${describeError(err)} (this is a bug; please report it)\n`);
  if (err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return ExitCode.INTERNAL;
}
