/**
 * Which key partitions a replica should own, computed by every replica from the same table rows
 * (src/leases/membership.ts reads them at each heartbeat). Pure; unit-tested in
 * test/unit/assign.test.ts and mutation-tested.
 *
 * Fair and sticky, with no coordinator: the live members, sorted by id, get quotas that differ by at
 * most one (the first N mod M get one more). Each member keeps the partitions it holds now, up to its
 * quota (lowest numbers first); the rest — free, expired, held by a member that is gone, or over a
 * quota — go to the members below their quota, in member order, lowest partitions first. A join or a
 * leave therefore moves only the partitions that must move (no storm), and every replica computing
 * this from the same rows reaches the same answer. Replicas that read slightly different rows (a
 * heartbeat apart) may disagree for a moment; that never gives one partition two owners, because a
 * lease is only taken when the table says it is free or expired (src/sql/leases.ts).
 */

export const PARTITIONS = 64;

export interface LeaseRow {
  partition: number;
  owner: string | null;
  /** The lease has not expired (database clock). */
  live: boolean;
}

export function quotas(members: readonly string[], partitions = PARTITIONS): Map<string, number> {
  const sorted = [...members].sort();
  const base = Math.floor(partitions / sorted.length);
  const extra = partitions % sorted.length;
  return new Map(sorted.map((m, i) => [m, base + (i < extra ? 1 : 0)]));
}

/** The partitions each live member should own. */
export function assign(members: readonly string[], leases: readonly LeaseRow[], partitions = PARTITIONS): Map<string, number[]> {
  const quota = quotas(members, partitions);
  const sorted = [...quota.keys()];
  const kept = new Map<string, number[]>(sorted.map((m) => [m, []]));
  const byPartition = [...leases].sort((a, b) => a.partition - b.partition);
  const taken = new Set<number>();
  for (const lease of byPartition) {
    if (!lease.live || lease.owner === null) continue;
    const mine = kept.get(lease.owner);
    if (mine === undefined || mine.length >= quota.get(lease.owner)!) continue;
    mine.push(lease.partition);
    taken.add(lease.partition);
  }
  const free: number[] = [];
  for (let p = 0; p < partitions; p++) if (!taken.has(p)) free.push(p);
  let next = 0;
  for (const m of sorted) {
    const mine = kept.get(m)!;
    while (mine.length < quota.get(m)! && next < free.length) mine.push(free[next++]!);
    mine.sort((a, b) => a - b);
  }
  return kept;
}
