/**
 * The three-broker Kafka cluster of stack/cluster.sh (replication factor 3, min.insync.replicas 2),
 * for fault tests of what only a real cluster does: partition leaders moving between brokers.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { client } from './kafka.js';
import { waitFor } from './outbox.js';

const run = promisify(execFile);
const SCRIPT = 'stack/cluster.sh';

async function cluster(...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [SCRIPT, ...args], { timeout: 240_000, maxBuffer: 10 * 1024 * 1024 });
  return stdout.trim();
}

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

export async function describeTopic(brokers: string, topic: string): Promise<PartitionState[]> {
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

export async function leaderOf(brokers: string, topic: string, partition: number): Promise<number> {
  return (await describeTopic(brokers, topic)).find((p) => p.partition === partition)!.leader;
}

/** Wait until every partition of the topic has a leader and all its replicas in sync (after a restart). */
export async function waitForFullIsr(brokers: string, topic: string, timeoutMs = 90_000): Promise<PartitionState[]> {
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
