/**
 * Command-line wiring: commander options generated from the settings table (src/config.ts), the
 * `run` and `migrate` commands, signals, and the mapping from errors to one-line messages and exit
 * codes (src/errors.ts). No relay logic lives here.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { pino } from 'pino';
import {
  SETTINGS,
  loadConfig,
  loggableConfig,
  settingsFor,
  type Command as CommandName,
  type ConfigSources,
  type SettingKey,
} from './config.js';
import { checkConnection, createPool } from './db.js';
import { ConfigError, ExitCode, RelayExit, describeError } from './errors.js';
import { createLogger } from './log.js';
import { checkSchema, migrate } from './migrate.js';
import { outboxNames } from './names.js';
import { changeDead, listDead, type DeadSelector } from './commands/dead.js';
import type { RelayHooks } from './relay/relay.js';
import { Daemon } from './daemon.js';
import { onShutdownSignals } from './signals.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const EXIT_CODES_HELP = `
Exit codes:
  0    success, or a graceful shutdown after SIGTERM/SIGINT
  1    internal error (a bug: the stack is printed on stderr)
  2    invalid configuration or usage
  3    a required service or object is missing: PostgreSQL/Kafka unreachable, table not migrated
  4    the database schema is newer than this outbox-relay: upgrade it
  5    the database refuses what the relay needs: a missing privilege or object (the line says
       which and the GRANT or migrate that fixes it), or completing a batch keeps failing
  7    Kafka refuses the relay: TLS handshake, SASL login or OAUTHBEARER token, or idempotent
       writes not allowed (the line says which setting or ACL to fix)
  130  a second SIGTERM/SIGINT forced the exit`;

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

Settings come from flags > environment > --env-file files > defaults; see \`outbox-relay run --help\`.
${EXIT_CODES_HELP}`;

function addSettings(cmd: Command, name: CommandName): Command {
  for (const key of settingsFor(name)) {
    const spec = SETTINGS[key];
    const defaultText = spec.default === undefined ? 'required' : `default ${String(spec.default)}`;
    const help = `${spec.doc} [env ${spec.env}; ${defaultText}]`;
    if (spec.arg === null && spec.default === false) {
      cmd.addOption(new Option(spec.flag, `${spec.doc} [env ${spec.env}=true]`));
    } else if (spec.arg === null) {
      // Booleans default to true in this table; the flag turns them off.
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
    const result = await migrate(pool, names, log);
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
  const limit = Number(opts.limit ?? 100);
  if (!Number.isInteger(limit) || limit < 1) throw new ConfigError(`--limit ${JSON.stringify(opts.limit)} is invalid: expected a positive integer`);
  const config = loadConfig('dead', sources(cmd, 'dead'));
  // Logs (the discard audit lines) go to stderr here: stdout carries the command's answer.
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, undefined, config.logFormat, 2);
  const pool = createPool(
    { databaseUrl: config.databaseUrl, connectTimeoutMs: config.dbConnectTimeoutMs, applicationName: 'outbox-relay:dead', max: 1 },
    log,
  );
  const out = { json: opts.json === true, write: (text: string) => void process.stdout.write(text) };
  try {
    await checkConnection(pool, config.databaseUrl);
    const names = outboxNames(config.schema, config.table);
    await checkSchema(pool, names);
    if (action === 'list') await listDead(pool, names, selector, limit, out);
    else await changeDead(action, pool, names, selector, { dryRun: opts.dryRun === true, log }, out);
    return ExitCode.OK;
  } finally {
    await pool.end().catch(() => undefined);
    log.flush();
  }
}

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
      .addHelpText('after', EXIT_CODES_HELP),
    'run',
  ).action((_opts, cmd: Command) => {
    pending = handlers.run(cmd);
  });
  addSettings(
    program
      .command('migrate')
      .description('Create or upgrade the outbox schema. Safe to run again and from many processes at once.')
      .addHelpText('after', EXIT_CODES_HELP),
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
  return { program, result: () => pending };
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const { program, result } = buildProgram({ run: runCommand, migrate: migrateCommand, dead: deadCommand });
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
