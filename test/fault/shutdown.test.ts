/**
 * SIGTERM/SIGINT on a real relay process: exit 0 within the deadline, never a marked row that Kafka
 * did not acknowledge, and the rest is published after a restart. A second signal forces exit 130.
 */
import { describe, expect, it } from 'vitest';
import { check, writeKeyed } from '../support/checker.js';
import { createTopic, readAll } from '../support/kafka.js';
import { waitFor } from '../support/outbox.js';
import { useFixture } from '../support/fixture.js';
import { started } from '../support/relay-process.js';

describe('graceful shutdown', () => {
  const fixture = useFixture();

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} mid-stream: exits 0 within the deadline; every row gone from the outbox is in Kafka`, async () => {
      const topic = await createTopic(2);
      const written = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 10, perKey: 1000, rowsPerTx: 500 });
      const env = { OUTBOX_BATCH_SIZE: '50', OUTBOX_SHUTDOWN_TIMEOUT_MS: '5000' };
      const relay = fixture.spawn(env);
      await relay.waitForLog((l) => l.msg === 'batch published' && Number(l.batch) >= 3);
      const t0 = Date.now();
      relay.kill(signal);
      const exit = await relay.exited;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(5000 + 2000);
      expect(relay.logs.some((l) => l.msg === 'relay stopped')).toBe(true);
      expect(relay.logs.filter((l) => l.msg.startsWith('handles still open'))).toEqual([]); // no leaked sockets/timers

      // G2: whatever left the outbox was acknowledged, so it must be in Kafka already.
      const remaining = await fixture.outbox.pool.query<{ payload: Buffer }>(`SELECT payload FROM ${fixture.outbox.names.outbox}`);
      expect(remaining.rows.length).toBeGreaterThan(0); // stopped mid-stream, not after draining
      const stillThere = new Set(remaining.rows.map((r) => r.payload.toString()));
      const published = new Set((await readAll([topic])).map((m) => m.value.toString()));
      const goneButUnpublished = written.map((w) => JSON.stringify({ k: w.key, n: w.n })).filter((p) => !stillThere.has(p) && !published.has(p));
      expect(goneButUnpublished).toEqual([]);

      fixture.spawn(env);
      await waitFor('backlog to drain', async () => (await fixture.outbox.pendingCount()) === 0);
      const result = check(written, await readAll([topic]));
      expect(result.lost).toEqual([]);
      expect(result.orderViolations).toEqual([]);
      expect(result.duplicates).toBe(0); // a graceful stop completes or releases its batch: no duplicates
    });
  }

  it('a second signal forces the exit with code 130', async () => {
    const relay = fixture.spawn();
    await relay.waitForLog(started);
    // Stop the process so both signals are queued before it can finish a graceful shutdown.
    relay.kill('SIGSTOP');
    relay.kill('SIGTERM');
    relay.kill('SIGINT');
    relay.kill('SIGCONT');
    const exit = await relay.exited;
    expect(exit.code).toBe(130);
  });

  it('an idle relay stops at once: SIGTERM wakes it from its sleep', async () => {
    // A poll interval far beyond the limit below: only stop() waking the sleeping loop ends it in time
    // (otherwise it would sleep on until the 10 s shutdown deadline).
    const relay = fixture.spawn({ OUTBOX_POLL_INTERVAL_MS: '60000' });
    await relay.waitForLog(started);
    await waitFor('relay idle and declared waiting', async () => {
      const r = await fixture.outbox.pool.query(`SELECT 1 FROM ${fixture.outbox.names.wakeup} WHERE waiting_until > now()`);
      return r.rowCount === 1;
    });
    const t0 = Date.now();
    relay.kill('SIGTERM');
    expect(await relay.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(relay.logs.some((l) => l.msg.startsWith('shutdown deadline passed'))).toBe(false);
    expect(relay.logs.filter((l) => l.msg.startsWith('handles still open'))).toEqual([]);
  });
});
