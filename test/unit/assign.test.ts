import { describe, expect, it } from 'vitest';
import { PARTITIONS, assign, quotas, type LeaseRow } from '../../src/leases/assign.js';

const lease = (partition: number, owner: string | null, live = true): LeaseRow => ({ partition, owner, live });
const all = (owner: (p: number) => string | null, live = true) => Array.from({ length: PARTITIONS }, (_, p) => lease(p, owner(p), live));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('quotas', () => {
  it('differ by at most one; the first members in id order get the extra', () => {
    expect([...quotas(['c', 'a', 'b']).entries()]).toEqual([['a', 22], ['b', 21], ['c', 21]]);
    expect([...quotas(['x']).values()]).toEqual([64]);
    expect([...quotas(['a', 'b'], 5).values()]).toEqual([3, 2]);
  });
  it('more members than partitions: some get none', () => {
    expect([...quotas(['a', 'b', 'c'], 2).values()]).toEqual([1, 1, 0]);
  });
});

describe('assign', () => {
  it('a lone replica takes every partition', () => {
    expect(assign(['a'], all(() => null)).get('a')).toEqual(range(0, 64));
  });
  it('every partition has exactly one owner and shares are even', () => {
    for (const members of [['a', 'b'], ['a', 'b', 'c'], ['m1', 'm2', 'm3', 'm4', 'm5']]) {
      const result = assign(members, all(() => null));
      const owners = [...result.values()].flat().sort((x, y) => x - y);
      expect(owners).toEqual(range(0, 64));
      const sizes = [...result.values()].map((ps) => ps.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });
  it('sticky: a member keeps what it holds up to its quota; a joiner gets only the excess (no storm)', () => {
    const held = all(() => 'a'); // a held everything alone
    const result = assign(['a', 'b'], held);
    expect(result.get('a')).toEqual(range(0, 32)); // keeps its lowest 32
    expect(result.get('b')).toEqual(range(32, 64));
    // Third member joins a balanced pair: each gives up only what is over its new quota.
    const pair = all((p) => (p < 32 ? 'a' : 'b'));
    const three = assign(['a', 'b', 'c'], pair);
    expect(three.get('a')).toEqual(range(0, 22));
    expect(three.get('b')).toEqual(range(32, 53));
    expect(three.get('c')).toEqual([...range(22, 32), ...range(53, 64)]);
    const moved = [...three.entries()].flatMap(([m, ps]) => ps.filter((p) => pair[p]!.owner !== m));
    expect(moved).toHaveLength(21); // exactly c's share moves, nothing else
  });
  it('a member that left (not live) loses its partitions to the rest; expired leases count as free', () => {
    const held = all((p) => (p < 22 ? 'a' : p < 43 ? 'b' : 'c'));
    const result = assign(['a', 'b'], held); // c is gone
    expect(result.get('a')).toEqual([...range(0, 22), ...range(43, 53)]);
    expect(result.get('b')).toEqual([...range(22, 43), ...range(53, 64)]);
    const expired = held.map((l) => (l.owner === 'a' ? { ...l, live: false } : l));
    const again = assign(['a', 'b', 'c'], expired);
    expect(again.get('b')).toEqual(range(22, 43)); // b and c keep theirs; a gets back the lapsed ones
    expect(again.get('a')).toEqual(range(0, 22));
  });
  it('leases of owners that are not members are free; the same inputs give the same answer in any order', () => {
    const held = all((p) => (p % 2 === 0 ? 'ghost' : 'b'));
    const one = assign(['b', 'a'], held);
    const two = assign(['a', 'b'], [...held].reverse());
    expect(one).toEqual(two);
    expect(one.get('b')).toEqual(range(0, 32).map((i) => i * 2 + 1)); // keeps its 32 odd ones
    expect(one.get('a')).toEqual(range(0, 32).map((i) => i * 2));
  });
});
