/**
 * The relay's state machine. The loop (src/relay/relay.ts) only ever changes state through
 * transition(), so every path it can take is in this table and unit-tested without services.
 *
 *            start            started
 *   created ───────► starting ───────► claiming ◄──────────────────────────────┐
 *                       │ failed         │  │  │ failed                        │
 *                       ▼        claimed │  │  └──────────► backoff ──wake──────┤
 *                    stopped             │  │ empty            ▲               │
 *                                        ▼  ▼                  │ failed        │
 *                             publishing   idle ──wake─────────┼───────────────┤
 *                               │  acked                       │               │
 *                               ▼                              │               │
 *                            completing ──failed───────────────┘               │
 *                               └──────completed───────────────────────────────┘
 *
 *   stop (from any state but stopped) ──► stopping ──stopped──► stopped
 *
 * - claiming:   a transaction selects pending rows FOR UPDATE SKIP LOCKED (locks held until completing).
 * - publishing: one kafkajs sendBatch per size chunk, one request in flight (relay/publish-batch.ts);
 *               `acked` when every row has an outcome: acknowledged, failed (bad row) or held back.
 * - completing: the acknowledged rows are deleted or marked sent and the failed rows recorded, then
 *               COMMIT. Only here are rows marked, and only after the ack (guarantee G2). If the batch
 *               ended early on a batch-level failure (broker down), `failed` follows the COMMIT.
 * - idle:       no rows; declared waiting so writers NOTIFY; sleeps until NOTIFY, the poll timer, a
 *               LISTEN (re)connect (catch-up claim) or stop.
 * - backoff:    a claim, publish or complete failed; the claim was rolled back (rows released
 *               unmarked); sleeps with capped jittered backoff, then claims again.
 * - stopping:   no new claims; the batch in flight may still finish (and be completed) within the
 *               shutdown deadline, else it is abandoned unmarked. Events other than `stopped` keep it.
 */
export type RelayState = 'created' | 'starting' | 'claiming' | 'publishing' | 'completing' | 'idle' | 'backoff' | 'stopping' | 'stopped';

export type RelayEvent = 'start' | 'started' | 'claimed' | 'empty' | 'acked' | 'completed' | 'failed' | 'wake' | 'stop' | 'stopped';

const TRANSITIONS: Record<RelayState, Partial<Record<RelayEvent, RelayState>>> = {
  created: { start: 'starting', stop: 'stopped' },
  starting: { started: 'claiming', failed: 'stopped', stop: 'stopping' },
  claiming: { claimed: 'publishing', empty: 'idle', failed: 'backoff', stop: 'stopping' },
  publishing: { acked: 'completing', failed: 'backoff', stop: 'stopping' },
  completing: { completed: 'claiming', failed: 'backoff', stop: 'stopping' },
  idle: { wake: 'claiming', stop: 'stopping' },
  backoff: { wake: 'claiming', stop: 'stopping' },
  stopping: {
    started: 'stopping',
    claimed: 'stopping',
    empty: 'stopping',
    acked: 'stopping',
    completed: 'stopping',
    failed: 'stopping',
    wake: 'stopping',
    stop: 'stopping',
    stopped: 'stopped',
  },
  stopped: { stop: 'stopped' },
};

export class InvalidTransitionError extends Error {
  constructor(
    readonly state: RelayState,
    readonly event: RelayEvent,
  ) {
    super(`relay state machine: event "${event}" is not valid in state "${state}"`);
    this.name = 'InvalidTransitionError';
  }
}

export function transition(state: RelayState, event: RelayEvent): RelayState {
  const next = TRANSITIONS[state][event];
  if (next === undefined) throw new InvalidTransitionError(state, event);
  return next;
}

/** For tests and docs: every (state, event) pair the machine accepts. */
export function acceptedEvents(state: RelayState): RelayEvent[] {
  return Object.keys(TRANSITIONS[state]) as RelayEvent[];
}
