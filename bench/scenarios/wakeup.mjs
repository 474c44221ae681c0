// M5 wake-up: an idle relay, then one row; commit -> consume latency with LISTEN/NOTIFY (the default)
// against poll-only (OUTBOX_LISTEN=false, the default 1 s poll). Rows are spaced by a random pause so
// the relay is idle (declared waiting, so the trigger sends NOTIFY) when each one commits.
import { liveConsumer, now } from '../harness/consume.mjs';
import { sleep } from '../harness/env.mjs';
import { seqOf } from '../harness/measure.mjs';
import { RelayProcess } from '../harness/relay-process.mjs';
import { Latency } from '../harness/stats.mjs';

export const WAKEUP_VARIANTS = {
  notify: { OUTBOX_LISTEN: 'true' },
  'poll-only': { OUTBOX_LISTEN: 'false' },
};

export async function wakeup(ctx, variant, samples) {
  const { env } = ctx;
  const run = await env.outbox({ partitions: ctx.opts.partitions });
  const relay = new RelayProcess(env.stack, run.schema, WAKEUP_VARIANTS[variant]);
  const arrivals = new Map();
  const appended = new Map();
  const consumer = await liveConsumer(env.kafka, run.topic, (m, t) => {
    arrivals.set(seqOf(m), t);
    appended.set(seqOf(m), Number(m.timestamp));
  });
  const insert = `INSERT INTO ${run.names.outbox} (topic, key, payload) VALUES ($1, 'key-1', convert_to(rpad('seq:' || $2 || ';', 200, 'x'), 'UTF8'))`;
  const lat = new Latency();
  const toAppend = new Latency();
  let lost = 0;
  try {
    // warm-up row: the relay is connected, listening and has published once
    for (let s = 0; s < samples + 1; s++) {
      await sleep(s === 0 ? 0 : 150 + Math.random() * 250);
      await env.pool.query(insert, [run.topic, s]);
      const committed = now();
      const deadline = Date.now() + (s === 0 ? 30_000 : 5000);
      while (!arrivals.has(s) && Date.now() < deadline) await sleep(0.2);
      if (!arrivals.has(s)) {
        lost++;
        continue;
      }
      if (s === 0) continue;
      lat.record(arrivals.get(s) - committed);
      toAppend.record(appended.get(s) - committed);
    }
    ctx.progress(`${variant}: p50 ${lat.summary().p50} ms over ${lat.count} rows`);
    return { variant, settings: WAKEUP_VARIANTS[variant], samples, lost, latency_ms: lat.summary(), latency_to_append_ms: toAppend.summary(), latency_percentiles: lat.curve() };
  } finally {
    await consumer.stop();
    await relay.stop();
    await env.drop(run);
  }
}
