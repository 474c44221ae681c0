// A stand-in for the relay's database side, for the M6 producer-tax benchmark (variant 5).
// It LISTENs on the outbox channel and drains the outbox the way src/relay/relay.ts does, minus Kafka:
//   - claim: WITH c AS (SELECT seq ... ORDER BY seq LIMIT 500 FOR UPDATE SKIP LOCKED) DELETE ... USING c;
//   - while claims find rows it keeps claiming, and clears its idle declaration (DELETE the wakeup row)
//     on the first non-empty claim after having been idle;
//   - when a claim finds 0 rows it declares itself waiting (INSERT ... ON CONFLICT DO UPDATE SET
//     waiting_until = now() + 3 s), claims once more right after declaring (the relay does the same
//     to narrow the declare/sleep race), then sleeps until a NOTIFY or the 1 s poll;
//   - the wake-up signal is level-triggered like src/relay/wakeup.ts: a NOTIFY that arrives while it is
//     busy makes the next sleep return at once.
// Runs until SIGTERM/SIGINT, then prints its counters as one JSON line on stdout.
//
//   node bench/sql/drain-loop.mjs <schema> [pollMs=1000] [waitMs=3000] [batch=500]
// Connection: PG* environment (default 127.0.0.1:5432, user postgres, db postgres).
import pg from '../../node_modules/pg/lib/index.js';

const [schema, pollArg, waitArg, batchArg] = process.argv.slice(2);
if (!schema) {
  console.error('usage: drain-loop.mjs <schema> [pollMs] [waitMs] [batch]');
  process.exit(2);
}
const pollMs = Number(pollArg ?? 1000);
const waitMs = Number(waitArg ?? 3000);
const batch = Number(batchArg ?? 500);
const q = (s) => `"${s.replaceAll('"', '""')}"`;
const outbox = `${q(schema)}.outbox`;
const wakeupTable = `${q(schema)}.outbox_wakeup`;
const channel = `${schema}.outbox`;
const relayId = `drain-loop-${process.pid}`;
const conn = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.PGDATABASE ?? 'postgres',
  application_name: 'bench-drain-loop',
};

const CLAIM = `WITH c AS (SELECT seq FROM ${outbox} WHERE sent_at IS NULL ORDER BY seq LIMIT ${batch} FOR UPDATE SKIP LOCKED)
DELETE FROM ${outbox} t USING c WHERE t.seq = c.seq`;
const DECLARE = `INSERT INTO ${wakeupTable} (relay_id, waiting_until) VALUES ($1, now() + make_interval(secs => $2::double precision / 1000))
ON CONFLICT (relay_id) DO UPDATE SET waiting_until = EXCLUDED.waiting_until`;
const CLEAR = `DELETE FROM ${wakeupTable} WHERE relay_id = $1`;

const stats = {
  schema, pollMs, waitMs, batch,
  notifies: 0, wakeByNotify: 0, wakeByPoll: 0,
  claims: 0, emptyClaims: 0, rowsDrained: 0, declares: 0, clears: 0, reclaimHits: 0,
  runSeconds: 0,
};

// Level-triggered wake-up, as in src/relay/wakeup.ts.
let pending = false;
let resolveWait;
function notify() {
  if (resolveWait) { const r = resolveWait; resolveWait = undefined; r('notify'); } else pending = true;
}
function wait(ms) {
  if (pending) { pending = false; return Promise.resolve('notify'); }
  return new Promise((resolve) => {
    const timer = setTimeout(() => { resolveWait = undefined; resolve('poll'); }, ms);
    resolveWait = (why) => { clearTimeout(timer); resolve(why); };
  });
}

const listener = new pg.Client(conn);
const worker = new pg.Client(conn);
await listener.connect();
await worker.connect();
listener.on('notification', () => { stats.notifies += 1; notify(); });
await listener.query(`LISTEN ${q(channel)}`);

let stopping = false;
const started = performance.now();
const stop = () => { stopping = true; notify(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

async function claim() {
  const r = await worker.query(CLAIM);
  stats.claims += 1;
  stats.rowsDrained += r.rowCount;
  if (r.rowCount === 0) stats.emptyClaims += 1;
  return r.rowCount;
}

let waiting = false;
while (!stopping) {
  const n = await claim();
  if (n > 0) {
    if (waiting) { waiting = false; stats.clears += 1; await worker.query(CLEAR, [relayId]); }
    continue;
  }
  const fresh = !waiting;
  await worker.query(DECLARE, [relayId, waitMs]); // refreshed on every idle poll, like the relay
  stats.declares += 1;
  waiting = true;
  if (fresh) {
    // Claim once more right after declaring: a row committed before the declaration was visible to
    // writers would otherwise wait for the poll.
    const again = await claim();
    if (again > 0) { stats.reclaimHits += 1; waiting = false; stats.clears += 1; await worker.query(CLEAR, [relayId]); continue; }
  }
  const why = await wait(pollMs);
  if (why === 'notify') stats.wakeByNotify += 1; else stats.wakeByPoll += 1;
}
if (waiting) await worker.query(CLEAR, [relayId]);
stats.runSeconds = Math.round((performance.now() - started) / 10) / 100;
stats.leftPending = Number((await worker.query(`SELECT count(*) FROM ${outbox}`)).rows[0].count);
await listener.end();
await worker.end();
console.log(JSON.stringify(stats));
