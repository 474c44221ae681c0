/**
 * Membership and partition leases (migration 3; the reasoning is in docs/scale-out.md). Every time
 * comparison is the database's now(): a replica's own clock never decides who owns what.
 */
import type { OutboxNames } from '../names.js';
import { PARTITIONS } from '../leases/assign.js';

/**
 * The key partition of an outbox row: keyed rows by their key (so a key always lands in one
 * partition, owned by one replica at a time), keyless rows by their seq (they have no order to keep,
 * so they spread over every replica). hashtextextended is PostgreSQL's 64-bit text hash; `& 63` keeps
 * its low six bits, which is never negative.
 */
export function partitionOfSql(alias: string): string {
  return `(hashtextextended(coalesce(${alias}.key, ${alias}.seq::text), 0) & ${PARTITIONS - 1})::int`;
}

/** The partitions $owner holds a live lease on, as an int[] sub-select. */
export function ownedPartitionsSql(n: OutboxNames, owner: string): string {
  return `ARRAY(SELECT l.partition::int FROM ${n.leases} l WHERE l.owner = ${owner} AND l.expires_at > now())`;
}

/** $1 relay id, $2 lease ttl (ms): say this replica is alive. */
export function heartbeatSql(n: OutboxNames): string {
  return `INSERT INTO ${n.members} AS m (relay_id, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond')
  ON CONFLICT (relay_id) DO UPDATE SET heartbeat_at = now(), expires_at = EXCLUDED.expires_at`;
}

/** The live members (ids sorted) and every lease, read in one statement (one snapshot). */
export function membershipSql(n: OutboxNames): string {
  return `SELECT
    ARRAY(SELECT relay_id FROM ${n.members} WHERE expires_at > now() ORDER BY relay_id) AS members,
    (SELECT json_agg(json_build_object('partition', partition, 'owner', owner, 'live', coalesce(expires_at > now(), false)) ORDER BY partition)
     FROM ${n.leases}) AS leases`;
}

/**
 * $1 relay id, $2 target partitions (int[]), $3 lease ttl (ms). In one statement: release the leases
 * held outside the target; renew the target leases still held; take the target leases that are free
 * or expired (a new epoch). A lease held live by someone else is left alone: its owner releases it at
 * its own next heartbeat. Returns the partitions held afterwards and which of them are new.
 */
export function applyLeasesSql(n: OutboxNames): string {
  return `WITH released AS (
    UPDATE ${n.leases} SET owner = NULL, expires_at = NULL
    WHERE owner = $1 AND NOT (partition = ANY($2::int[]))
    RETURNING partition
  ), held AS (
    UPDATE ${n.leases} l SET
      epoch = CASE WHEN l.owner = $1 AND l.expires_at > now() THEN l.epoch ELSE l.epoch + 1 END,
      acquired_at = CASE WHEN l.owner = $1 AND l.expires_at > now() THEN l.acquired_at ELSE now() END,
      owner = $1,
      expires_at = now() + $3 * interval '1 millisecond'
    WHERE l.partition = ANY($2::int[]) AND (l.owner = $1 OR l.owner IS NULL OR l.expires_at <= now())
    RETURNING l.partition, l.acquired_at = now() AS gained
  )
  SELECT ARRAY(SELECT partition::int FROM held ORDER BY partition) AS owned,
         ARRAY(SELECT partition::int FROM held WHERE gained ORDER BY partition) AS gained,
         ARRAY(SELECT partition::int FROM released ORDER BY partition) AS released`;
}

/** $1 relay id: leave at shutdown, so the others take over at their next heartbeat, not after the TTL. */
export function leaveSql(n: OutboxNames): string {
  return `WITH gone AS (DELETE FROM ${n.members} WHERE relay_id = $1)
  UPDATE ${n.leases} SET owner = NULL, expires_at = NULL WHERE owner = $1`;
}

/** Members that have been gone for a long time (an hour past their expiry) are forgotten. */
export function forgetMembersSql(n: OutboxNames): string {
  return `DELETE FROM ${n.members} WHERE expires_at < now() - interval '1 hour'`;
}

export interface OwnershipRow {
  relay_id: string | null;
  live_member: boolean;
  started_at: Date | null;
  heartbeat_at: Date | null;
  partitions: number[];
  /** Earliest acquisition among the partitions it holds. */
  since: Date | null;
}

/**
 * Who owns what, for `outbox-relay status`: every live member with the partitions it holds a live
 * lease on, plus a row with relay_id NULL for the partitions nobody holds.
 */
export function ownershipSql(n: OutboxNames): string {
  return `SELECT m.relay_id, true AS live_member, m.started_at, m.heartbeat_at,
         ARRAY(SELECT partition::int FROM ${n.leases} l WHERE l.owner = m.relay_id AND l.expires_at > now() ORDER BY partition) AS partitions,
         (SELECT min(acquired_at) FROM ${n.leases} l WHERE l.owner = m.relay_id AND l.expires_at > now()) AS since
  FROM ${n.members} m WHERE m.expires_at > now()
  UNION ALL
  SELECT NULL, false, NULL, NULL,
         ARRAY(SELECT partition::int FROM ${n.leases} l
               WHERE l.owner IS NULL OR l.expires_at IS NULL OR l.expires_at <= now()
                  OR NOT EXISTS (SELECT 1 FROM ${n.members} m WHERE m.relay_id = l.owner AND m.expires_at > now())
               ORDER BY partition),
         NULL
  ORDER BY 1 NULLS LAST`;
}

