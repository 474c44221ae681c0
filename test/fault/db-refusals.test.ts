/**
 * PostgreSQL errors by SQLSTATE (src/pg-errors.ts), on the real database: what the database refuses
 * (a missing privilege) stops the relay with exit 5 and one line that says what to GRANT, after at
 * most one publish of the batch; a completion that keeps failing the same way is bounded; and what
 * ends by itself (a terminated claim backend, 57P01) is retried while the relay keeps running.
 */
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { check, writeKeyed } from '../support/checker.js';
import { useFixture } from '../support/fixture.js';
import { createTopic, readAll } from '../support/kafka.js';
import { uniqueName, waitFor } from '../support/outbox.js';
import { failIfExits, isStopped, testKill, type RelayProcess } from '../support/relay-process.js';
import { startWriter } from '../support/writer.js';

const BATCH = 10;

/** The exit, or a failure if the relay is still running after timeoutMs (it would loop forever). */
async function exitWithin(relay: RelayProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`relay still running after ${timeoutMs} ms; last logs: ${JSON.stringify(relay.logs.slice(-3))}`)), timeoutMs);
  });
  try {
    return await Promise.race([relay.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('PostgreSQL errors by SQLSTATE', () => {
  const fixture = useFixture();

  /** A login role with the given privileges on this test's outbox (trust auth: no password needed). */
  async function withRole(outboxPrivileges: string, body: (databaseUrl: string, role: string) => Promise<void>): Promise<void> {
    const { outbox } = fixture;
    const role = uniqueName('relay_role');
    const n = outbox.names;
    await outbox.pool.query(`CREATE ROLE ${role} LOGIN`);
    try {
      await outbox.pool.query(`GRANT USAGE ON SCHEMA "${outbox.schema}" TO ${role}`);
      await outbox.pool.query(`GRANT ${outboxPrivileges} ON ${n.outbox} TO ${role}`);
      await outbox.pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${n.failures} TO ${role}`);
      await outbox.pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${n.wakeup} TO ${role}`);
      await outbox.pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${n.members} TO ${role}`);
      await outbox.pool.query(`GRANT SELECT, UPDATE ON ${n.leases} TO ${role}`);
      await outbox.pool.query(`GRANT SELECT ON ${n.migrations} TO ${role}`);
      const url = new URL(outbox.databaseUrl);
      url.username = role;
      url.password = '';
      await body(url.toString(), role);
    } finally {
      await outbox.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [role]);
      await outbox.pool.query(`DROP OWNED BY ${role}`);
      await outbox.pool.query(`DROP ROLE ${role}`);
    }
  }

  it('a role that may claim but not DELETE: exit 5 with one line naming the GRANT, rows pending, the batch published once', async () => {
    const topic = await createTopic(1);
    const written = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 3, perKey: 10, rowsPerTx: 10 });
    await withRole('SELECT, UPDATE', async (databaseUrl, role) => {
      const relay = fixture.spawn({ DATABASE_URL: databaseUrl, OUTBOX_BATCH_SIZE: String(BATCH) });
      expect((await exitWithin(relay, 30_000)).code).toBe(ExitCode.DB_REFUSED);
      const stderr = relay.stderr();
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/^outbox-relay: the database refuses what the relay needs: permission denied for table outbox \(SQLSTATE 42501 insufficient_privilege\) while completing a batch/);
      expect(stderr).toContain(`GRANT SELECT, UPDATE, DELETE ON ${fixture.outbox.names.outbox} TO "${role}"`);
      // It closed its connections and producer: the process ended by itself, no leak warning.
      expect(relay.logs.filter((l) => l.msg.startsWith('handles still open'))).toEqual([]);
    });
    expect(await fixture.outbox.pendingCount()).toBe(written.length);
    const published = await readAll([topic]);
    // Claimed, published and refused once: not the publish → rollback → publish loop.
    expect(published.length).toBeGreaterThan(0);
    expect(published.length).toBeLessThanOrEqual(BATCH);
  });

  it('a role that may only SELECT (FOR UPDATE needs UPDATE): exit 5 at the claim, nothing published', async () => {
    const topic = await createTopic(1);
    const written = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 3, perKey: 5, rowsPerTx: 15 });
    await withRole('SELECT', async (databaseUrl) => {
      const relay = fixture.spawn({ DATABASE_URL: databaseUrl, OUTBOX_BATCH_SIZE: String(BATCH) });
      expect((await exitWithin(relay, 30_000)).code).toBe(ExitCode.DB_REFUSED);
      expect(relay.stderr()).toMatch(/^outbox-relay: the database refuses what the relay needs: permission denied for table outbox \(SQLSTATE 42501 insufficient_privilege\) while claiming rows; grant .*\n$/);
    });
    expect(await fixture.outbox.pendingCount()).toBe(written.length);
    expect(await readAll([topic])).toHaveLength(0);
  });

  it('completing fails the same way every time (a trigger refuses the DELETE): bounded, exit 5 after 5 tries', async () => {
    const { outbox } = fixture;
    const topic = await createTopic(1);
    await outbox.pool.query(`CREATE FUNCTION "${outbox.schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'outbox rows are kept for the audit'; END $$`);
    await outbox.pool.query(`CREATE TRIGGER refuse BEFORE DELETE ON ${outbox.names.outbox} FOR EACH ROW EXECUTE FUNCTION "${outbox.schema}".refuse()`);
    const written = await writeKeyed((rows) => outbox.insert(rows), topic, { keys: 3, perKey: 10, rowsPerTx: 10 });
    const relay = fixture.spawn({ OUTBOX_BATCH_SIZE: String(BATCH) });
    expect((await exitWithin(relay, 60_000)).code).toBe(ExitCode.DB_REFUSED);
    expect(relay.stderr()).toMatch(
      /^outbox-relay: completing a published batch failed 5 times in a row with the same error \(P0001: outbox rows are kept for the audit\); .* fix the cause in the database, then restart \(the batch stays pending\)\n$/,
    );
    expect(await outbox.pendingCount()).toBe(written.length);
    expect(relay.logs.filter((l) => l.step === 'complete')).toHaveLength(4); // four retries logged, the fifth ends it
    expect((await readAll([topic])).length).toBeLessThanOrEqual(5 * BATCH);
  });

  it('a terminated claim backend (pg_terminate_backend, 57P01) is retried: the relay keeps running, lost 0', async () => {
    const { outbox } = fixture;
    const topic = await createTopic(3);
    const writer = startWriter((rows) => outbox.insert(rows), topic, { keys: 10, rowsPerTx: 10, pauseMs: 20 });
    try {
      // Freeze with batch 3 claimed, so the claim backend is there to terminate; then resume.
      const relay = fixture.spawn({ OUTBOX_BATCH_SIZE: '20', ...testKill('before-publish:3:SIGSTOP') });
      const pid = relay.child.pid!;
      await Promise.race([
        waitFor('the relay to freeze itself', async () => isStopped(pid), 30_000),
        failIfExits(relay),
      ]);
      const terminated = await outbox.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'`,
        [outbox.names.relayApplicationName],
      );
      expect(terminated.rowCount).toBe(1);
      relay.kill('SIGCONT');
      await Promise.race([relay.waitForLog((l) => l.level === 'warn' && String(l.err).startsWith('57P01'), 30_000), failIfExits(relay)]);
      // Then every connection of the relay's pool, a few times over, while it works.
      for (let i = 0; i < 3; i++) {
        const published = relay.logs.filter((l) => l.msg === 'batch published').length;
        await outbox.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [outbox.names.relayApplicationName]);
        await Promise.race([
          waitFor('a batch published after the terminations', async () => relay.logs.filter((l) => l.msg === 'batch published').length > published, 30_000),
          failIfExits(relay),
        ]);
      }
      const written = await writer.stop();
      await Promise.race([waitFor('backlog to drain', async () => (await outbox.pendingCount()) === 0, 30_000), failIfExits(relay)]);
      expect(relay.child.exitCode).toBeNull();
      expect(relay.stderr()).toBe('');
      const result = check(written, await readAll([topic]));
      expect(result.lost).toEqual([]);
      expect(result.unexpected).toEqual([]);
      expect(result.orderViolations).toEqual([]);
    } finally {
      await writer.stop();
    }
  });
});
