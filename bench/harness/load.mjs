// Offered load: a worker thread (its own event loop, same clock as the consumer) writes outbox rows
// at a fixed rate from several connections, in single-row transactions at low rates and multi-row
// transactions above 1,000 rows/s (single-row commits top out at a few thousand per second on a small
// box because each waits for its WAL flush). Each row's payload starts with "seq:<n>;" and the worker
// records the time its COMMIT returned, so a consumer can compute commit -> arrival per row.
// Latency is measured from the actual commit, not from the scheduled time: when the producer falls
// behind, the shortfall shows in achieved vs offered rate, not in the latency.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';

/**
 * opts: { databaseUrl, outbox (quoted table), topic, rate (rows/s), seconds, connections?, rowsPerTx?,
 * payloadBytes?, keys?, firstSeq? }. Resolves to { commitMs: Float64Array (index = seq - firstSeq;
 * 0 = not committed), rows, txns, offered_rows_per_s, achieved_rows_per_s, seconds, errors }.
 */
export function runLoad(opts) {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: opts });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`load worker exited ${code}`)));
  });
}

export function plan(rate) {
  const rowsPerTx = rate <= 1000 ? 1 : Math.ceil(rate / 500);
  const connections = rate <= 1000 ? 8 : Math.min(8, Math.max(4, Math.ceil(rate / 5000)));
  return { rowsPerTx, connections };
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

async function worker() {
  const o = workerData;
  const { rowsPerTx, connections } = { ...plan(o.rate), ...(o.rowsPerTx ? { rowsPerTx: o.rowsPerTx } : {}), ...(o.connections ? { connections: o.connections } : {}) };
  const firstSeq = o.firstSeq ?? 0;
  const capacity = Math.ceil(o.rate * o.seconds * 1.05) + rowsPerTx * connections + 16;
  const commitMs = new Float64Array(capacity);
  const sql = `INSERT INTO ${o.outbox} (topic, key, payload)
    SELECT $1, 'key-' || (s % ${Number(o.keys ?? 1000)}), convert_to(rpad('seq:' || s || ';', ${Number(o.payloadBytes ?? 200)}, 'x'), 'UTF8')
    FROM unnest($2::bigint[]) s`;
  const clients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const c = new pg.Client({ connectionString: o.databaseUrl });
      await c.connect();
      return c;
    }),
  );
  let next = 0;
  let txns = 0;
  let errors = 0;
  const txPerConnPerS = o.rate / rowsPerTx / connections;
  const interval = 1000 / txPerConnPerS;
  const t0 = now() + 50;
  const end = t0 + o.seconds * 1000;
  await Promise.all(
    clients.map(async (c, ci) => {
      for (let k = 0; ; k++) {
        const due = t0 + (ci / connections) * interval + k * interval;
        if (due >= end) break;
        const wait = due - now();
        if (wait > 1) await sleep(wait);
        if (next + rowsPerTx > capacity) break;
        const seqs = Array.from({ length: rowsPerTx }, (_, i) => firstSeq + next + i);
        next += rowsPerTx;
        try {
          await c.query(sql, [o.topic, seqs]);
          const t = now();
          for (const s of seqs) commitMs[s - firstSeq] = t;
          txns++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (now() - t0) / 1000;
  await Promise.all(clients.map((c) => c.end()));
  let rows = 0;
  for (let i = 0; i < next; i++) if (commitMs[i] > 0) rows++;
  parentPort.postMessage({
    commitMs: commitMs.subarray(0, next),
    rows,
    txns,
    errors,
    rows_per_tx: rowsPerTx,
    connections,
    seconds,
    started_ms: t0,
    offered_rows_per_s: o.rate,
    achieved_rows_per_s: rows / seconds,
  });
}

if (!isMainThread) await worker();
