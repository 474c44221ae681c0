import { describe, expect, it } from 'vitest';
import { Progress } from '../../src/commands/progress.js';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { retentionInterval } from '../../src/relay/retention.js';

const base = { DATABASE_URL: 'postgres://u@127.0.0.1:5432/db', KAFKA_BROKERS: '127.0.0.1:9092' };

describe('OUTBOX_RETENTION', () => {
  it('is off by default, a duration in ms when set, off when said so', () => {
    expect(loadConfig('run', { env: base }).retention).toBeNull();
    expect(loadConfig('run', { env: { ...base, OUTBOX_RETENTION: '7d' } }).retention).toBe(604_800_000);
    expect(loadConfig('run', { env: base, flags: { retention: '90s' } }).retention).toBe(90_000);
    expect(loadConfig('run', { env: { ...base, OUTBOX_RETENTION: '3d' }, flags: { retention: 'off' } }).retention).toBeNull();
  });

  it('refuses a bare number with the expected shape', () => {
    expect(() => loadConfig('run', { env: { ...base, OUTBOX_RETENTION: '7' } })).toThrow(ConfigError);
    expect(() => loadConfig('run', { env: { ...base, OUTBOX_RETENTION: '7' } })).toThrow(
      'OUTBOX_RETENTION "7" is invalid: expected off or a duration such as 90s, 15m, 2h, 7d or 1h30m',
    );
  });

  it('looks every quarter of the retention, between 1 s and 1 min', () => {
    expect(retentionInterval(3000)).toBe(1000);
    expect(retentionInterval(20_000)).toBe(5000);
    expect(retentionInterval(604_800_000)).toBe(60_000);
  });

  it('doctor needs KAFKA_BROKERS; status does not', () => {
    expect(() => loadConfig('doctor', { env: { DATABASE_URL: base.DATABASE_URL } })).toThrow('KAFKA_BROKERS is required');
    expect(loadConfig('status', { env: { DATABASE_URL: base.DATABASE_URL } }).table).toBe('outbox');
  });

  it('doctor takes the relay\'s Kafka security and size settings, with the same consistency checks', () => {
    const c = loadConfig('doctor', { env: { ...base, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'relay', KAFKA_SASL_PASSWORD: 's', KAFKA_SSL_CA_FILE: '/ca.pem', OUTBOX_MAX_MESSAGE_BYTES: '5000' } });
    expect(c).toMatchObject({ kafkaSaslMechanism: 'scram-sha-512', kafkaSaslUsername: 'relay', kafkaSslCaFile: '/ca.pem', maxMessageBytes: 5000, kafkaCompression: 'none', batchMaxBytes: 900_000 });
    expect(() => loadConfig('doctor', { env: { ...base, KAFKA_SASL_MECHANISM: 'plain' } })).toThrow('KAFKA_SASL_MECHANISM=plain needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
  });
});

describe('Progress', () => {
  const stream = (isTTY: boolean) => {
    const written: string[] = [];
    return { isTTY, written, write: (t: string) => written.push(t) };
  };

  it('on a terminal: a bar redrawn in place, cleared at the end', () => {
    const s = stream(true);
    const p = new Progress('deleted', 200, s, 0);
    p.update(50);
    p.update(200);
    p.finish();
    expect(s.written[0]).toMatch(/^\r\x1b\[2K\[#{8}-{22}\] deleted 50 of 200 rows \(25 %, \d+ rows\/s\)$/);
    expect(s.written[1]).toMatch(/^\r\x1b\[2K\[#{30}\] deleted 200 of 200 rows \(100 %/);
    expect(s.written.at(-1)).toBe('\r\x1b[2K');
  });

  it('elsewhere: plain lines, none before the first interval', () => {
    const s = stream(false);
    new Progress('replayed', 10, s).update(5);
    expect(s.written).toEqual([]);
    const p = new Progress('replayed', 10, s, 0);
    p.update(5);
    p.finish();
    expect(s.written).toEqual([expect.stringMatching(/^replayed 5 of 10 rows \(50 %, \d+ rows\/s\)\n$/)]);
  });
});
