// Offered load against a running relay, commit -> consume latency per row: the load worker records
// each row's commit time, a live kafkajs consumer its arrival; rows committed during the warm-up are
// left out of the histogram.
import { liveConsumer } from './consume.mjs';
import { runLoad } from './load.mjs';
import { sleep } from './env.mjs';
import { Latency, round } from './stats.mjs';

const SEQ = /^seq:(\d+);/;

export function seqOf(message) {
  const m = SEQ.exec(message.value.toString('latin1', 0, 32));
  return m ? Number(m[1]) : -1;
}

/**
 * Runs `rate` rows/s for `seconds` into run's outbox while the relay drains it; returns offered and
 * achieved rates, delivered count, backlog left at the end of the load and the latency summary.
 * firstSeq keeps seqs unique across several loads on one topic.
 */
export async function measureLoad(env, run, { rate, seconds, warmupS, firstSeq = 0, settleS = 10, onProgress }) {
  const arrivals = new Map();
  const appended = new Map();
  const consumer = await liveConsumer(env.kafka, run.topic, (m, t) => {
    const s = seqOf(m);
    if (s >= firstSeq && !arrivals.has(s)) {
      arrivals.set(s, t);
      appended.set(s, Number(m.timestamp));
    }
  });
  const progress = setInterval(() => onProgress?.(arrivals.size), 1000);
  let load;
  try {
    load = await runLoad({ databaseUrl: env.stack.DATABASE_URL, outbox: run.names.outbox, topic: run.topic, rate, seconds, firstSeq });
    const backlogEnd = await env.pending(run);
    const deadline = Date.now() + settleS * 1000;
    while (arrivals.size < load.rows && Date.now() < deadline) await sleep(50);
    const lat = new Latency();
    const toAppend = new Latency();
    const warmEnd = load.started_ms + warmupS * 1000;
    let measured = 0;
    let lost = 0;
    let lastArrival = 0;
    for (let i = 0; i < load.commitMs.length; i++) {
      const c = load.commitMs[i];
      if (!(c > 0)) continue;
      const a = arrivals.get(firstSeq + i);
      if (a === undefined) {
        lost++;
        continue;
      }
      lastArrival = Math.max(lastArrival, a);
      if (c < warmEnd) continue;
      lat.record(a - c);
      toAppend.record(appended.get(firstSeq + i) - c);
      measured++;
    }
    return {
      offered_rows_per_s: rate,
      achieved_rows_per_s: round(load.achieved_rows_per_s),
      delivered_rows_per_s: round((load.rows - lost) / ((lastArrival - load.started_ms) / 1000 || 1)),
      rows: load.rows,
      delivered: load.rows - lost,
      not_delivered_within_settle: lost,
      txns: load.txns,
      rows_per_tx: load.rows_per_tx,
      connections: load.connections,
      producer_errors: load.errors,
      seconds: round(load.seconds),
      warmup_s: warmupS,
      backlog_at_end: backlogEnd,
      latency_ms: lat.summary(),
      // to the broker's LogAppendTime (millisecond resolution): when the relay's send was appended,
      // just before its acknowledgement; the consume latency above adds the consumer's fetch
      latency_to_append_ms: toAppend.summary(),
      latency: lat,
    };
  } finally {
    clearInterval(progress);
    await consumer.stop();
  }
}
