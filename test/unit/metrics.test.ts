import { describe, expect, it } from 'vitest';
import { MAX_TOPIC_LABELS, METRICS, OTHER_TOPICS, renderMetricsTable } from '../../src/metrics/definitions.js';
import { capTopics, createMetrics } from '../../src/metrics/registry.js';
import { parseExposition } from '../support/http.js';

const live = { listening: () => true, ready: () => false, standby: () => true, ownedPartitions: () => 21 };
const row = (topic: string, age: number) => ({ topic, age }) as never;

async function samples(m: ReturnType<typeof createMetrics>) {
  const parsed = parseExposition(await m.registry.metrics());
  return (name: string, labels: Record<string, string> = {}) =>
    parsed.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('metric definitions', () => {
  it('follow Prometheus naming: prefix, counters end in _total, histograms in a base unit or a count', () => {
    for (const m of Object.values(METRICS)) {
      expect(m.name).toMatch(/^outbox_relay_[a-z_]+$/);
      expect(m.name.endsWith('_total')).toBe(m.type === 'counter');
      if (m.type === 'histogram') expect(m.name).toMatch(/_(seconds|rows)$/);
      for (const label of m.labels) expect(['topic', 'class', 'step', 'version', 'change']).toContain(label);
      expect(m.help.length).toBeGreaterThan(20);
    }
  });
  it('the issue’s required names are all there', () => {
    const names = Object.values(METRICS).map((m) => m.name);
    for (const required of [
      'outbox_relay_published_total', 'outbox_relay_publish_errors_total', 'outbox_relay_batches_total', 'outbox_relay_batch_rows',
      'outbox_relay_publish_duration_seconds', 'outbox_relay_claim_duration_seconds', 'outbox_relay_commit_to_ack_seconds',
      'outbox_relay_pending_rows', 'outbox_relay_oldest_pending_age_seconds', 'outbox_relay_dead_rows', 'outbox_relay_blocked_keys',
      'outbox_relay_listening', 'outbox_relay_listener_reconnects_total', 'outbox_relay_producer_replacements_total', 'outbox_relay_info',
    ]) expect(names).toContain(required);
  });
  it('the README table lists every metric', () => {
    const table = renderMetricsTable();
    for (const m of Object.values(METRICS)) expect(table).toContain(`| \`${m.name}\` | ${m.type} |`);
  });
});

describe('createMetrics', () => {
  it('counts a completed batch per topic and observes commit-to-ack per row (age at claim + claim-to-ack, never negative)', async () => {
    const m = createMetrics('9.9.9', live);
    m.observer.batchCompleted!({
      acked: [row('a', 1), row('a', 2), row('b', -5)],
      failed: [{ row: row('c', 0), class: 'too-large', message: 'x' }],
      rows: 4,
      publishSeconds: 0.25,
      claimToAckSeconds: 0.5,
    });
    const v = await samples(m);
    expect(v('outbox_relay_published_total', { topic: 'a' })).toBe(2);
    expect(v('outbox_relay_published_total', { topic: 'b' })).toBe(1);
    expect(v('outbox_relay_row_failures_total', { class: 'too-large' })).toBe(1);
    expect(v('outbox_relay_batches_total')).toBe(1);
    expect(v('outbox_relay_batch_rows_sum')).toBe(4);
    expect(v('outbox_relay_publish_duration_seconds_sum')).toBe(0.25);
    expect(v('outbox_relay_commit_to_ack_seconds_count')).toBe(3);
    expect(v('outbox_relay_commit_to_ack_seconds_sum')).toBe(1.5 + 2.5 + 0.5);
    expect(v('outbox_relay_commit_to_ack_seconds_bucket', { le: '0.5' })).toBe(1); // the row from the future counts as 0 + 0.5
    expect(v('outbox_relay_info', { version: '9.9.9' })).toBe(1);
  });
  it('counts failures, replacements and reconnects (not the first connect); gauges read live state at scrape', async () => {
    const m = createMetrics('1', live);
    m.observer.publishFailed!('retriable', 'x');
    m.observer.publishFailed!('retriable', 'x');
    m.observer.databaseFailed!('complete', 'x');
    m.observer.producerReplaced!('x');
    m.observer.listenerConnected!(false);
    m.observer.listenerConnected!(true);
    m.observer.claimed!(0.002, 1, false);
    const v = await samples(m);
    expect(v('outbox_relay_publish_errors_total', { class: 'retriable' })).toBe(2);
    expect(v('outbox_relay_publish_errors_total', { class: 'poison' })).toBe(0);
    expect(v('outbox_relay_database_errors_total', { step: 'complete' })).toBe(1);
    expect(v('outbox_relay_producer_replacements_total')).toBe(1);
    expect(v('outbox_relay_listener_reconnects_total')).toBe(1);
    expect(v('outbox_relay_claim_duration_seconds_count')).toBe(1);
    expect(v('outbox_relay_listening')).toBe(1);
    expect(v('outbox_relay_ready')).toBe(0);
    expect(v('outbox_relay_standby')).toBe(1);
    expect(v('outbox_relay_backlog_sample_age_seconds')).toBe(-1); // no sample yet
    expect(v('outbox_relay_owned_partitions')).toBe(21);
    m.observer.leasesChanged!({ owned: [1], gained: [1, 2], released: [3], lost: [4, 5, 6] });
    const after = await samples(m);
    expect(after('outbox_relay_lease_changes_total', { change: 'gained' })).toBe(2);
    expect(after('outbox_relay_lease_changes_total', { change: 'released' })).toBe(1);
    expect(after('outbox_relay_lease_changes_total', { change: 'lost' })).toBe(3);
  });
  it('a backlog sample replaces the previous one (a drained topic disappears) and its age is read at scrape', async () => {
    const m = createMetrics('1', live);
    m.setBacklog({ topics: [{ topic: 'a', pending: 3, oldestPendingAgeSeconds: 7, dead: 1 }, { topic: 'b', pending: 1, oldestPendingAgeSeconds: null, dead: 1 }], blockedKeys: 2, deadTuples: 1234 }, Date.now() - 4000);
    let v = await samples(m);
    expect(v('outbox_relay_pending_rows', { topic: 'a' })).toBe(3);
    expect(v('outbox_relay_oldest_pending_age_seconds', { topic: 'a' })).toBe(7);
    expect(v('outbox_relay_oldest_pending_age_seconds', { topic: 'b' })).toBeUndefined();
    expect(v('outbox_relay_dead_rows', { topic: 'b' })).toBe(1);
    expect(v('outbox_relay_blocked_keys')).toBe(2);
    expect(v('outbox_relay_table_dead_tuples')).toBe(1234);
    expect(v('outbox_relay_backlog_sample_age_seconds')).toBeGreaterThanOrEqual(4);
    m.setBacklog({ topics: [{ topic: 'b', pending: 1, oldestPendingAgeSeconds: 1, dead: 0 }], blockedKeys: 0 });
    v = await samples(m);
    expect(v('outbox_relay_pending_rows', { topic: 'a' })).toBeUndefined();
    expect(v('outbox_relay_backlog_sample_age_seconds')).toBeLessThan(1);
  });
  it('exposes no misnamed default gauge (promtool rejects *_total gauges)', async () => {
    const text = await createMetrics('1', live).registry.metrics();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).not.toMatch(/nodejs_active_\w+_total/);
  });
});

describe('capTopics', () => {
  const topic = (i: number, pending: number) => ({ topic: `t${i}`, pending, dead: 0, oldestPendingAgeSeconds: i });
  it('keeps every topic up to the cap', () => {
    const topics = Array.from({ length: MAX_TOPIC_LABELS }, (_, i) => topic(i, 1));
    expect(capTopics(topics)).toEqual(topics);
  });
  it('over the cap: the biggest keep their label, the rest are summed under _other with the oldest age', () => {
    const topics = [topic(1, 5), topic(2, 50), topic(3, 1), topic(4, 2)];
    expect(capTopics(topics, 3)).toEqual([
      topic(2, 50),
      topic(1, 5),
      { topic: OTHER_TOPICS, pending: 3, dead: 0, oldestPendingAgeSeconds: 4 },
    ]);
  });
});
