/** Value parsing of each setting kind, and what may be logged (gaps StrykerJS found in config.test.ts). */
import { describe, expect, it } from 'vitest';
import { loadConfig, loggableConfig, redactUrl } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

const base = { DATABASE_URL: 'postgres://u:secret@127.0.0.1:5432/db', KAFKA_BROKERS: '127.0.0.1:9092' };
const run = (env: Record<string, string>) => loadConfig('run', { env: { ...base, ...env } });

describe('setting values', () => {
  it.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['on', true],
    ['false', false],
    ['0', false],
    ['no', false],
    ['off', false],
  ])('OUTBOX_LISTEN=%s is %s', (value, expected) => {
    expect(run({ OUTBOX_LISTEN: value }).listen).toBe(expected);
  });

  it('a boolean flag wins over the environment, and a bad flag value names the flag', () => {
    expect(loadConfig('run', { env: { ...base, OUTBOX_LISTEN: 'true' }, flags: { listen: false } }).listen).toBe(false);
    expect(() => loadConfig('run', { env: base, flags: { listen: 'maybe' } })).toThrow(/--listen "maybe" is invalid: expected true or false/);
  });

  it('rejects anything else, naming the setting and the expected values', () => {
    expect(() => run({ OUTBOX_LISTEN: 'maybe' })).toThrow(/OUTBOX_LISTEN "maybe" is invalid: expected true or false/);
  });

  it('splits and trims the broker list, skipping empty entries; each entry is host:port', () => {
    expect(run({ KAFKA_BROKERS: ' a:1 , b:2,,c:3 ' }).kafkaBrokers).toEqual(['a:1', 'b:2', 'c:3']);
    for (const bad of ['a', 'a:1,b', 'x a:1', 'a:1x', ',']) expect(() => run({ KAFKA_BROKERS: bad }), bad).toThrow(ConfigError);
  });

  it('accepts postgres:// and postgresql:// URLs only', () => {
    expect(run({ DATABASE_URL: 'postgresql://h/db' }).databaseUrl).toBe('postgresql://h/db');
    for (const bad of ['postgres://', 'mysql://h/db', 'x postgres://h/db']) {
      expect(() => run({ DATABASE_URL: bad }), bad).toThrow(/DATABASE_URL \(value hidden\) is invalid: expected a postgres:\/\/ or postgresql:\/\/ URL/);
    }
  });

  it('client id: letters, digits, ".", "_" and "-" only', () => {
    expect(run({ KAFKA_CLIENT_ID: 'relay-1.a_b' }).kafkaClientId).toBe('relay-1.a_b');
    for (const bad of ['a b', ' x y', 'a/b', '/ab', 'ab/']) expect(() => run({ KAFKA_CLIENT_ID: bad }), bad).toThrow(/KAFKA_CLIENT_ID/);
  });

  it('on-publish and log level are enumerations', () => {
    expect(run({ OUTBOX_ON_PUBLISH: 'mark' }).onPublish).toBe('mark');
    expect(run({ OUTBOX_ON_PUBLISH: 'delete' }).onPublish).toBe('delete');
    expect(() => run({ OUTBOX_ON_PUBLISH: 'drop' })).toThrow(/OUTBOX_ON_PUBLISH "drop" is invalid/);
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) expect(run({ LOG_LEVEL: level }).logLevel).toBe(level);
    expect(() => run({ LOG_LEVEL: 'loud' })).toThrow(/expected one of fatal, error, warn, info, debug, trace, silent/);
  });

  it('batch-max-bytes ranges from 1 KiB to 100 MiB', () => {
    expect(run({ OUTBOX_BATCH_MAX_BYTES: String(100 * 1024 * 1024) }).batchMaxBytes).toBe(104857600);
    expect(() => run({ OUTBOX_BATCH_MAX_BYTES: String(100 * 1024 * 1024 + 1) })).toThrow(/expected an integer from 1024 to 104857600/);
  });

  it('trims values, and an empty variable counts as unset (the next layer or the default applies)', () => {
    expect(run({ OUTBOX_BATCH_SIZE: ' 7 ' }).batchSize).toBe(7);
    expect(run({ OUTBOX_BATCH_SIZE: '' }).batchSize).toBe(500);
    expect(() => loadConfig('run', { env: { ...base, DATABASE_URL: '' } })).toThrow(/DATABASE_URL is required: set --database-url <url> or DATABASE_URL/);
  });

  it('lists every problem on one line', () => {
    expect(() => run({ OUTBOX_BATCH_SIZE: 'x', LOG_LEVEL: 'loud' })).toThrow(/^invalid configuration: OUTBOX_BATCH_SIZE "x" is invalid: .*; LOG_LEVEL "loud" is invalid/);
  });
});

describe('what may be logged', () => {
  it('redacts the password of a connection URL, and only that', () => {
    expect(redactUrl('postgres://u:secret@h:5432/db')).toBe('postgres://u:***@h:5432/db');
    expect(redactUrl('postgres://u@h/db')).toBe('postgres://u@h/db');
    expect(redactUrl('not a url')).toBe('(unparseable url)');
  });

  it('loggableConfig redacts secret settings and keeps the rest as is', () => {
    const c = run({ KAFKA_CLIENT_ID: 'secretless' });
    const logged = loggableConfig(c);
    expect(logged.databaseUrl).toBe('postgres://u:***@127.0.0.1:5432/db');
    expect(logged.kafkaClientId).toBe('secretless');
    expect(logged.kafkaBrokers).toEqual(['127.0.0.1:9092']);
    expect(Object.keys(logged).sort()).toEqual(Object.keys(c).sort());
    expect(JSON.stringify(logged)).not.toContain('secret@');
  });
});
