/**
 * One bad row never stops the relay (real PostgreSQL, real Kafka). Each kind of bad row a careless
 * producer writes, among good rows on other keys: every good row is delivered (duplicates at most one
 * chunk), the bad row is parked with its reason, only its own key waits (or goes on, with
 * --failed-row-policy=skip), and the relay keeps running. Plus the operator's `dead` commands, retry
 * with success, and a head row locked by another session.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../src/migrate.js';
import { Relay } from '../../src/relay/relay.js';
import { claimBatchSql } from '../../src/sql/claimBatch.js';
import { check, payloadOf, type Written } from '../support/checker.js';
import { useFixture } from '../support/fixture.js';
import { client, createTopic, readAll } from '../support/kafka.js';
import { silentLog, uniqueName, waitFor, type NewRow } from '../support/outbox.js';
import { spawnCli } from '../support/relay-process.js';

interface FailureLine {
  seq: string;
  key: string | null;
  error_class: string;
  last_error: string;
  attempts: number;
  dead: boolean;
  waiting: boolean;
}

describe('bad rows', () => {
  const fixture = useFixture();

  const keyed = (topic: string, key: string, from: number, count: number, headers?: Record<string, string>): [NewRow[], Written[]] => {
    const written = Array.from({ length: count }, (_, i) => ({ key, n: from + i }));
    return [written.map((w) => ({ topic, key, payload: payloadOf(w), ...(headers ? { headers } : {}) })), written];
  };
  /** Good rows on keys g-0..g-(keys-1), interleaved. */
  const good = (topic: string, keys: number, perKey: number): [NewRow[], Written[]] => {
    const written: Written[] = [];
    for (let n = 0; n < perKey; n++) for (let k = 0; k < keys; k++) written.push({ key: `g-${k}`, n });
    return [written.map((w) => ({ topic, key: w.key, payload: payloadOf(w), headers: { type: 'Good' } })), written];
  };
  const failures = async (): Promise<FailureLine[]> =>
    (
      await fixture.outbox.pool.query<FailureLine>(
        `SELECT seq, key, error_class, last_error, attempts, dead_at IS NOT NULL AS dead, next_attempt_at IS NOT NULL AS waiting
         FROM ${fixture.outbox.names.failures} ORDER BY seq`,
      )
    ).rows;
  const pendingKeys = async (): Promise<string[]> =>
    (await fixture.outbox.pool.query<{ key: string }>(`SELECT key FROM ${fixture.outbox.names.outbox} WHERE sent_at IS NULL ORDER BY seq`)).rows.map(
      (r) => r.key,
    );
  const relay = (env: Record<string, string> = {}) => fixture.start(new Relay(fixture.outbox.config({ OUTBOX_POLL_INTERVAL_MS: '200', ...env }), silentLog));
  /** Wait until the relay has dealt with everything it can: only these keys' rows are left. */
  const settled = (keys: string[]) =>
    waitFor(`only rows of ${keys.join(', ')} pending`, async () => (await pendingKeys()).every((k) => keys.includes(k)), 60_000, 100);

  it('headers holding an array (written before migration 2): parked dead, good rows flow, its key waits; migration 2 then refuses such rows', async () => {
    // A populated outbox at version 1, with a row the old lax CHECK let through.
    await fixture.outbox.pool.query(`DROP SCHEMA ${fixture.outbox.schema} CASCADE`);
    await migrate(fixture.outbox.pool, fixture.outbox.names, silentLog, { migrations: loadMigrations().slice(0, 1) });
    const topic = await createTopic(3);
    const [goodRows, goodWritten] = good(topic, 10, 10);
    const [badRows] = keyed(topic, 'bad', 0, 1);
    const [afterRows] = keyed(topic, 'bad', 1, 2);
    await fixture.outbox.insert(goodRows.slice(0, 50));
    await fixture.outbox.pool.query(`INSERT INTO ${fixture.outbox.names.outbox} (topic, key, payload, headers) VALUES ($1, 'bad', $2, '{"h":["x"]}')`, [
      topic,
      badRows[0]!.payload,
    ]);
    await fixture.outbox.insert([...afterRows, ...goodRows.slice(50)]);
    await migrate(fixture.outbox.pool, fixture.outbox.names, silentLog);

    const r = relay();
    await settled(['bad']);
    const received = await readAll([topic]);
    const result = check(goodWritten, received);
    expect(result.lost).toEqual([]);
    expect(result.unexpected.map((w) => w.key)).toEqual([]); // nothing of key "bad" went out
    expect(result.duplicates).toBe(0);
    const [line] = await failures();
    expect(line).toMatchObject({ key: 'bad', error_class: 'invalid-headers', dead: true, waiting: false, attempts: 1 });
    expect(line!.last_error).toContain('header "h" must be a string, got an array');
    expect(await pendingKeys()).toEqual(['bad', 'bad', 'bad']); // the dead row and the two behind it
    expect(r.state).not.toBe('stopped');

    // Migration 2's strict CHECK: the same row cannot be written any more.
    await expect(
      fixture.outbox.pool.query(`INSERT INTO ${fixture.outbox.names.outbox} (topic, key, payload, headers) VALUES ($1, 'x', '\\x00', '{"h":["x"]}')`, [topic]),
    ).rejects.toMatchObject({ code: '23514' });
  });

  it('a 2 MB payload among 400 good rows: parked dead without a send, good rows delivered once, rows after it flow', async () => {
    const topic = await createTopic(3);
    const [goodRows, goodWritten] = good(topic, 8, 50);
    const [laterRows, laterWritten] = good(topic, 8, 57);
    await fixture.outbox.insert(goodRows.slice(0, 200));
    await fixture.outbox.insert([{ topic, key: 'huge', payload: Buffer.alloc(2 * 1024 * 1024, 1) }]);
    await fixture.outbox.insert(goodRows.slice(200));
    relay({ OUTBOX_BATCH_SIZE: '500' });
    await settled(['huge']);
    await fixture.outbox.insert(laterRows.slice(400)); // written after the bad row was parked: n 50..56
    await settled(['huge']);
    const result = check([...goodWritten, ...laterWritten.slice(400)], await readAll([topic]));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.unexpected).toEqual([]);
    expect(result.duplicates).toBe(0);
    expect(await failures()).toMatchObject([{ key: 'huge', error_class: 'too-large', dead: true }]);
  });

  it('Kafka refuses rows (INVALID_RECORD, MESSAGE_TOO_LARGE): isolated by bisection, parked; chunks acknowledged before them are not sent again', async () => {
    // A compacted topic refuses a record without a key (INVALID_RECORD); it takes record batches up to
    // 100 KB. Small rows (~350 B) go out in chunks of ≤ 60 KB; the keyless row shares a chunk with
    // ~170 good rows, and a 150 KB row (under --max-message-bytes) is a chunk of its own.
    const topic = uniqueName('compact');
    const admin = client().admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: 3,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'max.message.bytes', value: '100000' },
          ],
        },
      ],
      waitForLeaders: true,
    });
    await admin.disconnect();
    const padded = (w: Written) => Buffer.concat([payloadOf(w), Buffer.from(' '.repeat(300))]);
    const unpad = (value: Buffer) => value.subarray(0, value.indexOf(0x20));
    const first = Array.from({ length: 400 }, (_, i) => ({ key: `g-${i % 10}`, n: Math.floor(i / 10) }));
    const last = Array.from({ length: 100 }, (_, i) => ({ key: `g-${i % 10}`, n: 40 + Math.floor(i / 10) }));
    await fixture.outbox.insert(first.map((w) => ({ topic, key: w.key, payload: padded(w) })));
    await fixture.outbox.insert([{ topic, key: null, payload: Buffer.from('no key on a compacted topic') }]);
    await fixture.outbox.insert(last.slice(0, 50).map((w) => ({ topic, key: w.key, payload: padded(w) })));
    // Under the topic's max.message.bytes as a row (99,981 bytes with its key and id header), so the
    // relay's own size check (the topic limit it reads at start-up) lets it through, but over it as a
    // record batch (+61 bytes of batch header): only the broker can refuse it, with MESSAGE_TOO_LARGE.
    // Rows over the limit as rows are parked without a send: test/integration/preflight.test.ts.
    await fixture.outbox.insert([{ topic, key: 'big', payload: Buffer.alloc(99_940, 2) }]);
    await fixture.outbox.insert(last.slice(50).map((w) => ({ topic, key: w.key, payload: padded(w) })));
    relay({ OUTBOX_BATCH_SIZE: '1000', OUTBOX_BATCH_MAX_BYTES: '60000' });
    await waitFor('only the refused rows pending', async () => (await fixture.outbox.pendingCount()) === 2, 60_000, 100);
    const received = (await readAll([topic])).map((m) => ({ ...m, value: unpad(m.value) }));
    const result = check([...first, ...last], received);
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    // Only the refused chunk's first attempt can have written rows twice (its other partitions): the
    // chunk is split by partition before bisecting, so at most one chunk (~160 rows) repeats.
    console.log(`refused rows: ${result.duplicates} duplicates of ${received.length} messages`);
    expect(result.duplicates).toBeLessThanOrEqual(165);
    const counts = new Map<string, number>();
    for (const m of received) {
      const w = JSON.parse(m.value.toString()) as { k: string; n: number };
      counts.set(`${w.k}/${w.n}`, (counts.get(`${w.k}/${w.n}`) ?? 0) + 1);
    }
    // The two chunks before the refused one (rows 0..~340) were acknowledged: published exactly once.
    expect(first.slice(0, 300).filter((w) => counts.get(`${w.key}/${w.n}`) !== 1)).toEqual([]);
    const lines = await failures();
    expect(lines).toMatchObject([
      { key: null, error_class: 'refused', dead: true },
      { key: 'big', error_class: 'too-large', dead: true },
    ]);
    expect(lines[0]!.last_error).toContain('INVALID_RECORD');
    expect(lines[1]!.last_error).toContain('MESSAGE_TOO_LARGE');
  });

  it('a topic that does not exist yet: its rows wait and retry while other topics flow, and are delivered in order once it is created', async () => {
    const topic = await createTopic(2);
    const later = uniqueName('later');
    const [goodRows, goodWritten] = good(topic, 5, 20);
    const [waitRows, waitWritten] = keyed(later, 'u', 0, 5);
    await fixture.outbox.insert([...waitRows.slice(0, 2), ...goodRows.slice(0, 50), ...waitRows.slice(2), ...goodRows.slice(50)]);
    relay({ OUTBOX_ROW_RETRY_MAX_MS: '300' });
    await settled(['u']);
    await waitFor('the row to fail again', async () => (await failures())[0]!.attempts >= 2, 30_000, 100);
    const [line] = await failures();
    expect(line).toMatchObject({ key: 'u', error_class: 'unknown-topic', dead: false, waiting: true });
    expect(line!.last_error).toContain(`topic ${later} does not exist`);
    expect(await pendingKeys()).toEqual(['u', 'u', 'u', 'u', 'u']);
    expect(check(goodWritten, await readAll([topic])).lost).toEqual([]);

    const admin = client().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: later, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    await waitFor('the waiting rows delivered', async () => (await fixture.outbox.pendingCount()) === 0, 60_000, 100);
    const result = check(waitWritten, await readAll([later]));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(await failures()).toEqual([]); // forgotten once published
  });

  /** `outbox-relay dead …` as a process; stdout as text. */
  async function dead(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const proc = spawnCli(['dead', ...args], { ...fixture.outbox.env, LOG_LEVEL: 'info' });
    const exit = await proc.exited;
    const stdout = proc.logs.map((l) => (l.level === 'stdout' ? l.msg : JSON.stringify(l))).join('\n');
    return { code: exit.code, stdout, stderr: proc.stderr() };
  }

  it('dead row → its key blocked → `dead retry` after the fix → delivered in order within its key', async () => {
    const topic = await createTopic(2);
    const missing = uniqueName('missing');
    const [goodRows, goodWritten] = good(topic, 4, 10);
    const [uRows, uWritten] = keyed(missing, 'u', 0, 3);
    await fixture.outbox.insert([uRows[0]!, ...goodRows.slice(0, 20), uRows[1]!, ...goodRows.slice(20), uRows[2]!]);
    relay({ OUTBOX_UNKNOWN_TOPIC_DEAD_AFTER_MS: '0' });
    await settled(['u']);
    expect(check(goodWritten, await readAll([topic])).lost).toEqual([]);
    expect(await failures()).toMatchObject([{ key: 'u', error_class: 'unknown-topic', dead: true }]);
    expect(await pendingKeys()).toEqual(['u', 'u', 'u']); // blocked behind the dead head

    const list = await dead(['list', '--json']);
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as { key: string; errorClass: string; topic: string; id: string }[];
    expect(listed).toMatchObject([{ key: 'u', errorClass: 'unknown-topic', topic: missing }]);

    const admin = client().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: missing, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const dry = await dead(['retry', '--key', 'u', '--dry-run']);
    expect(dry.stdout).toContain('would retry 1 dead row');
    expect(await failures()).toHaveLength(1); // --dry-run changed nothing

    const retried = await dead(['retry', '--key', 'u']);
    expect(retried.code).toBe(0);
    expect(retried.stdout).toContain('retried 1 dead row');
    await waitFor('the key delivered', async () => (await fixture.outbox.pendingCount()) === 0, 60_000, 100);
    const result = check(uWritten, await readAll([missing]));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
  });

  it('--failed-row-policy=skip: the dead row is set aside and its key goes on; `dead discard` removes it with an audit line', async () => {
    const topic = await createTopic(2);
    const [rows] = keyed(topic, 'k', 0, 1);
    const [after, afterWritten] = keyed(topic, 'k', 1, 3);
    await fixture.outbox.insert([{ ...rows[0]!, topic: 'bad topic!' }, ...after]);
    relay({ OUTBOX_FAILED_ROW_POLICY: 'skip' });
    await waitFor('the rest of the key delivered', async () => (await fixture.outbox.pendingCount()) === 1, 30_000, 100);
    expect(check(afterWritten, await readAll([topic])).lost).toEqual([]);
    const [line] = await failures();
    expect(line).toMatchObject({ key: 'k', error_class: 'invalid-topic', dead: true });

    const id = (await fixture.outbox.pool.query<{ id: string }>(`SELECT id FROM ${fixture.outbox.names.outbox}`)).rows[0]!.id;
    const discarded = await dead(['discard', '--id', id]);
    expect(discarded.code).toBe(0);
    expect(discarded.stdout).toContain('discarded 1 dead row');
    const audit = discarded.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit).toMatchObject([{ audit: 'dead-discard', id, topic: 'bad topic!', key: 'k', errorClass: 'invalid-topic' }]);
    expect(await fixture.outbox.pendingCount()).toBe(0);
    expect(await failures()).toEqual([]);
  });

  it('`dead retry` without saying which rows: exit 2 and one line', async () => {
    const r = await dead(['retry']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('dead retry needs --id <event id>, --key <key> or --all');
  });

  it('another session holds the head row of a key locked: that key waits, other keys flow, its order is kept', async () => {
    const topic = await createTopic(2);
    const [aRows, aWritten] = keyed(topic, 'a', 0, 4);
    const [bRows, bWritten] = keyed(topic, 'b', 0, 4);
    await fixture.outbox.insert([aRows[0]!]);
    const locker = new pg.Client({ connectionString: fixture.outbox.databaseUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT * FROM ${fixture.outbox.names.outbox} WHERE key = 'a' FOR UPDATE`);
      await fixture.outbox.insert([...bRows.slice(0, 2), ...aRows.slice(1), ...bRows.slice(2)]);
      relay();
      await waitFor('key b delivered', async () => (await pendingKeys()).every((k) => k === 'a'), 30_000, 100);
      expect(await pendingKeys()).toEqual(['a', 'a', 'a', 'a']); // a1 locked, a2..a4 wait behind it
      await locker.query('COMMIT');
    } finally {
      await locker.end();
    }
    await waitFor('key a delivered', async () => (await fixture.outbox.pendingCount()) === 0, 30_000, 100);
    const result = check([...aWritten, ...bWritten], await readAll([topic]));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.duplicates).toBe(0);
  });

  it('the claim stops at its byte budget: huge rows are claimed one at a time, never all at once', async () => {
    const topic = await createTopic(1);
    // Five 3 MB rows (too large: parked dead on validation) among small ones, with a 4 MB claim budget.
    const rows: NewRow[] = [];
    for (let i = 0; i < 5; i++) {
      rows.push({ topic, key: `huge-${i}`, payload: Buffer.alloc(3 * 1024 * 1024, i) });
      rows.push(...keyed(topic, `s-${i}`, 0, 3)[0]);
    }
    await fixture.outbox.insert(rows);
    const claim = claimBatchSql(fixture.outbox.names);
    // The statement claims only from partitions leased to the claimer ($4): lease them all to this test.
    await fixture.outbox.pool.query(`UPDATE ${fixture.outbox.names.leases} SET owner = 'test', expires_at = now() + interval '1 hour'`);
    const sizes = async (budget: number) =>
      (await fixture.outbox.pool.query<{ payload: Buffer }>(claim, [500, true, budget, 'test'])).rows.map((r) => r.payload.length);
    // bytes before a row < budget: the first huge row, its three small rows, and the second huge row
    // (3 MB + 3 small before it < 4 MB); then the budget is spent.
    const small = rows[1]!.payload.length;
    expect(await sizes(4 * 1024 * 1024)).toEqual([3 * 1024 * 1024, small, small, small, 3 * 1024 * 1024]);
    expect(await sizes(1024)).toEqual([3 * 1024 * 1024]); // the first row always comes
    await fixture.outbox.pool.query(`UPDATE ${fixture.outbox.names.leases} SET owner = NULL, expires_at = NULL`);
    relay({ OUTBOX_CLAIM_MAX_BYTES: String(4 * 1024 * 1024) });
    await settled(['huge-0', 'huge-1', 'huge-2', 'huge-3', 'huge-4']);
    expect((await failures()).map((f) => f.error_class)).toEqual(['too-large', 'too-large', 'too-large', 'too-large', 'too-large']);
  });
});
