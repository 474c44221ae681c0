/**
 * This replica's membership and partition leases: a heartbeat every ttl/4 (jittered) that says the
 * replica is alive, reads the live members and the leases, computes this replica's fair share
 * (./assign.ts) and applies it — release what is no longer ours, renew what is, take what is free or
 * expired (src/sql/leases.ts). The claim reads the leases itself (database clock), so what this
 * module believes is only for logs, metrics and wake-ups; ownership is whatever the table says.
 */
import type pg from 'pg';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OutboxNames } from '../names.js';
import { sleep } from '../sleep.js';
import { applyLeasesSql, forgetMembersSql, heartbeatSql, leaveSql, membershipSql } from '../sql/leases.js';
import { assign, type LeaseRow } from './assign.js';

export interface LeaseChange {
  owned: number[];
  gained: number[];
  /** Held at the last heartbeat, not held now, not released by us: someone took them (we were late). */
  lost: number[];
  released: number[];
}

export interface MembershipOptions {
  pool: pg.Pool;
  names: OutboxNames;
  relayId: string;
  ttlMs: number;
  log: Logger;
  /** After every heartbeat that changed what this replica owns. */
  onChange(change: LeaseChange): void;
}

export class Membership {
  readonly #o: MembershipOptions;
  readonly #stop = new AbortController();
  #owned: number[] = [];
  #loop: Promise<void> | undefined;
  #failing = false;

  constructor(options: MembershipOptions) {
    this.#o = options;
  }

  /** The partitions this replica held a lease on at its last heartbeat. */
  get owned(): readonly number[] {
    return this.#owned;
  }

  get intervalMs(): number {
    return Math.max(100, Math.floor(this.#o.ttlMs / 4));
  }

  /** First heartbeat (so the first claim already has a share), then the loop in the background. */
  async start(): Promise<void> {
    await this.heartbeat();
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    let beats = 0;
    while (!this.#stop.signal.aborted) {
      // ±20 % jitter: replicas started together do not beat together.
      await sleep(this.intervalMs * (0.8 + Math.random() * 0.4), this.#stop.signal);
      if (this.#stop.signal.aborted) break;
      try {
        await this.heartbeat();
        if (++beats % 1000 === 0) await this.#o.pool.query(forgetMembersSql(this.#o.names));
        if (this.#failing) this.#o.log.info({ owned: this.#owned.length }, 'lease heartbeat works again');
        this.#failing = false;
      } catch (err) {
        if (!this.#failing) {
          this.#o.log.warn(
            { err: describeError(err), ttlMs: this.#o.ttlMs },
            'lease heartbeat failed; retrying (the leases lapse after their TTL and this replica then claims nothing until it is back)',
          );
        }
        this.#failing = true;
      }
    }
  }

  async heartbeat(): Promise<LeaseChange> {
    const { pool, names, relayId, ttlMs } = this.#o;
    await pool.query(heartbeatSql(names), [relayId, ttlMs]);
    const state = await pool.query<{ members: string[]; leases: LeaseRow[] }>(membershipSql(names));
    const { members, leases } = state.rows[0]!;
    const target = assign(members.includes(relayId) ? members : [...members, relayId], leases).get(relayId) ?? [];
    const applied = await pool.query<{ owned: number[]; gained: number[]; released: number[] }>(applyLeasesSql(names), [relayId, target, ttlMs]);
    const { owned, gained, released } = applied.rows[0]!;
    const lost = this.#owned.filter((p) => !owned.includes(p) && !released.includes(p));
    const change = { owned, gained, lost, released };
    this.#owned = owned;
    if (gained.length + lost.length + released.length > 0) {
      this.#o.log.info(
        { owned: owned.length, gained: gained.length, released: released.length, lost: lost.length, members: members.length },
        lost.length > 0 ? 'partition leases lost to another replica' : 'partition leases changed',
      );
      this.#o.onChange(change);
    }
    return change;
  }

  /** Stop beating and hand the partitions back at once (the others take them at their next beat). */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    try {
      await this.#o.pool.query(leaveSql(this.#o.names), [this.#o.relayId]);
      if (this.#owned.length > 0) this.#o.log.info({ released: this.#owned.length }, 'partition leases handed back');
      this.#owned = [];
    } catch (err) {
      this.#o.log.warn({ err: describeError(err) }, 'could not hand the partition leases back; they lapse after their TTL');
    }
  }
}
