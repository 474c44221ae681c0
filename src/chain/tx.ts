/**
 * Is this pg client inside an open transaction block? Used by the producer helper, which must never
 * write an outbox row that commits on its own.
 *
 * node-postgres (8.x) keeps the transaction status PostgreSQL reports in every ReadyForQuery message
 * ('I' idle, 'T' in a transaction block, 'E' in a failed one): client.getTransactionStatus(). That is
 * exact and free, but it describes the state after the last *completed* query; when the client still
 * has queries queued (a BEGIN or COMMIT not awaited) or is another kind of client, we ask the server
 * instead: SAVEPOINT is refused outside a transaction block (SQLSTATE 25P01), queued behind the
 * caller's own queries, and released at once.
 */
export type TransactionState = 'in-transaction' | 'idle' | 'aborted' | 'pool';

interface MaybePgClient {
  query(text: string, values?: unknown[]): Promise<unknown>;
  getTransactionStatus?: () => 'I' | 'T' | 'E' | null;
  totalCount?: unknown;
  idleCount?: unknown;
  _activeQuery?: unknown;
  _queryQueue?: unknown[];
}

const PROBE = 'outbox_relay_tx_probe';

export async function isInTransaction(client: unknown): Promise<TransactionState> {
  const c = client as MaybePgClient;
  // pg.Pool (and pools like it) have these counters and no transaction of their own.
  if (typeof c.totalCount === 'number' && typeof c.idleCount === 'number') return 'pool';
  const busy = Boolean(c._activeQuery) || (Array.isArray(c._queryQueue) && c._queryQueue.length > 0);
  if (typeof c.getTransactionStatus === 'function' && !busy) {
    const status = c.getTransactionStatus();
    if (status === 'T') return 'in-transaction';
    if (status === 'E') return 'aborted';
    if (status === 'I') return 'idle';
  }
  try {
    await c.query(`SAVEPOINT ${PROBE}`);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === '25P01') return 'idle'; // no_active_sql_transaction
    if (code === '25P02') return 'aborted'; // in_failed_sql_transaction
    throw err;
  }
  await c.query(`RELEASE SAVEPOINT ${PROBE}`);
  return 'in-transaction';
}
