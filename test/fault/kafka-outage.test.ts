/**
 * The Kafka broker dies (kill -9) under a running relay process, then comes back: nothing is marked
 * without an ack while it is down, the relay backs off instead of spinning, and the backlog drains
 * after the restart with lost 0 and per-key order kept. SIGTERM during the outage still exits 0
 * within the shutdown deadline. The sends a relay abandoned at their deadline during the outage never
 * deliver late copies once the broker is back (their producers are fenced).
 *
 * Uses a broker of its own (stack/up.sh with KAFKA_PORT=9094), so killing it disturbs no other test.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { check, writeKeyed } from '../support/checker.js';
import { useFixture } from '../support/fixture.js';
import { health, httpPort, promtoolCheckMetrics, scrape } from '../support/http.js';
import { createTopic, readAll } from '../support/kafka.js';
import { silentLog, waitFor } from '../support/outbox.js';
import { started } from '../support/relay-process.js';

const run = promisify(execFile);
const PORT = 9094;
const BROKERS = `127.0.0.1:${PORT}`;
const env = { KAFKA_PORT: String(PORT), PATH: process.env.PATH ?? '' };

async function startBroker(): Promise<void> {
  await run('bash', ['stack/up.sh'], { env, timeout: 180_000 });
}
function killBroker(): void {
  const pid = Number(readFileSync(`.stack/kafka-${PORT}/kafka.pid`, 'utf8'));
  process.kill(pid, 'SIGKILL');
}

describe('Kafka broker outage', () => {
  const fixture = useFixture();
  // Every test starts with the broker up (reused if it is running), so each also runs alone (-t).
  beforeEach(startBroker, 180_000);
  afterAll(async () => {
    await run('bash', ['stack/down.sh'], { env, timeout: 60_000 });
  }, 60_000);
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('kill -9 of the broker, then restart: nothing marked without ack, no hot loop, backlog drains, lost 0', async () => {
    const topic = await createTopic(2, 'outage', BROKERS);
    const relay = fixture.spawn({ KAFKA_BROKERS: BROKERS, OUTBOX_BATCH_SIZE: '50', OUTBOX_PUBLISH_TIMEOUT_MS: '3000' });
    const before = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 5, perKey: 40, rowsPerTx: 50, prefix: 'before' });
    await waitFor('first rows drained', async () => (await fixture.outbox.pendingCount()) === 0);

    killBroker();
    const during = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 5, perKey: 40, rowsPerTx: 50, prefix: 'during' });
    // Let the relay fail against the dead broker for a while (several publish deadlines).
    await relay.waitForLog((l) => l.msg?.toString().includes('failed; rows stay pending') === true && Number(l.attempt) >= 2, 60_000);
    expect(await fixture.outbox.pendingCount()).toBe(during.length); // G2: nothing marked without an ack
    const failures = relay.logs.filter((l) => l.msg?.toString().includes('failed; rows stay pending'));
    const spanMs = Date.parse(String(failures.at(-1)!.time)) - Date.parse(String(failures[0]!.time));
    // Backoff, not a hot loop: failures are spread out (publish deadline 3 s + jittered backoff).
    expect(failures.length).toBeLessThanOrEqual(Math.ceil(spanMs / 1000) + 2);

    await startBroker();
    await waitFor('backlog drained after the broker came back', async () => (await fixture.outbox.pendingCount()) === 0, 90_000);
    const result = check([...before, ...during], await readAll([topic], 60_000, BROKERS));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.unexpected).toEqual([]);
    // Only the batch whose ack was ambiguous at the moment of the kill can repeat; a producer whose
    // send was abandoned is fenced, so it cannot deliver a late copy when the broker is back.
    console.log(`kafka outage: ${failures.length} failed publishes, ${result.duplicates} duplicates`);
    expect(result.duplicates).toBeLessThanOrEqual(50);
  });

  it('/metrics, /healthz and /readyz while the broker is down: answer at once, say why, recover', async () => {
    const topic = await createTopic(1, 'outage', BROKERS);
    const relay = fixture.spawn({ KAFKA_BROKERS: BROKERS, OUTBOX_PUBLISH_TIMEOUT_MS: '3000', OUTBOX_BACKLOG_INTERVAL_MS: '1000' });
    const port = await httpPort(relay);
    await relay.waitForLog(started);
    expect((await health(port, '/readyz')).status).toBe(200);

    killBroker();
    const rows = Array.from({ length: 30 }, (_, i) => ({ topic, key: `k${i % 3}`, payload: Buffer.from(String(i)) }));
    await fixture.outbox.insert(rows);
    const notReady = await waitFor('not ready', async () => {
      const r = await health(port, '/readyz');
      return r.status === 503 ? r : undefined;
    }, 60_000, 200);
    expect(notReady.body.status).toBe('fail');
    expect(notReady.body.reasons.join('; ')).toMatch(/^Kafka: /m);
    const m = await waitFor('backlog sampled during the outage', async () => {
      const s = await scrape(port);
      return s.value('outbox_relay_pending_rows', { topic }) === 30 ? s : undefined;
    }, 30_000, 200);
    expect(m.ms).toBeLessThan(1000); // answered from memory, not from the stuck send
    expect(m.value('outbox_relay_ready')).toBe(0);
    expect(m.sum('outbox_relay_publish_errors_total') - (m.value('outbox_relay_publish_errors_total', { class: 'poison' }) ?? 0)).toBeGreaterThan(0);
    expect(m.value('outbox_relay_producer_replacements_total')).toBeGreaterThan(0);
    expect(m.value('outbox_relay_published_total', { topic })).toBeUndefined();
    await promtoolCheckMetrics(m.text);
    const live = await health(port, '/healthz');
    expect(live.status).toBe(200); // alive: retrying is what it should do
    expect(live.ms).toBeLessThan(1000);

    await startBroker();
    await waitFor('ready again', async () => (await health(port, '/readyz')).status === 200, 90_000, 200);
    await relay.waitForLog((l) => l.msg === 'recovered: claiming and publishing again', 30_000);
    await waitFor('drained', async () => (await fixture.outbox.pendingCount()) === 0, 60_000);
    const after = await scrape(port);
    expect(after.value('outbox_relay_published_total', { topic })).toBe(30);
    expect(after.value('outbox_relay_ready')).toBe(1);
  });

  it('SIGTERM while the broker is down: exit 0 within the shutdown deadline, rows stay pending', async () => {
    const topic = await createTopic(2, 'outage', BROKERS);
    const relay = fixture.spawn({
      KAFKA_BROKERS: BROKERS,
      OUTBOX_PUBLISH_TIMEOUT_MS: '20000',
      OUTBOX_SHUTDOWN_TIMEOUT_MS: '2000',
    });
    await relay.waitForLog((l) => l.msg === 'relay started');
    killBroker();
    await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from('stuck') }]);
    // The batch is in flight: its claim transaction sits idle in transaction while kafkajs retries.
    await waitFor('a claim held open across the stalled publish', async () => {
      const r = await fixture.outbox.pool.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'`, [
        fixture.outbox.names.relayApplicationName,
      ]);
      return r.rowCount === 1;
    });
    const t0 = Date.now();
    relay.kill('SIGTERM');
    const exit = await relay.exited;
    expect(exit, `stderr: ${relay.stderr()} logs: ${JSON.stringify(relay.logs.slice(-6))}`).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(2000 + 3000 + 2000); // deadline + closing bound + process start/exit slack
    expect(await fixture.outbox.pendingCount()).toBe(1);
  });

  it('abandoned sends of replaced producers never deliver late: one batch, at most one extra copy', async () => {
    // Retry at once after every failure (jitter pinned to 0): each attempt ends at the 1 s publish
    // deadline, so when the broker comes back there are several abandoned sends younger than kafkajs's
    // own retry budget (~10 s). Unfenced, each of them would reconnect and deliver its copy.
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const topic = await createTopic(1, 'zombie', BROKERS);
    const relay = fixture.start(
      new Relay(fixture.outbox.config({ KAFKA_BROKERS: BROKERS, OUTBOX_PUBLISH_TIMEOUT_MS: '1000', OUTBOX_BATCH_SIZE: '50' }), silentLog),
    );
    // One row first, so the relay has seen the topic (it checks topics exist before sending, and
    // remembers that for a minute): during the outage it then really sends, and abandons, batches.
    const warm = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 1, perKey: 1, rowsPerTx: 1, prefix: 'w' });
    await waitFor('the first row published', async () => (await fixture.outbox.pendingCount()) === 0 && relay.sleeping);
    killBroker();
    const written = await writeKeyed((rows) => fixture.outbox.insert(rows), topic, { keys: 5, perKey: 4, rowsPerTx: 20, prefix: 'z' });
    await waitFor('several abandoned sends', async () => relay.stats.failures >= 4, 30_000);
    await startBroker();
    await waitFor('the batch published after the broker came back', async () => (await fixture.outbox.pendingCount()) === 0, 60_000);
    await relay.stop();
    const result = check([...warm, ...written], await readAll([topic], 30_000, BROKERS));
    expect(result.lost).toEqual([]);
    console.log(`kafka outage, abandoned sends: ${relay.stats.failures} failed publishes, ${result.duplicates} duplicates`);
    // The send in flight when the broker returned may land after its deadline (one copy); none other.
    expect(result.duplicates).toBeLessThanOrEqual(written.length);
  });
});

