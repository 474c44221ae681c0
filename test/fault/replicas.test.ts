/**
 * Several active relay processes on one outbox (migration 3: key partitions shared through leases,
 * docs/scale-out.md): they share the work, keep per-key order of first appearances across crashes,
 * freezes, joins, leaves and clock skew, and a replica that lost its share cannot publish or mark
 * out of turn.
 */
import { describe, expect, it } from 'vitest';
import { check, writeKeyed, type Written } from '../support/checker.js';
import { useFixture } from '../support/fixture.js';
import { httpPort, scrape } from '../support/http.js';
import { createTopic, readAll } from '../support/kafka.js';
import { waitFor } from '../support/outbox.js';
import { isStopped, started, testKill, type RelayProcess } from '../support/relay-process.js';
import { startWriter } from '../support/writer.js';

const TTL = 2000;
/** Leases renewed every TTL/4; quick polls so the timings measured are the leases', not the poll's. */
const FAST = { OUTBOX_LEASE_TTL_MS: String(TTL), OUTBOX_POLL_INTERVAL_MS: '200' };
const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

interface Replica {
  proc: RelayProcess;
  port: number;
}

async function replica(fixture: ReturnType<typeof useFixture>, env: Record<string, string>): Promise<Replica> {
  const proc = fixture.spawn(env);
  const port = await httpPort(proc);
  await proc.waitForLog(started);
  return { proc, port };
}

const metric = async (r: Replica, name: string, labels?: Record<string, string>) => (await scrape(r.port)).value(name, labels) ?? 0;
const owned = (r: Replica) => metric(r, 'outbox_relay_owned_partitions');

/** Wait until the replicas own the given numbers of partitions; resolves with how long it took. */
async function shares(replicas: Replica[], expected: number[], timeoutMs: number): Promise<number> {
  const start = Date.now();
  await waitFor(`partition shares ${expected.join('/')}`, async () => {
    const now = await Promise.all(replicas.map(owned));
    return now.every((n, i) => n === expected[i]);
  }, timeoutMs, 50);
  return Date.now() - start;
}

/** Wait until the replicas hold an even split of the 64 partitions (which one gets the extra depends on ids). */
async function settled(replicas: Replica[], timeoutMs = 15_000): Promise<number> {
  const start = Date.now();
  const fair = Array.from({ length: replicas.length }, (_, i) => Math.floor(64 / replicas.length) + (i < 64 % replicas.length ? 1 : 0)).sort();
  await waitFor(`an even split ${fair.join('/')}`, async () => (await Promise.all(replicas.map(owned))).sort().join() === fair.join(), timeoutMs, 50);
  return Date.now() - start;
}

describe('several active replicas on one outbox', () => {
  const fixture = useFixture();
  const insert = (rows: Parameters<typeof fixture.outbox.insert>[0]) => fixture.outbox.insert(rows);

  it('three replicas, 60,000 rows over 600 keys written while they run: each publishes a share, lost 0, per-key order, no duplicates', async () => {
    const topic = await createTopic(6, 'scale');
    const env = { ...FAST, OUTBOX_BATCH_SIZE: '500' };
    const rs = await Promise.all([replica(fixture, env), replica(fixture, env), replica(fixture, env)]);
    await settled(rs);
    const written = await writeKeyed(insert, topic, { keys: 600, perKey: 100, rowsPerTx: 200 });
    await waitFor('drained', async () => (await fixture.outbox.pendingCount()) === 0, 120_000, 200);

    const result = check(written, await readAll([topic], 120_000));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.unexpected).toEqual([]);
    expect(result.duplicates).toBe(0);
    const published = await Promise.all(rs.map((r) => metric(r, 'outbox_relay_published_total', { topic })));
    console.log(`three replicas: published ${published.join(' / ')} of ${written.length}`);
    expect(published.reduce((a, b) => a + b, 0)).toBe(written.length);
    for (const n of published) expect(n).toBeGreaterThan(written.length * 0.15); // each did a real share
  });

  it('one replica killed -9, another frozen past its lease with a claim open then resumed: lost 0, order kept, its late work fenced', async () => {
    const topic = await createTopic(3, 'scale');
    // Publish deadline 3 s, so PostgreSQL ends a frozen claim after 13 s (idle_in_transaction).
    const env = { ...FAST, OUTBOX_BATCH_SIZE: '100', OUTBOX_PUBLISH_TIMEOUT_MS: '3000' };
    const [a, c] = await Promise.all([replica(fixture, env), replica(fixture, env)]);
    const b = await replica(fixture, { ...env, ...testKill('before-publish:3:SIGSTOP') });
    await settled([a, b, c]);
    const writer = startWriter(insert, topic, { keys: 300, rowsPerTx: 50 });
    await waitFor('b froze with its third batch claimed', async () => isStopped(b.proc.child.pid!), 60_000, 50);
    const frozenAt = Date.now();
    a.proc.kill('SIGKILL');
    await writer.reach(writer.written.length + 3000);
    const written: Written[] = await writer.stop();
    // c alone publishes everything, b's frozen batch included once PostgreSQL ended b's claim.
    await waitFor('drained by the survivor while b is frozen', async () => (await fixture.outbox.pendingCount()) === 0, 90_000, 200);
    const takeoverMs = Date.now() - frozenAt;
    console.log(`frozen replica's rows published by the survivor ${takeoverMs} ms after the freeze (bound: TTL ${TTL} + claim bound 13000)`);
    // Takeover itself is bounded by TTL + the claim bound; the rest is draining ~3,000 rows on a busy machine.
    expect(takeoverMs).toBeLessThan(TTL + 13_000 + 25_000);
    expect(isStopped(b.proc.child.pid!)).toBe(true);

    b.proc.kill('SIGCONT');
    // b wakes with its batch claimed: its publish deadline passed while it was frozen, and PostgreSQL
    // ended its claim anyway, so it can neither publish that batch in its old turn nor mark it; its
    // next heartbeat finds its partitions taken.
    await b.proc.waitForLog((l) => /failed; rows stay pending|PostgreSQL ended or lost a connection/.test(String(l.msg)), 30_000);
    await b.proc.waitForLog((l) => l.msg === 'partition leases lost to another replica', 30_000);
    expect(await fixture.outbox.pendingCount()).toBe(0);
    await shares([b, c], [32, 32], 15_000); // and then it takes a fair share again

    const result = check(written, await readAll([topic], 60_000));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    console.log(`kill -9 + freeze: ${result.duplicates} duplicates`);
    expect(result.duplicates).toBeLessThanOrEqual(2 * 100); // a's batch in flight at the kill + b's late batch
  });

  it("a row another session locks holds back its key on every replica; other keys flow; order kept", async () => {
    const topic = await createTopic(2, 'scale');
    const pool = fixture.outbox.pool;
    // The head row is written and locked before any replica runs: a replica started first could
    // publish it before the lock is taken (it did on a loaded machine), and then nothing is held.
    await insert([{ topic, key: 'held', payload: Buffer.from(JSON.stringify({ key: 'held', n: 0 })) }]);
    const locker = await pool.connect();
    try {
      await locker.query('BEGIN');
      const locked = await locker.query(`SELECT 1 FROM ${fixture.outbox.names.outbox} WHERE key = 'held' FOR UPDATE`);
      expect(locked.rowCount).toBe(1);
      const rs = await Promise.all([replica(fixture, FAST), replica(fixture, FAST)]);
      await shares(rs, [32, 32], 15_000);
      const later = [1, 2, 3].map((n) => ({ key: 'held', n }));
      await insert(later.map((w) => ({ topic, key: w.key, payload: Buffer.from(JSON.stringify(w)) })));
      const others = await writeKeyed(insert, topic, { keys: 20, perKey: 10, rowsPerTx: 50 });
      await waitFor('every other key published', async () => (await fixture.outbox.pendingCount()) === 4, 30_000, 100);
      const early = await readAll([topic], 30_000);
      expect(early.filter((m) => m.key === 'held')).toEqual([]); // nothing of the held key overtook its head
      expect(early).toHaveLength(others.length);
    } finally {
      await locker.query('COMMIT');
      locker.release();
    }
    await waitFor('held key published after the lock is gone', async () => (await fixture.outbox.pendingCount()) === 0, 30_000, 100);
    const held = (await readAll([topic], 30_000)).filter((m) => m.key === 'held').map((m) => (JSON.parse(m.value.toString()) as { n: number }).n);
    expect(held).toEqual([0, 1, 2, 3]);
  });

  it('replicas joining and leaving during a run: a share within seconds, takeover within the lease bound (measured), lost 0', async () => {
    const topic = await createTopic(3, 'scale');
    const a = await replica(fixture, FAST);
    await shares([a], [64], 10_000);
    const writer = startWriter(insert, topic, { keys: 100, rowsPerTx: 20, pauseMs: 5 });
    const b = await replica(fixture, FAST);
    const joinMs = await shares([a, b], [32, 32], 10_000);
    a.proc.kill('SIGTERM'); // graceful: hands its partitions back
    await a.proc.exited;
    const leaveMs = await shares([b], [64], 10_000);
    const c = await replica(fixture, FAST);
    await shares([b, c], [32, 32], 10_000);
    c.proc.kill('SIGKILL'); // dead: its leases lapse after the TTL
    const deadMs = await shares([b], [64], 10_000);
    const written = await writer.stop();
    await waitFor('drained', async () => (await fixture.outbox.pendingCount()) === 0, 60_000, 200);
    console.log(`join → fair share ${joinMs} ms; graceful leave → taken over ${leaveMs} ms; kill -9 → taken over ${deadMs} ms (TTL ${TTL} ms, heartbeat ${TTL / 4} ms)`);
    const heartbeat = TTL / 4;
    expect(joinMs).toBeLessThan(3 * heartbeat * 1.2 + 1000);
    expect(leaveMs).toBeLessThan(2 * heartbeat * 1.2 + 1000);
    expect(deadMs).toBeLessThan(TTL + 2 * heartbeat * 1.2 + 1000);
    const result = check(written, await readAll([topic], 60_000));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
  });

  it('a replica whose clock is an hour ahead and one an hour behind: no premature takeover, no double ownership, order kept', async () => {
    const topic = await createTopic(3, 'scale');
    // A 5 s TTL (heartbeat 1.25 s): what is tested is the skew, not how a loaded CI machine schedules
    // a 500 ms heartbeat (with the 2 s TTL a busy machine made a heartbeat late enough to lapse).
    const steady = { ...FAST, OUTBOX_LEASE_TTL_MS: '5000' };
    const skew = (offset: string) => ({ ...steady, LD_PRELOAD: FAKETIME, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1' });
    const rs = [await replica(fixture, steady), await replica(fixture, skew('+1h')), await replica(fixture, skew('-1h'))];
    // The skewed clocks are real: their log lines are stamped an hour off.
    const stamp = (r: Replica) => Date.parse(String(r.proc.logs.find((l) => l.msg === 'relay started')!.time));
    expect(stamp(rs[1]!) - Date.now()).toBeGreaterThan(3_000_000);
    expect(Date.now() - stamp(rs[2]!)).toBeGreaterThan(3_000_000);
    await settled(rs, 25_000);
    // Over three lease lifetimes nobody loses a lease and the shares do not move.
    const lostBefore = await Promise.all(rs.map((r) => metric(r, 'outbox_relay_lease_changes_total', { change: 'lost' })));
    const written = await writeKeyed(insert, topic, { keys: 100, perKey: 30, rowsPerTx: 50 });
    const until = Date.now() + 3 * 5000;
    while (Date.now() < until) {
      const now = await Promise.all(rs.map(owned));
      expect(now.reduce((x, y) => x + y, 0)).toBe(64);
      await new Promise((r) => setTimeout(r, 250));
    }
    const lostAfter = await Promise.all(rs.map((r) => metric(r, 'outbox_relay_lease_changes_total', { change: 'lost' })));
    expect(lostAfter).toEqual(lostBefore);
    const owners = await fixture.outbox.pool.query<{ n: string }>(`SELECT count(DISTINCT owner) AS n FROM ${fixture.outbox.names.leases} WHERE expires_at > now()`);
    expect(Number(owners.rows[0]!.n)).toBe(3);
    await waitFor('drained', async () => (await fixture.outbox.pendingCount()) === 0, 60_000, 200);
    const result = check(written, await readAll([topic], 60_000));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.duplicates).toBe(0);
  });
});
