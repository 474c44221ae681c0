/**
 * The chaos suite (npm run test:chaos, not part of `npm test`): the P1 and P2 rows of the failure
 * matrix (docs/guarantees.md) against a relay process that reaches PostgreSQL and its own Kafka
 * broker only through TCP proxies (./harness.ts). Each scenario runs a steady keyed writer, injects
 * its fault, asserts that the relay's timeouts fire within the bound its settings give, that
 * /metrics answers during the stall, that progress resumes after the fault, and then reads the topic
 * back with the checker: lost 0, per-key order kept, duplicates within the bound.
 *
 * The scenarios run one after another in this one file (the proxies are shared). A full run writes
 * docs/chaos.md.
 */
import { inject } from 'vitest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { check, type CheckResult, type Written } from '../support/checker.js';
import { useFixture } from '../support/fixture.js';
import { httpPort, scrape } from '../support/http.js';
import { createTopic, readAll } from '../support/kafka.js';
import { waitFor } from '../support/outbox.js';
import { BLACKHOLE, delay, PASS, RESET } from '../support/proxy.js';
import { started, type LogLine, type RelayProcess } from '../support/relay-process.js';
import { startWriter, type SteadyWriter } from '../support/writer.js';
import {
  BATCH,
  BROKERS,
  CONNECT_TIMEOUT,
  MAX_BACKOFF,
  PUBLISH_TIMEOUT,
  QUERY_TIMEOUT,
  RELAY_POOL_MAX,
  SETTINGS,
  SLACK,
  startChaosServices,
  writeReport,
  type ChaosRow,
  type ChaosServices,
} from './harness.js';

const REPORT = new URL('../../docs/chaos.md', import.meta.url).pathname;
const rows: ChaosRow[] = [];
let current: ChaosRow | undefined;
/** Writers of the running test, stopped before the fixture drops the schema (even after a failure). */
const writers: SteadyWriter[] = [];

const failedAttempt = (since: number) => (l: LogLine) => /failed; rows stay pending/.test(String(l.msg)) && Date.parse(String(l.time)) >= since;
const published = async (port: number) => (await scrape(port)).sum('outbox_relay_published_total');

describe('chaos: faults between the relay and its services', () => {
  const fixture = useFixture();
  let services: ChaosServices;
  const insert = (r: Parameters<typeof fixture.outbox.insert>[0]) => fixture.outbox.insert(r);

  beforeAll(async () => {
    services = await startChaosServices(inject('databaseUrl'));
  }, 240_000);
  afterAll(async () => {
    await services?.stop();
    const expected = 5;
    if (rows.length === expected) {
      writeReport(
        REPORT,
        rows,
        [
          '# Chaos suite: latest run',
          '',
          'Written by `npm run test:chaos` (test/chaos/chaos.test.ts) at the end of a full run; see docs/guarantees.md',
          'for the failure matrix these rows belong to and docs/testing.md for how the suite is built. Settings of',
          `every relay in it: ${Object.entries(SETTINGS).map(([k, v]) => `${k}=${v}`).join(', ')}; so query_timeout =`,
          `${QUERY_TIMEOUT} ms, the longest backoff ${MAX_BACKOFF} ms. Times are measured on the machine that ran it.`,
          '',
          `Run: ${new Date().toISOString()}, Node ${process.version}.`,
        ].join('\n'),
      );
    }
  }, 120_000);
  afterEach(async (ctx) => {
    await Promise.all(writers.splice(0).map((w) => w.stop().catch(() => undefined)));
    const failed = ctx.task.result?.state === 'fail';
    const error = String(ctx.task.result?.errors?.[0]?.message ?? '').split('\n')[0]!.slice(0, 300);
    // A scenario that failed before its row was filled in still gets one, saying what failed.
    if (current || failed) rows.push(current ? { ...current, result: failed ? 'FAIL' : current.result } : { fault: ctx.task.name, mustHold: '(see the test)', result: 'FAIL', numbers: error });
    current = undefined;
    services?.pg.setMode(PASS);
    services?.kafka.setMode(PASS);
  });

  /** A relay through both proxies with a writer running, past its first published batches. */
  async function running(): Promise<{ relay: RelayProcess; port: number; writer: SteadyWriter; topic: string }> {
    const topic = await createTopic(3, 'chaos', BROKERS);
    const relay = fixture.spawn({ ...SETTINGS, DATABASE_URL: services.databaseUrl, KAFKA_BROKERS: BROKERS });
    const port = await httpPort(relay);
    await relay.waitForLog(started);
    const writer = startWriter(insert, topic, { keys: 50, rowsPerTx: 20, pauseMs: 20 });
    writers.push(writer);
    await waitFor('first rows published', async () => (await published(port)) > 0, 30_000, 100);
    return { relay, port, writer, topic };
  }

  /** /metrics answers from memory while the relay is stalled: every scrape under a second. */
  async function metricsAnswer(port: number, times = 5): Promise<number> {
    let worst = 0;
    for (let i = 0; i < times; i++) {
      const s = await scrape(port);
      worst = Math.max(worst, s.ms);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(worst).toBeLessThan(1000);
    return worst;
  }

  /** Progress after the fault ended: resolves with the ms until the published count moved. */
  async function resumes(port: number, boundMs: number): Promise<number> {
    const before = await published(port);
    const t = Date.now();
    await waitFor('progress resumed', async () => (await published(port)) > before, boundMs, 100);
    return Date.now() - t;
  }

  /** The row of docs/chaos.md for a single-fault scenario, after its common duplicate bound. */
  function single(fault: string, mustHold: string, measured: { first: string; worstScrape: number; recoverMs: number; result: CheckResult }): void {
    const { first, worstScrape, recoverMs, result } = measured;
    console.log(`${fault}: ${first}; progress ${recoverMs} ms after the heal; ${result.duplicates} duplicates`);
    // One batch in flight: the one whose ack or COMMIT was lost to the fault may come again.
    expect(result.duplicates).toBeLessThanOrEqual(BATCH);
    current = {
      fault,
      mustHold: `${mustHold}; /metrics answers < 1 s; lost 0, order kept, duplicates ≤ one batch`,
      result: 'pass',
      numbers: `${first}; slowest scrape ${Math.round(worstScrape)} ms; progress ${recoverMs} ms after the heal; lost ${result.lost.length}, duplicates ${result.duplicates}`,
    };
  }

  async function finish(writer: SteadyWriter, topic: string): Promise<{ written: Written[]; result: CheckResult }> {
    const written = await writer.stop();
    await waitFor('drained', async () => (await fixture.outbox.pendingCount()) === 0, 90_000, 200);
    const result = check(written, await readAll([topic], 60_000, BROKERS));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.unexpected).toEqual([]);
    return { written, result };
  }

  it('PostgreSQL half-open (proxy blackholes every connection): query_timeout fires within its bound, /metrics answers, progress resumes after, lost 0', async () => {
    const { relay, port, writer, topic } = await running();
    // Cut PostgreSQL while a claim is open across a (slowed) publish, so the batch's completion is
    // sure to go out on a connection that will never answer.
    services.kafka.setMode(delay(PUBLISH_TIMEOUT / 4));
    await waitFor('a claim held open across a publish', async () => {
      const r = await fixture.outbox.pool.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'`, [
        fixture.outbox.names.relayApplicationName,
      ]);
      return (r.rowCount ?? 0) > 0;
    }, 30_000, 20);
    const t0 = Date.now();
    services.pg.setMode(BLACKHOLE);
    services.kafka.setMode(PASS);
    // Whatever query of the relay's pool was in flight or next sent on an open connection (a claim, a
    // COMMIT, the lease heartbeat every TTL/4) hangs on a socket that never answers: node-postgres's
    // query_timeout must end it. (New connections time out on connect sooner; that is not what this
    // checks. An idle relay may have no claim in flight: its lease heartbeat is then the one.)
    const detectBound = QUERY_TIMEOUT + CONNECT_TIMEOUT + SLACK;
    const first = await relay.waitForLog(
      (l) =>
        Date.parse(String(l.time)) >= t0 &&
        /failed; rows stay pending|lease heartbeat failed/.test(String(l.msg)) &&
        /Query read timeout/.test(JSON.stringify(l.err ?? '')),
      detectBound,
    );
    const detectMs = Date.parse(String(first.time)) - t0;
    const worstScrape = await metricsAnswer(port);
    services.pg.setMode(PASS); // new connections pass; the blackholed ones stay dead (half-open)
    // After the heal every connection the pool still holds is dead: each costs one query_timeout
    // before it is dropped (at worst all of them, one after another), then a fresh connection, a
    // backoff and a claim.
    const recoverBound = RELAY_POOL_MAX * QUERY_TIMEOUT + CONNECT_TIMEOUT + MAX_BACKOFF + SLACK;
    const recoverMs = await resumes(port, recoverBound);
    const { result } = await finish(writer, topic);
    single('PostgreSQL half-open: every open and new connection blackholed while a claim is open across a publish (nothing forwarded, nothing closed), then new connections pass again', `query_timeout ends a query of the relay's pool stuck on a dead connection within query_timeout + connect timeout (${detectBound} ms with slack); progress within pool size × query_timeout + connect timeout + longest backoff (${recoverBound} ms with slack) of the heal`, { first: `query_timeout fired after ${detectMs} ms`, worstScrape, recoverMs, result });
  });

  it('Kafka half-open / partition (proxy blackholes every broker connection): the publish deadline fires, /metrics answers, progress resumes after, lost 0', async () => {
    const { relay, port, writer, topic } = await running();
    const t0 = Date.now();
    services.kafka.setMode(BLACKHOLE);
    const detectBound = PUBLISH_TIMEOUT + SLACK;
    const first = await relay.waitForLog(failedAttempt(t0), detectBound);
    const detectMs = Date.parse(String(first.time)) - t0;
    const before = await published(port);
    const worstScrape = await metricsAnswer(port);
    // Several publish deadlines into the partition: nothing more is acknowledged, so nothing marked.
    await relay.waitForLog((l) => failedAttempt(t0)(l) && Number(l.attempt) >= 2, 3 * (PUBLISH_TIMEOUT + MAX_BACKOFF));
    expect(await published(port)).toBe(before);
    services.kafka.setMode(PASS);
    const recoverBound = PUBLISH_TIMEOUT + MAX_BACKOFF + SLACK;
    const recoverMs = await resumes(port, recoverBound);
    const { result } = await finish(writer, topic);
    single('Kafka half-open / partition: every broker connection blackholed for several publish deadlines, then healed', `the publish deadline fires (${detectBound} ms with slack); nothing acknowledged or marked during the partition; progress within publish timeout + longest backoff (${recoverBound} ms with slack) of the heal`, { first: `first failure after ${detectMs} ms`, worstScrape, recoverMs, result });
  });

  it('pool exhaustion with a stalled broker: Kafka blackholed, the relay\'s PostgreSQL connections cut and new ones hang; connects time out, /metrics answers, progress resumes, lost 0', async () => {
    const { relay, port, writer, topic } = await running();
    const t0 = Date.now();
    services.kafka.setMode(BLACKHOLE);
    // The stalled broker holds a claim until the publish deadline releases it.
    await relay.waitForLog(failedAttempt(t0), PUBLISH_TIMEOUT + SLACK);
    // Then the relay's connections are cut and every new one is accepted but never served (a server
    // or pooler out of slots): each connect must give up after OUTBOX_DB_CONNECT_TIMEOUT_MS rather than
    // queue forever, the next claim or lease heartbeat being the first to need one.
    const cut = Date.now();
    services.pg.setMode(RESET);
    services.pg.setMode(BLACKHOLE, 'new');
    const connectBound = MAX_BACKOFF + CONNECT_TIMEOUT + SLACK;
    // pg-pool's own words for a connect that did not finish in connectionTimeoutMillis.
    const timedOut = await relay.waitForLog(
      (l) => Date.parse(String(l.time)) >= cut && /timeout exceeded when trying to connect|due to connection timeout/.test(JSON.stringify(l.err ?? '')),
      connectBound,
    );
    const worstScrape = await metricsAnswer(port);
    services.kafka.setMode(PASS);
    services.pg.setMode(PASS);
    const recoverBound = QUERY_TIMEOUT + CONNECT_TIMEOUT + MAX_BACKOFF + SLACK;
    const recoverMs = await resumes(port, recoverBound);
    const { result } = await finish(writer, topic);
    const connectMs = Date.parse(String(timedOut.time)) - cut;
    single('pool exhaustion with a stalled broker: Kafka blackholed; once a publish deadline passed, the relay\'s PostgreSQL connections are reset and every new one is accepted but never served; then both healed', `a connect times out (OUTBOX_DB_CONNECT_TIMEOUT_MS) instead of waiting forever, within longest backoff + connect timeout (${connectBound} ms with slack) of the cut; progress within ${recoverBound} ms of the heal`, { first: `connect timeout logged ${connectMs} ms after the cut`, worstScrape, recoverMs, result });
  });

  it('a long transaction pinning xmin during a heavy run: the relay keeps publishing; claim latency and the table\'s dead tuples are exported; dead tuples fall once it ends', async () => {
    const { port, writer, topic } = await running();
    const pin = await fixture.outbox.pool.connect();
    const claims = (s: Awaited<ReturnType<typeof scrape>>) => ({
      sum: s.value('outbox_relay_claim_duration_seconds_sum') ?? 0,
      count: s.value('outbox_relay_claim_duration_seconds_count') ?? 0,
    });
    let pinnedMs = 0;
    let during: { published: number; deadTuples: number; claimMs: number; claimMsBefore: number };
    try {
      const before = await scrape(port);
      // An application's forgotten transaction: it has an xid, so VACUUM keeps every row version
      // deleted after it began until it ends.
      await pin.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await pin.query('SELECT txid_current()');
      const pinnedAt = Date.now();
      const held = await fixture.outbox.pool.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND state = 'idle in transaction' AND pid = $1`, [
        (pin as unknown as { processID: number }).processID,
      ]);
      expect(Number(held.rows[0]!.n)).toBe(1);
      const publishedBefore = before.sum('outbox_relay_published_total');
      // Rows keep flowing while xmin is pinned: ten windows, each must publish something.
      for (let i = 0; i < 10; i++) {
        const start = await published(port);
        await waitFor(`progress with xmin pinned (window ${i})`, async () => (await published(port)) > start, PUBLISH_TIMEOUT + MAX_BACKOFF + SLACK, 100);
        await new Promise((r) => setTimeout(r, 1000));
      }
      pinnedMs = Date.now() - pinnedAt;
      const now = await scrape(port);
      const publishedDuring = now.sum('outbox_relay_published_total') - publishedBefore;
      // Every published row left a dead row version (delete mode) that VACUUM may not remove now.
      const withDead = await waitFor('dead tuples exported', async () => {
        const s = await scrape(port);
        const dead = s.value('outbox_relay_table_dead_tuples');
        return dead !== undefined && dead >= publishedDuring / 2 ? s : undefined;
      }, 30_000, 250);
      const c0 = claims(before);
      const c1 = claims(withDead);
      expect(c1.count).toBeGreaterThan(c0.count);
      during = { published: publishedDuring, deadTuples: withDead.value('outbox_relay_table_dead_tuples')!, claimMs: ((c1.sum - c0.sum) / (c1.count - c0.count)) * 1000, claimMsBefore: (c0.sum / c0.count) * 1000 };
    } finally {
      await pin.query('COMMIT').catch(() => undefined);
      pin.release();
    }
    const { result } = await finish(writer, topic);
    expect(result.duplicates).toBe(0);
    // Once the transaction is gone, VACUUM can remove them, and the gauge says so.
    await fixture.outbox.pool.query(`VACUUM ${fixture.outbox.names.outbox}`);
    const { after } = await waitFor('dead tuples fall after VACUUM', async () => {
      const dead = (await scrape(port)).value('outbox_relay_table_dead_tuples');
      return dead !== undefined && dead < during.deadTuples / 10 ? { after: dead } : undefined;
    }, 30_000, 250);
    console.log(`xmin pinned ${pinnedMs} ms: ${during.published} rows published meanwhile, ${during.deadTuples} dead tuples, mean claim ${during.claimMs.toFixed(1)} ms (${during.claimMsBefore.toFixed(1)} ms before); ${after} after VACUUM`);
    current = {
      fault: `a transaction with an xid held open for ${Math.round(pinnedMs / 1000)} s during a steady run (delete mode), pinning xmin`,
      mustHold: 'the relay publishes in every 1 s window; outbox_relay_claim_duration_seconds and outbox_relay_table_dead_tuples exported (dead tuples ≥ half the rows deleted meanwhile), falling after the transaction ends and VACUUM runs; lost 0, order kept, no duplicates',
      result: 'pass',
      numbers: `${during.published} rows published while pinned; ${during.deadTuples} dead tuples; mean claim ${during.claimMs.toFixed(1)} ms while pinned (${during.claimMsBefore.toFixed(1)} ms before); ${after} dead tuples after VACUUM; lost ${result.lost.length}, duplicates ${result.duplicates}`,
    };
  });

  it('a seeded random fault schedule (kill -9 + restart, SIGSTOP/SIGCONT, pg_terminate_backend, blackhole/reset/delay toward PostgreSQL and Kafka): lost 0, order kept, duplicates ≤ one batch per failed attempt or kill', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const durationMs = Number(process.env.CHAOS_DURATION_MS ?? 150_000);
    console.log(`random schedule: CHAOS_SEED=${seed} CHAOS_DURATION_MS=${durationMs} (set both to replay it)`);
    const random = mulberry32(seed);
    const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo));
    const topic = await createTopic(3, 'chaos', BROKERS);
    const env = { ...SETTINGS, DATABASE_URL: services.databaseUrl, KAFKA_BROKERS: BROKERS };
    const relays: RelayProcess[] = [];
    let port = 0;
    let worstScrape = 0;
    const spawn = async () => {
      const r = fixture.spawn(env);
      relays.push(r);
      port = await httpPort(r);
      await r.waitForLog(started, 60_000);
      return r;
    };
    let relay = await spawn();
    const writer = startWriter(insert, topic, { keys: 50, rowsPerTx: 20, pauseMs: 50 });
    writers.push(writer);
    const counts = new Map<string, number>();
    let kills = 0;
    const end = Date.now() + durationMs;
    while (Date.now() < end) {
      const hold = between(500, 5000);
      const kind = FAULTS[Math.floor(random() * FAULTS.length)]!;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      switch (kind) {
        case 'kill -9 + restart':
          relay.kill('SIGKILL');
          await relay.exited;
          kills++;
          await sleepMs(hold);
          relay = await spawn();
          break;
        case 'SIGSTOP/SIGCONT':
          relay.kill('SIGSTOP');
          await sleepMs(hold);
          relay.kill('SIGCONT');
          break;
        case 'pg_terminate_backend':
          await fixture.outbox.pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ($1, $2, $3)', [
            fixture.outbox.names.relayApplicationName,
            fixture.outbox.names.listenApplicationName,
            fixture.outbox.names.backlogApplicationName,
          ]);
          break;
        default: {
          const [side, mode] = kind.split(' ') as ['PostgreSQL' | 'Kafka', 'blackhole' | 'reset' | 'delay'];
          const proxy = side === 'PostgreSQL' ? services.pg : services.kafka;
          proxy.setMode(mode === 'blackhole' ? BLACKHOLE : mode === 'reset' ? RESET : delay(between(50, PUBLISH_TIMEOUT)));
          const t = Date.now();
          worstScrape = Math.max(worstScrape, (await scrape(port)).ms); // answered during the fault
          await sleepMs(hold - (Date.now() - t));
          proxy.setMode(PASS);
        }
      }
      await sleepMs(between(1000, 4000));
    }
    const healedAt = Date.now();
    const written = await writer.stop();
    // Every fault is over: the backlog drains within the worst single-fault recovery (a dead pooled
    // connection costs one query_timeout) plus a backoff and the drain itself.
    await waitFor('drained after the schedule', async () => (await fixture.outbox.pendingCount()) === 0, QUERY_TIMEOUT + CONNECT_TIMEOUT + MAX_BACKOFF + 60_000, 200);
    const drainMs = Date.now() - healedAt;
    worstScrape = Math.max(worstScrape, (await scrape(port)).ms);
    expect(worstScrape).toBeLessThan(1000);
    const result = check(written, await readAll([topic], 60_000, BROKERS));
    const failures = relays.reduce((n, r) => n + r.logs.filter((l) => /failed; rows stay pending/.test(String(l.msg))).length, 0);
    const faults = [...counts].map(([k, n]) => `${k} ×${n}`).join(', ');
    console.log(`random schedule (seed ${seed}): ${faults}; ${written.length} rows, ${failures} failed attempts, ${kills} kills, ${result.duplicates} duplicates, lost ${result.lost.length}, drained ${drainMs} ms after the last fault`);
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.unexpected).toEqual([]);
    // G3: one batch in flight, so each failed attempt or kill can repeat at most that batch.
    expect(result.duplicates).toBeLessThanOrEqual((failures + kills) * BATCH);
    current = {
      fault: `seeded random schedule for ${Math.round(durationMs / 1000)} s (CHAOS_SEED=${seed}): ${faults}; each held 0.5–5 s, 1–4 s apart, under a steady writer`,
      mustHold: 'lost 0, per-key order of first appearances kept, duplicates ≤ one batch per failed attempt or kill; drains after the last fault; /metrics answers < 1 s during each proxy fault',
      result: 'pass',
      numbers: `${written.length} rows; ${failures} failed attempts, ${kills} kills; slowest scrape ${Math.round(worstScrape)} ms; duplicates ${result.duplicates}; lost ${result.lost.length}; drained ${drainMs} ms after the last fault`,
    };
  });
});

const FAULTS = [
  'kill -9 + restart',
  'SIGSTOP/SIGCONT',
  'pg_terminate_backend',
  'PostgreSQL blackhole',
  'PostgreSQL reset',
  'PostgreSQL delay',
  'Kafka blackhole',
  'Kafka reset',
  'Kafka delay',
] as const;

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small seeded PRNG (mulberry32): the same seed, the same schedule. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
