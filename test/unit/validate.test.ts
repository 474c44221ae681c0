import { describe, expect, it } from 'vitest';
import { validateRow } from '../../src/relay/validate.js';
import type { OutboxRow } from '../../src/sql/claimBatch.js';

const row = (over: Partial<OutboxRow> & { headers?: unknown } = {}): OutboxRow =>
  ({ seq: '1', id: '00000000-0000-4000-8000-000000000000', topic: 'orders', key: 'k', payload: Buffer.from('{}'), headers: {}, ...over }) as OutboxRow;

describe('validateRow', () => {
  it('accepts a plain row, and legal topic names up to 249 characters', () => {
    expect(validateRow(row(), 1000)).toBeUndefined();
    expect(validateRow(row({ headers: { a: 'b', '': '' } }), 1000)).toBeUndefined();
    for (const topic of ['a', 'A.b_c-9', 'x'.repeat(249), '...']) expect(validateRow(row({ topic }), 1000)).toBeUndefined();
  });

  it.each([
    [['x'], 'headers must be a JSON object of strings, got an array'],
    [null, 'headers must be a JSON object of strings, got null'],
    ['text', 'headers must be a JSON object of strings, got a string'],
    [{ h: ['x'] }, 'header "h" must be a string, got an array'],
    [{ n: 1 }, 'header "n" must be a string, got a number'],
    [{ o: { a: 'b' } }, 'header "o" must be a string, got a object'],
    [{ z: null }, 'header "z" must be a string, got null'],
  ])('headers %j are invalid-headers', (headers, message) => {
    expect(validateRow(row({ headers: headers as never }), 1000)).toEqual({ class: 'invalid-headers', message });
  });

  it('a null header value is allowed only where the mapping sends one (debezium): Kafka allows it', () => {
    expect(validateRow(row({ headers: { z: null } }), 1000, undefined, true)).toBeUndefined();
    expect(validateRow(row({ headers: { z: null } }), 1000)?.class).toBe('invalid-headers');
    expect(validateRow(row({ headers: { z: 1 as never } }), 1000, undefined, true)?.class).toBe('invalid-headers');
  });

  it.each(['', '.', '..', 'has space', 'ümlaut', 'a/b', 'x'.repeat(250)])('topic %j is invalid-topic', (topic) => {
    expect(validateRow(row({ topic }), 1000)?.class).toBe('invalid-topic');
  });

  it('names the bad topic (its first 60 characters) and the rule', () => {
    expect(validateRow(row({ topic: 'bad topic!' }), 1000)?.message).toBe(
      'topic "bad topic!" is not a legal Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)',
    );
    expect(validateRow(row({ topic: 'y'.repeat(300) }), 1000)?.message).toContain(`"${'y'.repeat(60)}"`);
  });

  it('a row larger than the limit is too-large; exactly the limit is fine', () => {
    const base = row({ payload: Buffer.alloc(100), headers: { id: '00000000-0000-4000-8000-000000000000' } });
    const size = 100 + 1 + 36 + 2; // payload + key + the id header (relay/batch.ts rowSize)
    expect(validateRow(base, size)).toBeUndefined();
    expect(validateRow(base, size - 1)).toEqual({ class: 'too-large', message: `row is ${size} bytes, more than --max-message-bytes ${size - 1}` });
  });
});
