/**
 * The HTTP listener of a real relay process, against the real services: /metrics after real traffic
 * (every counter and gauge the runbook relies on, checked by value, and the whole scrape by
 * `promtool check metrics`), /healthz and /readyz, a standby replica, and the state-change log
 * lines. /metrics while Kafka is down is in test/fault/kafka-outage.test.ts, and while PostgreSQL is
 * frozen in test/fault/postgres-restart.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useFixture } from '../support/fixture.js';
import { health, httpPort, promtoolCheckMetrics, scrape } from '../support/http.js';
import { createTopic } from '../support/kafka.js';
import { waitFor } from '../support/outbox.js';
import { started } from '../support/relay-process.js';

const rows = (topic: string, n: number, key: (i: number) => string | null) =>
  Array.from({ length: n }, (_, i) => ({ topic, key: key(i), payload: Buffer.from(`{"n":${i}}`) }));

describe('operations: metrics, health and logs of a relay process', () => {
  const fixture = useFixture();

  it('/metrics counts what was published per topic, the backlog, dead rows and blocked keys; promtool accepts the scrape', async () => {
    const [a, b] = await Promise.all([createTopic(2, 'ops_a'), createTopic(1, 'ops_b')]);
    const relay = fixture.spawn({ OUTBOX_BACKLOG_INTERVAL_MS: '1000', OUTBOX_BATCH_SIZE: '20' });
    const port = await httpPort(relay);
    await relay.waitForLog(started);
    await fixture.outbox.insert([...rows(a, 30, (i) => `a${i % 3}`), ...rows(b, 20, () => null)]);
    // An illegal topic name is parked dead at once; the later row of its key waits behind it.
    await fixture.outbox.insert(rows('bad topic!', 1, () => 'stuck'));
    await fixture.outbox.insert(rows(a, 1, () => 'stuck'));

    const m = await waitFor('published and backlog sampled', async () => {
      const s = await scrape(port);
      return s.sum('outbox_relay_published_total') === 50 && s.value('outbox_relay_dead_rows', { topic: 'bad topic!' }) === 1 ? s : undefined;
    }, 30_000, 200);
    expect(m.value('outbox_relay_published_total', { topic: a })).toBe(30);
    expect(m.value('outbox_relay_published_total', { topic: b })).toBe(20);
    expect(m.value('outbox_relay_commit_to_ack_seconds_count')).toBe(50);
    expect(m.value('outbox_relay_commit_to_ack_seconds_sum')).toBeGreaterThan(0);
    expect(m.value('outbox_relay_batches_total')).toBeGreaterThanOrEqual(3); // 50 rows, 20 per batch
    expect(m.value('outbox_relay_batch_rows_sum')).toBeGreaterThanOrEqual(51);
    expect(m.value('outbox_relay_claim_duration_seconds_count')).toBeGreaterThanOrEqual(3);
    expect(m.value('outbox_relay_publish_duration_seconds_count')).toBe(m.value('outbox_relay_batches_total'));
    expect(m.value('outbox_relay_row_failures_total', { class: 'invalid-topic' })).toBe(1);
    // Backlog: the dead row and the row it blocks; nothing else is pending.
    expect(m.value('outbox_relay_pending_rows', { topic: 'bad topic!' })).toBe(1);
    expect(m.value('outbox_relay_pending_rows', { topic: a })).toBe(1);
    expect(m.value('outbox_relay_pending_rows', { topic: b })).toBeUndefined();
    expect(m.value('outbox_relay_oldest_pending_age_seconds', { topic: a })).toBeGreaterThanOrEqual(0);
    expect(m.value('outbox_relay_oldest_pending_age_seconds', { topic: 'bad topic!' })).toBeUndefined(); // dead only
    expect(m.value('outbox_relay_blocked_keys')).toBe(1);
    expect(m.value('outbox_relay_backlog_sample_age_seconds')).toBeLessThan(5);
    expect(m.value('outbox_relay_listening')).toBe(1);
    expect(m.value('outbox_relay_ready')).toBe(1);
    expect(m.value('outbox_relay_standby')).toBe(0);
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(m.value('outbox_relay_info', { version })).toBe(1);
    expect(m.value('process_resident_memory_bytes')).toBeGreaterThan(0);
    // No key or event id ever becomes a label.
    expect(m.text).not.toMatch(/stuck|a0"|key=/);
    await promtoolCheckMetrics(m.text);

    const live = await health(port, '/healthz');
    expect(live).toMatchObject({ status: 200, body: { status: 'ok', reasons: [] } });
    const ready = await health(port, '/readyz');
    expect(ready).toMatchObject({ status: 200, body: { status: 'ok', reasons: [] } });
    const other = await fetch(`http://127.0.0.1:${port}/nope`);
    expect(other.status).toBe(404);
  });

  it('two replicas on one outbox: both ready, each row published once between them', async () => {
    // The claim lock is per claim (transaction-scoped), so which replica stands by changes from
    // claim to claim; both must stay ready, and the counters of the two add up to the rows.
    const topic = await createTopic(1, 'ops_replicas');
    const first = fixture.spawn({ OUTBOX_POLL_INTERVAL_MS: '200' });
    const second = fixture.spawn({ OUTBOX_POLL_INTERVAL_MS: '200' });
    const [p1, p2] = await Promise.all([httpPort(first), httpPort(second)]);
    await Promise.all([first.waitForLog(started), second.waitForLog(started)]);
    await fixture.outbox.insert(rows(topic, 40, (i) => `k${i % 4}`));
    await waitFor('drained', async () => (await fixture.outbox.pendingCount()) === 0, 30_000);
    const [m1, m2] = await Promise.all([scrape(p1), scrape(p2)]);
    expect((m1.value('outbox_relay_published_total', { topic }) ?? 0) + (m2.value('outbox_relay_published_total', { topic }) ?? 0)).toBe(40);
    for (const port of [p1, p2]) expect((await health(port, '/readyz')).status).toBe(200);
  });

  it('logs one line per state change, readable on a terminal (LOG_FORMAT=pretty), JSON otherwise', async () => {
    const json = fixture.spawn({});
    await json.waitForLog(started);
    await json.waitForLog((l) => l.msg === 'listening for outbox notifications');
    for (const msg of ['connected to PostgreSQL', 'connected to Kafka', 'listening for outbox notifications', 'HTTP listener started']) {
      expect(json.logs.filter((l) => l.msg === msg), msg).toHaveLength(1);
    }
    expect(json.logs.every((l) => l.level !== 'stdout')).toBe(true); // every line is JSON

    const pretty = fixture.spawn({ LOG_FORMAT: 'pretty' });
    const line = await pretty.waitForLog((l) => l.level === 'stdout' && l.msg.includes('connected to Kafka'), 30_000);
    expect(line.msg).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: connected to Kafka/);
    expect(pretty.logs.filter((l) => l.level !== 'stdout')).toEqual([]); // no JSON line in pretty mode
  });
});
