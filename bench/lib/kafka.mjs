// Kafka helpers for benchmarks (kafkajs, the relay's own client):
//
//   createTopic(brokers, topic, partitions)   RF 1, message.timestamp.type=LogAppendTime: every message
//                                             carries the broker's append time, so "when was the last
//                                             message written" is read from the topic itself
//   deleteTopic(brokers, topic)               never throws (cleanup)
//   countMessages(brokers, topic)             sum of the partitions' high watermarks (exact for a fresh
//                                             topic written without transactions: no control records)
//   waitForMessages(brokers, topic, n, opts)  poll the count until it reaches n, the count stalls for
//                                             opts.stallMs (default 60 s), opts.timeoutMs passes, or
//                                             opts.alive() returns false; then read the last message of
//                                             every partition: { delivered, lastTimestampMs, seconds }
//   lastTimestamp(brokers, topic)             the highest timestamp among the partitions' last messages
//
// brokers: string[] ("host:port"). Progress lines go through opts.progress (default: none).
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';

const clients = new Map();

function kafka(brokers) {
  const id = brokers.join(',');
  if (!clients.has(id)) clients.set(id, new kafkajs.Kafka({ clientId: 'bench', brokers, logLevel: kafkajs.logLevel.NOTHING }));
  return clients.get(id);
}

async function withAdmin(brokers, fn) {
  const admin = kafka(brokers).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

export async function createTopic(brokers, topic, partitions) {
  await withAdmin(brokers, async (admin) => {
    for (let attempt = 1; ; attempt++) {
      // Right after many topics were deleted the broker's metadata can lag: retry a few times.
      try {
        const created = await admin.createTopics({
          topics: [{ topic, numPartitions: partitions, replicationFactor: 1, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] }],
          waitForLeaders: true,
        });
        if (!created) throw new Error(`topic ${topic} exists already`);
        return;
      } catch (err) {
        if (attempt >= 5) throw new Error(`could not create topic ${topic}: ${err.message}`);
        await sleep(1000);
      }
    }
  });
}

export async function deleteTopic(brokers, topic) {
  await withAdmin(brokers, (admin) => admin.deleteTopics({ topics: [topic], timeout: 10_000 })).catch(() => undefined);
}

async function offsets(admin, topic) {
  return (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, low: Number(p.low), high: Number(p.high) }));
}

export async function countMessages(brokers, topic) {
  return withAdmin(brokers, async (admin) => (await offsets(admin, topic)).reduce((s, p) => s + p.high - p.low, 0));
}

/** The highest timestamp (ms since the epoch) among the last messages of the topic's partitions, or null. */
export async function lastTimestamp(brokers, topic) {
  const parts = (await withAdmin(brokers, (admin) => offsets(admin, topic))).filter((p) => p.high > p.low);
  if (parts.length === 0) return null;
  const groupId = `bench-last-${randomBytes(4).toString('hex')}`;
  const consumer = kafka(brokers).consumer({ groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  const found = new Map();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let done;
    const all = new Promise((res) => (done = res));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const p = parts.find((x) => x.partition === batch.partition);
        for (const m of batch.messages) if (p && Number(m.offset) === p.high - 1) found.set(p.partition, Number(m.timestamp));
        if (found.size === parts.length) done();
      },
    });
    for (const p of parts) consumer.seek({ topic, partition: p.partition, offset: String(p.high - 1) });
    const timeout = sleep(30_000).then(() => {
      throw new Error(`could not read the last messages of ${topic} within 30 s`);
    });
    await Promise.race([all, timeout]);
  } finally {
    await consumer.disconnect();
    await withAdmin(brokers, (admin) => admin.deleteGroups([groupId])).catch(() => undefined);
  }
  return Math.max(...found.values());
}

/**
 * Wait until `topic` holds n messages (or gives up, see the top of this file), then return
 * { delivered, lastTimestampMs, waitedS }. delivered < n means it gave up; lastTimestampMs is then
 * the last message that did arrive (null if none).
 */
export async function waitForMessages(brokers, topic, n, { stallMs = 60_000, timeoutMs = 3_600_000, alive = () => true, progress = () => {}, everyMs = 5000 } = {}) {
  const t0 = performance.now();
  let count = 0;
  let changedAt = t0;
  let reportedAt = t0;
  await withAdmin(brokers, async (admin) => {
    for (;;) {
      const c = (await offsets(admin, topic)).reduce((s, p) => s + p.high - p.low, 0);
      const now = performance.now();
      if (c !== count) {
        count = c;
        changedAt = now;
      }
      if (count >= n) return;
      if (now - reportedAt >= everyMs) {
        progress(`${count} of ${n} messages in ${topic}`);
        reportedAt = now;
      }
      if (!alive()) {
        progress(`the measured process is gone with ${count} of ${n} messages in the topic`);
        return;
      }
      if (now - changedAt > stallMs) {
        progress(`no new message for ${Math.round(stallMs / 1000)} s: giving up at ${count} of ${n}`);
        return;
      }
      if (now - t0 > timeoutMs) {
        progress(`timed out after ${Math.round(timeoutMs / 1000)} s at ${count} of ${n}`);
        return;
      }
      await sleep(n - count > 5000 ? 250 : 50);
    }
  });
  const lastTimestampMs = count > 0 ? await lastTimestamp(brokers, topic) : null;
  return { delivered: count, lastTimestampMs, waitedS: (performance.now() - t0) / 1000 };
}
