/**
 * Key partition leases against the real database (docs/scale-out.md): a relay claims only rows of
 * the partitions it holds a live lease on, never takes a lease another live member holds, takes the
 * ones that lapse, and hands its own back when it stops.
 */
import { describe, expect, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { partitionOfSql } from '../../src/sql/leases.js';
import { useFixture } from '../support/fixture.js';
import { createTopic, readAll } from '../support/kafka.js';
import { silentLog, waitFor } from '../support/outbox.js';

describe('key partition leases', () => {
  const fixture = useFixture();

  it('claims only its own partitions while another live member holds the rest; takes them when that member lapses', async () => {
    const { names, pool } = fixture.outbox;
    const topic = await createTopic(2, 'leases');
    // Another replica, alive for an hour, holds the even partitions.
    await pool.query(`INSERT INTO ${names.members} (relay_id, expires_at) VALUES ('other', now() + interval '1 hour')`);
    await pool.query(`UPDATE ${names.leases} SET owner = 'other', epoch = 1, acquired_at = now(), expires_at = now() + interval '1 hour' WHERE partition % 2 = 0`);
    await fixture.outbox.insert(Array.from({ length: 200 }, (_, i) => ({ topic, key: `k${i}`, payload: Buffer.from(String(i)) })));
    const relay = fixture.start(new Relay(fixture.outbox.config({ OUTBOX_LEASE_TTL_MS: '1000', OUTBOX_POLL_INTERVAL_MS: '100' }), silentLog));

    const partitionOf = `${partitionOfSql('o')}`;
    const pendingParity = async () =>
      (await pool.query<{ even: boolean; n: string }>(`SELECT (${partitionOf}) % 2 = 0 AS even, count(*) AS n FROM ${names.outbox} o GROUP BY 1`)).rows;
    // Its own (odd) partitions drain; the even ones, leased live to the other member, stay.
    await waitFor('odd partitions drained', async () => {
      const rows = await pendingParity();
      return rows.length === 1 && rows[0]!.even ? rows : undefined;
    }, 20_000, 100);
    expect(relay.ownedPartitions).toHaveLength(32);
    expect(relay.ownedPartitions.every((p) => p % 2 === 1)).toBe(true);
    const leases = await pool.query<{ owner: string; n: string }>(`SELECT owner, count(*) AS n FROM ${names.leases} GROUP BY owner ORDER BY owner`);
    expect(leases.rows).toEqual([{ owner: 'other', n: '32' }, { owner: relay.relayId, n: '32' }]);
    const evenLeft = Number((await pendingParity())[0]!.n);
    expect(evenLeft).toBeGreaterThan(50); // ~100 of the 200 keys hash to even partitions

    // The other member stops renewing: its member row and leases lapse; this relay takes them (new epoch).
    await pool.query(`UPDATE ${names.members} SET expires_at = now() - interval '1 second' WHERE relay_id = 'other'`);
    await pool.query(`UPDATE ${names.leases} SET expires_at = now() - interval '1 second' WHERE owner = 'other'`);
    await waitFor('all drained', async () => (await fixture.outbox.pendingCount()) === 0, 20_000, 100);
    expect(relay.ownedPartitions).toHaveLength(64);
    const epochs = await pool.query<{ epoch: string; n: string }>(`SELECT epoch, count(*) AS n FROM ${names.leases} GROUP BY epoch ORDER BY epoch`);
    expect(epochs.rows).toEqual([{ epoch: '1', n: '32' }, { epoch: '2', n: '32' }]); // taken over: a new epoch
    expect(await readAll([topic])).toHaveLength(200);

    await relay.stop();
    const after = await pool.query(`SELECT count(*)::int AS n FROM ${names.leases} WHERE owner IS NOT NULL`);
    expect(after.rows[0].n).toBe(0); // handed back at shutdown
    const members = await pool.query(`SELECT relay_id FROM ${names.members}`);
    expect(members.rows.map((r) => r.relay_id)).toEqual(['other']);
  });

  it('never takes a lease another replica holds live, even when its own share says the partition is free', async () => {
    const { names, pool } = fixture.outbox;
    // A replica whose member row is gone (so every share computation counts its partitions as free)
    // but whose leases are still live: a heartbeat apart from a rebalance. Its leases must be waited out.
    await pool.query(`UPDATE ${names.leases} SET owner = 'leaving', epoch = 1, acquired_at = now(), expires_at = now() + interval '3 seconds' WHERE partition < 16`);
    const relay = fixture.start(new Relay(fixture.outbox.config({ OUTBOX_LEASE_TTL_MS: '1000' }), silentLog));
    await waitFor('first heartbeat', async () => relay.ownedPartitions.length > 0, 10_000, 20);
    expect(relay.ownedPartitions).toEqual(Array.from({ length: 48 }, (_, i) => i + 16));
    const held = await pool.query(`SELECT count(*)::int AS n FROM ${names.leases} WHERE owner = 'leaving'`);
    expect(held.rows[0].n).toBe(16);
    await waitFor('taken once they lapsed', async () => relay.ownedPartitions.length === 64, 10_000, 50);
  });
});
