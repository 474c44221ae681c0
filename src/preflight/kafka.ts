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
 *   so a row over its topic's limit is parked as too-large without a round trip.
 * judge() is pure (test/unit/preflight.test.ts); kafka calls live in src/publisher/kafka.ts.
 */
import type pg from 'pg';
import type { RunConfig } from '../config.js';
import { KafkaRefusedError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OutboxNames } from '../names.js';
import { NEEDED_APIS, unsupportedApis } from '../publisher/api-versions.js';
import type { ClusterFacts, Publisher } from '../publisher/kafka.js';
import { pendingTopicsSql } from '../sql/preflight.js';

export interface Finding {
  ok: boolean;
  check: string;
  /** What was found (for ok findings, the facts). */
  detail?: string;
  problem?: string;
  fix?: string;
  /** The relay cannot work with this: it exits. */
  fatal?: boolean;
}

export interface PendingTopic {
  topic: string;
  rows: number;
}

type SizeSettings = Pick<RunConfig, 'maxMessageBytes' | 'batchMaxBytes' | 'kafkaCompression'>;

/** The findings for what was learnt about the cluster and the outbox. */
export function judge(facts: ClusterFacts, pending: PendingTopic[], c: SizeSettings): Finding[] {
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
    findings.push({ ok: true, check: 'kafka-message-size', detail: `${brokerText}${limits.length} topic limit(s) known; ${parked}` });
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
  return findings;
}

/** Run the preflight: pending topics from the outbox, facts from the cluster. Never throws (a failure is a finding). */
export async function kafkaPreflight(publisher: Publisher, pool: pg.Pool, names: OutboxNames, c: SizeSettings): Promise<Finding[]> {
  if (!publisher.clusterFacts) return [];
  try {
    const { rows } = await pool.query<PendingTopic>(pendingTopicsSql(names));
    const facts = await publisher.clusterFacts(rows.map((r) => r.topic));
    return judge(facts, rows, c);
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
