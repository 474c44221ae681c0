/**
 * The relay loop's timing promises, in process, on the real PostgreSQL and the real broker (sends go
 * through a seam around the real KafkaPublisher):
 * - a failed publish backs off with the capped, jittered delay instead of retrying at once;
 * - at the shutdown deadline an in-flight batch is abandoned and its claim released right away, while
 *   the process lives on (not only when the process exits and its connection dies).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay } from '../../src/backoff.js';
import { Relay } from '../../src/relay/relay.js';
import { useFixture } from '../support/fixture.js';
import { createTopic } from '../support/kafka.js';
import { silentLog, waitFor } from '../support/outbox.js';
import { realPublisher, SeamPublisher } from '../support/publisher.js';

describe('relay loop', () => {
  const fixture = useFixture();
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('a failed publish backs off before the retry: no hot loop', async () => {
    // Pin the jitter so every delay is known: backoffDelay(attempt) with random = 0.5.
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const FAILURES = 6;
    const topic = await createTopic(1);
    const publisher = new SeamPublisher(realPublisher(), async (n, send) => {
      if (n <= FAILURES) throw new Error('injected: broker not reachable');
      return send();
    });
    fixture.start(new Relay(fixture.outbox.config(), silentLog, { publisher }));
    await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from('retried') }]);
    await waitFor('published after the failures', async () => (await fixture.outbox.pendingCount()) === 0, 30_000);

    expect(publisher.sendTimes.length).toBe(FAILURES + 1);
    const gaps = publisher.sendTimes.slice(1).map((t, i) => t - publisher.sendTimes[i]!);
    const delays = gaps.map((_, attempt) => backoffDelay(attempt)); // 50, 100, 200, 400, 800, 1600 ms
    // Each retry came no sooner than its backoff delay (1 ms of timer rounding allowed).
    gaps.forEach((gap, i) => expect(gap, `gap before retry ${i + 1}: ${gaps.map(Math.round).join(', ')} ms`).toBeGreaterThanOrEqual(delays[i]! - 1));
  });

  it('at the shutdown deadline the in-flight claim is released at once, while the process still runs', async () => {
    const topic = await createTopic(1);
    let stalled!: () => void;
    const sending = new Promise<void>((resolve) => (stalled = resolve));
    // Kafka never answers this batch (the publish deadline is far away).
    const publisher = new SeamPublisher(realPublisher(), () => {
      stalled();
      return new Promise<void>(() => undefined);
    });
    const relay = fixture.start(
      new Relay(fixture.outbox.config({ OUTBOX_SHUTDOWN_TIMEOUT_MS: '300', OUTBOX_PUBLISH_TIMEOUT_MS: '15000' }), silentLog, { publisher }),
    );
    await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from('stuck') }]);
    await sending;
    const lockRow = `SELECT payload FROM ${fixture.outbox.names.outbox} FOR UPDATE NOWAIT`;
    // Control: while the batch is in flight its claim holds the row.
    await expect(fixture.outbox.pool.query(lockRow)).rejects.toThrow(/could not obtain lock/);

    await relay.stop();
    expect(relay.abandoned).toBe(true);
    expect(relay.state).toBe('stopped');
    // Released by the relay itself: another session can take the row right away.
    const taken = await fixture.outbox.pool.query<{ payload: Buffer }>(lockRow);
    expect(taken.rows.map((r) => r.payload.toString())).toEqual(['stuck']);
    expect(await fixture.outbox.pendingCount()).toBe(1); // abandoned unmarked
  });
});
