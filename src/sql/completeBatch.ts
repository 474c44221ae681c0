import type { OutboxNames } from '../names.js';

/** Delete acknowledged rows ($1: bigint[] of seq). Runs in the claiming transaction. */
export function deleteSentSql(n: OutboxNames): string {
  return `DELETE FROM ${n.outbox} WHERE seq = ANY($1::bigint[])`;
}

/** Mark acknowledged rows sent ($1: bigint[] of seq). Runs in the claiming transaction. */
export function markSentSql(n: OutboxNames): string {
  return `UPDATE ${n.outbox} SET sent_at = now() WHERE seq = ANY($1::bigint[])`;
}
