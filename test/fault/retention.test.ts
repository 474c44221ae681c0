/**
 * OUTBOX_RETENTION keeps a mark-mode outbox bounded under steady load: a real relay process, a steady
 * writer, the table's row count sampled over time. With a 3 s retention the count levels off at about
 * (write rate × (retention + one retention interval)) and stays there; without it the same load makes
 * the table grow by every row written. Retention must never take a row that was not yet published:
 * every written row is read back from Kafka.
 */
import { describe, expect, it } from 'vitest';
import { check } from '../support/checker.js';
import { useFixture } from '../support/fixture.js';
import { createTopic, readAll } from '../support/kafka.js';
import { waitFor } from '../support/outbox.js';
import { failIfExits, started } from '../support/relay-process.js';
import { startWriter } from '../support/writer.js';

interface Sample {
  atMs: number;
  rows: number;
  pending: number;
  bytes: number;
}

const RETENTION_MS = 3000;

describe('retention in the running relay', () => {
  const fixture = useFixture();

  /** Run a mark-mode relay under a steady writer for runMs, sampling the outbox every 500 ms. */
  async function steadyLoad(env: Record<string, string>, runMs: number, options: { vacuumEveryMs?: number } = {}) {
    const o = fixture.outbox;
    const topic = await createTopic(2);
    const relay = fixture.spawn({ OUTBOX_ON_PUBLISH: 'mark', OUTBOX_POLL_INTERVAL_MS: '200', ...env });
    await Promise.race([relay.waitForLog(started), failIfExits(relay)]);
    const writer = startWriter((rows) => o.insert(rows), topic, { keys: 20, rowsPerTx: 20, pauseMs: 40 });
    const samples: Sample[] = [];
    const t0 = Date.now();
    const crashed = failIfExits(relay);
    crashed.catch(() => undefined);
    while (Date.now() - t0 < runMs) {
      const r = await o.pool.query<{ rows: string; pending: string; bytes: string }>(
        `SELECT (SELECT count(*) FROM ${o.names.outbox}) AS rows, (SELECT count(*) FROM ${o.names.outbox} WHERE sent_at IS NULL) AS pending,
                pg_total_relation_size('${o.names.outbox}') AS bytes`,
      );
      samples.push({ atMs: Date.now() - t0, rows: Number(r.rows[0]!.rows), pending: Number(r.rows[0]!.pending), bytes: Number(r.rows[0]!.bytes) });
      // The test server runs with autovacuum off (stack config); vacuum as autovacuum would, so the
      // space of deleted rows is reused and the size on disk can level off too.
      if (options.vacuumEveryMs && samples.length % Math.round(options.vacuumEveryMs / 500) === 0) await o.pool.query(`VACUUM ${o.names.outbox}`);
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 500)), crashed]);
    }
    const written = await writer.stop();
    const rate = written.length / ((Date.now() - t0) / 1000);
    await waitFor('everything published', async () => (await o.pendingCount()) === 0);
    const result = check(written, await readAll([topic]));
    return { samples, written, rate, result, relay };
  }

  const summary = (label: string, samples: Sample[], rate: number) =>
    `${label}: ${Math.round(rate)} rows/s written; rows ${samples.map((s) => s.rows).join(' ')}; pending ${samples.map((s) => s.pending).join(' ')}; MiB ${samples
      .filter((_, i) => i % 4 === 0)
      .map((s) => (s.bytes / 1048576).toFixed(1))
      .join(' ')}`;

  it('with OUTBOX_RETENTION=3s the row count (and, vacuumed, the size) levels off and stays flat; nothing unpublished is deleted', async () => {
    const { samples, rate, result, relay, written } = await steadyLoad({ OUTBOX_RETENTION: '3s' }, 20_000, { vacuumEveryMs: 2000 });
    console.log(summary('retention 3s', samples, rate));
    expect(written.length).toBeGreaterThan(2000);
    // What retention bounds are the sent rows (pending ones are the relay's backlog, which a loaded
    // machine may make wobble): they live at most retention + one interval (1 s) + one delete round;
    // 2 s of slack on top.
    const sent = (s: Sample) => s.rows - s.pending;
    const bound = rate * (RETENTION_MS / 1000 + 1 + 2);
    const steady = samples.filter((s) => s.atMs >= 8000);
    expect(steady.length).toBeGreaterThan(10);
    expect(Math.max(...steady.map(sent))).toBeLessThan(bound);
    // Flat, not slowly growing: the second half of the steady samples is no higher than the first (plus 25 %).
    const middle = steady.slice(0, Math.floor(steady.length / 2));
    const last = steady.slice(Math.floor(steady.length / 2));
    expect(Math.max(...last.map(sent))).toBeLessThan(Math.max(...middle.map(sent)) * 1.25);
    // And, vacuumed, the size on disk levels off with it: deleted rows' space is reused.
    expect(Math.max(...last.map((s) => s.bytes))).toBeLessThan(Math.max(...middle.map((s) => s.bytes)) * 1.25);
    // Retention deleted what was older, and never a row before Kafka had it.
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(relay.logs.some((l) => l.msg === 'retention deleted sent rows')).toBe(true);
  });

  it('without retention the same load makes the table grow by every row written', async () => {
    const { samples, rate, written, result } = await steadyLoad({}, 12_000);
    console.log(summary('no retention', samples, rate));
    expect(result.lost).toEqual([]);
    const bound = rate * (RETENTION_MS / 1000 + 1 + 2);
    const final = Number((await fixture.outbox.pool.query(`SELECT count(*) AS n FROM ${fixture.outbox.names.outbox}`)).rows[0].n);
    expect(final).toBe(written.length);
    expect(final).toBeGreaterThan(bound * 1.5);
    // Growing all along: each sample holds more sent rows than the one 2 s before it.
    for (let i = 4; i < samples.length; i++) expect(samples[i]!.rows - samples[i]!.pending).toBeGreaterThan(samples[i - 4]!.rows - samples[i - 4]!.pending);
  });
});
