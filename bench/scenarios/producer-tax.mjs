// M6 producer-side tax of the wake-up strategy: pgbench, single-row application transactions that each
// insert one outbox row, while a relay drains the table. "notify" is the table as migrated (the trigger
// sends NOTIFY only while a relay is idle) with the relay listening; "no-notify" is the same table with
// the trigger dropped and the relay polling (OUTBOX_LISTEN=false). Ratio = notify tps / no-notify tps.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayProcess } from '../harness/relay-process.mjs';
import { round } from '../harness/stats.mjs';

export const TAX_VARIANTS = {
  notify: { trigger: true, relayEnv: { OUTBOX_LISTEN: 'true' } },
  'no-notify': { trigger: false, relayEnv: { OUTBOX_LISTEN: 'false' } },
};

function pgbench(args) {
  return new Promise((resolve, reject) => {
    execFile('pgbench', args, { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pgbench failed: ${(stderr || err.message).trim().split('\n').at(-1)}`));
      else resolve(stdout + stderr);
    });
  });
}

export async function producerTax(ctx, variant, clients, seconds) {
  const { env } = ctx;
  const v = TAX_VARIANTS[variant];
  const run = await env.outbox({ partitions: ctx.opts.partitions, trigger: v.trigger });
  const relay = new RelayProcess(env.stack, run.schema, v.relayEnv);
  const dir = mkdtempSync(join(tmpdir(), 'bench-pgbench-'));
  try {
    const script = join(dir, 'insert-one.sql');
    writeFileSync(script, [
      '\\set id random(1, 1000)',
      'BEGIN;',
      `INSERT INTO ${run.names.outbox} (topic, key, payload) VALUES ('${run.topic}', 'key-' || :id, convert_to(repeat('x', 200), 'UTF8'));`,
      'COMMIT;',
      '',
    ].join('\n'));
    await env.pool.query('CHECKPOINT');
    const out = await pgbench(['-n', '-f', script, '-c', String(clients), '-j', '2', '-T', String(seconds), env.stack.DATABASE_URL]);
    const tps = Number(/tps = ([0-9.]+) \(without/.exec(out)?.[1]);
    const txns = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1]);
    if (!Number.isFinite(tps)) throw new Error(`could not read tps from pgbench output: ${out.slice(-300)}`);
    ctx.progress(`${variant}, ${clients} clients: ${Math.round(tps)} tps`);
    return { variant, clients, seconds, tps: round(tps), transactions: txns, relay_peak_rss_mb: round(relay.peakRssMb, 1) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await relay.stop();
    await env.drop(run);
  }
}
