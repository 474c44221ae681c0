/**
 * The measuring helpers of the benchmarks (bench/lib/): what every reference's "seconds", "delivered",
 * "peak_rss_mb" and "cpu_s" rest on. Against the real broker; the sampler against real processes.
 */
import { spawn } from 'node:child_process';
import type { Producer } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { client } from '../support/kafka.js';
import { uniqueName } from '../support/outbox.js';

interface KafkaLib {
  createTopic(brokers: string[], topic: string, partitions: number): Promise<void>;
  deleteTopic(brokers: string[], topic: string): Promise<void>;
  waitForMessages(
    brokers: string[],
    topic: string,
    n: number,
    opts?: { stallMs?: number },
  ): Promise<{ delivered: number; lastTimestampMs: number | null }>;
}
interface ProcLib {
  sampleTree(pid: number, opts?: { intervalMs?: number }): { stop(): { peakRssMb: number; cpuS: number } };
}
// Plain ES modules without type declarations: imported through a variable so tsc leaves them alone.
const lib = (name: string) => import(new URL(`../../bench/lib/${name}.mjs`, import.meta.url).href);

/** A fresh topic made by bench/lib's createTopic, a connected producer, and cleanup after fn. */
async function withTopic(partitions: number, fn: (k: KafkaLib, brokers: string[], topic: string, producer: Producer) => Promise<void>): Promise<void> {
  const k = (await lib('kafka')) as KafkaLib;
  const brokers = inject('kafkaBrokers').split(',');
  const topic = uniqueName('bench-lib');
  await k.createTopic(brokers, topic, partitions);
  const producer = client().producer();
  await producer.connect();
  try {
    await fn(k, brokers, topic, producer);
  } finally {
    await producer.disconnect();
    await k.deleteTopic(brokers, topic);
  }
}

describe('bench/lib', () => {
  it('waitForMessages counts every partition and returns the latest broker append time among their last messages', async () => {
    await withTopic(3, async ({ waitForMessages }, brokers, topic, producer) => {
      // The latest message goes to partition 0, the others to partitions 1 and 2 (higher offsets there):
      // only the maximum over the partitions' last messages finds it.
      await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ partition: 1 + (i % 2), value: `early-${i}` })) });
      const beforeLast = Date.now();
      await new Promise((res) => setTimeout(res, 300));
      await producer.send({ topic, messages: [{ partition: 0, value: 'last', timestamp: '1000' }] });
      const afterLast = Date.now();
      const { delivered, lastTimestampMs } = await waitForMessages(brokers, topic, 11, { stallMs: 10_000 });
      expect(delivered).toBe(11);
      // LogAppendTime: the broker's clock, not the producer's timestamp (1000 ms after the epoch).
      expect(lastTimestampMs).toBeGreaterThanOrEqual(beforeLast + 250);
      expect(lastTimestampMs).toBeLessThanOrEqual(afterLast + 50);
    });
  });

  it('waitForMessages gives up when the count stalls below n and says how many arrived', async () => {
    await withTopic(1, async ({ waitForMessages }, brokers, topic, producer) => {
      await producer.send({ topic, messages: [{ value: 'only' }] });
      const { delivered, lastTimestampMs } = await waitForMessages(brokers, topic, 5, { stallMs: 1000 });
      expect(delivered).toBe(1);
      expect(lastTimestampMs).not.toBeNull();
    });
  });

  it('sampleTree counts the CPU and memory of descendants, not only the root', async () => {
    const { sampleTree } = (await lib('proc')) as ProcLib;
    // The root only waits; its child allocates ~150 MB, spins until it has used 0.8 s of CPU, then
    // sleeps a little so that the sampler sees its final CPU time.
    const grandchild = `const b = Buffer.alloc(150e6, 1); while (process.cpuUsage().user + process.cpuUsage().system < 800000) b[0]++; setTimeout(() => {}, 400);`;
    // The root lives on for a while after reaping its child, as a wrapper script would.
    const root = spawn(process.execPath, ['-e', `require('node:child_process').spawnSync(process.execPath, ['-e', ${JSON.stringify(grandchild)}]); setTimeout(() => {}, 400);`], { stdio: 'ignore' });
    const sampler = sampleTree(root.pid!, { intervalMs: 50 });
    await new Promise((res) => root.on('exit', res));
    const { peakRssMb, cpuS } = sampler.stop();
    expect(peakRssMb).toBeGreaterThan(150);
    expect(cpuS).toBeGreaterThanOrEqual(0.75);
    // Not counted twice (once in the child, once in its parent's time for reaped children).
    expect(cpuS).toBeLessThan(1.5);
  });
});
