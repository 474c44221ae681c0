/**
 * Liveness and readiness, for /healthz and /readyz (src/http/server.ts) and the outbox_relay_ready
 * gauge. HealthTracker is a relay observer that only records times (in memory); judge() is a pure
 * function of that record and the clock, unit-tested in test/unit/health.test.ts. Nothing here waits
 * on PostgreSQL or Kafka, so the endpoints answer even while both stall.
 *
 * - live:  the loop still moves. Every loop step is bounded (claim and complete by the statement and
 *          query timeouts, publish by the publish deadline, sleeps by the poll interval and the
 *          backoff cap), so a loop that has not changed state for longer than the sum of those bounds
 *          is stuck, and restarting the process is the fix.
 * - ready: started; PostgreSQL answered the last claim; Kafka took the last publish (or nothing has
 *          failed since it connected); and rows, when there were some to claim, were completed within
 *          the stall window. A standby replica (it holds no key partition right now) is ready.
 */
import { DEFAULT_BACKOFF } from '../backoff.js';
import { relayQueryTimeoutMs } from '../db.js';
import type { RelayObserver } from '../relay/observer.js';
import type { RelayState } from '../relay/state.js';

export interface DependencyRecord {
  okAt?: number;
  /** Set by a failure, cleared by the next success. */
  errorAt?: number;
  error?: string;
}

export interface HealthRecord {
  startedAt: number;
  state: RelayState;
  /** Last state change or claim answer: the loop's heartbeat. */
  movedAt: number;
  connected: boolean;
  standby: boolean;
  db: DependencyRecord;
  kafka: DependencyRecord;
  /** First claim that returned rows since the last completed batch (undefined when none waits). */
  rowsWaitingSince?: number;
  lastCompletedAt?: number;
}

export interface HealthBounds {
  /** The loop must change state at least this often. */
  livenessMs: number;
  /** Claimed rows must be completed within this long, or the relay is not making progress. */
  stallMs: number;
}

export interface Verdict {
  ok: boolean;
  reasons: string[];
}

function ok(d: DependencyRecord, now: number): void {
  d.okAt = now;
  d.errorAt = undefined;
  d.error = undefined;
}

function failed(d: DependencyRecord, now: number, message: string): void {
  d.errorAt = now;
  d.error = message;
}

function secondsSince(now: number, at: number): string {
  return `${Math.round((now - at) / 100) / 10} s`;
}

export function judgeLiveness(r: HealthRecord, bounds: HealthBounds, now: number): Verdict {
  const reasons: string[] = [];
  if (r.state === 'stopped') reasons.push('the relay has stopped');
  else if (r.state !== 'created' && r.state !== 'stopping' && now - r.movedAt > bounds.livenessMs) {
    reasons.push(`the relay loop has been in state ${r.state} for ${secondsSince(now, r.movedAt)} (bound ${bounds.livenessMs / 1000} s): it is stuck; restart the process`);
  }
  return { ok: reasons.length === 0, reasons };
}

export function judgeReadiness(r: HealthRecord, bounds: HealthBounds, now: number): Verdict {
  const reasons: string[] = [];
  if (r.state === 'created' || r.state === 'starting' || !r.connected) {
    reasons.push('starting: not yet connected to PostgreSQL and Kafka');
  }
  if (r.state === 'stopping' || r.state === 'stopped') reasons.push(`shutting down (${r.state})`);
  if (r.db.errorAt !== undefined) reasons.push(`PostgreSQL: ${r.db.error ?? 'failing'} (since ${secondsSince(now, r.db.errorAt!)} ago)`);
  if (!r.standby && r.kafka.errorAt !== undefined) reasons.push(`Kafka: ${r.kafka.error ?? 'failing'} (since ${secondsSince(now, r.kafka.errorAt!)} ago)`);
  if (!r.standby && r.rowsWaitingSince !== undefined && now - r.rowsWaitingSince > bounds.stallMs) {
    reasons.push(`no progress: rows claimed ${secondsSince(now, r.rowsWaitingSince)} ago are not published yet (stall bound ${bounds.stallMs / 1000} s)`);
  }
  return { ok: reasons.length === 0, reasons: [...new Set(reasons)] };
}

export class HealthTracker {
  readonly record: HealthRecord;
  readonly #clock: () => number;

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
    const now = clock();
    this.record = { startedAt: now, state: 'created', movedAt: now, connected: false, standby: false, db: {}, kafka: {} };
  }

  readonly observer: RelayObserver = {
    stateChanged: (_from, _event, to) => {
      this.record.state = to;
      this.record.movedAt = this.#clock();
    },
    connected: () => {
      this.record.connected = true;
      const now = this.#clock();
      ok(this.record.db, now);
      ok(this.record.kafka, now);
    },
    claimed: (_seconds, rows, standby) => {
      const now = this.#clock();
      this.record.movedAt = now;
      ok(this.record.db, now);
      this.record.standby = standby;
      if (rows > 0) this.record.rowsWaitingSince ??= now;
      else this.record.rowsWaitingSince = undefined;
    },
    batchCompleted: (report) => {
      const now = this.#clock();
      ok(this.record.db, now);
      this.record.lastCompletedAt = now;
      this.record.rowsWaitingSince = undefined;
      // A batch that ended early on a broker failure still completed what was acknowledged; the
      // publishFailed that follows records the failure.
      if (report.acked.length > 0) ok(this.record.kafka, now);
    },
    publishFailed: (kind, message) => {
      // A row Kafka refuses is the row's problem, not Kafka's: it is parked, the relay goes on.
      if (kind === 'poison') return;
      failed(this.record.kafka, this.#clock(), message);
    },
    databaseFailed: (_step, message) => {
      failed(this.record.db, this.#clock(), message);
    },
  };

  liveness(bounds: HealthBounds): Verdict {
    return judgeLiveness(this.record, bounds, this.#clock());
  }

  readiness(bounds: HealthBounds): Verdict {
    return judgeReadiness(this.record, bounds, this.#clock());
  }
}

/** The bounds that follow from the relay's settings (see the module comment). */
export function healthBounds(c: { pollIntervalMs: number; publishTimeoutMs: number; dbConnectTimeoutMs: number }): HealthBounds {
  const maxBackoffMs = DEFAULT_BACKOFF.maxMs;
  const queryTimeoutMs = relayQueryTimeoutMs(c.publishTimeoutMs);
  return {
    livenessMs: Math.max(c.pollIntervalMs, queryTimeoutMs + c.dbConnectTimeoutMs, c.publishTimeoutMs) + maxBackoffMs + 30_000,
    stallMs: c.publishTimeoutMs + maxBackoffMs + c.pollIntervalMs + 5_000,
  };
}
