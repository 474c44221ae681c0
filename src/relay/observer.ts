/**
 * What the relay loop reports as it goes, for metrics (src/metrics/relay-metrics.ts) and health
 * (src/health/health.ts). The loop calls these synchronously and keeps no other reference to them, so
 * an observer must be cheap and must not throw; the loop stays free of prom-client and HTTP.
 */
import type { LeaseChange } from '../leases/membership.js';
import type { ClaimedRow } from '../sql/claimBatch.js';
import type { RowFailure } from './publish-batch.js';
import type { RelayEvent, RelayState } from './state.js';

export interface BatchReport {
  acked: readonly ClaimedRow[];
  failed: readonly RowFailure[];
  /** Rows claimed in the batch (acked + failed + held). */
  rows: number;
  publishSeconds: number;
  /** Seconds from the claim's answer to Kafka's last acknowledgement (added to each row's age at claim). */
  claimToAckSeconds: number;
}

export interface RelayObserver {
  stateChanged?(from: RelayState, event: RelayEvent, to: RelayState): void;
  /** The startup connected to PostgreSQL and Kafka. */
  connected?(): void;
  /** A claim answered (rows may be 0). standby: this relay holds no key partition's lease. */
  claimed?(seconds: number, rows: number, standby: boolean): void;
  /** A batch was completed (COMMIT done): acknowledged rows are gone from the pending set. */
  batchCompleted?(report: BatchReport): void;
  /** Publishing a batch failed as a whole (kind from publisher/classify.ts). */
  publishFailed?(kind: string, message: string): void;
  /** A database step of the loop failed (the rows stay pending). */
  databaseFailed?(step: 'claim' | 'complete', message: string): void;
  /** The Kafka producer was fenced and replaced. */
  producerReplaced?(reason: string): void;
  /** The LISTEN connection is up (reconnect: not the first time). */
  listenerConnected?(reconnect: boolean): void;
  /** A heartbeat changed which key partitions this relay owns (src/leases/membership.ts). */
  leasesChanged?(change: LeaseChange): void;
}

type Handlers = Required<RelayObserver>;

/** One observer that calls each of the given ones in turn. */
export function fanOut(...observers: RelayObserver[]): Required<RelayObserver> {
  const call =
    <K extends keyof Handlers>(name: K) =>
    (...args: Parameters<Handlers[K]>): void => {
      for (const o of observers) (o[name] as ((...a: Parameters<Handlers[K]>) => void) | undefined)?.(...args);
    };
  return {
    stateChanged: call('stateChanged'),
    connected: call('connected'),
    claimed: call('claimed'),
    batchCompleted: call('batchCompleted'),
    publishFailed: call('publishFailed'),
    databaseFailed: call('databaseFailed'),
    producerReplaced: call('producerReplaced'),
    listenerConnected: call('listenerConnected'),
    leasesChanged: call('leasesChanged'),
  };
}
