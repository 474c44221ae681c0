import { describe, expect, it } from 'vitest';
import { check, idHeaderProblems, payloadOf } from '../support/checker.js';
import type { Received } from '../support/kafka.js';

const ID_A = '0b6f6c1e-4a38-4d7b-9d7e-6b0c8b9f1a01';
const ID_B = '0b6f6c1e-4a38-4d7b-9d7e-6b0c8b9f1a02';

function message(n: number, headers: Record<string, string>, offset = n): Received {
  return { topic: 't', partition: 0, offset: String(offset), key: 'k', value: payloadOf({ key: 'k', n }), headers };
}

describe('the checker verifies header id', () => {
  it('accepts one UUID per row, repeated on a duplicate', () => {
    expect(idHeaderProblems([message(0, { id: ID_A }), message(1, { id: ID_B }), message(0, { id: ID_A }, 2)])).toEqual([]);
  });
  it('reports a missing or malformed id, a duplicate with another id, and one id on two rows', () => {
    expect(idHeaderProblems([message(0, {})])).toHaveLength(1);
    expect(idHeaderProblems([message(0, { id: 'nope' })])).toHaveLength(1);
    expect(idHeaderProblems([message(0, { id: ID_A }), message(0, { id: ID_B }, 1)])).toHaveLength(1);
    expect(idHeaderProblems([message(0, { id: ID_A }), message(1, { id: ID_A })])).toHaveLength(1);
  });
  it('check() refuses to pass messages without the id header', () => {
    const committed = [{ key: 'k', n: 0 }];
    expect(check(committed, [message(0, { id: ID_A })]).lost).toEqual([]);
    expect(() => check(committed, [message(0, { type: 'x' })])).toThrow(/id-header check/);
  });
});
