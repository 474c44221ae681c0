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
export type SaslMechanism = 'none' | 'plain' | 'scram-sha-256' | 'scram-sha-512' | 'oauthbearer';
export type Compression = 'none' | 'gzip' | 'lz4' | 'zstd' | 'snappy';

interface SettingSpec<T> {
  /** Environment variable (and env-file key). */
  env: string;
  /** Long flag without the value part, e.g. "--batch-size". Booleans get "--no-x" automatically. */
  flag: string;
  /** Value placeholder in --help; null for booleans. */
  arg: string | null;
  /** undefined = required, unless optional. */
  default: T | undefined;
  /** A sample value for the example env file (config/outbox-relay.env.example); required settings need one. */
  example?: string;
  /** May be left unset (no default, not required). */
  optional?: boolean;
  doc: string;
  /** What a valid value looks like, for the error line. */
  expect: string;
  schema: z.ZodType<T>;
  commands: readonly Command[];
  /**
   * Never printed in logs or errors. A secret can also be read from a file: <ENV>_FILE / <flag>-file
   * (e.g. a mounted Kubernetes or Docker secret), trailing newline removed.
   */
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
  kafkaSsl: setting({
    env: 'KAFKA_SSL',
    flag: '--kafka-ssl',
    arg: null,
    default: false,
    doc: 'Connect to Kafka over TLS (on by itself when any KAFKA_SSL_* file or name is set). Without KAFKA_SSL_CA_FILE the broker certificate is checked against the system CAs.',
    expect: 'true or false',
    schema: bool,
    commands: KAFKA,
  }),
  kafkaSslCaFile: setting<string | undefined>({
    env: 'KAFKA_SSL_CA_FILE',
    flag: '--kafka-ssl-ca-file',
    arg: '<path>',
    default: undefined,
    optional: true,
    doc: "PEM file of the CA certificate(s) that signed the brokers' certificates (a private CA); replaces the system CAs.",
    expect: 'a file path',
    schema: z.string().min(1),
    commands: KAFKA,
  }),
  kafkaSslCertFile: setting<string | undefined>({
    env: 'KAFKA_SSL_CERT_FILE',
    flag: '--kafka-ssl-cert-file',
    arg: '<path>',
    default: undefined,
    optional: true,
    doc: 'PEM client certificate (chain) for mutual TLS; needs KAFKA_SSL_KEY_FILE.',
    expect: 'a file path',
    schema: z.string().min(1),
    commands: KAFKA,
  }),
  kafkaSslKeyFile: setting<string | undefined>({
    env: 'KAFKA_SSL_KEY_FILE',
    flag: '--kafka-ssl-key-file',
    arg: '<path>',
    default: undefined,
    optional: true,
    doc: 'PEM private key of the client certificate (mutual TLS); encrypted keys need KAFKA_SSL_KEY_PASSWORD.',
    expect: 'a file path',
    schema: z.string().min(1),
    commands: KAFKA,
  }),
  kafkaSslKeyPassword: setting<string | undefined>({
    env: 'KAFKA_SSL_KEY_PASSWORD',
    flag: '--kafka-ssl-key-password',
    arg: '<secret>',
    default: undefined,
    optional: true,
    doc: 'Passphrase of an encrypted KAFKA_SSL_KEY_FILE.',
    expect: 'a non-empty string',
    schema: z.string().min(1),
    commands: KAFKA,
    secret: true,
  }),
  kafkaSslServername: setting<string | undefined>({
    env: 'KAFKA_SSL_SERVERNAME',
    flag: '--kafka-ssl-servername',
    arg: '<name>',
    default: undefined,
    optional: true,
    doc: "Host name sent as SNI and checked against the broker certificate, instead of each broker's own host name (e.g. when connecting through an IP or a tunnel).",
    expect: 'a host name',
    schema: z.string().regex(/^[A-Za-z0-9.*-]+$/),
    commands: KAFKA,
  }),
  kafkaSaslMechanism: setting({
    env: 'KAFKA_SASL_MECHANISM',
    flag: '--kafka-sasl-mechanism',
    arg: '<mechanism>',
    default: 'none' as SaslMechanism,
    doc: 'SASL login: none, plain, scram-sha-256, scram-sha-512 (KAFKA_SASL_USERNAME/PASSWORD) or oauthbearer (a token from KAFKA_SASL_OAUTHBEARER_TOKEN_FILE or _COMMAND). Use with KAFKA_SSL unless the network is trusted.',
    expect: 'one of none, plain, scram-sha-256, scram-sha-512, oauthbearer',
    schema: z.enum(['none', 'plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer']),
    commands: KAFKA,
  }),
  kafkaSaslUsername: setting<string | undefined>({
    env: 'KAFKA_SASL_USERNAME',
    flag: '--kafka-sasl-username',
    arg: '<user>',
    default: undefined,
    optional: true,
    doc: 'SASL user name (plain, scram-sha-256, scram-sha-512).',
    expect: 'a non-empty string',
    schema: z.string().min(1),
    commands: KAFKA,
  }),
  kafkaSaslPassword: setting<string | undefined>({
    env: 'KAFKA_SASL_PASSWORD',
    flag: '--kafka-sasl-password',
    arg: '<secret>',
    default: undefined,
    optional: true,
    doc: 'SASL password (plain, scram-sha-256, scram-sha-512); prefer KAFKA_SASL_PASSWORD_FILE.',
    expect: 'a non-empty string',
    schema: z.string().min(1),
    commands: KAFKA,
    secret: true,
  }),
  kafkaSaslOauthbearerTokenFile: setting<string | undefined>({
    env: 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE',
    flag: '--kafka-sasl-oauthbearer-token-file',
    arg: '<path>',
    default: undefined,
    optional: true,
    doc: "OAUTHBEARER: file holding the access token (a JWT), kept fresh by something else (e.g. a sidecar); read again before the token's exp, or every minute when it has none.",
    expect: 'a file path',
    schema: z.string().min(1),
    commands: KAFKA,
  }),
  kafkaSaslOauthbearerTokenCommand: setting<string | undefined>({
    env: 'KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND',
    flag: '--kafka-sasl-oauthbearer-token-command',
    arg: '<command>',
    default: undefined,
    optional: true,
    doc: "OAUTHBEARER: shell command that prints an access token on stdout (e.g. a cloud CLI); run again before the token's exp, or every minute when it has none.",
    expect: 'a command line',
    schema: z.string().min(1),
    commands: KAFKA,
  }),
  kafkaCompression: setting({
    env: 'KAFKA_COMPRESSION',
    flag: '--kafka-compression',
    arg: '<codec>',
    default: 'none' as Compression,
    doc: 'Compress produce requests: none, gzip, lz4, zstd or snappy (see docs/compression.md for measurements).',
    expect: 'one of none, gzip, lz4, zstd, snappy',
    schema: z.enum(['none', 'gzip', 'lz4', 'zstd', 'snappy']),
    commands: KAFKA,
  }),
  kafkaClient: setting({
    env: 'KAFKA_CLIENT',
    flag: '--kafka-client',
    arg: '<kafkajs|librdkafka>',
    default: 'kafkajs' as 'kafkajs' | 'librdkafka',
    doc: 'Kafka client that publishes: kafkajs, or librdkafka through the optional package @confluentinc/kafka-javascript (PLAINTEXT only so far; see docs/performance.md for how to install it and what it gains).',
    expect: '"kafkajs" or "librdkafka"',
    schema: z.enum(['kafkajs', 'librdkafka']),
    commands: RUN,
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
    commands: KAFKA,
  }),
  maxMessageBytes: setting({
    env: 'OUTBOX_MAX_MESSAGE_BYTES',
    flag: '--max-message-bytes',
    arg: '<bytes>',
    default: 1_000_000,
    doc: "Largest row (payload + key + headers) the relay sends; a larger row is parked dead at once without a round trip (keep it at or below the topics' max.message.bytes).",
    expect: 'an integer from 1024 to 104857600',
    schema: int(1024, 100 * 1024 * 1024),
    commands: KAFKA,
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
/** The Kafka TLS and SASL settings (src/publisher/security.ts builds the client options from them). */
export type KafkaSecurityKey =
  | 'kafkaSsl'
  | 'kafkaSslCaFile'
  | 'kafkaSslCertFile'
  | 'kafkaSslKeyFile'
  | 'kafkaSslKeyPassword'
  | 'kafkaSslServername'
  | 'kafkaSaslMechanism'
  | 'kafkaSaslUsername'
  | 'kafkaSaslPassword'
  | 'kafkaSaslOauthbearerTokenFile'
  | 'kafkaSaslOauthbearerTokenCommand';
/** doctor connects to Kafka exactly as the relay does (the security settings) and judges row sizes as it does. */
export type DoctorConfig = MigrateConfig & Pick<Config, 'kafkaBrokers' | 'kafkaClientId' | KafkaSecurityKey | 'kafkaCompression' | 'batchMaxBytes' | 'maxMessageBytes'>;

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
  /** `--<flag>-file <path>` values of secret settings given on the command line. */
  fileFlags?: Partial<Record<SettingKey, string>>;
}

/**
 * A setting's raw value and where it came from, highest layer first: the flag, the environment, the
 * env files; within a layer a secret may come from its file variant (<ENV>_FILE, <flag>-file), but
 * not from both. The file is read here (trailing newline removed); an unreadable one is a ConfigError.
 */
function rawValue(
  spec: SettingSpec<unknown>,
  flag: string | boolean | undefined,
  fileFlag: string | undefined,
  env: Record<string, string | undefined>,
  fileValues: Record<string, string>,
): { raw: unknown; origin: string } | undefined {
  const given = (v: string | undefined): v is string => v !== undefined && v !== '';
  const layers: [unknown, string, string | undefined, string][] = [
    [flag, spec.arg === null ? (flag ? spec.flag : spec.flag.replace('--', '--no-')) : spec.flag, fileFlag, `${spec.flag}-file`],
    [env[spec.env], spec.env, env[`${spec.env}_FILE`], `${spec.env}_FILE`],
    [fileValues[spec.env], `${spec.env} in env file`, fileValues[`${spec.env}_FILE`], `${spec.env}_FILE in env file`],
  ];
  for (const [value, origin, path, pathOrigin] of layers) {
    const hasValue = typeof value === 'boolean' || given(value as string | undefined);
    const hasPath = spec.secret === true && given(path);
    if (hasValue && hasPath) throw new Error(`${origin} and ${pathOrigin} are both set: set only one`);
    if (hasValue) return { raw: value, origin };
    if (hasPath) return { raw: readSecretFile(path, pathOrigin), origin: `${pathOrigin} ${path}` };
  }
  return undefined;
}

/** A secret's file: its content without the trailing newline(s). */
export function readSecretFile(path: string, origin: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/[\r\n]+$/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new Error(`cannot read ${origin} ${path} (${code}): check the path and that the relay may read it`);
  }
}

/** Settings that only make sense together (one line each, for the ConfigError). */
export function kafkaSecurityProblems(c: Partial<Config>): string[] {
  const problems: string[] = [];
  const mechanism = c.kafkaSaslMechanism ?? 'none';
  if (mechanism === 'plain' || mechanism.startsWith('scram')) {
    if (c.kafkaSaslUsername === undefined || c.kafkaSaslPassword === undefined) {
      problems.push(`KAFKA_SASL_MECHANISM=${mechanism} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)`);
    }
  } else if ((c.kafkaSaslUsername ?? c.kafkaSaslPassword) !== undefined && mechanism === 'none') {
    problems.push('KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD are set but KAFKA_SASL_MECHANISM is none: set KAFKA_SASL_MECHANISM (plain, scram-sha-256 or scram-sha-512)');
  }
  const tokenSources = [c.kafkaSaslOauthbearerTokenFile, c.kafkaSaslOauthbearerTokenCommand].filter((v) => v !== undefined).length;
  if (mechanism === 'oauthbearer' && tokenSources !== 1) {
    problems.push('KAFKA_SASL_MECHANISM=oauthbearer needs exactly one of KAFKA_SASL_OAUTHBEARER_TOKEN_FILE or KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND');
  }
  if (mechanism !== 'oauthbearer' && tokenSources > 0) {
    problems.push('KAFKA_SASL_OAUTHBEARER_TOKEN_FILE/_COMMAND are set but KAFKA_SASL_MECHANISM is not oauthbearer: set KAFKA_SASL_MECHANISM=oauthbearer');
  }
  if ((c.kafkaSslCertFile === undefined) !== (c.kafkaSslKeyFile === undefined)) {
    problems.push('mutual TLS needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE');
  }
  if (c.kafkaSslKeyPassword !== undefined && c.kafkaSslKeyFile === undefined) {
    problems.push('KAFKA_SSL_KEY_PASSWORD is set without KAFKA_SSL_KEY_FILE');
  }
  return problems;
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
  const fileFlags = sources.fileFlags ?? {};
  for (const key of settingsFor(command)) {
    const spec = SETTINGS[key] as SettingSpec<unknown>;
    let found: { raw: unknown; origin: string } | undefined;
    try {
      found = rawValue(spec, flags[key], fileFlags[key], env, fileValues);
    } catch (err) {
      problems.push((err as Error).message);
      continue;
    }
    if (found === undefined) {
      if (spec.default !== undefined) result[key] = spec.default;
      else if (!spec.optional) {
        const fileHint = spec.secret ? ` (or ${spec.env}_FILE)` : '';
        problems.push(`${spec.env} is required: set ${spec.flag} ${spec.arg ?? ''} or ${spec.env}${fileHint} (${spec.doc})`.replace('  ', ' '));
      }
      continue;
    }
    const { raw, origin } = found;
    const parsed = spec.schema.safeParse(typeof raw === 'string' ? raw.trim() : raw);
    if (parsed.success) {
      result[key] = parsed.data;
    } else {
      const shown = spec.secret ? '(value hidden)' : JSON.stringify(raw);
      problems.push(`${origin} ${shown} is invalid: expected ${spec.expect}`);
    }
  }
  if (command === 'run' || command === 'doctor') problems.push(...kafkaSecurityProblems(result as Partial<Config>));
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

/** The config as it may be logged: secrets redacted (DATABASE_URL keeps its host; any other secret is ***). */
export function loggableConfig(config: Partial<Config>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const spec = SETTINGS[key as SettingKey] as SettingSpec<unknown> | undefined;
    // The connection URL keeps its host (redactUrl); any other secret is *** whatever it looks like.
    if (spec?.secret && value !== undefined) out[key] = key === 'databaseUrl' ? redactUrl(String(value)) : '***';
    else out[key] = value;
  }
  return out;
}
