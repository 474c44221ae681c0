/**
 * `outbox-relay dead list | retry | discard`: what an operator does with rows the relay parked as
 * dead (docs: README "Bad rows and failures"). Each prints a table, or JSON with --json; the ones
 * that change data take --dry-run. The SQL lives in src/sql/failures.ts.
 */
import type pg from 'pg';
import type { Logger } from '../log.js';
import type { Mapping } from '../mapping/definition.js';
import type { OutboxNames } from '../names.js';
import { renderTable } from './table.js';
import { discardDeadSql, listDeadSql, retryDeadSql, type DeadRow } from '../sql/failures.js';

export interface DeadSelector {
  id?: string;
  key?: string;
  topic?: string;
}

export interface DeadOutput {
  json: boolean;
  write(text: string): void;
}

function params(s: DeadSelector): unknown[] {
  return [s.id ?? null, s.key ?? null, s.topic ?? null];
}

export async function listDead(pool: pg.Pool, names: OutboxNames, mapping: Mapping, selector: DeadSelector, limit: number, out: DeadOutput): Promise<DeadRow[]> {
  const { rows } = await pool.query<DeadRow>(listDeadSql(names, mapping), [...params(selector), limit]);
  print(rows, out, `${rows.length} dead row${rows.length === 1 ? '' : 's'}${rows.length === limit ? ` (first ${limit}; --limit shows more)` : ''}`);
  return rows;
}

/**
 * retry: the rows become pending again and keep their place in their key's order. discard: the rows
 * are deleted from the outbox, with one audit log line each. --dry-run shows what would happen
 * (the statement runs and is rolled back, so the answer is exact).
 */
export async function changeDead(
  action: 'retry' | 'discard',
  pool: pg.Pool,
  names: OutboxNames,
  mapping: Mapping,
  selector: DeadSelector,
  options: { dryRun: boolean; log: Logger },
  out: DeadOutput,
): Promise<DeadRow[]> {
  const client = await pool.connect();
  let rows: DeadRow[];
  try {
    await client.query('BEGIN');
    rows = (await client.query<DeadRow>(action === 'retry' ? retryDeadSql(names, mapping) : discardDeadSql(names, mapping), params(selector))).rows;
    await client.query(options.dryRun ? 'ROLLBACK' : 'COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  if (action === 'discard' && !options.dryRun) {
    for (const r of rows) {
      options.log.warn(
        { audit: 'dead-discard', seq: r.seq, id: r.id, topic: r.topic, key: r.key, bytes: r.bytes, errorClass: r.error_class, lastError: r.last_error },
        'discarded a dead outbox row',
      );
    }
  }
  const verb = action === 'retry' ? (options.dryRun ? 'would retry' : 'retried') : options.dryRun ? 'would discard' : 'discarded';
  print(rows, out, `${verb} ${rows.length} dead row${rows.length === 1 ? '' : 's'}`);
  return rows;
}

function print(rows: DeadRow[], out: DeadOutput, summary: string): void {
  if (out.json) {
    out.write(`${JSON.stringify(rows.map(toJson), null, 2)}\n`);
    return;
  }
  if (rows.length > 0) {
    const table = rows.map((r) => [r.seq, r.id, r.topic, r.key ?? '(null)', r.error_class, String(r.attempts), r.dead_at.toISOString(), r.last_error]);
    const head = ['seq', 'id', 'topic', 'key', 'class', 'attempts', 'dead since', 'last error'];
    out.write(renderTable(head, table));
  }
  out.write(`${summary}\n`);
}

function toJson(r: DeadRow): Record<string, unknown> {
  return {
    seq: r.seq,
    id: r.id,
    topic: r.topic,
    key: r.key,
    bytes: r.bytes,
    errorClass: r.error_class,
    lastError: r.last_error,
    attempts: r.attempts,
    firstFailedAt: r.first_failed_at.toISOString(),
    deadAt: r.dead_at.toISOString(),
  };
}
