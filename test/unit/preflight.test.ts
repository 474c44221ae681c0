import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { judge, reportFindings, type Finding } from '../../src/preflight/kafka.js';
import { parseApiVersions, unsupportedApis, type ApiRange } from '../../src/publisher/api-versions.js';
import type { ClusterFacts } from '../../src/publisher/kafka.js';

/** What Kafka 4.x answers, roughly: Produce v3-v12, Metadata v0-v13, ApiVersions v0-v4, InitProducerId v0-v5, DescribeConfigs v1-v4. */
const modern = new Map<number, ApiRange>([
  [0, { min: 3, max: 12 }],
  [3, { min: 0, max: 13 }],
  [18, { min: 0, max: 4 }],
  [22, { min: 0, max: 5 }],
  [32, { min: 1, max: 4 }],
]);
const facts = (over: Partial<ClusterFacts> = {}): ClusterFacts => ({
  brokers: ['b1:9092', 'b2:9092'],
  apiVersions: { broker: 'b1:9092', versions: modern },
  missingTopics: [],
  topicLimits: new Map([['orders', 1_048_588]]),
  brokerLimit: 1_048_588,
  ...over,
});
const settings = { maxMessageBytes: 1_000_000, batchMaxBytes: 900_000, kafkaCompression: 'none' as const };
const problems = (fs: Finding[]) => fs.filter((f) => !f.ok).map((f) => `${f.fatal ? 'FATAL ' : ''}${f.check}: ${f.problem}: ${f.fix}`);

describe('Kafka preflight', () => {
  it('passes a modern cluster with every pending topic present', () => {
    const fs = judge(facts(), [{ topic: 'orders', rows: 3 }], settings);
    expect(problems(fs)).toEqual([]);
    expect(fs.map((f) => f.check)).toEqual(['kafka-brokers', 'kafka-api-versions', 'kafka-idempotence', 'kafka-topics', 'kafka-message-size']);
  });

  it('names each missing topic with its rows and the fix', () => {
    const fs = judge(facts({ missingTopics: ['payments', 'unrelated'] }), [{ topic: 'orders', rows: 1 }, { topic: 'payments', rows: 7 }], settings);
    expect(problems(fs)).toEqual([expect.stringMatching(/^kafka-topics: topic payments has 7 pending row\(s\) but does not exist: create it \(kafka-topics --create --topic payments\)/)]);
  });

  it('is fatal when the broker lacks what the idempotent producer needs', () => {
    const old = new Map(modern);
    old.delete(22);
    old.set(0, { min: 0, max: 2 });
    expect(unsupportedApis(old)).toEqual(['Produce v3-v7 (broker: v0-v2)', 'InitProducerId v0-v1 (broker: none)']);
    const fs = judge(facts({ apiVersions: { broker: 'b1:9092', versions: old } }), [], settings);
    expect(problems(fs)).toEqual([expect.stringMatching(/^FATAL kafka-api-versions: b1:9092 does not speak .*Produce v3-v7 \(broker: v0-v2\), InitProducerId/)]);
    expect(() => reportFindings(fs, createLogger('silent'))).toThrow(/^preflight kafka-api-versions: /);
  });

  it('warns when sizes cannot be read, and when OUTBOX_BATCH_MAX_BYTES is above a topic limit', () => {
    expect(problems(judge(facts({ topicLimits: undefined, limitsError: 'CLUSTER_AUTHORIZATION_FAILED' }), [], settings))).toEqual([
      expect.stringMatching(/^kafka-message-size: cannot read .*CLUSTER_AUTHORIZATION_FAILED.*allow DescribeConfigs/),
    ]);
    const small = judge(facts({ topicLimits: new Map([['tiny', 50_000]]) }), [], settings);
    expect(problems(small)).toEqual([expect.stringMatching(/OUTBOX_BATCH_MAX_BYTES 900000 is above topic tiny's max.message.bytes 50000.*set OUTBOX_BATCH_MAX_BYTES below 50000$/)]);
    expect(small.find((f) => f.ok && f.check === 'kafka-message-size')?.detail).toMatch(/parked as too-large without a send \(tiny: 50000\)/);
  });

  it('fails (blocking) on pending rows over their limit, with the limit that applies and its fix', () => {
    const fs = judge(facts({ topicLimits: new Map([['tiny', 2000]]) }), [{ topic: 'tiny', rows: 3 }, { topic: 'orders', rows: 1 }], { ...settings, batchMaxBytes: 1000 }, [
      { topic: 'orders', rows: 1, largest: 1_200_000, limit: 1_000_000, by: 'setting' },
      { topic: 'tiny', rows: 2, largest: 3050, limit: 2000, by: 'topic' },
    ]);
    expect(fs.filter((f) => !f.ok).map((f) => ({ blocking: f.blocking, text: `${f.problem}: ${f.fix}` }))).toEqual([
      { blocking: true, text: expect.stringMatching(/^1 pending row\(s\) of topic orders are over OUTBOX_MAX_MESSAGE_BYTES 1000000 \(largest 1200000 bytes\): .*raise OUTBOX_MAX_MESSAGE_BYTES to at least 1200000/) },
      { blocking: true, text: expect.stringMatching(/^2 pending row\(s\) of topic tiny are over the topic's max\.message\.bytes 2000 .*--entity-name tiny --add-config max\.message\.bytes=3050/) },
    ]);
    expect(fs.find((f) => f.ok && f.check === 'kafka-message-size')?.detail).not.toContain('no pending row is over its limit');
    // Not fatal: the relay logs them and goes on.
    expect(() => reportFindings(fs, createLogger('silent'))).not.toThrow();
  });

  it('parses an ApiVersions v0 answer', () => {
    const body = Buffer.alloc(2 + 4 + 12);
    body.writeInt16BE(0, 0);
    body.writeInt32BE(2, 2);
    body.writeInt16BE(0, 6);
    body.writeInt16BE(3, 8);
    body.writeInt16BE(9, 10);
    body.writeInt16BE(22, 12);
    body.writeInt16BE(0, 14);
    body.writeInt16BE(4, 16);
    expect(parseApiVersions(body)).toEqual(new Map([[0, { min: 3, max: 9 }], [22, { min: 0, max: 4 }]]));
    body.writeInt16BE(35, 0);
    expect(() => parseApiVersions(body)).toThrow(/error code 35/);
  });
});
