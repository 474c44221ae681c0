#!/usr/bin/env node
// `npm run demo`: brings up the stack (PostgreSQL + a real Kafka broker), migrates a `demo` outbox,
// starts the relay, a producer writing outbox rows in application-style transactions, and a consumer
// that prints what arrives, with a one-line progress report every 2 s. Ctrl-C stops everything
// (the relay gets SIGTERM and shuts down gracefully). DEMO_SECONDS=n stops by itself after n seconds.
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import pg from 'pg';

const { Kafka, logLevel } = kafkajs;
const root = fileURLToPath(new URL('..', import.meta.url));
const seconds = Number(process.env.DEMO_SECONDS ?? 0);
const rate = Number(process.env.DEMO_RATE ?? 50); // rows per second
const say = (line) => process.stdout.write(`${line}\n`);

say('demo: starting services (stack/up.sh; the first run downloads the Kafka jars with Maven)…');
const stackOut = execFileSync('bash', ['stack/up.sh'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
const env = Object.fromEntries(stackOut.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
const relayEnv = { ...process.env, ...env, OUTBOX_SCHEMA: 'demo', OUTBOX_TABLE: 'outbox', LOG_LEVEL: 'info' };
const topic = 'demo.orders';

const kafka = new Kafka({ clientId: 'outbox-relay-demo', brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
if (!(await admin.listTopics()).includes(topic)) {
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
}
await admin.disconnect();

say('demo: outbox-relay migrate --schema demo');
execFileSync('bin/outbox-relay', ['migrate'], { cwd: root, env: relayEnv, stdio: ['ignore', 'inherit', 'inherit'] });

say('demo: starting outbox-relay run (its JSON logs are prefixed with "relay |"); watch it at http://127.0.0.1:9464/metrics, /healthz and /readyz, or with `outbox-relay status --schema demo`');
const relay = spawn('bin/outbox-relay', ['run'], { cwd: root, env: relayEnv, stdio: ['ignore', 'pipe', 'inherit'] });
relay.stdout.setEncoding('utf8').on('data', (chunk) => {
  for (const line of chunk.split('\n').filter(Boolean)) say(`relay | ${line}`);
});

const consumer = kafka.consumer({ groupId: `demo-${randomUUID()}`, maxWaitTimeInMs: 50 });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: false });
const sentAt = new Map();
let consumed = 0;
let latencies = [];
let printed = 0;
await consumer.run({
  eachMessage: async ({ partition, message }) => {
    consumed += 1;
    const id = message.headers.id?.toString();
    const t0 = sentAt.get(id);
    if (t0 !== undefined) latencies.push(performance.now() - t0);
    if (printed++ % Math.max(1, Math.round(rate / 5)) === 0) {
      say(`  ← p${partition} ${message.key} ${message.value} id=${id}`);
    }
  },
});

const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 });
let produced = 0;
const producer = setInterval(async () => {
  // One application transaction: the business change would go here, plus its outbox row.
  const orderId = Math.floor(Math.random() * 20);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query(
      `INSERT INTO demo.outbox (topic, key, payload, headers) VALUES ($1, $2, convert_to($3, 'UTF8'), $4) RETURNING id`,
      [topic, `order-${orderId}`, JSON.stringify({ order: orderId, status: 'paid', at: new Date().toISOString() }), { type: 'OrderPaid' }],
    );
    await client.query('COMMIT');
    sentAt.set(rows[0].id, performance.now());
    produced += 1;
  } finally {
    client.release();
  }
}, 1000 / rate);

let last = { t: performance.now(), consumed: 0 };
const report = setInterval(async () => {
  const backlog = (await pool.query('SELECT count(*)::int AS n FROM demo.outbox WHERE sent_at IS NULL')).rows[0].n;
  const now = performance.now();
  const perSecond = ((consumed - last.consumed) * 1000) / (now - last.t);
  last = { t: now, consumed };
  const sorted = latencies.sort((a, b) => a - b);
  const p = (q) => (sorted.length ? `${sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(1)} ms` : '-');
  latencies = [];
  say(`demo: produced ${produced} | consumed ${consumed} | backlog ${backlog} | ${perSecond.toFixed(0)} msg/s | commit→consume p50 ${p(0.5)} p99 ${p(0.99)}`);
}, 2000);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  clearInterval(producer);
  clearInterval(report);
  say('demo: stopping (SIGTERM to the relay)…');
  relay.kill('SIGTERM');
  const code = await new Promise((resolve) => relay.on('exit', (c) => resolve(c)));
  await consumer.disconnect();
  await pool.end();
  say(`demo: relay exited with code ${code}; services keep running (npm run stack:down stops them)`);
  process.exit(code === 0 ? 0 : 1);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
relay.on('exit', (code) => {
  if (!stopping) {
    say(`demo: the relay exited unexpectedly with code ${code}`);
    process.exit(1);
  }
});
if (seconds > 0) setTimeout(stop, seconds * 1000);
say(`demo: producing ${rate} rows/s to ${topic}; Ctrl-C to stop`);
