import { describe, expect, it } from 'vitest';
import { toMessage, toTopicMessages } from '../../src/publisher/kafkajs-messages.js';
import { chunkBySize, rowSize } from '../../src/relay/batch.js';
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

describe('kafkajs messages from mapped rows (the id header comes from the mapping, test/unit/mapping.test.ts)', () => {
  it('takes key, payload bytes and headers as they are', () => {
    const r = row(1, { key: null, headers: { type: 'A', id: 'x' }, payload: Buffer.from([0, 1, 255]) });
    expect(toMessage(r)).toEqual({ key: null, value: Buffer.from([0, 1, 255]), headers: { type: 'A', id: 'x' } });
  });

  it('passes a tombstone, an explicit partition and a timestamp through', () => {
    const r = row(2, { payload: null, partition: 2, timestamp: '1700000000000' });
    expect(toMessage(r)).toEqual({ key: 'k002', value: null, headers: {}, partition: 2, timestamp: '1700000000000' });
    expect(toMessage(row(3, { partition: null, timestamp: null }))).not.toHaveProperty('partition');
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
  it('counts payload, key and every header (the mapped row carries the id header)', () => {
    const id = { id: '00000000-0000-4000-8000-000000000001' };
    expect(rowSize(row(1, { payload: Buffer.alloc(10), key: 'abc', headers: id }))).toBe(10 + 3 + 36 + 2);
    expect(rowSize(row(1, { payload: Buffer.alloc(10), key: null, headers: id }))).toBe(10 + 36 + 2);
    expect(rowSize(row(1, { payload: Buffer.alloc(10), key: 'é', headers: { ab: 'cdé', ...id } }))).toBe(10 + 2 + 36 + 2 + 2 + 4);
    expect(rowSize(row(1, { payload: null, key: 'abc', headers: id }))).toBe(3 + 36 + 2);
  });

  it('fills a chunk up to exactly the limit, and never opens with an empty chunk', () => {
    const rows = [row(1), row(2), row(3)];
    const size = rowSize(rows[0]!);
    expect(chunkBySize(rows, size * 2).map((c) => c.length)).toEqual([2, 1]);
    expect(chunkBySize(rows, size * 3).map((c) => c.length)).toEqual([3]);
    expect(chunkBySize([row(1, { payload: Buffer.alloc(5000) }), row(2)], 1000).map((c) => c.map((r) => r.seq))).toEqual([['1'], ['2']]);
  });
});
