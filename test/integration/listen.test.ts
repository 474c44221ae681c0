/**
 * Wake-up: LISTEN/NOTIFY makes commit → ack a matter of milliseconds while the poll interval is a
 * minute; a terminated LISTEN backend comes back by itself and runs a catch-up claim; with LISTEN off,
 * polling alone delivers.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { createTopic } from '../support/kafka.js';
import { silentLog, waitFor } from '../support/outbox.js';
import { useFixture } from '../support/fixture.js';

const LONG_POLL = '60000';

describe('LISTEN/NOTIFY wake-up', () => {
  const fixture = useFixture();
  let acks: { payload: string; at: number }[] = [];
  beforeEach(() => {
    acks = [];
  });

  function startRelay(overrides: Record<string, string>): Relay {
    return fixture.start(
      new Relay(fixture.outbox.config(overrides), silentLog, {
        hooks: { afterAck: (rows) => rows.forEach((r) => acks.push({ payload: String(r.payload), at: performance.now() })) },
      }),
    );
  }

  const listenBackends = async () =>
    (
      await fixture.outbox.pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, [
        fixture.outbox.names.listenApplicationName,
      ])
    ).rows.map((r) => r.pid);

  /** Idle, listening, and declared waiting: the state in which a commit triggers a NOTIFY. */
  async function waitUntilIdleAndListening(r: Relay): Promise<void> {
    await waitFor('relay listening and declared waiting', async () => {
      if (!r.listening || !r.sleeping) return false;
      const w = await fixture.outbox.pool.query(`SELECT 1 FROM ${fixture.outbox.names.wakeup} WHERE waiting_until > now()`);
      return w.rowCount === 1;
    });
  }

  async function commitAndWaitForAck(topic: string, payload: string): Promise<number> {
    await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from(payload) }]);
    const committed = performance.now();
    const ack = await waitFor(`ack of ${payload}`, async () => acks.find((a) => a.payload === payload), 10_000, 1);
    return ack.at - committed;
  }

  it('commit → ack takes milliseconds with NOTIFY, not the 60 s poll interval', async () => {
    const topic = await createTopic(1);
    const r = startRelay({ OUTBOX_POLL_INTERVAL_MS: LONG_POLL });
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      await waitUntilIdleAndListening(r);
      latencies.push(await commitAndWaitForAck(topic, `row-${i}`));
    }
    latencies.sort((a, b) => a - b);
    console.log(`commit → ack with NOTIFY: median ${latencies[5]!.toFixed(1)} ms, max ${latencies[9]!.toFixed(1)} ms`);
    // A wake-up by the poll would take 60 s; by NOTIFY it is the claim + Kafka round trip.
    expect(latencies[9]!).toBeLessThan(2000);
  });

  it('a row whose NOTIFY was lost waits for the poll… unless the listener reconnects: catch-up claim', async () => {
    const topic = await createTopic(1);
    const r = startRelay({ OUTBOX_POLL_INTERVAL_MS: LONG_POLL });
    await waitUntilIdleAndListening(r);
    const [pid] = await listenBackends();
    expect(pid).toBeDefined();

    // Insert with triggers off: no NOTIFY, exactly like a notification lost with the connection.
    const client = await fixture.outbox.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL session_replication_role = replica`);
      await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from('silent') }], client);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    // Control: without a wake-up the row stays pending (the poll is a minute away).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await fixture.outbox.pendingCount()).toBe(1);

    // Kill the LISTEN backend: pg-listen reconnects, re-LISTENs, and the relay runs a catch-up claim.
    await fixture.outbox.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitFor('catch-up claim publishes the silent row', async () => (await fixture.outbox.pendingCount()) === 0, 15_000);
    const [newPid] = await waitFor('a new LISTEN backend', async () => {
      const pids = await listenBackends();
      return pids.length === 1 && pids[0] !== pid ? pids : undefined;
    });
    expect(newPid).not.toBe(pid);

    // And NOTIFY works again on the new connection.
    await waitUntilIdleAndListening(r);
    expect(await commitAndWaitForAck(topic, 'after-reconnect')).toBeLessThan(2000);
  });

  it('with LISTEN off, polling alone delivers, and writers are never asked to NOTIFY', async () => {
    const topic = await createTopic(1);
    const r = startRelay({ OUTBOX_LISTEN: 'false', OUTBOX_POLL_INTERVAL_MS: '200' });
    await waitFor('relay idle', async () => r.state === 'idle');
    await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from('polled') }]);
    await waitFor('polled row published', async () => acks.some((a) => a.payload === 'polled'), 10_000);
    expect(await listenBackends()).toEqual([]);
    const declared = await fixture.outbox.pool.query(`SELECT * FROM ${fixture.outbox.names.wakeup}`);
    expect(declared.rowCount).toBe(0);
  });

  it('a relay that turns busy withdraws its idle declaration, so writers stop paying for NOTIFY', async () => {
    const topic = await createTopic(1);
    const r = startRelay({ OUTBOX_POLL_INTERVAL_MS: LONG_POLL, OUTBOX_BATCH_SIZE: '100' });
    await waitUntilIdleAndListening(r);
    const rows = Array.from({ length: 20_000 }, (_, i) => ({ topic, key: `k${i % 10}`, payload: Buffer.from(`r${i}`) }));
    await fixture.outbox.insert(rows);
    await waitFor('declaration withdrawn while the backlog is still draining', async () => {
      const q = await fixture.outbox.pool.query<{ declared: number; pending: number }>(
        `SELECT (SELECT count(*)::int FROM ${fixture.outbox.names.wakeup} WHERE waiting_until > now()) AS declared,
                (SELECT count(*)::int FROM ${fixture.outbox.names.outbox}) AS pending`,
      );
      const { declared, pending } = q.rows[0]!;
      if (pending === 0) throw new Error('backlog drained before the check could see the relay busy');
      return declared === 0;
    });
    await waitFor('drained', async () => (await fixture.outbox.pendingCount()) === 0);
    await waitUntilIdleAndListening(r); // and it declares itself again once idle
  });

  it('a lost NOTIFY costs at most the poll interval: rows flow by polling while LISTEN stays up', async () => {
    const topic = await createTopic(1);
    const POLL_MS = 500;
    const r = startRelay({ OUTBOX_POLL_INTERVAL_MS: String(POLL_MS) });
    await waitUntilIdleAndListening(r);
    const [pid] = await listenBackends();
    for (let i = 0; i < 3; i++) {
      await waitUntilIdleAndListening(r); // asleep: only the poll timer can wake it for a silent row
      const client = await fixture.outbox.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SET LOCAL session_replication_role = replica`); // trigger off: no NOTIFY
        await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from(`silent-${i}`) }], client);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      const committed = performance.now();
      const ack = await waitFor(`silent-${i} published by the poll`, async () => acks.find((a) => a.payload === `silent-${i}`), 10_000, 5);
      // One poll interval plus the claim and the Kafka round trip; not several intervals.
      expect(ack.at - committed).toBeLessThan(POLL_MS + 1500);
    }
    expect(await listenBackends()).toEqual([pid]); // no reconnect involved: the poll did it
  });

  it('a row committed between the empty claim and the idle declaration is claimed by the second look, not the poll', async () => {
    const topic = await createTopic(1);
    let armed = false;
    let raced = false;
    const r = fixture.start(
      new Relay(fixture.outbox.config({ OUTBOX_POLL_INTERVAL_MS: LONG_POLL }), silentLog, {
        hooks: {
          afterAck: (rows) => rows.forEach((row) => acks.push({ payload: String(row.payload), at: performance.now() })),
          // The race window: the claim saw nothing and the relay has not declared itself idle yet, so
          // this commit sends no NOTIFY.
          beforeDeclareWaiting: async () => {
            if (!armed) return;
            armed = false;
            await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from('raced') }]);
            raced = true;
          },
        },
      }),
    );
    await waitUntilIdleAndListening(r);
    armed = true; // the next fresh declaration follows the claim of `first`
    await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from('first') }]);
    await waitFor('the raced row published', async () => acks.some((a) => a.payload === 'raced'), 10_000);
    expect(raced).toBe(true);
    expect(acks.map((a) => a.payload)).toEqual(['first', 'raced']);
  });
});
