/**
 * kill -9 of a real relay process, deterministic (between Kafka's ack and the mark, the worst window)
 * and mid-stream, then a restart: the GUARANTEES.md checker must find lost 0, per-key order of first
 * appearances kept, duplicates within one batch per crash.
 */
import { describe, expect, it } from 'vitest';
import { check, writeKeyed } from '../support/checker.js';
import { createTopic, readAll } from '../support/kafka.js';
import { waitFor } from '../support/outbox.js';
import { useFixture } from '../support/fixture.js';
import { started, testKill } from '../support/relay-process.js';

const BATCH = 100;

describe('relay crash (kill -9) and restart', () => {
  const fixture = useFixture();

  it('between ack and mark: the batch is published again, nothing is lost, order holds', async () => {
    const topic = await createTopic(3);
    const written = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 10, perKey: 100, rowsPerTx: 50 });
    const env = { OUTBOX_BATCH_SIZE: String(BATCH) };

    const crashing = fixture.spawn({ ...env, ...testKill('after-ack:3') });
    expect((await crashing.exited).signal).toBe('SIGKILL');
    // Batches 1 and 2 were completed; batch 3 was acknowledged by Kafka but never marked.
    expect(await fixture.outbox.pendingCount()).toBe(written.length - 2 * BATCH);

    const restarted = fixture.spawn(env);
    await restarted.waitForLog(started);
    await waitFor('backlog to drain after restart', async () => (await fixture.outbox.pendingCount()) === 0);

    const result = check(written, await readAll([topic]));
    expect(result.lost).toEqual([]);
    expect(result.unexpected).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    // Exactly the acked-but-unmarked batch came out twice: the bound, and proof the window was hit.
    expect(result.duplicates).toBe(BATCH);
  });

  it('after the claim, before publishing: nothing lost, nothing duplicated, rows claimable again', async () => {
    const topic = await createTopic(3);
    const written = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 10, perKey: 50, rowsPerTx: 50 });
    const env = { OUTBOX_BATCH_SIZE: String(BATCH) };

    const crashing = fixture.spawn({ ...env, ...testKill('before-publish:2') });
    expect((await crashing.exited).signal).toBe('SIGKILL');
    expect(await fixture.outbox.pendingCount()).toBe(written.length - BATCH);
    // The dead relay's locks died with its connection: the rows are claimable right away.
    await waitFor('all pending rows claimable (the dead backend is gone)', async () => {
      const claimable = await fixture.outbox.pool.query(`SELECT seq FROM ${fixture.outbox.names.outbox} FOR UPDATE SKIP LOCKED`);
      return claimable.rowCount === written.length - BATCH;
    }, 10_000);

    fixture.spawn(env);
    await waitFor('backlog to drain after restart', async () => (await fixture.outbox.pendingCount()) === 0);
    const result = check(written, await readAll([topic]));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.duplicates).toBe(0);
  });

  it('mid-stream while rows keep arriving: lost 0, order kept, duplicates ≤ one batch', async () => {
    const topic = await createTopic(3);
    const env = { OUTBOX_BATCH_SIZE: String(BATCH) };
    const first = fixture.spawn(env);
    await first.waitForLog(started);
    // Write while the relay is publishing; kill it once it has published a few batches.
    const writing = writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 20, perKey: 150, rowsPerTx: 20 });
    await first.waitForLog((l) => l.msg === 'batch published' && Number(l.batch) >= 5);
    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const second = fixture.spawn(env);
    await second.waitForLog(started);
    const written = await writing;
    await waitFor('backlog to drain after restart', async () => (await fixture.outbox.pendingCount()) === 0);

    const result = check(written, await readAll([topic]));
    expect(result.lost).toEqual([]);
    expect(result.unexpected).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.duplicates).toBeLessThanOrEqual(BATCH);
  });

  it('a kill -9 loop at seeded random moments while rows keep arriving: lost 0, order kept, ≤ one batch per kill', async () => {
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100_000);
    let state = seed;
    const random = () => ((state = (state * 48271) % 2147483647) / 2147483647); // Park–Miller, reproducible
    const topic = await createTopic(3);
    const env = { OUTBOX_BATCH_SIZE: String(BATCH) };
    const writing = writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 20, perKey: 200, rowsPerTx: 20 });
    const KILLS = 6;
    for (let i = 0; i < KILLS; i++) {
      const relay = fixture.spawn(env);
      await relay.waitForLog(started);
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(random() * 600)));
      relay.kill('SIGKILL');
      await relay.exited;
    }
    fixture.spawn(env);
    const written = await writing;
    await waitFor('backlog to drain after the last restart', async () => (await fixture.outbox.pendingCount()) === 0);
    const result = check(written, await readAll([topic]));
    expect(result.lost, `seed ${seed}`).toEqual([]);
    expect(result.orderViolations, `seed ${seed}`).toEqual([]);
    expect(result.duplicates, `seed ${seed}`).toBeLessThanOrEqual(KILLS * BATCH);
  });
});
