// Reading the bench topics with kafkajs: a live consumer (arrival times for latency) and a read-back
// of a finished topic (broker timestamps for the drain's throughput over time).
import { randomBytes } from 'node:crypto';
import { timeout } from './env.mjs';

export const now = () => performance.timeOrigin + performance.now();

/**
 * Subscribe from the beginning and call onMessage(message, arrivalMs) for each message; resolves once
 * the group owns its partitions. Returns { stop }.
 */
export async function liveConsumer(kafka, topic, onMessage) {
  const consumer = kafka.consumer({ groupId: `bench-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 100, minBytes: 1 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let joined;
  const ready = new Promise((res) => (joined = res));
  consumer.on(consumer.events.GROUP_JOIN, () => joined());
  await consumer.run({
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch }) => {
      const t = now();
      for (const m of batch.messages) onMessage(m, t);
    },
  });
  await Promise.race([ready, timeout(15_000)]);
  return { stop: () => consumer.disconnect() };
}

/** Broker timestamps (ms) of the first `expected` messages of a topic. */
export async function readTimestamps(kafka, topic, expected, timeoutMs = 60_000) {
  const ts = [];
  let done;
  const all = new Promise((res) => (done = res));
  const c = await liveConsumer(kafka, topic, (m) => {
    ts.push(Number(m.timestamp));
    if (ts.length >= expected) done();
  });
  await Promise.race([all, timeout(timeoutMs)]);
  await c.stop();
  return ts;
}

/** Messages per 1 s bucket from t0 (ms): [{ s, n }]. */
export function perSecond(timestamps, t0) {
  const buckets = [];
  for (const t of timestamps) {
    const i = Math.max(0, Math.floor((t - t0) / 1000));
    buckets[i] = (buckets[i] ?? 0) + 1;
  }
  return Array.from(buckets, (n, s) => ({ s, n: n ?? 0 }));
}
