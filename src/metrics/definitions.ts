/**
 * Every metric the relay exposes: name, type, labels, unit and meaning, in one place. The registry
 * (./registry.ts) is built from this table, the README's metrics table is generated from it
 * (`npm run docs:config`; a unit test fails on drift), and the dashboard and alert rules in config/ are
 * checked against it (test/unit/ops-files.test.ts).
 *
 * Conventions (Prometheus naming): base units (seconds, bytes), counters end in `_total`, labels are
 * low-cardinality — `topic` at most (capped, see MAX_TOPIC_LABELS), never a key or an event id.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricSpec {
  name: string;
  type: MetricType;
  help: string;
  labels: readonly string[];
  /** Histogram bucket upper bounds, in the metric's unit. */
  buckets?: readonly number[];
}

/** Latency buckets from 1 ms to 2 min (commit-to-ack may include a long outage). */
const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] as const;
/** A single SQL statement or Kafka request: 0.5 ms to 30 s. */
const STEP_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
const ROWS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

function metric<T extends MetricType>(spec: MetricSpec & { type: T }): MetricSpec & { type: T } {
  return spec;
}

/**
 * Backlog gauges carry at most this many topics (the ones with the most pending rows); the rest are
 * summed under topic="_other". A careless producer writing thousands of topic names must not blow up
 * the scrape.
 */
export const MAX_TOPIC_LABELS = 100;
export const OTHER_TOPICS = '_other';

export const METRICS = {
  published: metric({
    name: 'outbox_relay_published_total',
    type: 'counter',
    help: 'Rows acknowledged by Kafka and then deleted or marked sent.',
    labels: ['topic'],
  }),
  publishErrors: metric({
    name: 'outbox_relay_publish_errors_total',
    type: 'counter',
    help: 'Failed publish attempts of a batch, by class: retriable (broker down, leader moving, timeout), fatal-producer (producer replaced), poison (a row Kafka refuses; isolated and parked).',
    labels: ['class'],
  }),
  rowFailures: metric({
    name: 'outbox_relay_row_failures_total',
    type: 'counter',
    help: 'Rows recorded as failed (retried later or parked dead), by reason: invalid-headers, invalid-topic, too-large, unknown-topic, refused, not-authorized, failed.',
    labels: ['class'],
  }),
  stepErrors: metric({
    name: 'outbox_relay_database_errors_total',
    type: 'counter',
    help: 'Failed database steps of the loop (claim or complete); the rows stay pending and the step is retried.',
    labels: ['step'],
  }),
  batches: metric({
    name: 'outbox_relay_batches_total',
    type: 'counter',
    help: 'Batches claimed, published and completed.',
    labels: [],
  }),
  batchRows: metric({
    name: 'outbox_relay_batch_rows',
    type: 'histogram',
    help: 'Rows per claimed batch.',
    labels: [],
    buckets: ROWS,
  }),
  publishDuration: metric({
    name: 'outbox_relay_publish_duration_seconds',
    type: 'histogram',
    help: 'Time to publish one claimed batch to Kafka, until every row was acknowledged (or the batch failed).',
    labels: [],
    buckets: STEP_SECONDS,
  }),
  claimDuration: metric({
    name: 'outbox_relay_claim_duration_seconds',
    type: 'histogram',
    help: 'Time of one claim: BEGIN, lease check and SELECT … FOR UPDATE SKIP LOCKED.',
    labels: [],
    buckets: STEP_SECONDS,
  }),
  commitToAck: metric({
    name: 'outbox_relay_commit_to_ack_seconds',
    type: 'histogram',
    help: "Per row: from the row's created_at to Kafka's acknowledgement (the database clock's age at claim plus the relay's own elapsed time, so host clock skew does not bend it).",
    labels: [],
    buckets: SECONDS,
  }),
  pendingRows: metric({
    name: 'outbox_relay_pending_rows',
    type: 'gauge',
    help: 'Rows not yet published (pending, waiting for a retry, or dead), per topic, from the periodic backlog query.',
    labels: ['topic'],
  }),
  oldestPendingAge: metric({
    name: 'outbox_relay_oldest_pending_age_seconds',
    type: 'gauge',
    help: 'Age of the oldest pending row per topic (database clock), from the periodic backlog query; dead rows excluded.',
    labels: ['topic'],
  }),
  deadRows: metric({
    name: 'outbox_relay_dead_rows',
    type: 'gauge',
    help: 'Rows parked as dead, per topic: they wait for `outbox-relay dead retry` or `dead discard`.',
    labels: ['topic'],
  }),
  blockedKeys: metric({
    name: 'outbox_relay_blocked_keys',
    type: 'gauge',
    help: 'Keys whose later rows wait behind a failed (retrying or dead) row (policy block-key).',
    labels: [],
  }),
  tableDeadTuples: metric({
    name: 'outbox_relay_table_dead_tuples',
    type: 'gauge',
    help: "Dead row versions in the outbox table that VACUUM has not removed yet (PostgreSQL's estimate, pg_stat_user_tables.n_dead_tup), from the periodic backlog query; climbing without falling back means a long transaction pins xmin.",
    labels: [],
  }),
  backlogAge: metric({
    name: 'outbox_relay_backlog_sample_age_seconds',
    type: 'gauge',
    help: 'Age of the values in the backlog gauges: seconds since the last backlog query succeeded (-1 before the first); grows while PostgreSQL does not answer.',
    labels: [],
  }),
  listening: metric({
    name: 'outbox_relay_listening',
    type: 'gauge',
    help: '1 while the relay is woken by NOTIFY, 0 while it relies on polling alone.',
    labels: [],
  }),
  listenerReconnects: metric({
    name: 'outbox_relay_listener_reconnects_total',
    type: 'counter',
    help: 'Times the LISTEN connection was re-established after it was lost.',
    labels: [],
  }),
  producerReplacements: metric({
    name: 'outbox_relay_producer_replacements_total',
    type: 'counter',
    help: 'Times the Kafka producer was fenced and replaced after a failed or ambiguous send.',
    labels: [],
  }),
  ownedPartitions: metric({
    name: 'outbox_relay_owned_partitions',
    type: 'gauge',
    help: 'Key partitions (of 64) this replica holds a lease on; replicas on one outbox share them out evenly.',
    labels: [],
  }),
  leaseChanges: metric({
    name: 'outbox_relay_lease_changes_total',
    type: 'counter',
    help: 'Key partition leases gained, released (handed to another replica on a rebalance) or lost (taken over after this replica failed to renew in time).',
    labels: ['change'],
  }),
  standby: metric({
    name: 'outbox_relay_standby',
    type: 'gauge',
    help: '1 while this replica holds no key partition (more replicas than partitions, or its leases lapsed) and so stands by.',
    labels: [],
  }),
  ready: metric({
    name: 'outbox_relay_ready',
    type: 'gauge',
    help: '1 while the relay is ready (what /readyz answers 200 for): connected to PostgreSQL and Kafka and not failing in a row.',
    labels: [],
  }),
  info: metric({
    name: 'outbox_relay_info',
    type: 'gauge',
    help: 'Always 1; the labels say which version runs.',
    labels: ['version'],
  }),
} as const;

export type MetricKey = keyof typeof METRICS;
export const METRIC_NAMES: readonly string[] = Object.values(METRICS).map((m) => m.name);

/**
 * Series names a metric adds to the exposition (histograms add _bucket, _sum and _count), for checks
 * that a dashboard or rule only uses what exists.
 */
export function seriesNames(spec: MetricSpec): string[] {
  return spec.type === 'histogram' ? [`${spec.name}_bucket`, `${spec.name}_sum`, `${spec.name}_count`] : [spec.name];
}

export const METRICS_TABLE_START = '<!-- metrics:start (generated by npm run docs:config; do not edit) -->';
export const METRICS_TABLE_END = '<!-- metrics:end -->';

export function renderMetricsTable(): string {
  const lines = ['| Metric | Type | Labels | Meaning |', '|---|---|---|---|'];
  for (const m of Object.values(METRICS)) {
    const labels = m.labels.length > 0 ? m.labels.map((l) => `\`${l}\``).join(', ') : '—';
    lines.push(`| \`${m.name}\` | ${m.type} | ${labels} | ${m.help.replace(/\|/g, '\\|')} |`);
  }
  lines.push("| `process_*`, `nodejs_*` | — | — | Node.js's default process metrics (CPU, memory, event-loop lag, GC) from prom-client. |");
  return `${METRICS_TABLE_START}\n${lines.join('\n')}\n${METRICS_TABLE_END}`;
}
