/**
 * The Prometheus registry (prom-client), built from the one table of metric definitions
 * (./definitions.ts), and the relay observer that feeds it. Everything here is in memory: a scrape
 * never waits on PostgreSQL or Kafka. The backlog gauges are set by the periodic backlog query
 * (src/backlog/poller.ts) and their age is computed at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RelayObserver } from '../relay/observer.js';
import type { BacklogSample, TopicBacklog } from '../sql/backlog.js';
import { MAX_TOPIC_LABELS, METRICS, OTHER_TOPICS, type MetricKey, type MetricSpec } from './definitions.js';

type Instruments = {
  [K in MetricKey]: (typeof METRICS)[K]['type'] extends 'counter'
    ? Counter
    : (typeof METRICS)[K]['type'] extends 'histogram'
      ? Histogram
      : Gauge;
};

function instrument(spec: MetricSpec, registry: Registry, read?: () => number): Counter | Gauge | Histogram {
  const base = { name: spec.name, help: spec.help, labelNames: [...spec.labels], registers: [registry] };
  if (spec.type === 'counter') return new Counter(base);
  if (spec.type === 'histogram') return new Histogram({ ...base, buckets: [...(spec.buckets ?? [])] });
  if (read === undefined) return new Gauge(base);
  return new Gauge({
    ...base,
    collect() {
      this.set(read());
    },
  });
}

const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface RelayMetrics {
  registry: Registry;
  /** Feeds the loop's counters and histograms. */
  observer: RelayObserver;
  /** Replace the backlog gauges with a fresh sample (src/backlog/poller.ts). */
  setBacklog(sample: BacklogSample, at?: number): void;
  /** Values read at scrape time. */
  live: { listening: () => boolean; ready: () => boolean; standby: () => boolean; ownedPartitions: () => number };
}

export function createMetrics(version: string, live: RelayMetrics['live']): RelayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names three gauges with a counter's `_total` suffix, which `promtool check metrics`
  // rejects; they add nothing a relay's operator needs that process_* does not say.
  for (const misnamed of MISNAMED_DEFAULTS) registry.removeSingleMetric(misnamed);
  let backlogAt: number | undefined;
  // Gauges read at scrape time, from in-memory state only.
  const readAtScrape: Partial<Record<MetricKey, () => number>> = {
    backlogAge: () => (backlogAt === undefined ? -1 : (Date.now() - backlogAt) / 1000),
    listening: () => (live.listening() ? 1 : 0),
    ready: () => (live.ready() ? 1 : 0),
    standby: () => (live.standby() ? 1 : 0),
    ownedPartitions: () => live.ownedPartitions(),
  };
  const m = Object.fromEntries(
    Object.entries(METRICS).map(([key, spec]) => [key, instrument(spec, registry, readAtScrape[key as MetricKey])]),
  ) as Instruments;
  m.info.set({ version }, 1);
  // Counters start at 0 for the labels every healthy relay has, so rate() works from the first scrape.
  m.batches.inc(0);
  m.listenerReconnects.inc(0);
  m.producerReplacements.inc(0);
  for (const cls of ['retriable', 'fatal-producer', 'poison']) m.publishErrors.inc({ class: cls }, 0);
  for (const change of ['gained', 'released', 'lost']) m.leaseChanges.inc({ change }, 0);

  const observer: RelayObserver = {
    claimed(seconds) {
      m.claimDuration.observe(seconds);
    },
    batchCompleted(report) {
      m.batches.inc();
      m.batchRows.observe(report.rows);
      m.publishDuration.observe(report.publishSeconds);
      const perTopic = new Map<string, number>();
      for (const row of report.acked) {
        perTopic.set(row.topic, (perTopic.get(row.topic) ?? 0) + 1);
        m.commitToAck.observe(Math.max(0, row.age) + report.claimToAckSeconds);
      }
      for (const [topic, n] of perTopic) m.published.inc({ topic }, n);
      for (const f of report.failed) m.rowFailures.inc({ class: f.class });
    },
    publishFailed(kind) {
      m.publishErrors.inc({ class: kind });
    },
    databaseFailed(step) {
      m.stepErrors.inc({ step });
    },
    producerReplaced() {
      m.producerReplacements.inc();
    },
    listenerConnected(reconnect) {
      if (reconnect) m.listenerReconnects.inc();
    },
    leasesChanged(change) {
      m.leaseChanges.inc({ change: 'gained' }, change.gained.length);
      m.leaseChanges.inc({ change: 'released' }, change.released.length);
      m.leaseChanges.inc({ change: 'lost' }, change.lost.length);
    },
  };

  function setBacklog(sample: BacklogSample, at = Date.now()): void {
    backlogAt = at;
    for (const g of [m.pendingRows, m.oldestPendingAge, m.deadRows]) g.reset();
    for (const t of capTopics(sample.topics)) {
      m.pendingRows.set({ topic: t.topic }, t.pending);
      if (t.oldestPendingAgeSeconds !== null) m.oldestPendingAge.set({ topic: t.topic }, t.oldestPendingAgeSeconds);
      m.deadRows.set({ topic: t.topic }, t.dead);
    }
    m.blockedKeys.set(sample.blockedKeys);
    if (sample.deadTuples !== undefined) m.tableDeadTuples.set(sample.deadTuples);
  }

  return { registry, observer, setBacklog, live };
}

/**
 * At most MAX_TOPIC_LABELS topics keep their own label (the ones with the most pending rows, then
 * dead rows); the rest are summed under OTHER_TOPICS, with the oldest age among them. Pure.
 */
export function capTopics(topics: readonly TopicBacklog[], max = MAX_TOPIC_LABELS): TopicBacklog[] {
  if (topics.length <= max) return [...topics];
  const sorted = [...topics].sort((a, b) => b.pending - a.pending || b.dead - a.dead || a.topic.localeCompare(b.topic));
  const kept = sorted.slice(0, max - 1);
  const rest = sorted.slice(max - 1);
  const ages = rest.map((t) => t.oldestPendingAgeSeconds).filter((a): a is number => a !== null);
  kept.push({
    topic: OTHER_TOPICS,
    pending: rest.reduce((n, t) => n + t.pending, 0),
    dead: rest.reduce((n, t) => n + t.dead, 0),
    oldestPendingAgeSeconds: ages.length > 0 ? Math.max(...ages) : null,
  });
  return kept;
}
