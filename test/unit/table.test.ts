import { describe, expect, it } from 'vitest';
import { ranges } from '../../src/commands/status.js';

describe('ranges (status: which key partitions a replica holds)', () => {
  it.each([
    [[], ''],
    [[5], '5'],
    [[0, 1, 2, 5, 7, 8], '0-2,5,7-8'],
    [[8, 7, 0, 2, 1], '0-2,7-8'],
    [Array.from({ length: 64 }, (_, i) => i), '0-63'],
  ])('%j → %s', (partitions, text) => {
    expect(ranges(partitions)).toBe(text);
  });
});
