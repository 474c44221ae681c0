// M11 ordering cost and replicas (the logic of bench/replicas.mjs): 1, 2 or 3 relay processes on one
// outbox, keyed rows (per-key order kept) against keyless rows (nothing to order), time from their
// start until the backlog is empty. Ordering cost = 1 - keyed / keyless rows/s.
import { sleep } from '../harness/env.mjs';
import { RelayProcess } from '../harness/relay-process.mjs';
import { round } from '../harness/stats.mjs';

export const REPLICA_VARIANTS = [];
for (const replicas of [1, 2, 3]) for (const keyed of [true, false]) REPLICA_VARIANTS.push({ replicas, keyed, name: `${replicas} replica${replicas > 1 ? 's' : ''}, ${keyed ? 'keyed' : 'keyless'}` });

export async function replicas(ctx, v) {
  const { env, opts } = ctx;
  const run = await env.outbox({ partitions: 6 });
  const relays = [];
  try {
    await env.preload(run, opts.replicaRows, { payloadBytes: opts.payloadBytes, keys: v.keyed ? opts.keys : 0 });
    const t0 = performance.now();
    for (let i = 0; i < v.replicas; i++) relays.push(new RelayProcess(env.stack, run.schema, { OUTBOX_POLL_INTERVAL_MS: '200', OUTBOX_LEASE_TTL_MS: '2000' }));
    const deadline = Date.now() + 60_000 + opts.replicaRows;
    for (;;) {
      const r = await env.pool.query(`SELECT count(*)::int AS n FROM ${run.names.outbox}`);
      if (r.rows[0].n === 0) break;
      if (Date.now() > deadline) throw new Error(`timed out with ${r.rows[0].n} rows left`);
      await sleep(50);
    }
    const seconds = (performance.now() - t0) / 1000;
    return { variant: v.name, replicas: v.replicas, keyed: v.keyed, rows: opts.replicaRows, seconds: round(seconds, 3), rows_per_s: round(opts.replicaRows / seconds) };
  } finally {
    await Promise.all(relays.map((r) => r.stop()));
    await env.drop(run);
  }
}
