import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS, loadConfig, loggableConfig, redactUrl } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { ConfigError, ExitCode } from '../../src/errors.js';

const base = { DATABASE_URL: 'postgres://u:secret@127.0.0.1:5432/db', KAFKA_BROKERS: '127.0.0.1:9092' };

function envFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-relay-'));
  const path = join(dir, '.env');
  writeFileSync(path, text);
  return path;
}

describe('configuration', () => {
  it('applies defaults from the one settings table', () => {
    const c = loadConfig('run', { env: base });
    expect(c.batchSize).toBe(SETTINGS.batchSize.default);
    expect(c.kafkaBrokers).toEqual(['127.0.0.1:9092']);
    expect(c.listen).toBe(true);
    expect(c.onPublish).toBe('delete');
  });

  it('takes flags over environment over env files over defaults', () => {
    const file = envFile('OUTBOX_BATCH_SIZE=10\nOUTBOX_POLL_INTERVAL_MS=111\nOUTBOX_TABLE=from_file\n');
    const env = { ...base, OUTBOX_BATCH_SIZE: '20', OUTBOX_POLL_INTERVAL_MS: '222' };
    const c = loadConfig('run', { env, envFiles: [file], flags: { batchSize: '30' } });
    expect(c.batchSize).toBe(30);
    expect(c.pollIntervalMs).toBe(222);
    expect(c.table).toBe('from_file');
  });

  it('lets a later env file win over an earlier one, and parses .env syntax with dotenv', () => {
    const a = envFile('OUTBOX_SCHEMA=first\n# comment\nKAFKA_CLIENT_ID="quoted-id"\n');
    const b = envFile('OUTBOX_SCHEMA=second\n');
    const c = loadConfig('run', { env: base, envFiles: [a, b] });
    expect(c.schema).toBe('second');
    expect(c.kafkaClientId).toBe('quoted-id');
  });

  it('parses booleans from env and flags', () => {
    expect(loadConfig('run', { env: { ...base, OUTBOX_LISTEN: 'false' } }).listen).toBe(false);
    expect(loadConfig('run', { env: { ...base, OUTBOX_LISTEN: 'false' }, flags: { listen: true } }).listen).toBe(true);
  });

  it('reports every invalid or missing setting on one line, with where to set it', () => {
    let err: unknown;
    try {
      loadConfig('run', { env: { OUTBOX_BATCH_SIZE: 'abc', OUTBOX_ON_PUBLISH: 'archive' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as ConfigError).message;
    expect(message).not.toContain('\n');
    expect(message).toContain('DATABASE_URL is required: set --database-url <url> or DATABASE_URL');
    expect(message).toContain('KAFKA_BROKERS is required');
    expect(message).toContain('OUTBOX_BATCH_SIZE "abc" is invalid: expected an integer from 1 to 10000');
    expect(message).toContain('OUTBOX_ON_PUBLISH "archive" is invalid: expected "delete" or "mark"');
    expect((err as ConfigError).exitCode).toBe(ExitCode.USAGE);
  });

  it('names the flag when the bad value came from a flag, and rejects unsafe table names', () => {
    expect(() => loadConfig('run', { env: base, flags: { batchSize: '0' } })).toThrow(/--batch-size "0" is invalid/);
    expect(() => loadConfig('run', { env: { ...base, OUTBOX_TABLE: 'out"box' } })).toThrow(/OUTBOX_TABLE .* lower-case identifier/);
    expect(() => loadConfig('run', { env: { ...base, KAFKA_BROKERS: 'localhost' } })).toThrow(/host:port/);
  });

  it('never shows a secret value in errors or logs', () => {
    expect(() => loadConfig('run', { env: { ...base, DATABASE_URL: 'mysql://u:hunter2@h/db' } })).toThrow(/DATABASE_URL \(value hidden\) is invalid/);
    try {
      loadConfig('run', { env: { ...base, DATABASE_URL: 'mysql://u:hunter2@h/db' } });
    } catch (e) {
      expect(String(e)).not.toContain('hunter2');
    }
    expect(JSON.stringify(loggableConfig(loadConfig('run', { env: base })))).not.toContain('secret');
    expect(redactUrl('postgres://u:secret@h:5432/db')).toBe('postgres://u:***@h:5432/db');
  });

  it('redactUrl hides passwords in query parameters too, and keeps what is not a secret', () => {
    expect(redactUrl('postgres://u:secret@h/db?sslmode=require&password=secret&sslpassword=se%20cret&sslkey=/etc/key.pem&application_name=a')).toBe(
      'postgres://u:***@h/db?sslmode=require&password=***&sslpassword=***&sslkey=/etc/key.pem&application_name=a',
    );
    expect(redactUrl('postgres://h/db?PASSWORD=secret&pass%77ord=secret&password')).toBe('postgres://h/db?PASSWORD=***&pass%77ord=***&password=***');
    expect(redactUrl('postgres://h/db')).toBe('postgres://h/db');
    expect(redactUrl('not a url secret')).toBe('(unparseable url)');
  });

  it('the logger censors connection strings and passwords under the field names the code logs', () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (line: string) => lines.push(line) });
    const url = 'postgres://u:secret@h/db?password=secret';
    log.info({ databaseUrl: url, config: { databaseUrl: url }, connectionString: url, password: 'secret', pg: { password: 'secret', sslpassword: 'secret' } }, 'x');
    expect(lines.join('')).not.toContain('secret');
    expect(JSON.parse(lines[0]!)).toMatchObject({ databaseUrl: 'postgres://u:***@h/db?password=***', password: '***', pg: { sslpassword: '***' } });
  });

  it('rejects a schema + table too long for the NOTIFY channel (PostgreSQL limit 63 bytes)', () => {
    const ok = { ...base, OUTBOX_SCHEMA: 's'.repeat(31), OUTBOX_TABLE: 't'.repeat(31) }; // 63
    expect(loadConfig('run', { env: ok }).table).toBe('t'.repeat(31));
    expect(() => loadConfig('run', { env: { ...ok, OUTBOX_TABLE: 't'.repeat(32) } })).toThrow(/too long .* 64 characters; at most 63/);
  });

  it('fails clearly on a missing env file', () => {
    expect(() => loadConfig('run', { env: base, envFiles: ['/nonexistent/.env'] })).toThrow(/cannot read env file \/nonexistent\/.env \(ENOENT\)/);
  });

  it('migrate needs only the database settings', () => {
    const c = loadConfig('migrate', { env: { DATABASE_URL: base.DATABASE_URL } });
    expect(c).not.toHaveProperty('kafkaBrokers');
    expect(c.table).toBe('outbox');
  });
});
