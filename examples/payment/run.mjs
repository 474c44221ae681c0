#!/usr/bin/env node
// `npm run example`: the whole retry-safe chain on the local stack, one payment, every step printed.
//
//   client ──POST /payments (Idempotency-Key)──▶ payment service ──one transaction──▶ PostgreSQL
//                                                 (key + charge + outbox event)        │
//   ledger consumer ◀──Kafka (payments.charged)── outbox-relay ◀──────────────────────┘
//   (inbox + immutable ledger, one transaction)
//
// Two failures are forced: the client's request times out after the server charged and committed
// (its answer is held back as by a slow network; the client retries with the same key), and the relay is killed after Kafka acknowledged the event
// but before it marked the row (so the event is published, and delivered, twice).
// Outcome: one charge, one outbox event delivered twice, one ledger entry.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createIdempotencyStore } from 'outbox-relay/idempotency';
import { startLedger } from './ledger.mjs';
import { paymentService } from './service.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/outbox-relay', import.meta.url));
const SCHEMA_SQL = fileURLToPath(new URL('./schema.sql', import.meta.url));

/** Poll a condition until it holds, or fail after timeoutMs. */
async function until(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`example: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The promise, or a failure after timeoutMs. */
function within(promise, timeoutMs, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`example: timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function startRelay(env, name, say) {
  const child = spawn(BIN, ['run'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  child.stdout.setEncoding('utf8').on('data', (chunk) => lines.push(...chunk.split('\n').filter(Boolean)));
  child.stderr.setEncoding('utf8').on('data', (chunk) => lines.push(chunk));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  say(`   ${name} started (pid ${child.pid})`);
  return { child, lines, exited };
}

/**
 * Run the story. Returns what happened, for the example's own test.
 * @param {{ databaseUrl: string, kafkaBrokers: string, schema?: string, say?: (line: string) => void, keepSchema?: boolean }} options
 */
export async function runExample({ databaseUrl, kafkaBrokers, schema = 'payment_example', say = (l) => process.stdout.write(`${l}\n`), keepSchema = true }) {
  const topic = `payments.charged.${randomBytes(4).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 6 });
  const kafka = new kafkajs.Kafka({ clientId: 'payment-example', brokers: kafkaBrokers.split(','), logLevel: kafkajs.logLevel.NOTHING });
  const relayEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: kafkaBrokers,
    OUTBOX_SCHEMA: schema,
    OUTBOX_TABLE: 'outbox',
    OUTBOX_ON_PUBLISH: 'mark', // keep the published row, so the example can show it
    LOG_LEVEL: 'info',
    // Any free port for /metrics, so the example never collides with a relay already on :9464.
    OUTBOX_HTTP_ADDR: process.env.OUTBOX_HTTP_ADDR ?? '127.0.0.1:0',
  };
  const result = { deliveries: [] };
  const cleanup = [];
  const count = async (sql) => Number((await pool.query(sql)).rows[0].n);
  const dbState = async () => ({
    charges: await count(`SELECT count(*) AS n FROM ${schema}.charges`),
    outboxRows: await count(`SELECT count(*) AS n FROM ${schema}.outbox`),
    outboxPending: await count(`SELECT count(*) AS n FROM ${schema}.outbox WHERE sent_at IS NULL`),
    keys: await count(`SELECT count(*) AS n FROM ${schema}.idempotency_keys`),
    ledgerEntries: await count(`SELECT count(*) AS n FROM ${schema}.ledger_entries`),
  });
  const showDb = async (when) => {
    const s = await dbState();
    say(`   database ${when}: ${s.charges} charge, ${s.keys} idempotency key, ${s.outboxRows} outbox event (${s.outboxPending} unpublished), ${s.ledgerEntries} ledger entry`);
    return s;
  };
  try {
    say('1. setting up: schema, tables, topic');
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    execFileSync(BIN, ['migrate'], { cwd: ROOT, env: { ...relayEnv, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
    await pool.query(readFileSync(SCHEMA_SQL, 'utf8').replaceAll('{{schema}}', schema));
    const store = createIdempotencyStore({ pool, schema, table: 'idempotency_keys', ttlMs: 24 * 3600_000, waitMs: 2000 });
    await store.migrate();
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    cleanup.push(async () => {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    });
    say(`   outbox ${schema}.outbox (outbox-relay migrate), ${schema}.charges, ${schema}.ledger_entries (immutable), topic ${topic}`);

    const service = paymentService({ pool, schema, topic, store });
    const server = service.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    cleanup.push(() => new Promise((r) => server.close(r)));
    const url = `http://127.0.0.1:${server.address().port}/payments`;

    const ledger = await startLedger({
      kafka,
      pool,
      schema,
      topic,
      groupId: `ledger-${randomUUID()}`,
      onDelivery: (d) => {
        result.deliveries.push(d.outcome);
        const n = result.deliveries.length;
        say(
          d.outcome === 'processed'
            ? `   kafka → ledger: delivery ${n} (partition ${d.partition}, offset ${d.offset}, id ${d.eventId}) → inbox: new, ledger entry booked`
            : `   kafka → ledger: delivery ${n} (partition ${d.partition}, offset ${d.offset}, id ${d.eventId}) → inbox: already processed, SKIPPED`,
        );
      },
    });
    cleanup.push(() => ledger.stop());
    say(`   payment service on ${url}; ledger consumer subscribed to ${topic}`);

    const key = randomUUID();
    const order = { customer: 'alice', amount: 4200 };
    const post = (body, signal) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
        signal: signal ?? AbortSignal.timeout(30_000),
      });

    say(`2. client: POST /payments ${JSON.stringify(order)} Idempotency-Key: ${key}`);
    say('   (the server charges and commits; its answer is held back, as by a slow network, until the client gives up)');
    service.holdNextResponse(); // the answer will be lost in a slow network, after the commit
    cleanup.push(() => service.releaseHeld());
    const client = new AbortController();
    const first = post(order, client.signal);
    // The client's timeout fires once the server has committed (made deterministic for the example).
    await until('the server to commit the charge', async () => (await dbState()).charges === 1);
    client.abort(new DOMException('the client timed out', 'TimeoutError'));
    try {
      await first;
      result.firstAttempt = 'answered';
      say('   client saw: an answer (unexpected)');
    } catch (err) {
      result.firstAttempt = err.name === 'TimeoutError' ? 'timed out' : err.name;
      say(`   client saw: ${err.name} — no answer. Did the charge happen? The client cannot know, so it retries.`);
    }
    result.afterTimeout = await showDb('after the timeout');

    say('3. client: the same request again, same Idempotency-Key');
    const retry = await post(order);
    result.retry = { status: retry.status, replayed: retry.headers.get('idempotent-replayed') === 'true', body: await retry.json() };
    say(`   client saw: ${retry.status} ${JSON.stringify(result.retry.body)}  Idempotent-Replayed: ${retry.headers.get('idempotent-replayed')}`);
    await showDb('after the retry');

    say('4. relay #1 starts, with a fault injected: it SIGKILLs itself after Kafka acknowledged batch 1, before marking it sent');
    const relay1 = startRelay({ ...relayEnv, OUTBOX_RELAY_TEST_SEAMS: '1', OUTBOX_RELAY_TEST_KILL: 'after-ack:1' }, 'relay #1', say);
    cleanup.push(() => relay1.child.kill('SIGKILL'));
    const exit1 = await within(relay1.exited, 30_000, 'relay #1 to be killed');
    result.relay1Signal = exit1.signal;
    say(`   relay #1 died (signal ${exit1.signal}) after the broker acknowledged the event`);
    await until('the ledger to receive delivery 1', () => result.deliveries.length >= 1);
    await showDb('after relay #1 died');

    say('5. relay #2 starts (a restart): the event is still unpublished in the outbox, so it is published again');
    const relay2 = startRelay(relayEnv, 'relay #2', say);
    cleanup.push(async () => {
      relay2.child.kill('SIGTERM');
      await relay2.exited;
    });
    await until('the outbox event to be marked sent', async () => (await dbState()).outboxPending === 0);
    await until('the ledger to receive delivery 2', () => result.deliveries.length >= 2);
    await showDb('after relay #2');

    say('6. client (a bug): the same Idempotency-Key with another amount');
    const reuse = await post({ ...order, amount: 9900 });
    result.reuseStatus = reuse.status;
    say(`   client saw: ${reuse.status} ${JSON.stringify(await reuse.json())}`);

    say('7. result');
    const offsets = await admin.fetchTopicOffsets(topic);
    result.kafkaMessages = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    result.final = await dbState();
    result.balances = Object.fromEntries(
      (await pool.query(`SELECT account, balance FROM ${schema}.balances ORDER BY account`)).rows.map((r) => [r.account, Number(r.balance)]),
    );
    say(`   charges: ${result.final.charges}   outbox events: ${result.final.outboxRows}   Kafka messages: ${result.kafkaMessages} (the same event id twice)   ledger entries: ${result.final.ledgerEntries}`);
    say(`   deliveries to the ledger: ${result.deliveries.join(', ')}`);
    say(`   balances (SUM over the immutable ledger): ${Object.entries(result.balances).map(([a, b]) => `${a} ${b}`).join(', ')}`);
    if (keepSchema) say(`   the tables stay in schema ${schema} (psql: SELECT * FROM ${schema}.balances;); the next run starts it afresh`);
    return result;
  } finally {
    for (const step of cleanup.reverse()) await Promise.resolve().then(step).catch(() => undefined);
    if (!keepSchema) await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pool.end();
  }
}

/** DATABASE_URL and KAFKA_BROKERS from the environment, else from stack/up.sh (starting the stack). */
function services() {
  if (process.env.DATABASE_URL && process.env.KAFKA_BROKERS) return { databaseUrl: process.env.DATABASE_URL, kafkaBrokers: process.env.KAFKA_BROKERS };
  process.stdout.write('example: starting the local stack (bash stack/up.sh)…\n');
  const out = execFileSync('bash', ['stack/up.sh'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const env = Object.fromEntries(out.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
  return { databaseUrl: env.DATABASE_URL, kafkaBrokers: env.KAFKA_BROKERS };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await runExample(services());
  const ok = result.final.charges === 1 && result.final.outboxRows === 1 && result.kafkaMessages === 2 && result.final.ledgerEntries === 1;
  process.stdout.write(ok ? 'example: one charge, one event delivered twice, one ledger entry.\n' : 'example: UNEXPECTED RESULT (see above)\n');
  process.exit(ok ? 0 : 1);
}
