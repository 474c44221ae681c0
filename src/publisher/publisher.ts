/**
 * The Kafka client seam: what the relay needs from a Kafka client, with no client's types in it.
 * kafkajs (unmaintained since 2023) is one implementation: ./kafka.ts, ./kafkajs-messages.ts and
 * ./classify.ts are the only modules that know its message types, error shapes and socket factory.
 * Another client implements `Publisher` and a `classify` function with the same meaning and must
 * pass the contract suite (test/contract/publisher.contract.ts; run for kafkajs by
 * test/integration/publisher-kafkajs.test.ts): send/ack, per-partition order, idempotent producer
 * ids, a new producer id after recreate(), receipts (partitionsOfLastSend), missing topics, and the
 * classification of an unknown topic and of a message too large.
 */
import type { OutboxRow } from '../sql/claimBatch.js';
import type { ApiRange } from './api-versions.js';

/** What the relay loop needs from a publisher. */
export interface Publisher {
  connect(): Promise<void>;
  /**
   * Send chunks one after another; resolves only when every chunk is acknowledged (receipt checked).
   * timeoutMs bounds the whole call (default: the publisher's timeout). Each row is one message:
   * its topic, key, payload (null = tombstone), headers, partition (if set) and timestamp (if set).
   * Acknowledged means written by all in-sync replicas (acks=-1) by an idempotent producer with one
   * request in flight, so a partition's messages keep their order.
   */
  send(chunks: OutboxRow[][], timeoutMs?: number): Promise<void>;
  /** Which of these topics do not exist on the cluster (existing ones are remembered for a minute). */
  missingTopics(topics: string[]): Promise<string[]>;
  /** The known max.message.bytes of these topics (remembered for a minute); absent ones are unknown. */
  messageLimits?(topics: string[]): Promise<ReadonlyMap<string, number>>;
  /** For the start-up preflight (src/preflight/kafka.ts); a publisher without it skips the preflight. */
  clusterFacts?(topics: string[]): Promise<ClusterFacts>;
  /**
   * The partition (`topic:partition`) each row of the last send went to, by seq, as far as the client
   * had chosen one. Lets a refused send be split by partition: Kafka appends or refuses one
   * partition's records as a whole.
   */
  partitionsOfLastSend(): ReadonlyMap<string, string>;
  /** Fence the producer and create a fresh one (new producer id, new sequence numbers). */
  recreate(reason: string): Promise<void>;
  disconnect(): Promise<void>;
}

/** What the start-up preflight learns about the cluster (src/preflight/kafka.ts judges it). */
export interface ClusterFacts {
  /** host:port of every broker in the metadata. */
  brokers: string[];
  /** The first broker's API versions, or why they could not be read. */
  apiVersions?: { broker: string; versions?: ReadonlyMap<number, ApiRange>; error?: string };
  /** Of the asked topics, those the cluster does not have. */
  missingTopics: string[];
  /** max.message.bytes of the asked topics that exist. */
  topicLimits?: ReadonlyMap<string, number>;
  /** The broker's message.max.bytes. */
  brokerLimit?: number;
  /** Why the configs could not be read (e.g. no DescribeConfigs permission). */
  limitsError?: string;
}
