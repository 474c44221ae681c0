/**
 * The isolation logic of relay/publish-batch.ts, with a scripted publisher (no Kafka involved: the
 * integration tests in test/integration/bad-rows.test.ts run the same code against a real broker).
 */
import { KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { Publisher } from '../../src/publisher/kafka.js';
import { publishBatch } from '../../src/relay/publish-batch.js';
import type { ClaimedRow, OutboxRow } from '../../src/sql/claimBatch.js';

const row = (seq: number, key: string | null, topic = 't', bytes = 10): ClaimedRow => ({
  seq: String(seq),
  id: `id-${seq}`,
  topic,
  key,
  payload: Buffer.alloc(bytes),
  headers: {},
  attempts: 0,
  first_failed_at: null,
  age: 0,
});

const refused = (type: string) => new KafkaJSProtocolError({ type, code: 0, retriable: false, message: type } as never);

/** Refuses any send containing a row in `bad` (with `type`); records every send. */
function scripted(bad: Record<string, string>, options: { missing?: string[]; failAt?: number; failWith?: Error; partitionOf?: (seq: string) => number } = {}) {
  const sends: string[][] = [];
  const publisher: Publisher = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    recreate: async () => undefined,
    missingTopics: async (topics) => topics.filter((t) => options.missing?.includes(t)),
    partitionsOfLastSend: () => new Map(sends.at(-1)?.map((s) => [s, `t:${options.partitionOf?.(s) ?? 0}`])),
    async send(chunks: OutboxRow[][]) {
      const seqs = chunks.flat().map((r) => r.seq);
      sends.push(seqs);
      if (options.failAt === sends.length) throw options.failWith;
      const hit = seqs.find((s) => bad[s]);
      if (hit) throw refused(bad[hit]!);
    },
  };
  return { publisher, sends };
}

const run = (rows: ClaimedRow[], publisher: Publisher, blockKeys = true, batchMaxBytes = 1_000_000) =>
  publishBatch(rows, { publisher, maxMessageBytes: 1000, batchMaxBytes, blockKeys, deadline: performance.now() + 10_000, timeoutMs: 10_000, afterFailedSend: async () => undefined });

const seqs = (rows: { seq: string }[]) => rows.map((r) => Number(r.seq));

describe('publishBatch', () => {
  it('one send per chunk when nothing fails', async () => {
    const { publisher, sends } = scripted({});
    const out = await run([row(1, 'a'), row(2, 'b'), row(3, 'a')], publisher);
    expect(seqs(out.acked)).toEqual([1, 2, 3]);
    expect(out).toMatchObject({ failed: [], held: [], sends: 1 });
    expect(sends).toEqual([['1', '2', '3']]);
  });

  it('bisects a refused chunk, halves in order, until the bad row stands alone; its later key rows are held', async () => {
    const rows = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => row(n, n === 3 || n === 7 ? 'k' : `o${n}`));
    const { publisher, sends } = scripted({ '3': 'INVALID_RECORD' });
    const out = await run(rows, publisher);
    expect(out.failed.map((f) => [Number(f.row.seq), f.class])).toEqual([[3, 'refused']]);
    expect(seqs(out.held)).toEqual([7]); // same key as the refused row, after it
    expect(seqs(out.acked)).toEqual([1, 2, 4, 5, 6, 8]);
    expect(sends).toEqual([['1', '2', '3', '4', '5', '6', '7', '8'], ['1', '2', '3', '4'], ['1', '2'], ['3', '4'], ['3'], ['4'], ['5', '6', '8']]);
  });

  it('splits a refused chunk by partition before bisecting: other partitions are sent once more, no more', async () => {
    const rows = [1, 2, 3, 4, 5, 6].map((n) => row(n, `o${n}`));
    const { publisher, sends } = scripted({ '5': 'INVALID_RECORD' }, { partitionOf: (s) => Number(s) % 2 });
    const out = await run(rows, publisher);
    expect(out.failed.map((f) => Number(f.row.seq))).toEqual([5]);
    expect(seqs(out.acked)).toEqual([1, 3, 2, 4, 6]);
    // partition 1 = [1, 3, 5], partition 0 = [2, 4, 6]; only partition 1 is bisected
    expect(sends).toEqual([['1', '2', '3', '4', '5', '6'], ['1', '3', '5'], ['1', '3'], ['5'], ['2', '4', '6']]);
  });

  it('with blockKeys off (skip policy), the refused row is set aside and its key goes on', async () => {
    const { publisher } = scripted({ '1': 'MESSAGE_TOO_LARGE' });
    const out = await run([row(1, 'k'), row(2, 'k')], publisher, false);
    expect(out.failed.map((f) => [Number(f.row.seq), f.class])).toEqual([[1, 'too-large']]);
    expect(seqs(out.acked)).toEqual([2]);
    expect(out.held).toEqual([]);
  });

  it('invalid rows and rows for missing topics fail without a send; only a key\'s first failure is recorded', async () => {
    const bad = { ...row(1, 'k'), headers: { h: ['x'] } } as unknown as ClaimedRow;
    const { publisher, sends } = scripted({}, { missing: ['gone'] });
    const out = await run([bad, row(2, 'k'), row(3, 'm', 'gone'), row(4, 'm', 'gone'), row(5, 'n'), row(6, null, 'gone')], publisher);
    expect(out.failed.map((f) => [Number(f.row.seq), f.class])).toEqual([
      [1, 'invalid-headers'],
      [3, 'unknown-topic'],
      [6, 'unknown-topic'],
    ]);
    expect(seqs(out.held)).toEqual([2, 4]);
    expect(seqs(out.acked)).toEqual([5]);
    expect(sends).toEqual([['5']]);
  });

  it('a batch-level failure keeps what was acknowledged and holds everything else', async () => {
    const { publisher } = scripted({}, { failAt: 2, failWith: new Error('connection refused') });
    const rows = [1, 2, 3, 4].map((n) => row(n, `k${n}`, 't', 600));
    const out = await run(rows, publisher, true, 1000); // one row per chunk
    expect(seqs(out.acked)).toEqual([1]);
    expect(seqs(out.held)).toEqual([2, 3, 4]);
    expect(out.failed).toEqual([]);
    expect((out.error as Error).message).toBe('connection refused');
  });

  it('a failure to list topics ends the batch before any send', async () => {
    const publisher = { ...scripted({}).publisher, missingTopics: async () => Promise.reject(new Error('broker down')) };
    const out = await run([row(1, 'a')], publisher);
    expect(out).toMatchObject({ acked: [], failed: [], sends: 0 });
    expect(seqs(out.held)).toEqual([1]);
    expect((out.error as Error).message).toBe('broker down');
  });
});

describe('publishBatch with topic size limits', () => {
  it("parks a row over its topic's max.message.bytes as too-large without sending it; its key's later rows are held", async () => {
    const { publisher, sends } = scripted({});
    publisher.messageLimits = async (topics) => new Map(topics.filter((t) => t === 'small').map((t) => [t, 100]));
    const out = await run([row(1, 'a', 'small', 50), row(2, 'b', 'small', 150 /* 151 with the key */), row(3, 'b', 'small', 10), row(4, 'c', 'big', 500)], publisher);
    expect(out.failed.map((f) => [Number(f.row.seq), f.class, f.message])).toEqual([[2, 'too-large', "row is 151 bytes, more than topic small's max.message.bytes 100"]]);
    expect(seqs(out.held)).toEqual([3]);
    expect(sends).toEqual([['1', '4']]);
  });
});
