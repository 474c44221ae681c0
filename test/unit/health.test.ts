import { describe, expect, it } from 'vitest';
import { HealthTracker, healthBounds, judgeLiveness, judgeReadiness, type HealthRecord } from '../../src/health/health.js';

const bounds = { livenessMs: 60_000, stallMs: 20_000 };
const base = (over: Partial<HealthRecord> = {}): HealthRecord => ({
  startedAt: 0,
  state: 'idle',
  movedAt: 1000,
  connected: true,
  standby: false,
  db: { okAt: 1000 },
  kafka: { okAt: 1000 },
  ...over,
});
const noRows = { acked: [], failed: [], rows: 0, publishSeconds: 0, claimToAckSeconds: 0 };

describe('judgeLiveness', () => {
  it('alive while the loop moved within the bound, at the bound too', () => {
    expect(judgeLiveness(base(), bounds, 1000 + 60_000)).toEqual({ ok: true, reasons: [] });
  });
  it('stuck when the loop has not moved for longer than the bound, saying where it is', () => {
    const v = judgeLiveness(base({ state: 'publishing' }), bounds, 1000 + 60_001);
    expect(v.ok).toBe(false);
    expect(v.reasons[0]).toMatch(/in state publishing for 60 s \(bound 60 s\): it is stuck; restart/);
  });
  it('not stuck before it started or while stopping; dead once stopped', () => {
    expect(judgeLiveness(base({ state: 'created', movedAt: 0 }), bounds, 1e9).ok).toBe(true);
    expect(judgeLiveness(base({ state: 'stopping', movedAt: 0 }), bounds, 1e9).ok).toBe(true);
    expect(judgeLiveness(base({ state: 'stopped' }), bounds, 1000)).toEqual({ ok: false, reasons: ['the relay has stopped'] });
  });
});

describe('judgeReadiness', () => {
  it('ready when connected and nothing fails', () => {
    expect(judgeReadiness(base(), bounds, 5000)).toEqual({ ok: true, reasons: [] });
  });
  it('not ready while starting or stopping', () => {
    expect(judgeReadiness(base({ state: 'starting', connected: false }), bounds, 5000).reasons).toEqual(['starting: not yet connected to PostgreSQL and Kafka']);
    expect(judgeReadiness(base({ state: 'stopping' }), bounds, 5000).reasons).toEqual(['shutting down (stopping)']);
  });
  it('names a failing dependency until it works again', () => {
    const failing = base({ kafka: { okAt: 1000, errorAt: 2000, error: 'broker down' } });
    expect(judgeReadiness(failing, bounds, 4500).reasons).toEqual(['Kafka: broker down (since 2.5 s ago)']);
    expect(judgeReadiness(base({ db: { okAt: 1000, errorAt: 1000, error: 'refused' } }), bounds, 1000).reasons).toEqual(['PostgreSQL: refused (since 0 s ago)']);
  });
  it('a standby replica is ready even if its Kafka record is stale or rows wait', () => {
    const standby = base({ standby: true, kafka: { errorAt: 2000, error: 'x' }, rowsWaitingSince: 0 });
    expect(judgeReadiness(standby, bounds, 100_000).ok).toBe(true);
  });
  it('not ready when claimed rows are not completed within the stall bound (and ready at the bound)', () => {
    expect(judgeReadiness(base({ rowsWaitingSince: 1000 }), bounds, 21_000).ok).toBe(true);
    const v = judgeReadiness(base({ rowsWaitingSince: 1000 }), bounds, 21_001);
    expect(v.reasons).toEqual(['no progress: rows claimed 20 s ago are not published yet (stall bound 20 s)']);
  });
});

describe('HealthTracker', () => {
  it('follows the loop: connect, claims, failures, completion', () => {
    let now = 0;
    const t = new HealthTracker(() => now);
    const o = t.observer;
    expect(t.readiness(bounds).ok).toBe(false); // not connected yet
    o.stateChanged!('created', 'start', 'starting');
    now = 10;
    o.connected!();
    o.stateChanged!('starting', 'started', 'claiming');
    expect(t.readiness(bounds)).toEqual({ ok: true, reasons: [] });
    now = 100;
    o.claimed!(0.001, 5, false);
    o.publishFailed!('retriable', 'connection refused');
    expect(t.readiness(bounds).reasons).toEqual(['Kafka: connection refused (since 0 s ago)']);
    now = 200;
    o.claimed!(0.001, 5, false); // retry claims the rows again: the wait started at the first claim
    expect(t.record.rowsWaitingSince).toBe(100);
    now = 100 + bounds.stallMs + 1;
    expect(t.readiness(bounds).reasons).toContain(`no progress: rows claimed 20 s ago are not published yet (stall bound 20 s)`);
    o.batchCompleted!({ ...noRows, acked: [{} as never], rows: 5 });
    expect(t.readiness(bounds)).toEqual({ ok: true, reasons: [] });
    o.databaseFailed!('claim', 'terminating connection');
    expect(t.readiness(bounds).reasons[0]).toMatch(/^PostgreSQL: terminating connection/);
    o.claimed!(0.001, 0, true); // the database answered; another relay holds the lock
    expect(t.readiness(bounds).ok).toBe(true);
    expect(t.record.standby).toBe(true);
  });
  it('a poison row is not a Kafka failure', () => {
    const t = new HealthTracker(() => 5);
    t.observer.connected!();
    t.observer.stateChanged!('starting', 'started', 'claiming');
    t.observer.publishFailed!('poison', 'MESSAGE_TOO_LARGE');
    expect(t.readiness(bounds).ok).toBe(true);
  });
  it('an empty claim ends a wait (nothing claimable: the rows went elsewhere or are held)', () => {
    const t = new HealthTracker(() => 5);
    t.observer.claimed!(0, 3, false);
    t.observer.claimed!(0, 0, false);
    expect(t.record.rowsWaitingSince).toBeUndefined();
  });
});

describe('healthBounds', () => {
  it('follows from the settings: every bounded step fits inside the liveness bound', () => {
    const b = healthBounds({ pollIntervalMs: 1000, publishTimeoutMs: 30_000, dbConnectTimeoutMs: 5000 });
    // claim query timeout (publish + 15 s) + connect + backoff cap (10 s) + 30 s slack
    expect(b.livenessMs).toBe(45_000 + 5000 + 10_000 + 30_000);
    expect(b.stallMs).toBe(30_000 + 10_000 + 1000 + 5000);
    expect(healthBounds({ pollIntervalMs: 200_000, publishTimeoutMs: 1000, dbConnectTimeoutMs: 100 }).livenessMs).toBe(240_000);
  });
});
