/**
 * `outbox-relay status`: per topic what is waiting (pending rows, age of the oldest, rows waiting
 * for a retry, dead rows, keys they block), which relays are connected, and whether the wake-up
 * trigger fires. Read-only; the SQL is in src/sql/inspect.ts. Either mapping: in debezium mode the
 * rows are the capture table's, and the topics the routed Kafka topics.
 */
import type pg from 'pg';
import type { Mapping } from '../mapping/definition.js';
import { topicLabel } from '../mapping/message.js';
import type { OutboxNames } from '../names.js';
import {
  RELAY_CONNECTIONS_SQL,
  TABLE_SIZE_SQL,
  TRIGGER_SQL,
  topicStatusSql,
  type ConnectionRow,
  type TopicStatusRow,
  type TriggerRow,
} from '../sql/inspect.js';
import { ownershipSql, type OwnershipRow } from '../sql/leases.js';
import type { CommandOutput } from './prune.js';
import { renderTable } from './table.js';

export interface Status {
  outbox: string;
  topics: { topic: string; pending: number; oldestPendingSeconds: number | null; waiting: number; dead: number; blockedKeys: number }[];
  relays: { pid: number; role: 'claim' | 'listen'; clientAddr: string | null; backendStart: string | null; state: string | null }[];
  trigger: { installed: boolean; enabled: boolean; tgenabled: string | null };
  table: { bytes: number; estimatedRows: number };
  /** Replicas alive by their heartbeat, the key partitions each holds and since when (docs/scale-out.md). */
  replicas: { relayId: string; startedAt: string; heartbeatAt: string; partitions: number[]; since: string | null }[];
  /** Key partitions no live replica holds right now (normally none while a relay runs). */
  unownedPartitions: number[];
}

/** pg_trigger.tgenabled values that fire for ordinary sessions. */
export function triggerFires(tgenabled: string | null): boolean {
  return tgenabled === 'O' || tgenabled === 'A';
}

type TopicStatus = Status['topics'][number];

/**
 * Rows per source topic → rows per Kafka topic. Route-by values that route to one topic add up (their
 * blocked keys too: a key blocked under two route-by values of one topic counts twice).
 */
export function topicsByLabel(rows: TopicStatusRow[], label: (topic: string | null) => string): TopicStatus[] {
  const merged = new Map<string, TopicStatus>();
  for (const r of rows) {
    const topic = label(r.topic);
    const seconds = r.oldest_pending_seconds === null ? null : Math.round(r.oldest_pending_seconds * 10) / 10;
    const t = merged.get(topic);
    if (!t) {
      merged.set(topic, { topic, pending: Number(r.pending), oldestPendingSeconds: seconds, waiting: Number(r.waiting), dead: Number(r.dead), blockedKeys: Number(r.blocked_keys) });
      continue;
    }
    t.pending += Number(r.pending);
    t.oldestPendingSeconds = t.oldestPendingSeconds === null || seconds === null ? (t.oldestPendingSeconds ?? seconds) : Math.max(t.oldestPendingSeconds, seconds);
    t.waiting += Number(r.waiting);
    t.dead += Number(r.dead);
    t.blockedKeys += Number(r.blocked_keys);
  }
  return [...merged.values()].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
}

export async function readStatus(pool: pg.Pool, names: OutboxNames, mapping: Mapping): Promise<Status> {
  const [topics, relays, trigger, size, ownership] = await Promise.all([
    pool.query<TopicStatusRow>(topicStatusSql(names, mapping)),
    pool.query<ConnectionRow>(RELAY_CONNECTIONS_SQL, [names.relayApplicationName, names.listenApplicationName]),
    pool.query<TriggerRow>(TRIGGER_SQL, [names.outbox, names.notifyTrigger.slice(1, -1)]),
    pool.query<{ bytes: string; estimated_rows: string }>(TABLE_SIZE_SQL, [names.outbox]),
    pool.query<OwnershipRow>(ownershipSql(names)),
  ]);
  const t = trigger.rows[0]!;
  return {
    outbox: `${names.schema}.${names.table}`,
    topics: topicsByLabel(topics.rows, topicLabel(mapping)),
    relays: relays.rows.map((r) => ({
      pid: r.pid,
      role: r.application_name === names.listenApplicationName ? 'listen' : 'claim',
      clientAddr: r.client_addr,
      backendStart: r.backend_start?.toISOString() ?? null,
      state: r.state,
    })),
    trigger: { installed: t.installed, enabled: triggerFires(t.enabled), tgenabled: t.enabled },
    table: { bytes: Number(size.rows[0]?.bytes ?? 0), estimatedRows: Number(size.rows[0]?.estimated_rows ?? 0) },
    replicas: ownership.rows
      .filter((r) => r.relay_id !== null)
      .map((r) => ({
        relayId: r.relay_id!,
        startedAt: r.started_at!.toISOString(),
        heartbeatAt: r.heartbeat_at!.toISOString(),
        partitions: r.partitions,
        since: r.since?.toISOString() ?? null,
      })),
    unownedPartitions: ownership.rows.find((r) => r.relay_id === null)?.partitions ?? [],
  };
}

export async function status(pool: pg.Pool, names: OutboxNames, mapping: Mapping, out: CommandOutput): Promise<Status> {
  const s = await readStatus(pool, names, mapping);
  if (out.json) {
    out.write(`${JSON.stringify(s, null, 2)}\n`);
    return s;
  }
  const lines: string[] = [`outbox ${s.outbox}: ${(s.table.bytes / 1048576).toFixed(1)} MiB on disk, ~${s.table.estimatedRows} rows (estimate)`, ''];
  if (s.topics.length === 0) lines.push('nothing pending, no failed rows');
  else {
    const rows = s.topics.map((t) => [t.topic, String(t.pending), t.oldestPendingSeconds === null ? '-' : String(t.oldestPendingSeconds), String(t.waiting), String(t.dead), String(t.blockedKeys)]);
    lines.push(renderTable(['topic', 'pending', 'oldest (s)', 'waiting', 'dead', 'blocked keys'], rows).trimEnd());
  }
  lines.push('');
  if (s.relays.length === 0) lines.push('relays connected: none');
  else {
    lines.push(`relays connected: ${s.relays.filter((r) => r.role === 'listen').length} listening, ${s.relays.filter((r) => r.role === 'claim').length} claim connections`);
    lines.push(renderTable(['pid', 'connection', 'client', 'since', 'state'], s.relays.map((r) => [String(r.pid), r.role, r.clientAddr ?? (r.backendStart === null ? '(hidden)' : 'local socket'), r.backendStart ?? '(hidden: needs pg_read_all_stats)', r.state ?? ''])).trimEnd());
  }
  lines.push('');
  if (s.replicas.length === 0) lines.push('replicas: none alive (no heartbeat within its lease TTL)');
  else {
    lines.push(`replicas: ${s.replicas.length} alive, sharing the 64 key partitions`);
    lines.push(
      renderTable(
        ['replica', 'partitions', 'owned since', 'last heartbeat'],
        s.replicas.map((r) => [r.relayId, `${r.partitions.length} (${ranges(r.partitions)})`, r.since ?? '-', r.heartbeatAt]),
      ).trimEnd(),
    );
  }
  if (s.unownedPartitions.length > 0) lines.push(`unowned partitions: ${s.unownedPartitions.length} (${ranges(s.unownedPartitions)}): their rows wait until a replica takes them`);
  lines.push('');
  lines.push(
    `wake-up trigger: ${!s.trigger.installed ? 'MISSING (run `outbox-relay migrate`; relays fall back to polling)' : s.trigger.enabled ? 'installed, enabled' : `installed but DISABLED (tgenabled ${s.trigger.tgenabled}; relays fall back to polling)`}`,
  );
  out.write(`${lines.join('\n')}\n`);
  return s;
}

/** [0,1,2,5,7,8] → "0-2,5,7-8". Pure. */
export function ranges(partitions: readonly number[]): string {
  const out: string[] = [];
  let start = -1;
  let prev = -2;
  for (const p of [...partitions].sort((a, b) => a - b)) {
    if (p !== prev + 1) {
      if (start >= 0) out.push(start === prev ? String(start) : `${start}-${prev}`);
      start = p;
    }
    prev = p;
  }
  if (start >= 0) out.push(start === prev ? String(start) : `${start}-${prev}`);
  return out.join(',');
}
