// M3/M4 commit -> consume latency at a fixed offered rate, and M2 sustained rate in steps. One relay
// process (default settings) drains one outbox for the whole scenario; between steps the backlog is
// let drain so each step starts from empty.
import { sleep } from '../harness/env.mjs';
import { measureLoad } from '../harness/measure.mjs';
import { RelayProcess } from '../harness/relay-process.mjs';

async function withRelay(ctx, fn) {
  const { env } = ctx;
  const run = await env.outbox({ partitions: ctx.opts.partitions });
  const relay = new RelayProcess(env.stack, run.schema, {});
  try {
    // the relay is up (connected, migrated schema checked, producer connected) once a first row is gone
    await env.pool.query(`INSERT INTO ${run.names.outbox} (topic, key, payload) VALUES ($1, NULL, '\\x00')`, [run.topic]);
    await drained(env, run, 60);
    return await fn(run, relay);
  } finally {
    await relay.stop();
    await env.drop(run);
  }
}

async function drained(env, run, timeoutS = 30) {
  const deadline = Date.now() + timeoutS * 1000;
  while ((await env.pending(run)) > 0 && Date.now() < deadline) await sleep(100);
}

function strip(r) {
  const { latency, ...rest } = r;
  return { ...rest, latency_histogram: latency.buckets(), latency_percentiles: latency.curve() };
}

/** Latency at each offered rate in `rates` (rows/s). */
export async function latencyAt(ctx, rates, { seconds, warmupS, stopWhen }) {
  return withRelay(ctx, async (run, relay) => {
    const out = [];
    let seq = 0;
    for (const rate of rates) {
      ctx.progress(`offered ${rate} rows/s for ${seconds} s`);
      const r = await measureLoad(ctx.env, run, {
        rate, seconds, warmupS, firstSeq: seq,
        onProgress: (n) => ctx.progress(`offered ${rate} rows/s: ${n} delivered`),
      });
      seq += r.rows + 1000;
      out.push({ ...strip(r), relay_peak_rss_mb: Math.round(relay.peakRssMb * 10) / 10 });
      ctx.say(`  → offered ${rate}, achieved ${r.achieved_rows_per_s} rows/s, p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms, backlog at end ${r.backlog_at_end}`);
      // let the backlog drain before the next rate (bounded: an over-capacity step is stopped anyway)
      await drained(ctx.env, run, Math.max(10, 2 * seconds));
      if (stopWhen?.(r)) break;
    }
    return out;
  });
}

/**
 * Stepped offered rates; a step passes when the producer achieved >= 99 % of the offer, the relay
 * delivered >= 99 % of the rows (within the settle time), the backlog left at the end of the load is under one second's worth and p99
 * <= `p99LimitMs`.
 */
export async function sustained(ctx, steps, { seconds, warmupS, p99LimitMs = 100 }) {
  // a step that leaves more than 5 s of rows behind is clearly over capacity: higher steps are not run
  const results = await latencyAt(ctx, steps, { seconds, warmupS, stopWhen: (r) => r.backlog_at_end > 5 * r.offered_rows_per_s });
  for (const r of results) {
    const checks = {
      producer_achieved: r.achieved_rows_per_s >= 0.99 * r.offered_rows_per_s,
      relay_delivered: r.delivered >= 0.99 * r.rows,
      backlog_bounded: r.backlog_at_end <= r.offered_rows_per_s,
      p99: (r.latency_ms.p99 ?? Infinity) <= p99LimitMs,
    };
    r.checks = checks;
    r.pass = Object.values(checks).every(Boolean);
  }
  const passing = results.filter((r) => r.pass).map((r) => r.offered_rows_per_s);
  const notRun = steps.filter((s) => !results.some((r) => r.offered_rows_per_s === s));
  return { steps: results, not_run_over_capacity: notRun, highest_passing_rows_per_s: passing.length ? Math.max(...passing) : 0 };
}
