import type { OutboxNames } from '../names.js';

/**
 * Declare this relay idle until now() + $2 milliseconds: while any relay is idle, the outbox trigger
 * sends NOTIFY. The deadline makes a crashed relay's declaration expire by itself.
 */
export function setWaitingSql(n: OutboxNames): string {
  return `INSERT INTO ${n.wakeup} (relay_id, waiting_until)
  VALUES ($1, now() + make_interval(secs => $2::double precision / 1000))
  ON CONFLICT (relay_id) DO UPDATE SET waiting_until = EXCLUDED.waiting_until`;
}

/** This relay is busy again: stop asking writers for NOTIFY. */
export function clearWaitingSql(n: OutboxNames): string {
  return `DELETE FROM ${n.wakeup} WHERE relay_id = $1`;
}
