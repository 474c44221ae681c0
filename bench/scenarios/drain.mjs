// M1 backlog drain, the relay as a real process: preload N rows, start bin/outbox-relay, time from the
// process start to the broker timestamp (LogAppendTime) of the last message. CPU per row counts the
// relay's CPU while messages were being appended (start-up, Node's own boot and the connection set-up,
// is reported separately); peak RSS is over the whole run.
import { perSecond, readTimestamps } from '../harness/consume.mjs';
import { sleep } from '../harness/env.mjs';
import { RelayProcess } from '../harness/relay-process.mjs';
import { round } from '../harness/stats.mjs';

export const DRAIN_VARIANTS = {
  default: {},
  'batch 2000': { OUTBOX_BATCH_SIZE: '2000' },
};

export async function drainRelay(ctx, variant) {
  const { env, opts } = ctx;
  const run = await env.outbox({ partitions: opts.partitions });
  try {
    await env.preload(run, opts.rows, { payloadBytes: opts.payloadBytes, keys: opts.keys });
    const relay = new RelayProcess(env.stack, run.schema, DRAIN_VARIANTS[variant]);
    const timeoutAt = Date.now() + 60_000 + opts.rows; // 1 ms per row on top of a minute
    let seen = 0;
    let lastLog = 0;
    while (seen < opts.rows) {
      if (relay.child.exitCode !== null) throw new Error(`relay exited ${relay.child.exitCode}: ${relay.stderr.trim().split('\n').at(-1) ?? ''}`);
      if (Date.now() > timeoutAt) throw new Error(`timed out with ${seen}/${opts.rows} messages`);
      await sleep(100);
      seen = await env.messageCount(run.topic);
      if (Date.now() - lastLog > 2000) {
        lastLog = Date.now();
        ctx.progress(`${seen}/${opts.rows} messages, ${Math.round(seen / ((Date.now() - relay.startedAt) / 1000))} rows/s so far`);
      }
    }
    relay.sample();
    await relay.stop();
    const ts = await readTimestamps(env.kafka, run.topic, opts.rows);
    if (ts.length < opts.rows) throw new Error(`read back ${ts.length}/${opts.rows} messages`);
    const first = ts.reduce((a, b) => Math.min(a, b));
    const last = ts.reduce((a, b) => Math.max(a, b));
    const seconds = (last - relay.startedAt) / 1000;
    const totalCpuUs = relay.samples.at(-1).cpuUs;
    const drainCpuUs = relay.cpuBetween(first, last);
    return {
      rows: opts.rows,
      delivered: ts.length,
      seconds: round(seconds, 3),
      rows_per_s: round(opts.rows / seconds),
      startup_s: round((first - relay.startedAt) / 1000, 3),
      append_rows_per_s: round(opts.rows / Math.max(0.001, (last - first) / 1000)),
      peak_rss_mb: round(relay.peakRssMb, 1),
      cpu_s: round(totalCpuUs / 1e6, 3),
      cpu_us_per_row: round(drainCpuUs / opts.rows, 2),
      cpu_us_per_row_incl_startup: round(totalCpuUs / opts.rows, 2),
      throughput: perSecond(ts, relay.startedAt),
      settings: { OUTBOX_ON_PUBLISH: 'delete (default)', ...DRAIN_VARIANTS[variant] },
    };
  } finally {
    await env.drop(run);
  }
}
