/**
 * End to end on real PostgreSQL and real Kafka: N rows in → N messages out, with exact payload bytes
 * (JSON text and arbitrary binary), keys (including NULL), row headers plus the `id` header.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { claimBatchSql } from '../../src/sql/claimBatch.js';
import { createTopic, readAll } from '../support/kafka.js';
import { silentLog, waitFor, type NewRow } from '../support/outbox.js';
import { useFixture } from '../support/fixture.js';

describe('relay end to end', () => {
  const fixture = useFixture();

  for (const onPublish of ['delete', 'mark'] as const) {
    it(`publishes every row exactly as written (--on-publish=${onPublish})`, async () => {
      const [orders, payments] = [await createTopic(3), await createTopic(2)];
      const rows: NewRow[] = [];
      for (let i = 0; i < 600; i++) {
        const kind = i % 3;
        rows.push({
          topic: i % 2 === 0 ? orders : payments,
          key: kind === 2 ? null : `key-${i % 17}`,
          payload: kind === 0 ? Buffer.from(JSON.stringify({ i, text: 'grüße \u{1F600}', nested: { a: [1, 2] } })) : randomBytes(1 + (i % 300)),
          headers: kind === 1 ? { type: 'Binary', 'trace-id': `t${i}` } : { type: 'Json' },
        });
      }
      // One row whose own `id` header is overridden by the event id.
      rows.push({ topic: orders, key: 'k', payload: Buffer.from([0, 255, 0, 10, 13]), headers: { id: 'not-the-event-id' } });
      await fixture.outbox.insert(rows);
      const ids = await fixture.outbox.pool.query<{ seq: string; id: string }>(`SELECT seq, id FROM ${fixture.outbox.names.outbox} ORDER BY seq`);

      fixture.start(new Relay(fixture.outbox.config({ OUTBOX_ON_PUBLISH: onPublish, OUTBOX_BATCH_SIZE: '100' }), silentLog));
      await waitFor('backlog to drain', async () => (await fixture.outbox.pendingCount()) === 0);

      const received = await readAll([orders, payments]);
      expect(received).toHaveLength(rows.length);
      const byId = new Map(received.map((m) => [m.headers.id, m]));
      ids.rows.forEach(({ id, seq }, i) => {
        const row = rows[i]!;
        const message = byId.get(id);
        expect(message, `row ${i} (${id}) published`).toBeDefined();
        expect(message!.topic).toBe(row.topic);
        expect(message!.key).toBe(row.key);
        expect(message!.value.equals(row.payload), `row ${i} payload bytes`).toBe(true);
        expect(message!.headers).toEqual({ ...row.headers, id, seq }); // the event id and position win over row headers
      });
      // Per-key order: in outbox (seq) order, each key's messages sit at increasing offsets of its partition.
      const lastOffset = new Map<string, number>();
      ids.rows.forEach(({ id, seq }, i) => {
        const row = rows[i]!;
        if (row.key === null) return;
        const message = byId.get(id)!;
        const where = `${message.topic}/${message.partition}/${row.key}`;
        expect(Number(message.offset), `row ${i} after the previous row of key ${row.key}`).toBeGreaterThan(lastOffset.get(where) ?? -1);
        lastOffset.set(where, Number(message.offset));
      });
      expect(lastOffset.size).toBeGreaterThan(17); // 17 keys over two topics: the check looked at them
      const left = await fixture.outbox.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${fixture.outbox.names.outbox}`);
      expect(Number(left.rows[0]!.n)).toBe(onPublish === 'delete' ? 0 : rows.length);
      // The claim finds pending rows through the partial index, whatever the published rows (mark mode).
      await fixture.outbox.pool.query(`ANALYZE ${fixture.outbox.names.outbox}`);
      const plan = await fixture.outbox.pool.query(`EXPLAIN ${claimBatchSql(fixture.outbox.names)}`, [500, true, 16 * 1024 * 1024, 'relay-id']);
      expect(plan.rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n')).toContain('outbox_pending_idx');
    });
  }

  it('publishes a row whose lower seq commits after a higher one (commit-order gap)', async () => {
    const topic = await createTopic(1);
    fixture.start(new Relay(fixture.outbox.config({ OUTBOX_POLL_INTERVAL_MS: '100' }), silentLog));
    const t1 = await fixture.outbox.pool.connect();
    try {
      await t1.query('BEGIN');
      await fixture.outbox.insert([{ topic, key: 'same', payload: Buffer.from('first-seq-committed-last') }], t1);
      // T2: a higher seq, committed first.
      await fixture.outbox.insert([{ topic, key: 'same', payload: Buffer.from('second-seq-committed-first') }]);
      // T1's row is invisible to other sessions until it commits, so "nothing pending" = T2 is out.
      await waitFor('T2 row published', async () => (await fixture.outbox.pendingCount()) === 0);
      await t1.query('COMMIT');
    } finally {
      t1.release();
    }
    await waitFor('T1 row published', async () => (await fixture.outbox.pendingCount()) === 0);
    const received = await readAll([topic]);
    expect(received.map((m) => m.value.toString())).toEqual(['second-seq-committed-first', 'first-seq-committed-last']);
  });

  it('never publishes a rolled-back row', async () => {
    const topic = await createTopic(1);
    fixture.start(new Relay(fixture.outbox.config({ OUTBOX_POLL_INTERVAL_MS: '100' }), silentLog));
    const client = await fixture.outbox.pool.connect();
    try {
      await client.query('BEGIN');
      await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from('rolled-back') }], client);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from('committed') }]);
    await waitFor('committed row published', async () => (await fixture.outbox.pendingCount()) === 0);
    const received = await readAll([topic]);
    expect(received.map((m) => m.value.toString())).toEqual(['committed']);
  });
});
