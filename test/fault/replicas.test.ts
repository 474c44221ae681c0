/**
 * Two relay processes on one outbox (a rolling deploy, or a standby replica): the claim lock makes
 * one claim at a time, so no key is overtaken and nothing is published twice without a crash; when
 * the claiming relay is killed, the other takes over by itself.
 */
import { describe, expect, it } from 'vitest';
import { check, writeKeyed } from '../support/checker.js';
import { useFixture } from '../support/fixture.js';
import { createTopic, readAll } from '../support/kafka.js';
import { waitFor } from '../support/outbox.js';
import { started } from '../support/relay-process.js';

const BATCH = 50;

describe('several relays on one outbox', () => {
  const fixture = useFixture();

  it('two relays side by side: per-key order kept, no duplicates, both take turns', async () => {
    const topic = await createTopic(3);
    const env = { OUTBOX_BATCH_SIZE: String(BATCH) };
    const a = fixture.spawn(env);
    const b = fixture.spawn(env);
    await Promise.all([a.waitForLog(started), b.waitForLog(started)]);
    const written = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 20, perKey: 150, rowsPerTx: 10 });
    await waitFor('drained', async () => (await fixture.outbox.pendingCount()) === 0);

    const result = check(written, await readAll([topic]));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.duplicates).toBe(0);
    // They really competed: one of them found the other holding the claim lock.
    const stoodBy = [a, b].filter((r) => r.logs.some((l) => l.msg === 'another relay is claiming this outbox; standing by'));
    expect(stoodBy.length).toBeGreaterThanOrEqual(1);
  });

  it('the claiming relay is killed mid-run: the other takes over, lost 0, order kept, ≤ one batch repeated', async () => {
    const topic = await createTopic(3);
    const env = { OUTBOX_BATCH_SIZE: String(BATCH), OUTBOX_POLL_INTERVAL_MS: '200' };
    const a = fixture.spawn(env);
    await a.waitForLog(started);
    const writing = writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 20, perKey: 150, rowsPerTx: 10 });
    await a.waitForLog((l) => l.msg === 'batch published' && Number(l.batch) >= 5);
    const b = fixture.spawn(env);
    await b.waitForLog(started);
    a.kill('SIGKILL');
    await a.exited;
    // Rows written after the kill can only be published by the survivor.
    const afterKill = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 5, perKey: 40, rowsPerTx: 10, prefix: 'after-kill' });
    const written = [...(await writing), ...afterKill];
    await waitFor('drained by the survivor', async () => (await fixture.outbox.pendingCount()) === 0);
    expect(b.logs.some((l) => l.msg === 'batch published')).toBe(true);

    const result = check(written, await readAll([topic]));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.duplicates).toBeLessThanOrEqual(BATCH);
  });
});
