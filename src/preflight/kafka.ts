/**
 * The Kafka preflight, run once at start-up after the relay connected (and by `doctor`-style output
 * later): is the cluster one the relay can publish to, and what will it refuse? Each finding is one
 * line with its fix. Checks:
 * - kafka-brokers: the brokers in the cluster metadata (the connection itself was the reachability check);
 * - kafka-api-versions: the broker offers the API versions kafkajs 2.2.4's idempotent producer speaks
 *   (ApiVersions; fatal when it does not);
 * - kafka-idempotence: InitProducerId succeeded while connecting, so IdempotentWrite (or Write on the
 *   topics) is allowed; when it is not, connecting already ended the relay (exit 7 with the ACL);
 * - kafka-topics: every topic with pending rows exists (a warning per missing topic: its rows wait,
 *   then park as unknown-topic);
 * - kafka-message-size: the broker's message.max.bytes and each topic's max.message.bytes are known,
 *   so a row over its topic's limit is parked as too-large without a round trip; and how many pending
 *   rows are over their limit already (they will be parked as too-large when the relay reaches them).
 * The relay logs the findings at start-up (reportFindings); `outbox-relay doctor` prints them as its
 * Kafka checks (src/commands/doctor.ts). Either mapping: pending topics are the routed topics.
 * judge() is pure (test/unit/preflight.test.ts); kafka calls live in src/publisher/kafka.ts.
 */
import type pg from 'pg';
import type { RunConfig } from '../config.js';
import { KafkaRefusedError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { resolveMapping, type Mapping, type MappingSettings } from '../mapping/definition.js';
import { rowMapper, topicLabel, type SourceRow } from '../mapping/message.js';
import type { OutboxNames } from '../names.js';
import { NEEDED_APIS, unsupportedApis } from '../publisher/api-versions.js';
import type { ClusterFacts, Publisher } from '../publisher/kafka.js';
import { rowSize } from '../relay/batch.js';
import { oversizedCandidatesSql, pendingTopicsSql } from '../sql/preflight.js';

export interface Finding {
  ok: boolean;
  check: string;
  /** What was found (for ok findings, the facts). */
  detail?: string;
  problem?: string;
  fix?: string;
  /** The relay cannot work with this: it exits. */
  fatal?: boolean;
  /** Rows cannot be published until this is fixed (they wait, or are parked dead): `doctor` fails on it. */
  blocking?: boolean;
}

export interface PendingTopic {
  topic: string;
  rows: number;
}

/** Pending rows of a topic over the limit they are checked against (they will be parked as too-large). */
export interface OversizedRows {
  topic: string;
  rows: number;
  /** The largest of them, in bytes as the relay measures a row. */
  largest: number;
  limit: number;
  /** Which limit: the topic's max.message.bytes, or OUTBOX_MAX_MESSAGE_BYTES. */
  by: 'topic' | 'setting';
}

type SizeSettings = Pick<RunConfig, 'maxMessageBytes' | 'batchMaxBytes' | 'kafkaCompression'>;
/** What the preflight needs from the settings: the size limits and the mapping (run's and doctor's configs both have them). */
export type PreflightSettings = SizeSettings & MappingSettings;

/** The findings for what was learnt about the cluster and the outbox. */
export function judge(facts: ClusterFacts, pending: PendingTopic[], c: SizeSettings, oversized: OversizedRows[] = []): Finding[] {
  const findings: Finding[] = [{ ok: true, check: 'kafka-brokers', detail: `${facts.brokers.length} broker(s): ${facts.brokers.join(', ')}` }];

  const api = facts.apiVersions;
  if (!api || api.error !== undefined || !api.versions) {
    findings.push({
      ok: false,
      check: 'kafka-api-versions',
      problem: `could not read the API versions of ${api?.broker ?? 'any broker'}${api?.error ? ` (${api.error})` : ''}`,
      fix: 'check that the brokers are Apache Kafka 0.11 or later (or a compatible service); publishing will tell',
    });
  } else {
    const unsupported = unsupportedApis(api.versions);
    const produce = api.versions.get(NEEDED_APIS.Produce!.key);
    findings.push(
      unsupported.length === 0
        ? { ok: true, check: 'kafka-api-versions', detail: `${api.broker} speaks Produce v${produce?.min}-v${produce?.max} and InitProducerId (idempotent produce)` }
        : {
            ok: false,
            fatal: true,
            check: 'kafka-api-versions',
            problem: `${api.broker} does not speak what kafkajs 2.2.4's idempotent producer needs: ${unsupported.join(', ')}`,
            fix: 'use Apache Kafka 0.11 or later (tested with 4.4), or a service compatible with it',
          },
    );
  }

  findings.push({ ok: true, check: 'kafka-idempotence', detail: 'InitProducerId succeeded: idempotent writes are allowed for the relay' });

  const missing = new Set(facts.missingTopics);
  const absent = pending.filter((p) => missing.has(p.topic));
  if (absent.length === 0) findings.push({ ok: true, check: 'kafka-topics', detail: `all ${pending.length} topic(s) with pending rows exist` });
  for (const p of absent) {
    findings.push({
      ok: false,
      blocking: true,
      check: 'kafka-topics',
      problem: `topic ${p.topic} has ${p.rows} pending row(s) but does not exist`,
      fix: `create it (kafka-topics --create --topic ${p.topic}); meanwhile its rows wait, and are parked as unknown-topic after OUTBOX_UNKNOWN_TOPIC_DEAD_AFTER_MS`,
    });
  }

  if (facts.limitsError !== undefined || !facts.topicLimits) {
    findings.push({
      ok: false,
      check: 'kafka-message-size',
      problem: `cannot read message.max.bytes / max.message.bytes (${facts.limitsError ?? 'no answer'})`,
      fix: 'allow DescribeConfigs on the topics and the cluster for the relay; until then rows are checked against OUTBOX_MAX_MESSAGE_BYTES only and larger ones are refused by the broker',
    });
  } else {
    const limits = [...facts.topicLimits];
    const lower = limits.filter(([, limit]) => limit < c.maxMessageBytes);
    const brokerText = facts.brokerLimit !== undefined ? `broker message.max.bytes ${facts.brokerLimit}; ` : '';
    const parked =
      c.kafkaCompression === 'none'
        ? lower.length > 0
          ? `rows over their topic's limit are parked as too-large without a send (${lower.map(([t, l]) => `${t}: ${l}`).join(', ')})`
          : `every topic takes rows up to OUTBOX_MAX_MESSAGE_BYTES ${c.maxMessageBytes}`
        : `with KAFKA_COMPRESSION=${c.kafkaCompression} the broker judges compressed sizes`;
    const over = oversized.length === 0 ? '; no pending row is over its limit' : '';
    findings.push({ ok: true, check: 'kafka-message-size', detail: `${brokerText}${limits.length} topic limit(s) known; ${parked}${over}` });
    const smallest = limits.reduce<[string, number] | undefined>((min, cur) => (min === undefined || cur[1] < min[1] ? cur : min), undefined);
    if (smallest && c.batchMaxBytes > smallest[1]) {
      findings.push({
        ok: false,
        check: 'kafka-message-size',
        problem: `OUTBOX_BATCH_MAX_BYTES ${c.batchMaxBytes} is above topic ${smallest[0]}'s max.message.bytes ${smallest[1]}: a request of many small rows can be refused and split`,
        fix: `set OUTBOX_BATCH_MAX_BYTES below ${smallest[1]}`,
      });
    }
  }
  for (const o of oversized) {
    const fix =
      o.by === 'topic'
        ? `raise the topic's limit before the relay reaches them (kafka-configs --alter --entity-type topics --entity-name ${o.topic} --add-config max.message.bytes=${o.largest}), or let them be parked and see \`outbox-relay dead list --topic ${o.topic}\``
        : `raise OUTBOX_MAX_MESSAGE_BYTES to at least ${o.largest} (within the broker's limits) before the relay reaches them, or let them be parked and see \`outbox-relay dead list --topic ${o.topic}\``;
    findings.push({
      ok: false,
      blocking: true,
      check: 'kafka-message-size',
      problem: `${o.rows} pending row(s) of topic ${o.topic} are over ${o.by === 'topic' ? "the topic's max.message.bytes" : 'OUTBOX_MAX_MESSAGE_BYTES'} ${o.limit} (largest ${o.largest} bytes): they will be parked as too-large`,
      fix,
    });
  }
  return findings;
}

/** The limit a row of this topic is held to before it is sent: OUTBOX_MAX_MESSAGE_BYTES, and the topic's limit when sizes are known (no compression). */
function limitOf(topic: string, facts: ClusterFacts, c: SizeSettings): { limit: number; by: OversizedRows['by'] } {
  const topicLimit = c.kafkaCompression === 'none' ? facts.topicLimits?.get(topic) : undefined;
  return topicLimit !== undefined && topicLimit < c.maxMessageBytes ? { limit: topicLimit, by: 'topic' } : { limit: c.maxMessageBytes, by: 'setting' };
}

/** Rows read per page when measuring candidates (their payloads are held a page at a time). */
const OVERSIZED_PAGE = 100;
/** At most this many candidates are measured; beyond it the counts are "at least". */
const OVERSIZED_MAX_CANDIDATES = 10_000;

/**
 * Pending rows over their limit, per topic, measured as the relay measures them (the mapped row:
 * payload, key, every header). SQL picks candidates by their stored bytes; each is mapped and sized here.
 */
async function oversizedRows(pool: pg.Pool, names: OutboxNames, mapping: Mapping, topics: string[], facts: ClusterFacts, c: SizeSettings): Promise<OversizedRows[]> {
  if (topics.length === 0) return [];
  const mapRow = rowMapper(mapping);
  // What the mapping adds to a row's stored bytes (static, CloudEvents, id and seq headers), at most.
  const empty = mapRow({ seq: '9'.repeat(19), id: 'x'.repeat(36), topic: '', key: null, payload: null, headers: mapping.kind === 'native' ? {} : [], partition: null, created_at: new Date(), ce_type: null });
  const extra = rowSize(empty) + 64;
  const smallest = Math.min(...topics.map((t) => limitOf(t, facts, c).limit));
  // An expanded JSON payload can be written longer than it is stored (numbers as Java doubles).
  const threshold = Math.max(0, (mapping.kind === 'debezium' && mapping.expandJsonPayload ? Math.floor(smallest / 2) : smallest) - extra);
  const found = new Map<string, OversizedRows>();
  let after = '0';
  for (let seen = 0; seen < OVERSIZED_MAX_CANDIDATES; seen += OVERSIZED_PAGE) {
    const { rows } = await pool.query<SourceRow>(oversizedCandidatesSql(names, mapping), [threshold, after, OVERSIZED_PAGE]);
    for (const source of rows) {
      const row = mapRow(source); // routes the topic in debezium mode
      const size = rowSize(row);
      const { limit, by } = limitOf(row.topic, facts, c);
      if (size <= limit) continue;
      const o = found.get(row.topic) ?? { topic: row.topic, rows: 0, largest: 0, limit, by };
      o.rows += 1;
      o.largest = Math.max(o.largest, size);
      found.set(row.topic, o);
    }
    if (rows.length < OVERSIZED_PAGE) break;
    after = rows[rows.length - 1]!.seq;
  }
  return [...found.values()].sort((a, b) => a.topic.localeCompare(b.topic));
}

/** The Kafka topics with pending rows (routed in debezium mode), with how many, among the first pending rows (src/sql/preflight.ts). */
export async function pendingTopics(pool: pg.Pool, names: OutboxNames, mapping: Mapping): Promise<PendingTopic[]> {
  const label = topicLabel(mapping);
  const counts = new Map<string, number>();
  for (const r of (await pool.query<PendingTopic>(pendingTopicsSql(names, mapping))).rows) counts.set(label(r.topic), (counts.get(label(r.topic)) ?? 0) + r.rows);
  return [...counts].map(([topic, rows]) => ({ topic, rows })).sort((a, b) => a.topic.localeCompare(b.topic));
}

/**
 * Run the preflight: pending topics from the outbox (routed to their Kafka topics), facts from the
 * cluster, the pending rows over their size limit. Never throws (a failure is a finding).
 */
export async function kafkaPreflight(publisher: Publisher, pool: pg.Pool, names: OutboxNames, c: PreflightSettings): Promise<Finding[]> {
  if (!publisher.clusterFacts) return [];
  try {
    const mapping = resolveMapping(c);
    const pending = await pendingTopics(pool, names, mapping);
    const facts = await publisher.clusterFacts(pending.map((p) => p.topic));
    // A missing topic's rows are held to OUTBOX_MAX_MESSAGE_BYTES (its own limit is not known yet).
    const oversized = await oversizedRows(pool, names, mapping, pending.map((p) => p.topic), facts, c);
    return judge(facts, pending, c, oversized);
  } catch (err) {
    return [{ ok: false, check: 'kafka-preflight', problem: `the preflight could not run (${describeError(err)})`, fix: 'check the Kafka and PostgreSQL connections; the relay goes on' }];
  }
}

/** One line per finding: problems at warn with their fix, a fatal one ends start-up (exit 7); the rest in one info line. */
export function reportFindings(findings: Finding[], log: Logger): void {
  const fatal = findings.find((f) => f.fatal);
  if (fatal) throw new KafkaRefusedError(`preflight ${fatal.check}: ${fatal.problem}: ${fatal.fix}`);
  for (const f of findings.filter((f) => !f.ok)) log.warn({ check: f.check, problem: f.problem, fix: f.fix }, `preflight ${f.check}: ${f.problem}: ${f.fix}`);
  const ok = findings.filter((f) => f.ok);
  if (ok.length > 0) log.info({ checks: Object.fromEntries(ok.map((f) => [f.check, f.detail])) }, `Kafka preflight: ${ok.length} check(s) passed`);
}
