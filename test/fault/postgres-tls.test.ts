/**
 * PostgreSQL over TLS through DATABASE_URL (node-postgres reads sslmode/sslrootcert), against a
 * private cluster on :5439 that takes TLS connections only (stack/pg-private.sh with PG_PRIVATE_SSL=1):
 * a verified TLS connection publishes; a plain one and an unverifiable one exit 3 with one line.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { createTopic, readAll } from '../support/kafka.js';
import { createTestOutbox, waitFor, type TestOutbox } from '../support/outbox.js';
import { failIfExits, spawnCli, spawnRelay } from '../support/relay-process.js';

const run = promisify(execFile);
const PORT = '5439';
let plainUrl = '';
let ca = '';
const tlsUrl = () => `${plainUrl}?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`;

beforeAll(async () => {
  const { stdout } = await run('bash', ['stack/pg-private.sh', 'start', PORT], { env: { ...process.env, PG_PRIVATE_SSL: '1' }, timeout: 120_000 });
  plainUrl = /^DATABASE_URL=(.*)$/m.exec(stdout)![1]!;
  ca = /^PG_CA=(.*)$/m.exec(stdout)![1]!;
}, 120_000);

afterAll(async () => {
  await run('bash', ['stack/pg-private.sh', 'destroy', PORT], { timeout: 60_000 });
});

describe('PostgreSQL over TLS', () => {
  let outbox: TestOutbox | undefined;
  afterAll(async () => {
    await outbox?.drop();
  });

  it('sslmode=verify-full with sslrootcert: migrate and run over TLS, rows published', async () => {
    outbox = await createTestOutbox({ databaseUrl: tlsUrl() });
    const topic = await createTopic(1, 'pgtls');
    await outbox.insert(Array.from({ length: 5 }, (_, i) => ({ topic, key: 'k', payload: Buffer.from(`row ${i}`) })));
    const relay = spawnRelay({ ...outbox.env, OUTBOX_POLL_INTERVAL_MS: '100' });
    try {
      await Promise.race([waitFor('the outbox to drain', async () => (await outbox!.pendingCount()) === 0, 30_000), failIfExits(relay)]);
      const { rows } = await outbox.pool.query<{ ssl: boolean }>(
        `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1`,
        [outbox.names.relayApplicationName],
      );
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.ssl)).toBe(true);
      expect((await readAll([topic])).map((m) => m.value.toString())).toEqual(['row 0', 'row 1', 'row 2', 'row 3', 'row 4']);
    } finally {
      relay.kill('SIGKILL');
      await relay.exited;
    }
  });

  it.each([
    ['a plain connection (the server takes TLS only)', () => plainUrl, /no encryption/],
    ['TLS without the CA (sslrootcert missing)', () => `${plainUrl}?sslmode=verify-full`, /self.signed certificate|unable to verify/i],
  ])('%s: exit 3 with one line', async (_what, url, reason) => {
    const proc = spawnCli(['migrate'], { DATABASE_URL: url() });
    expect((await proc.exited).code).toBe(ExitCode.UNAVAILABLE);
    expect(proc.stderr()).toMatch(/^outbox-relay: cannot connect to PostgreSQL at 127\.0\.0\.1:5439\/postgres .*\n$/);
    expect(proc.stderr()).toMatch(reason);
  });
});
