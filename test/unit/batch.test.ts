import { describe, expect, it } from 'vitest';
import { chunkBySize, rowSize, toMessage, toTopicMessages } from '../../src/relay/batch.js';
import type { OutboxRow } from '../../src/sql/claimBatch.js';

const row = (seq: number, over: Partial<OutboxRow> = {}): OutboxRow => ({
  seq: String(seq),
  id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
  topic: 't',
  key: `k${String(seq).padStart(3, '0')}`,
  payload: Buffer.alloc(100, seq),
  headers: {},
  ...over,
});

describe('message mapping', () => {
  it('maps key, payload bytes and headers, adding the event id as header `id`', () => {
    const r = row(1, { key: null, headers: { type: 'A' }, payload: Buffer.from([0, 1, 255]) });
    expect(toMessage(r)).toEqual({ key: null, value: Buffer.from([0, 1, 255]), headers: { type: 'A', id: r.id, seq: r.seq } });
  });

  it('lets the event id win over a row header called id', () => {
    const r = row(2, { headers: { id: 'spoof', seq: '999' } });
    expect(toMessage(r).headers).toEqual({ id: r.id, seq: '2' });
  });

  it('groups by topic keeping outbox order within each topic', () => {
    const rows = [row(1, { topic: 'a' }), row(2, { topic: 'b' }), row(3, { topic: 'a' })];
    const grouped = toTopicMessages(rows);
    expect(grouped.map((g) => g.topic)).toEqual(['a', 'b']);
    expect(grouped[0]!.messages.map((m) => m.key)).toEqual(['k001', 'k003']);
  });
});

describe('chunkBySize', () => {
  it('keeps order and never exceeds the limit with more than one row', () => {
    const rows = Array.from({ length: 25 }, (_, i) => row(i + 10)); // same-width seqs: same size
    const limit = rowSize(rows[0]!) * 4 + 1;
    const chunks = chunkBySize(rows, limit);
    expect(chunks.flat().map((r) => r.seq)).toEqual(rows.map((r) => r.seq));
    for (const c of chunks) expect(c.reduce((n, r) => n + rowSize(r), 0)).toBeLessThanOrEqual(limit);
    expect(chunks.map((c) => c.length)).toEqual([4, 4, 4, 4, 4, 4, 1]);
  });

  it('gives an oversized row a chunk of its own', () => {
    const rows = [row(1), row(2, { payload: Buffer.alloc(5000) }), row(3)];
    expect(chunkBySize(rows, 1000).map((c) => c.map((r) => r.seq))).toEqual([['1'], ['2'], ['3']]);
  });

  it('returns no chunks for no rows', () => {
    expect(chunkBySize([], 1000)).toEqual([]);
  });
});

describe('rowSize and chunk boundaries', () => {
  it('counts payload, key, the id and seq headers and the row headers', () => {
    expect(rowSize(row(1, { payload: Buffer.alloc(10), key: 'abc', headers: {} }))).toBe(10 + 3 + 36 + 2 + 3 + 1);
    expect(rowSize(row(1, { payload: Buffer.alloc(10), key: null, headers: {} }))).toBe(10 + 36 + 2 + 3 + 1);
    expect(rowSize(row(1, { payload: Buffer.alloc(10), key: 'é', headers: { ab: 'cdé' } }))).toBe(10 + 2 + 36 + 2 + 3 + 1 + 2 + 4);
  });

  it('fills a chunk up to exactly the limit, and never opens with an empty chunk', () => {
    const rows = [row(1), row(2), row(3)];
    const size = rowSize(rows[0]!);
    expect(chunkBySize(rows, size * 2).map((c) => c.length)).toEqual([2, 1]);
    expect(chunkBySize(rows, size * 3).map((c) => c.length)).toEqual([3]);
    expect(chunkBySize([row(1, { payload: Buffer.alloc(5000) }), row(2)], 1000).map((c) => c.map((r) => r.seq))).toEqual([['1'], ['2']]);
  });
});
