/**
 * The fault-test seam (OUTBOX_RELAY_TEST_KILL) is inert in a normal run: without the second switch
 * OUTBOX_RELAY_TEST_SEAMS=1 a relay that has it set publishes on and never kills itself.
 */
import { describe, expect, it } from 'vitest';
import { check, writeKeyed } from '../support/checker.js';
import { useFixture } from '../support/fixture.js';
import { createTopic, readAll } from '../support/kafka.js';
import { waitFor } from '../support/outbox.js';
import { started, testKill } from '../support/relay-process.js';

describe('test seams', () => {
  const fixture = useFixture();

  it('OUTBOX_RELAY_TEST_KILL alone does nothing: every batch is published, the relay keeps running and says the variable is ignored', async () => {
    const topic = await createTopic(1);
    const written = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 5, perKey: 10, rowsPerTx: 10 });
    const relay = fixture.spawn({ OUTBOX_BATCH_SIZE: '10', OUTBOX_RELAY_TEST_KILL: 'before-publish:1' });
    await relay.waitForLog(started);
    await Promise.race([
      waitFor('backlog to drain', async () => (await fixture.outbox.pendingCount()) === 0, 30_000),
      relay.exited.then((exit) => Promise.reject(new Error(`the relay ended itself: ${JSON.stringify(exit)}`))),
    ]);
    // Batch 1 and later ones went through the hook point and the process is still there.
    expect(relay.logs.filter((l) => l.msg === 'batch published').length).toBeGreaterThanOrEqual(5);
    expect(relay.child.exitCode).toBeNull();
    expect(relay.child.signalCode).toBeNull();
    const notice = relay.logs.find((l) => l.level === 'warn' && l.msg.startsWith('OUTBOX_RELAY_TEST_KILL is set but ignored'));
    expect(notice).toBeDefined();
    expect(check(written, await readAll([topic])).lost).toEqual([]);
    relay.kill('SIGTERM');
    expect((await relay.exited).code).toBe(0);
  });

  it('with OUTBOX_RELAY_TEST_SEAMS=1 as well, the seam fires (the crash tests rely on it)', async () => {
    const topic = await createTopic(1);
    await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 5, perKey: 10, rowsPerTx: 10 });
    const relay = fixture.spawn({ OUTBOX_BATCH_SIZE: '10', ...testKill('before-publish:2') });
    expect((await relay.exited).signal).toBe('SIGKILL');
    expect(await fixture.outbox.pendingCount()).toBe(40);
  });
});
