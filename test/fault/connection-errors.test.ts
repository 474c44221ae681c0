/**
 * Every connection the relay holds has its errors handled. A relay frozen (SIGSTOP, a VM pause) past
 * idle_in_transaction_session_timeout finds, when it resumes, that PostgreSQL ended its claim
 * connection (SQLSTATE 25P03) while the pooled client was checked out: it must log that once, drop
 * the connection and go on (the claimed rows were never completed, so they are claimed again).
 */
import { describe, expect, it } from 'vitest';
import { check } from '../support/checker.js';
import { useFixture } from '../support/fixture.js';
import { createTopic, readAll } from '../support/kafka.js';
import { waitFor } from '../support/outbox.js';
import { failIfExits, isStopped, testKill } from '../support/relay-process.js';
import { startWriter } from '../support/writer.js';

describe('connection errors', () => {
  const fixture = useFixture();

  it('frozen past idle_in_transaction_session_timeout with a claim open: on SIGCONT it logs once, keeps running, lost 0', async () => {
    const { outbox } = fixture;
    const topic = await createTopic(3);
    const writer = startWriter((rows) => outbox.insert(rows), topic, { keys: 10, rowsPerTx: 10, pauseMs: 20 });
    // Publish timeout 1 s → the claim's idle_in_transaction_session_timeout is 11 s. The seam freezes
    // the process right after it claimed batch 3, before anything is sent.
    try {
      const relay = fixture.spawn({ OUTBOX_PUBLISH_TIMEOUT_MS: '1000', OUTBOX_BATCH_SIZE: '20', ...testKill('before-publish:3:SIGSTOP') });
      const pid = relay.child.pid!;
      await Promise.race([waitFor('the relay to freeze itself', async () => isStopped(pid), 30_000), failIfExits(relay)]);
      const claim = await waitFor('the frozen claim, idle in transaction', async () => {
        const r = await outbox.pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'`,
          [outbox.names.relayApplicationName],
        );
        return r.rows[0]?.pid;
      }, 10_000);
      await waitFor('PostgreSQL to end the frozen claim backend (idle_in_transaction_session_timeout)', async () => {
        const r = await outbox.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [claim]);
        return r.rowCount === 0;
      }, 30_000, 200);

      relay.kill('SIGCONT');
      const before = relay.logs.filter((l) => l.msg === 'batch published').length;
      // It goes on publishing rows written after it resumed.
      await Promise.race([
        relay.waitForLog((l) => l.msg === 'batch published' && relay.logs.filter((x) => x.msg === 'batch published').length > before + 3, 30_000),
        failIfExits(relay),
      ]);
      const written = await writer.stop();
      await Promise.race([waitFor('backlog to drain', async () => (await outbox.pendingCount()) === 0, 30_000), failIfExits(relay)]);

      expect(relay.child.exitCode).toBeNull();
      expect(relay.stderr()).toBe('');
      const mentions = relay.logs.filter((l) => JSON.stringify(l).includes('25P03'));
      expect(mentions).toHaveLength(1);
      expect(mentions[0]!.level).toBe('warn');
      const result = check(written, await readAll([topic]));
      expect(result.lost).toEqual([]);
      expect(result.unexpected).toEqual([]);
      expect(result.orderViolations).toEqual([]);
      expect(result.duplicates).toBeLessThanOrEqual(20);
    } finally {
      await writer.stop();
    }
  });
});
