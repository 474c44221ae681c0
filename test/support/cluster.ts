/**
 * The three-broker Kafka cluster of stack/cluster.sh (replication factor 3, min.insync.replicas 2),
 * for fault tests of what only a real cluster does: partition leaders moving between brokers. Its
 * secure mode (KAFKA_CLUSTER_SECURE=1: three stack/secure-broker.sh nodes) is `secureCluster`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { client, type KafkaTarget } from './kafka.js';
import { waitFor } from './outbox.js';
import { secureListeners, type SecureBroker } from './secure-broker.js';

const run = promisify(execFile);
const SCRIPT = 'stack/cluster.sh';

async function script(env: Record<string, string>, ...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [SCRIPT, ...args], { timeout: 240_000, maxBuffer: 10 * 1024 * 1024, env: { ...process.env, ...env } });
  return stdout.trim();
}
const cluster = (...args: string[]) => script({}, ...args);
const secure = (...args: string[]) => script({ KAFKA_CLUSTER_SECURE: '1' }, ...args);

/**
 * The secure cluster: node N's SASL_SSL listener on 29392+100·(N-1), the other listeners of
 * stack/secure-broker.sh beside it (PLAINTEXT for the test's own admin client), one test CA.
 */
export const secureCluster = {
  async up(): Promise<SecureBroker> {
    return secureListeners(await secure('up'), `KAFKA_CLUSTER_SECURE=1 ${SCRIPT}`);
  },
  down: () => secure('down'),
  kill: (node: number) => secure('kill', String(node)),
  start: (node: number) => secure('start', String(node)),
};

/** Start (or reuse) the cluster; resolves with its bootstrap list once every node answers. */
export async function clusterUp(): Promise<string> {
  const out = await cluster('up');
  const brokers = /^KAFKA_BROKERS=(.*)$/m.exec(out)?.[1];
  if (!brokers) throw new Error(`stack/cluster.sh up printed no KAFKA_BROKERS:\n${out}`);
  return brokers;
}

export const clusterDown = () => cluster('down');
/** Graceful shutdown (SIGTERM): the broker hands its leaderships over before it exits. */
export const stopNode = (node: number) => cluster('stop', String(node));
export const killNode = (node: number) => cluster('kill', String(node));
export const startNode = (node: number) => cluster('start', String(node));
/** One of Kafka's own command-line tools, pointed at the cluster. */
export const kafkaTool = (cls: string, ...args: string[]) => cluster('tool', cls, ...args);

export interface PartitionState {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
}

export async function describeTopic(brokers: KafkaTarget, topic: string): Promise<PartitionState[]> {
  const admin = client(brokers).admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    return topics[0]!.partitions
      .map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr }))
      .sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}

export async function leaderOf(brokers: KafkaTarget, topic: string, partition: number): Promise<number> {
  return (await describeTopic(brokers, topic)).find((p) => p.partition === partition)!.leader;
}

/** Wait until every partition of the topic has a leader and all its replicas in sync (after a restart). */
export async function waitForFullIsr(brokers: KafkaTarget, topic: string, timeoutMs = 90_000): Promise<PartitionState[]> {
  return waitFor(
    `every replica of ${topic} in sync`,
    async () => {
      const state = await describeTopic(brokers, topic);
      return state.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length) ? state : undefined;
    },
    timeoutMs,
    500,
  );
}
