/**
 * A password anywhere in DATABASE_URL — the userinfo, `?password=`, `sslpassword=` — never appears in
 * any line a process prints: `run` (at trace level, through connection errors and shutdown),
 * `migrate`, unreachable servers, a missing database, invalid settings. Trust auth ignores the
 * password, so the connections themselves work.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { writeKeyed } from '../support/checker.js';
import { useFixture } from '../support/fixture.js';
import { createTopic } from '../support/kafka.js';
import { uniqueName, waitFor } from '../support/outbox.js';
import { failIfExits, spawnCli, started, type RelayProcess } from '../support/relay-process.js';

const SECRET = `pw${randomBytes(8).toString('hex')}`;

/** The URL with the secret as userinfo password and as the password and sslpassword parameters. */
function secretUrl(databaseUrl: string, change: (url: URL) => void = () => undefined): string {
  const url = new URL(databaseUrl);
  url.password = SECRET;
  url.searchParams.set('password', SECRET);
  url.searchParams.set('sslpassword', SECRET);
  change(url);
  return url.toString();
}

/** Everything the process wrote, stdout and stderr. */
const output = (p: RelayProcess) => `${p.logs.map((l) => JSON.stringify(l)).join('\n')}\n${p.stderr()}`;

describe('secrets in DATABASE_URL', () => {
  const fixture = useFixture();

  it('run: not in any line, from startup through connection errors to shutdown', async () => {
    const { outbox } = fixture;
    const topic = await createTopic(1);
    await writeKeyed((rows) => outbox.insert(rows), topic, { keys: 3, perKey: 10, rowsPerTx: 10 });
    const relay = fixture.spawn({ DATABASE_URL: secretUrl(outbox.databaseUrl), LOG_LEVEL: 'trace', OUTBOX_BATCH_SIZE: '10' });
    await relay.waitForLog(started);
    await Promise.race([waitFor('backlog to drain', async () => (await outbox.pendingCount()) === 0, 30_000), failIfExits(relay)]);
    // Connection errors, on the pool and the LISTEN connection, are logged too.
    await outbox.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ($1, $2)`, [
      outbox.names.relayApplicationName,
      outbox.names.listenApplicationName,
    ]);
    await Promise.race([relay.waitForLog((l) => l.msg === 'listening for outbox notifications' && l.reconnect === true, 30_000), failIfExits(relay)]);
    relay.kill('SIGTERM');
    expect((await relay.exited).code).toBe(0);
    expect(relay.logs.filter((l) => l.level === 'warn').length).toBeGreaterThan(0);
    // The startup line shows where it connects, with the secrets replaced.
    expect(JSON.stringify(relay.logs.find((l) => l.msg === 'starting outbox-relay'))).toMatch(/:\*\*\*@.*password=\*\*\*.*sslpassword=\*\*\*/);
    expect(output(relay)).not.toContain(SECRET);
  });

  it('migrate: not in its output', async () => {
    const schema = uniqueName('m');
    const proc = spawnCli(['migrate'], { DATABASE_URL: secretUrl(fixture.outbox.databaseUrl), OUTBOX_SCHEMA: schema, LOG_LEVEL: 'trace' });
    try {
      expect((await proc.exited).code).toBe(0);
      expect(proc.logs.some((l) => l.msg.startsWith(`migrated ${schema}.outbox`))).toBe(true);
      expect(output(proc)).not.toContain(SECRET);
    } finally {
      await fixture.outbox.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it.each([
    ['an unreachable server', (url: URL) => void (url.port = '1'), ExitCode.UNAVAILABLE],
    ['a database that does not exist', (url: URL) => void (url.pathname = `/${uniqueName('nodb')}`), ExitCode.UNAVAILABLE],
  ])('%s: exit 3 with one line, and the secret nowhere', async (_what, change, code) => {
    for (const command of ['run', 'migrate']) {
      const proc = spawnCli([command], { ...fixture.outbox.env, DATABASE_URL: secretUrl(fixture.outbox.databaseUrl, change), LOG_LEVEL: 'trace' });
      expect((await proc.exited).code).toBe(code);
      expect(proc.stderr()).toMatch(/^outbox-relay: cannot connect to PostgreSQL at .*\n$/);
      expect(output(proc)).not.toContain(SECRET);
    }
  });

  it('invalid settings next to the secret URL: exit 2, the secret nowhere', async () => {
    const proc = spawnCli(['run', '--batch-size', 'lots'], { ...fixture.outbox.env, DATABASE_URL: secretUrl(fixture.outbox.databaseUrl) });
    expect((await proc.exited).code).toBe(ExitCode.USAGE);
    expect(output(proc)).not.toContain(SECRET);
  });
});
