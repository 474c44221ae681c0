/**
 * The checker every fault test uses (docs/guarantees.md): each row carries a key and a per-key counter
 * in its payload; after the faults, the topic is read back from the beginning and compared with what
 * was committed. Every message must also carry the row's event id in header `id`: one UUID per row,
 * the same on every copy of it (that is what lets consumers drop duplicates); check() throws if not.
 */
import type { Received } from './kafka.js';

export interface Written {
  key: string;
  n: number;
}

export interface CheckResult {
  /** Committed rows never published. */
  lost: Written[];
  /** Published messages beyond the first for a (key, n). */
  duplicates: number;
  /** Keys whose first appearances are not strictly increasing. */
  orderViolations: string[];
  /** Published messages that were never committed (e.g. a rolled-back row). */
  unexpected: Written[];
}

export function payloadOf(written: Written): Buffer {
  return Buffer.from(JSON.stringify({ k: written.key, n: written.n }));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Header `id` on every message: a UUID, one per row, identical on a row's duplicates. */
export function idHeaderProblems(received: Received[]): string[] {
  const problems: string[] = [];
  const idByRow = new Map<string, string>();
  const rowById = new Map<string, string>();
  for (const m of received) {
    const at = `${m.topic}/${m.partition}@${m.offset}`;
    const eventId = m.headers.id;
    if (eventId === undefined || eventId === null || !UUID.test(eventId)) {
      problems.push(`${at}: header id is ${JSON.stringify(eventId)}, not a UUID`);
      continue;
    }
    const row = m.value.toString('base64'); // the checker's payloads name the row
    const known = idByRow.get(row);
    if (known !== undefined && known !== eventId) problems.push(`${at}: a copy of one row with another id (${known}, ${eventId})`);
    const other = rowById.get(eventId);
    if (other !== undefined && other !== row) problems.push(`${at}: id ${eventId} on two different rows`);
    idByRow.set(row, eventId);
    rowById.set(eventId, row);
  }
  return problems;
}

export function check(committed: Written[], received: Received[], rolledBack: Written[] = []): CheckResult {
  const idProblems = idHeaderProblems(received);
  if (idProblems.length > 0) throw new Error(`${idProblems.length} messages fail the id-header check: ${idProblems.slice(0, 5).join('; ')}`);
  const id = (w: Written) => `${w.key}\u0000${w.n}`;
  const committedIds = new Set(committed.map(id));
  const seen = new Map<string, number>();
  // Kafka orders per partition; a key maps to one partition, so per-key order = offset order there.
  const firstSeen = new Map<string, number[]>();
  const unexpected: Written[] = [];
  for (const message of received) {
    const w = JSON.parse(message.value.toString('utf8')) as { k: string; n: number };
    const written = { key: w.k, n: w.n };
    const count = seen.get(id(written)) ?? 0;
    seen.set(id(written), count + 1);
    if (!committedIds.has(id(written))) unexpected.push(written);
    if (count === 0) {
      const list = firstSeen.get(written.key) ?? [];
      list.push(written.n);
      firstSeen.set(written.key, list);
    }
  }
  for (const r of rolledBack) if (seen.has(id(r))) unexpected.push(r);
  const orderViolations: string[] = [];
  for (const [key, ns] of firstSeen) {
    for (let i = 1; i < ns.length; i++) {
      if (ns[i]! <= ns[i - 1]!) {
        orderViolations.push(`${key}: ${ns[i - 1]} then ${ns[i]}`);
        break;
      }
    }
  }
  let duplicates = 0;
  for (const count of seen.values()) duplicates += count - 1;
  return { lost: committed.filter((w) => !seen.has(id(w))), duplicates, orderViolations, unexpected };
}

/**
 * Write `perKey` rows for each of `keys` keys, counters in order, in transactions of `rowsPerTx` rows
 * (keys interleaved), one transaction after another — the per-key order a single writer produces.
 * `from`: the first counter (to go on where an earlier call stopped).
 */
export async function writeKeyed(
  insert: (rows: { topic: string; key: string; payload: Buffer }[]) => Promise<void>,
  topic: string,
  options: { keys: number; perKey: number; rowsPerTx: number; prefix?: string; from?: number },
): Promise<Written[]> {
  const all: Written[] = [];
  const from = options.from ?? 0;
  for (let n = from; n < from + options.perKey; n++) {
    for (let k = 0; k < options.keys; k++) all.push({ key: `${options.prefix ?? 'key'}-${k}`, n });
  }
  for (let i = 0; i < all.length; i += options.rowsPerTx) {
    const slice = all.slice(i, i + options.rowsPerTx);
    await insert(slice.map((w) => ({ topic, key: w.key, payload: payloadOf(w) })));
  }
  return all;
}
