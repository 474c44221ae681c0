/**
 * The single typed definition of every setting: name, environment variable, flag, default, and the
 * documentation line. It feeds validation (zod), `--help` (src/cli.ts), the README table and the example
 * env file config/outbox-relay.env.example (src/config-docs.ts, written by `npm run docs:config`;
 * test/unit/docs-tables.test.ts fails when either drifts from it).
 *
 * Precedence, highest first: command-line flags > environment > --env-file files (later files win)
 * > defaults. Env files are parsed with dotenv (the de-facto .env grammar: quotes, escapes, comments,
 * multi-line values) rather than a home-grown parser, and they never leak into process.env.
 */
import { readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { DURATION_EXPECT, parseDuration } from './duration.js';
import { ConfigError } from './errors.js';
import { parseHttpAddr } from './http/address.js';
import type { MappingSettings } from './mapping/definition.js';
import { IDENTIFIER, MAX_CHANNEL_LENGTH, MAX_SCHEMA_LENGTH, MAX_TABLE_LENGTH } from './names.js';

export type Command = 'run' | 'migrate' | 'dead' | 'status' | 'doctor' | 'replay' | 'prune';

interface SettingSpec<T> {
  /** Environment variable (and env-file key). */
  env: string;
  /** Long flag without the value part, e.g. "--batch-size". Booleans get "--no-x" automatically. */
  flag: string;
  /** Value placeholder in --help; null for booleans. */
  arg: string | null;
  /** undefined = required. */
  default: T | undefined;
  /** A sample value for the example env file (config/outbox-relay.env.example); required settings need one. */
  example?: string;
  doc: string;
  /** What a valid value looks like, for the error line. */
  expect: string;
  schema: z.ZodType<T>;
  commands: readonly Command[];
  /** Never printed in logs or errors. */
  secret?: boolean;
}

/** Settings every command needs: where the outbox is. */
const ALL = ['run', 'migrate', 'dead', 'status', 'doctor', 'replay', 'prune'] as const;
const RUN = ['run'] as const;
/** Settings of the commands that talk to Kafka. */
const KAFKA = ['run', 'doctor'] as const;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])]).transform(
  (v) => v === true || v === 'true' || v === '1' || v === 'yes' || v === 'on',
);
const identifier = (max: number) => z.string().max(max).regex(IDENTIFIER);

function setting<T>(spec: SettingSpec<T>): SettingSpec<T> {
  return spec;
}

/** Every setting. Order here is the order of --help and the README table. */
export const SETTINGS = {
  databaseUrl: setting({
    env: 'DATABASE_URL',
    flag: '--database-url',
    arg: '<url>',
    default: undefined,
    example: 'postgres://postgres@127.0.0.1:5432/postgres',
    doc: 'PostgreSQL connection string (postgres://user:password@host:port/db).',
    expect: 'a postgres:// or postgresql:// URL',
    schema: z.string().regex(/^postgres(ql)?:\/\/.+/),
    commands: ALL,
    secret: true,
  }),
  kafkaBrokers: setting({
    env: 'KAFKA_BROKERS',
    flag: '--kafka-brokers',
    arg: '<list>',
    default: undefined,
    example: '127.0.0.1:9092',
    doc: 'Comma-separated Kafka bootstrap brokers (host:port,host:port).',
    expect: 'a comma-separated list of host:port',
    schema: z
      .string()
      .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^[^\s:,]+:\d{1,5}$/)).min(1)),
    commands: KAFKA,
  }),
  kafkaClientId: setting({
    env: 'KAFKA_CLIENT_ID',
    flag: '--kafka-client-id',
    arg: '<id>',
    default: 'outbox-relay',
    doc: 'Kafka client id (shows up in broker logs and quotas).',
    expect: 'a non-empty string of letters, digits, ".", "_" or "-"',
    schema: z.string().regex(/^[A-Za-z0-9._-]+$/),
    commands: KAFKA,
  }),
  schema: setting({
    env: 'OUTBOX_SCHEMA',
    flag: '--schema',
    arg: '<name>',
    default: 'public',
    doc: 'PostgreSQL schema that holds the outbox table.',
    expect: `a lower-case identifier of at most ${MAX_SCHEMA_LENGTH} characters`,
    schema: identifier(MAX_SCHEMA_LENGTH),
    commands: ALL,
  }),
  table: setting({
    env: 'OUTBOX_TABLE',
    flag: '--table',
    arg: '<name>',
    default: 'outbox',
    doc: 'Name of the outbox table.',
    expect: `a lower-case identifier of at most ${MAX_TABLE_LENGTH} characters`,
    schema: identifier(MAX_TABLE_LENGTH),
    commands: ALL,
  }),
  batchSize: setting({
    env: 'OUTBOX_BATCH_SIZE',
    flag: '--batch-size',
    arg: '<rows>',
    default: 500,
    doc: 'Most rows claimed and published per batch; also the most duplicates one crash can cause.',
    expect: 'an integer from 1 to 10000',
    schema: int(1, 10_000),
    commands: RUN,
  }),
  claimMaxBytes: setting({
    env: 'OUTBOX_CLAIM_MAX_BYTES',
    flag: '--claim-max-bytes',
    arg: '<bytes>',
    default: 16 * 1024 * 1024,
    doc: 'Stop a claim once its payloads add up to this many bytes (the first row always comes): bounds the memory one batch takes.',
    expect: 'an integer from 1024 to 1073741824',
    schema: int(1024, 1024 * 1024 * 1024),
    commands: RUN,
  }),
  batchMaxBytes: setting({
    env: 'OUTBOX_BATCH_MAX_BYTES',
    flag: '--batch-max-bytes',
    arg: '<bytes>',
    default: 900_000,
    doc: "Split a claimed batch into Kafka requests of at most this many payload bytes (keep below the broker's message.max.bytes).",
    expect: 'an integer from 1024 to 104857600',
    schema: int(1024, 100 * 1024 * 1024),
    commands: RUN,
  }),
  maxMessageBytes: setting({
    env: 'OUTBOX_MAX_MESSAGE_BYTES',
    flag: '--max-message-bytes',
    arg: '<bytes>',
    default: 1_000_000,
    doc: "Largest row (payload + key + headers) the relay sends; a larger row is parked dead at once without a round trip (keep it at or below the topics' max.message.bytes).",
    expect: 'an integer from 1024 to 104857600',
    schema: int(1024, 100 * 1024 * 1024),
    commands: RUN,
  }),
  failedRowPolicy: setting({
    env: 'OUTBOX_FAILED_ROW_POLICY',
    flag: '--failed-row-policy',
    arg: '<block-key|skip>',
    default: 'block-key' as 'block-key' | 'skip',
    doc: "A row that failed (waiting for a retry, or dead) holds back the later rows of its key (block-key: order first), or is set aside while its key goes on (skip).",
    expect: '"block-key" or "skip"',
    schema: z.enum(['block-key', 'skip']),
    commands: RUN,
  }),
  rowMaxAttempts: setting({
    env: 'OUTBOX_ROW_MAX_ATTEMPTS',
    flag: '--row-max-attempts',
    arg: '<n>',
    default: 10,
    doc: 'Failed attempts after which a retriable row failure (e.g. TOPIC_AUTHORIZATION_FAILED) parks the row as dead.',
    expect: 'an integer from 1 to 1000',
    schema: int(1, 1000),
    commands: RUN,
  }),
  rowRetryMaxMs: setting({
    env: 'OUTBOX_ROW_RETRY_MAX_MS',
    flag: '--row-retry-max-ms',
    arg: '<ms>',
    default: 300_000,
    doc: 'Longest wait between two attempts of a failed row (exponential backoff with jitter from 1 s).',
    expect: 'an integer from 10 to 86400000',
    schema: int(10, 86_400_000),
    commands: RUN,
  }),
  unknownTopicDeadAfterMs: setting({
    env: 'OUTBOX_UNKNOWN_TOPIC_DEAD_AFTER_MS',
    flag: '--unknown-topic-dead-after-ms',
    arg: '<ms>',
    default: 600_000,
    doc: "How long a row for a topic that does not exist keeps waiting for it to be created before it is parked as dead.",
    expect: 'an integer from 0 to 604800000',
    schema: int(0, 604_800_000),
    commands: RUN,
  }),
  onPublish: setting({
    env: 'OUTBOX_ON_PUBLISH',
    flag: '--on-publish',
    arg: '<delete|mark>',
    default: 'delete' as 'delete' | 'mark',
    doc: 'After Kafka acknowledges a row: delete it (fastest, table stays small) or mark it sent (keeps an audit trail and what `replay` needs; bound it with --retention or `outbox-relay prune`).',
    expect: '"delete" or "mark"',
    schema: z.enum(['delete', 'mark']),
    commands: RUN,
  }),
  retention: setting({
    env: 'OUTBOX_RETENTION',
    flag: '--retention',
    arg: '<duration|off>',
    default: null as number | null,
    doc: 'Delete sent rows older than this (e.g. 7d), in short batches, while running: keeps a --on-publish=mark table bounded. off keeps them (prune with `outbox-relay prune`). In delete mode there is nothing to delete but sent rows an earlier mark-mode run left.',
    expect: `off or ${DURATION_EXPECT}`,
    schema: z.string().transform((s, ctx) => {
      if (s === 'off') return null;
      const ms = parseDuration(s);
      if (ms === undefined) ctx.addIssue({ code: 'custom', message: 'not a duration' });
      return ms ?? null;
    }),
    commands: RUN,
  }),
  pollIntervalMs: setting({
    env: 'OUTBOX_POLL_INTERVAL_MS',
    flag: '--poll-interval-ms',
    arg: '<ms>',
    default: 1000,
    doc: 'Longest an idle relay sleeps before looking for rows again; the safety net when notifications are lost or off.',
    expect: 'an integer from 10 to 3600000',
    schema: int(10, 3_600_000),
    commands: RUN,
  }),
  listen: setting({
    env: 'OUTBOX_LISTEN',
    flag: '--listen',
    arg: null,
    default: true,
    doc: 'Wake up on LISTEN/NOTIFY from the outbox trigger (needs a session-mode connection, not PgBouncer transaction mode).',
    expect: 'true or false',
    schema: bool,
    commands: RUN,
  }),
  listenHeartbeatMs: setting({
    env: 'OUTBOX_LISTEN_HEARTBEAT_MS',
    flag: '--listen-heartbeat-ms',
    arg: '<ms>',
    default: 10_000,
    doc: 'How often the LISTEN connection is checked with a query; a failed check reconnects it.',
    expect: 'an integer from 100 to 600000',
    schema: int(100, 600_000),
    commands: RUN,
  }),
  publishTimeoutMs: setting({
    env: 'OUTBOX_PUBLISH_TIMEOUT_MS',
    flag: '--publish-timeout-ms',
    arg: '<ms>',
    default: 30_000,
    doc: 'Longest one batch may wait for Kafka before it is abandoned and retried; bounds how long a claim holds its rows.',
    expect: 'an integer from 1000 to 600000',
    schema: int(1000, 600_000),
    commands: RUN,
  }),
  shutdownTimeoutMs: setting({
    env: 'OUTBOX_SHUTDOWN_TIMEOUT_MS',
    flag: '--shutdown-timeout-ms',
    arg: '<ms>',
    default: 10_000,
    doc: 'On SIGTERM/SIGINT, how long to let the in-flight batch finish before abandoning it (unmarked) and exiting 0.',
    expect: 'an integer from 0 to 600000',
    schema: int(0, 600_000),
    commands: RUN,
  }),
  dbConnectTimeoutMs: setting({
    env: 'OUTBOX_DB_CONNECT_TIMEOUT_MS',
    flag: '--db-connect-timeout-ms',
    arg: '<ms>',
    default: 5000,
    doc: 'Give up on one PostgreSQL connection attempt after this long (node-postgres waits forever by default).',
    expect: 'an integer from 100 to 600000',
    schema: int(100, 600_000),
    commands: ALL,
  }),
  leaseTtlMs: setting({
    env: 'OUTBOX_LEASE_TTL_MS',
    flag: '--lease-ttl-ms',
    arg: '<ms>',
    default: 10_000,
    doc: "Replicas share the outbox's 64 key partitions through leases renewed every TTL/4; a replica that stops renewing (dead, frozen, cut off) loses its partitions to the others after this long (database clock).",
    expect: 'an integer from 1000 to 600000',
    schema: int(1000, 600_000),
    commands: RUN,
  }),
  httpAddr: setting({
    env: 'OUTBOX_HTTP_ADDR',
    flag: '--http-addr',
    arg: '<host:port|off>',
    default: ':9464',
    doc: 'Where to serve /metrics (Prometheus), /healthz and /readyz: host:port (":9464" = every interface, "127.0.0.1:0" = any free port), or off.',
    expect: 'host:port (e.g. :9464, 127.0.0.1:9464, [::1]:9464) or off',
    schema: z.string().refine((v) => parseHttpAddr(v) !== undefined),
    commands: RUN,
  }),
  backlogIntervalMs: setting({
    env: 'OUTBOX_BACKLOG_INTERVAL_MS',
    flag: '--backlog-interval-ms',
    arg: '<ms>',
    default: 15_000,
    doc: 'How often the backlog metrics (pending rows, oldest pending age, dead rows, blocked keys per topic) are queried; a scrape never runs SQL.',
    expect: 'an integer from 1000 to 3600000',
    schema: int(1000, 3_600_000),
    commands: RUN,
  }),
  mapping: setting({
    env: 'OUTBOX_MAPPING',
    flag: '--mapping',
    arg: '<native|debezium>',
    default: 'native' as 'native' | 'debezium',
    doc: "How rows become Kafka messages: native (the relay's own table, with the OUTBOX_TOPIC_TEMPLATE … OUTBOX_CE_* options) or debezium (an existing Debezium-style outbox table named by --table, published as Debezium's Outbox Event Router would; OUTBOX_DEBEZIUM_* options). See \"Kafka message mapping\".",
    expect: '"native" or "debezium"',
    schema: z.enum(['native', 'debezium']),
    commands: ALL,
  }),
  topicTemplate: setting({
    env: 'OUTBOX_TOPIC_TEMPLATE',
    flag: '--topic-template',
    arg: '<template>',
    default: '{topic}',
    doc: 'native: the topic, from a column ({topic}) or a template over columns (events.{aggregate_type}); a NULL column makes the row dead (invalid-topic).',
    expect: 'text with {column} references',
    schema: z.string().min(1),
    commands: ALL,
  }),
  keyColumn: setting({
    env: 'OUTBOX_KEY_COLUMN',
    flag: '--key-column',
    arg: '<column>',
    default: 'key',
    doc: 'native: the column that gives the message key (NULL = no key); rows of one key are published in order.',
    expect: 'a lower-case column name',
    schema: z.string().regex(IDENTIFIER),
    commands: ALL,
  }),
  partitionColumn: setting({
    env: 'OUTBOX_PARTITION_COLUMN',
    flag: '--partition-column',
    arg: '<column>',
    default: '',
    doc: 'native: an integer column that names the partition explicitly (NULL = the key decides); empty: none.',
    expect: 'a lower-case column name',
    schema: z.string().regex(IDENTIFIER),
    commands: ALL,
  }),
  staticHeaders: setting({
    env: 'OUTBOX_STATIC_HEADERS',
    flag: '--static-headers',
    arg: '<name=value,…>',
    default: '',
    doc: 'native: headers added to every message (name=value,name2=value2 or a JSON object of strings); a row header of the same name wins.',
    expect: 'name=value pairs separated by commas, or a JSON object of strings',
    schema: z.string(),
    commands: ALL,
  }),
  timestamp: setting({
    env: 'OUTBOX_TIMESTAMP',
    flag: '--timestamp',
    arg: '<none|created_at>',
    default: 'none' as 'none' | 'created_at',
    doc: "The Kafka message timestamp: none (the producer's clock at send time) or created_at (when the row was written; a topic's message.timestamp.after.max.ms / before.max.ms limits then apply: refused rows go dead as refused).",
    expect: '"none" or "created_at"',
    schema: z.enum(['none', 'created_at']),
    commands: ALL,
  }),
  cloudEvents: setting({
    env: 'OUTBOX_CLOUDEVENTS',
    flag: '--cloudevents',
    arg: '<off|binary>',
    default: 'off' as 'off' | 'binary',
    doc: 'native: binary: CloudEvents 1.0 Kafka binary mode, headers ce_specversion, ce_id (the event id), ce_source, ce_type, ce_time (created_at) and content-type; the value stays the payload.',
    expect: '"off" or "binary"',
    schema: z.enum(['off', 'binary']),
    commands: ALL,
  }),
  ceSource: setting({
    env: 'OUTBOX_CE_SOURCE',
    flag: '--ce-source',
    arg: '<uri-reference>',
    default: '',
    doc: 'ce_source of every event (required with --cloudevents binary), e.g. /orders-service.',
    expect: 'a URI reference',
    schema: z.string(),
    commands: ALL,
  }),
  ceTypeColumn: setting({
    env: 'OUTBOX_CE_TYPE_COLUMN',
    flag: '--ce-type-column',
    arg: '<column>',
    default: '',
    doc: 'The column that gives ce_type (add it to the outbox table); empty, or NULL in a row: the topic name.',
    expect: 'a lower-case column name',
    schema: z.string().regex(IDENTIFIER),
    commands: ALL,
  }),
  ceContentType: setting({
    env: 'OUTBOX_CE_CONTENT_TYPE',
    flag: '--ce-content-type',
    arg: '<media type>',
    default: 'application/json',
    doc: 'The content-type header of CloudEvents messages (the payload\'s media type).',
    expect: 'a media type',
    schema: z.string().min(1),
    commands: ALL,
  }),
  debeziumIdField: setting({
    env: 'OUTBOX_DEBEZIUM_EVENT_ID_FIELD',
    flag: '--debezium-event-id-field',
    arg: '<column>',
    default: 'id',
    doc: 'debezium: table.field.event.id, the unique event id column, sent as header id.',
    expect: 'a lower-case column name',
    schema: z.string().regex(IDENTIFIER),
    commands: ALL,
  }),
  debeziumKeyField: setting({
    env: 'OUTBOX_DEBEZIUM_EVENT_KEY_FIELD',
    flag: '--debezium-event-key-field',
    arg: '<column>',
    default: 'aggregateid',
    doc: 'debezium: table.field.event.key, the message key column.',
    expect: 'a lower-case column name',
    schema: z.string().regex(IDENTIFIER),
    commands: ALL,
  }),
  debeziumPayloadField: setting({
    env: 'OUTBOX_DEBEZIUM_PAYLOAD_FIELD',
    flag: '--debezium-payload-field',
    arg: '<column>',
    default: 'payload',
    doc: 'debezium: table.field.event.payload, the value column (jsonb, json, text or varchar; NULL = tombstone).',
    expect: 'a lower-case column name',
    schema: z.string().regex(IDENTIFIER),
    commands: ALL,
  }),
  debeziumRouteByField: setting({
    env: 'OUTBOX_DEBEZIUM_ROUTE_BY_FIELD',
    flag: '--debezium-route-by-field',
    arg: '<column>',
    default: 'aggregatetype',
    doc: 'debezium: route.by.field, the column whose value names the topic (through the regex and replacement).',
    expect: 'a lower-case column name',
    schema: z.string().regex(IDENTIFIER),
    commands: ALL,
  }),
  debeziumRouteTopicRegex: setting({
    env: 'OUTBOX_DEBEZIUM_ROUTE_TOPIC_REGEX',
    flag: '--debezium-route-topic-regex',
    arg: '<regex>',
    default: '(?<routedByValue>.*)',
    doc: 'debezium: route.topic.regex, matched against the whole route-by value.',
    expect: 'a regular expression',
    schema: z.string().min(1),
    commands: ALL,
  }),
  debeziumRouteTopicReplacement: setting({
    env: 'OUTBOX_DEBEZIUM_ROUTE_TOPIC_REPLACEMENT',
    flag: '--debezium-route-topic-replacement',
    arg: '<text>',
    default: 'outbox.event.${routedByValue}',
    doc: 'debezium: route.topic.replacement, the topic; ${name} and $1 refer to the regex groups.',
    expect: 'text',
    schema: z.string().min(1),
    commands: ALL,
  }),
  debeziumAdditionalPlacement: setting({
    env: 'OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT',
    flag: '--debezium-additional-placement',
    arg: '<col:header[:alias],…>',
    default: '',
    doc: 'debezium: table.fields.additional.placement: col:header[:alias] (a header) or col:partition; envelope placement is not supported.',
    expect: 'col:header[:alias] or col:partition, comma-separated',
    schema: z.string(),
    commands: ALL,
  }),
  debeziumExpandJsonPayload: setting({
    env: 'OUTBOX_DEBEZIUM_EXPAND_JSON_PAYLOAD',
    flag: '--debezium-expand-json-payload',
    arg: null,
    default: false,
    doc: 'debezium: table.expand.json.payload: the value as JsonConverter (schemas.enable=false) writes the expanded payload (compact, null fields dropped); off: the payload text as is (StringConverter).',
    expect: 'true or false',
    schema: bool,
    commands: ALL,
  }),
  debeziumTombstoneOnEmptyPayload: setting({
    env: 'OUTBOX_DEBEZIUM_TOMBSTONE_ON_EMPTY_PAYLOAD',
    flag: '--debezium-tombstone-on-empty-payload',
    arg: null,
    default: false,
    doc: 'debezium: route.tombstone.on.empty.payload: an empty or blank payload is sent as a tombstone (a NULL payload always is).',
    expect: 'true or false',
    schema: bool,
    commands: ALL,
  }),
  logLevel: setting({
    env: 'LOG_LEVEL',
    flag: '--log-level',
    arg: '<level>',
    default: 'info' as 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent',
    doc: 'fatal, error, warn, info, debug (per-batch summaries), trace or silent.',
    expect: 'one of fatal, error, warn, info, debug, trace, silent',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    commands: ALL,
  }),
  logFormat: setting({
    env: 'LOG_FORMAT',
    flag: '--log-format',
    arg: '<auto|json|pretty>',
    default: 'auto' as 'auto' | 'json' | 'pretty',
    doc: 'json: one JSON object per line (for log shippers); pretty: readable lines; auto: pretty on a terminal, json otherwise.',
    expect: 'one of auto, json, pretty',
    schema: z.enum(['auto', 'json', 'pretty']),
    commands: ALL,
  }),
};

export type SettingKey = keyof typeof SETTINGS;

/** A setting's default as --help and the README show it (null = the feature is off). */
export function shownDefault(key: SettingKey): string | undefined {
  const value: unknown = SETTINGS[key].default;
  return value === undefined ? undefined : value === null ? 'off' : String(value);
}
type ValueOf<K extends SettingKey> = (typeof SETTINGS)[K] extends SettingSpec<infer T> ? T : never;
export type Config = { [K in SettingKey]: ValueOf<K> };
export type RunConfig = Config;
export type MigrateConfig = Pick<Config, 'databaseUrl' | 'schema' | 'table' | 'dbConnectTimeoutMs' | 'logLevel' | 'logFormat' | MappingKey>;
export type DoctorConfig = MigrateConfig & Pick<Config, 'kafkaBrokers' | 'kafkaClientId'>;

/** The settings a mapping is built from (src/mapping/definition.ts). */
export type MappingKey = keyof MappingSettings;

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

export function settingsFor(command: Command): SettingKey[] {
  return SETTING_KEYS.filter((k) => (SETTINGS[k].commands as readonly Command[]).includes(command));
}

/** Where raw values come from; each layer overrides the ones before it. */
export interface ConfigSources {
  /** Values given on the command line (already keyed by setting). */
  flags?: Partial<Record<SettingKey, string | boolean>>;
  /** The process environment. */
  env?: Record<string, string | undefined>;
  /** Paths of env files, lowest precedence first. */
  envFiles?: string[];
}

export function readEnvFiles(paths: string[]): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ConfigError(`cannot read env file ${path} (${code}): check the --env-file path`);
    }
    Object.assign(merged, parseDotenv(text));
  }
  return merged;
}

/**
 * Resolve, validate and type the settings a command needs. Throws ConfigError with one line naming
 * every invalid or missing setting, the value's expected shape, and where to set it.
 */
export function loadConfig(command: 'run', sources: ConfigSources): RunConfig;
export function loadConfig(command: 'migrate' | 'dead' | 'status' | 'replay' | 'prune', sources: ConfigSources): MigrateConfig;
export function loadConfig(command: 'doctor', sources: ConfigSources): DoctorConfig;
export function loadConfig(command: Command, sources: ConfigSources): Partial<Config> {
  const fileValues = readEnvFiles(sources.envFiles ?? []);
  const env = sources.env ?? {};
  const flags = sources.flags ?? {};
  const result: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const key of settingsFor(command)) {
    const spec = SETTINGS[key] as SettingSpec<unknown>;
    let raw: unknown;
    let origin: string;
    if (flags[key] !== undefined) {
      raw = flags[key];
      origin = spec.arg === null ? `${flags[key] ? spec.flag : spec.flag.replace('--', '--no-')}` : spec.flag;
    } else if (env[spec.env] !== undefined && env[spec.env] !== '') {
      raw = env[spec.env];
      origin = spec.env;
    } else if (fileValues[spec.env] !== undefined && fileValues[spec.env] !== '') {
      raw = fileValues[spec.env];
      origin = `${spec.env} in env file`;
    } else if (spec.default !== undefined) {
      result[key] = spec.default;
      continue;
    } else {
      problems.push(`${spec.env} is required: set ${spec.flag} ${spec.arg ?? ''} or ${spec.env} (${spec.doc})`.replace('  ', ' '));
      continue;
    }
    const parsed = spec.schema.safeParse(typeof raw === 'string' ? raw.trim() : raw);
    if (parsed.success) {
      result[key] = parsed.data;
    } else {
      const shown = spec.secret ? '(value hidden)' : JSON.stringify(raw);
      problems.push(`${origin} ${shown} is invalid: expected ${spec.expect}`);
    }
  }
  const schema = result.schema as string | undefined;
  const table = result.table as string | undefined;
  if (schema && table && schema.length + 1 + table.length > MAX_CHANNEL_LENGTH) {
    // The NOTIFY channel is "schema.table", and PostgreSQL rejects channels of 64 bytes or more:
    // the trigger would then fail the application's own INSERTs.
    problems.push(
      `OUTBOX_SCHEMA and OUTBOX_TABLE together are too long ("${schema}.${table}" is ${schema.length + 1 + table.length} characters; at most ${MAX_CHANNEL_LENGTH}, as they name the NOTIFY channel): choose shorter names`,
    );
  }
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return result as Partial<Config>;
}

/** Query parameters of a connection string that hold a secret (libpq's password, sslpassword). */
const SECRET_PARAM = /password/i;

/**
 * A connection URL as it may be shown: the userinfo password and every secret query parameter
 * (`?password=`, `sslpassword=`) replaced by ***. Paths such as sslkey/sslcert are not secrets and stay.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    if (parsed.search) {
      // Rewritten by hand: URLSearchParams would re-encode the other parameters.
      parsed.search = parsed.search
        .slice(1)
        .split('&')
        .map((pair) => {
          const eq = pair.indexOf('=');
          const name = eq < 0 ? pair : pair.slice(0, eq);
          return SECRET_PARAM.test(safeDecode(name)) ? `${name}=***` : pair;
        })
        .join('&');
    }
    return parsed.toString();
  } catch {
    return '(unparseable url)';
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}

/** The config as it may be logged: secrets redacted. */
export function loggableConfig(config: Partial<Config>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const spec = SETTINGS[key as SettingKey] as SettingSpec<unknown> | undefined;
    out[key] = spec?.secret && typeof value === 'string' ? redactUrl(value) : value;
  }
  return out;
}
