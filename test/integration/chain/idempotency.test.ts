/**
 * Request idempotency keys on real PostgreSQL, through the Express 5 adapter and Node's fetch:
 * concurrent duplicates, stored answers, reused keys, expiry, and a crash before the commit.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createIdempotencyStore, type IdempotencyOptions, type IdempotencyStore } from '../../../src/chain/idempotency/index.js';
import { idempotent, type ExpressIdempotentHandler } from '../../../src/chain/idempotency/express.js';
import { gate, openAllGates } from '../../support/gate.js';
import { createTestOutbox, type TestOutbox } from '../../support/outbox.js';


describe('request idempotency keys (Express adapter)', () => {
  let db: TestOutbox;
  let server: Server | undefined;
  beforeEach(async () => {
    db = await createTestOutbox({ migrate: false });
    await db.pool.query(`CREATE SCHEMA ${db.schema}; CREATE TABLE ${db.schema}.charges (id serial PRIMARY KEY, amount int NOT NULL)`);
    db.pool.options.max = 12;
  });
  afterEach(async () => {
    openAllGates();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
    await db.drop();
  });

  /** A payment endpoint whose business change is one row in charges. */
  async function start(options: Partial<IdempotencyOptions> = {}, before?: (tx: Parameters<ExpressIdempotentHandler>[1]) => Promise<void>) {
    const store = createIdempotencyStore({ pool: db.pool, schema: db.schema, ...options });
    await store.migrate();
    const app = express();
    app.post(
      '/charges',
      express.json(),
      idempotent(store, async (req, tx) => {
        const { rows } = await tx.query(`INSERT INTO ${db.schema}.charges (amount) VALUES ($1) RETURNING id`, [req.body.amount]);
        await before?.(tx);
        return { status: 201, body: { charge: rows[0].id, amount: req.body.amount }, headers: { Location: `/charges/${rows[0].id}` } };
      }),
    );
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ error: err.message });
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server!.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/charges`;
    const post = (key: string | undefined, body: unknown) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) }, body: JSON.stringify(body) });
    return { store, post };
  }
  const charges = async () => Number((await db.pool.query(`SELECT count(*) AS n FROM ${db.schema}.charges`)).rows[0].n);
  const keys = async (store: IdempotencyStore) => (await db.pool.query(`SELECT key, status FROM ${store.table.qualified}`)).rows;

  it('50 concurrent identical requests: one charge, 49 stored or in-progress answers', async () => {
    // The first request holds its transaction long enough for the others to arrive.
    const { post } = await start({ waitMs: 300 }, () => new Promise((r) => setTimeout(r, 150)));
    const responses = await Promise.all(Array.from({ length: 50 }, () => post('same-key', { amount: 42 })));
    const bodies = await Promise.all(responses.map((r) => r.json()));
    const fresh = responses.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null);
    const replayed = responses.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === 'true');
    const inProgress = responses.filter((r) => r.status === 409);
    expect(fresh).toHaveLength(1);
    expect(replayed.length + inProgress.length).toBe(49);
    for (const r of inProgress) expect(r.headers.get('retry-after')).toBe('1');
    const stored = bodies.filter((_, i) => responses[i]!.status === 201);
    for (const b of stored) expect(b).toEqual(stored[0]);
    for (const r of replayed) expect(r.headers.get('location')).toBe(fresh[0]!.headers.get('location'));
    expect(await charges()).toBe(1);
    // Every in-progress answer becomes the stored one on retry.
    const retry = await post('same-key', { amount: 42 });
    expect(retry.status).toBe(201);
    expect(await retry.json()).toEqual(stored[0]);
    expect(await charges()).toBe(1);
  });

  it('a duplicate while the first runs gets 409 + Retry-After, a later one the stored response; another body 422', async () => {
    const hold = gate();
    const inHandler = gate();
    let calls = 0;
    const { post } = await start({ waitMs: 100, retryAfterSeconds: 2 }, async () => {
      if (++calls > 1) return;
      inHandler.open();
      await hold.opened;
    });
    const first = post('k1', { amount: 5 });
    await inHandler.opened;
    const during = await post('k1', { amount: 5 });
    expect(during.status).toBe(409);
    expect(during.headers.get('retry-after')).toBe('2');
    expect(((await during.json()) as { error: string }).error).toMatch(/in progress/);
    hold.open();
    const done = await first;
    expect(done.status).toBe(201);
    const body = await done.json();
    const later = await post('k1', { amount: 5 });
    expect(later.status).toBe(201);
    expect(later.headers.get('idempotent-replayed')).toBe('true');
    expect(await later.json()).toEqual(body);
    const reused = await post('k1', { amount: 6 });
    expect(reused.status).toBe(422);
    expect(await charges()).toBe(1);
    const missing = await post(undefined, { amount: 5 });
    expect(missing.status).toBe(400);
    expect(await charges()).toBe(1);
  });

  it('keys expire: after the TTL the same key runs as new, and purgeExpired deletes expired keys', async () => {
    const { store, post } = await start({ ttlMs: 60_000 });
    expect((await post('k-exp', { amount: 1 })).status).toBe(201);
    expect((await post('k-exp', { amount: 1 })).headers.get('idempotent-replayed')).toBe('true');
    expect((await post('other', { amount: 1 })).status).toBe(201);
    const ttl = await db.pool.query(`SELECT extract(epoch FROM expires_at - created_at)::int AS s FROM ${store.table.qualified} WHERE key = 'k-exp'`);
    expect(ttl.rows[0].s).toBe(60);
    // Time passes: both keys are past their TTL.
    await db.pool.query(`UPDATE ${store.table.qualified} SET expires_at = now() - interval '1 second'`);
    const again = await post('k-exp', { amount: 1 }); // an expired key is taken over as new
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(await charges()).toBe(3); // k-exp twice (before and after expiry) + other
    expect(await store.purgeExpired({ batchSize: 1 })).toBe(1); // 'other'; k-exp is live again
    expect((await keys(store)).map((k) => k.key)).toEqual(['k-exp']);
    expect((await post('k-exp', { amount: 1 })).headers.get('idempotent-replayed')).toBe('true');
  });

  it('the handler runs with the session\'s own lock_timeout, not the duplicate wait', async () => {
    const pool = new pg.Pool({ connectionString: db.databaseUrl, max: 2 });
    pool.on('connect', (c) => void c.query("SET lock_timeout = '7s'")); // a session-level setting of the application's
    try {
      const store = createIdempotencyStore({ pool, schema: db.schema, waitMs: 100 });
      await store.migrate();
      const handler = async (tx: pg.PoolClient) => ({ status: 200, body: (await tx.query('SHOW lock_timeout')).rows[0] });
      expect(await store.execute({ key: 'k-lt', fingerprint: 'f' }, handler)).toEqual({
        kind: 'executed',
        response: { status: 200, body: { lock_timeout: '7s' } },
      });
      expect((await pool.query('SHOW lock_timeout')).rows[0].lock_timeout).toBe('7s'); // and the session keeps it
    } finally {
      await pool.end();
    }
  });

  it('a crash between the key insert and the commit leaves no key; the retry runs the request', async () => {
    let crash = true;
    const { store, post } = await start({}, async (tx) => {
      if (!crash) return;
      crash = false;
      // The server's database session dies mid-request (a crashed process, a failover).
      await db.pool.query('SELECT pg_terminate_backend($1)', [(await tx.query('SELECT pg_backend_pid() AS pid')).rows[0].pid]);
      await tx.query('SELECT 1');
    });
    const failed = await post('k-crash', { amount: 9 });
    expect(failed.status).toBe(500);
    expect(await keys(store)).toEqual([]);
    expect(await charges()).toBe(0);
    const retry = await post('k-crash', { amount: 9 });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await charges()).toBe(1);
    expect(await keys(store)).toEqual([{ key: 'k-crash', status: 201 }]);
  });
});
