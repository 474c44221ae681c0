/**
 * Publish one claimed batch and say what became of each row: acknowledged, failed (with its class),
 * or held back (stays pending, untouched). The loop (relay.ts) then completes the acknowledged rows
 * and records the failed ones in the same transaction, so one bad row never stops the batch, its
 * neighbours are never published again because of it, and only its own key waits.
 *
 * 1. Rows that can never be published (relay/validate.ts) fail at once, without a round trip.
 * 2. Rows for topics the cluster does not have fail as unknown-topic (retried later), also without a
 *    send: kafkajs would spend its whole retry budget on them and fail their neighbours too. Rows
 *    larger than their topic's max.message.bytes (when the publisher knows it) fail as too-large.
 * 3. The rest goes out in size-bounded chunks, one request in flight. A chunk that Kafka acknowledged
 *    is done whatever happens to later chunks. A chunk refused for a row-level reason
 *    (MESSAGE_TOO_LARGE, TOPIC_AUTHORIZATION_FAILED, …) is split by partition first (Kafka appends
 *    or refuses one partition's records as a whole, so the other partitions' rows, which that send
 *    may have written, are sent once more and no more: duplicates stay within one chunk), then the
 *    refused partition's rows are bisected, halves in order, until the refused rows stand alone.
 *    Each failed send replaces the producer, as every failed send does.
 * 4. With blockKeys (the default policy), once a row fails, the later rows of its key in this batch
 *    are held back: a key's order is never broken by publishing past its failed row.
 * 5. Any other failure (broker down, timeout, leader moving) ends the batch: what was acknowledged
 *    so far is kept, everything else is held, and `error` tells the loop to back off as before.
 */
import { classifyPublishError, ROW_FAILURE_CLASS } from '../publisher/classify.js';
import type { Publisher } from '../publisher/kafka.js';
import { DeadlineError } from '../sleep.js';
import type { ClaimedRow } from '../sql/claimBatch.js';
import { chunkBySize, rowSizes } from './batch.js';
import { validateRow, type FailureClass } from './validate.js';

export interface RowFailure {
  row: ClaimedRow;
  class: FailureClass;
  message: string;
}

export interface BatchOutcome {
  acked: ClaimedRow[];
  failed: RowFailure[];
  held: ClaimedRow[];
  /** Set when a batch-level failure ended the batch early. */
  error?: unknown;
  /** Produce calls made (1 per chunk when nothing fails). */
  sends: number;
}

export interface PublishBatchOptions {
  publisher: Publisher;
  maxMessageBytes: number;
  /** Header values may be null (the Debezium mapping); see relay/validate.ts. */
  nullHeaderValues?: boolean;
  batchMaxBytes: number;
  blockKeys: boolean;
  /** The whole batch must be done by then (performance.now() time): it bounds the open claim. */
  deadline: number;
  /** The publish timeout the deadline came from, for the error message. */
  timeoutMs: number;
  /** Called after each failed send, before the next one (the loop replaces the producer there). */
  afterFailedSend(reason: string): Promise<void>;
}

/** Thrown inside to end the batch on a failure that is not the rows' fault. */
class BatchLevelFailure extends Error {
  constructor(readonly error: unknown) {
    super('batch-level failure');
  }
}

export async function publishBatch(rows: ClaimedRow[], o: PublishBatchOptions): Promise<BatchOutcome> {
  const out: BatchOutcome = { acked: [], failed: [], held: [], sends: 0 };
  const sizeOf = rowSizes();
  const failedKeys = new Set<string>();
  const fail = (row: ClaimedRow, cls: FailureClass, message: string) => {
    out.failed.push({ row, class: cls, message });
    if (row.key !== null) failedKeys.add(row.key);
  };
  /** A row behind a failed row of its key is held, not judged: only a key's first failure is recorded. */
  const behindFailure = (row: ClaimedRow) => o.blockKeys && row.key !== null && failedKeys.has(row.key);
  /** Rows that may still go out; the ones behind a failure move to `held`. */
  const sendable = (candidates: ClaimedRow[]) => {
    if (failedKeys.size === 0) return candidates;
    const keep: ClaimedRow[] = [];
    for (const row of candidates) (behindFailure(row) ? out.held : keep).push(row);
    return keep;
  };

  // 1. Validation, in outbox order so a failed row holds back only the later rows of its key.
  let pending: ClaimedRow[] = [];
  for (const row of rows) {
    const problem = behindFailure(row) ? undefined : validateRow(row, o.maxMessageBytes, sizeOf, o.nullHeaderValues);
    if (problem) fail(row, problem.class, problem.message);
    else pending.push(row);
  }
  pending = sendable(pending);

  try {
    // 2. Topics the cluster does not have.
    const topics = [...new Set(pending.map((r) => r.topic))];
    const missing = new Set(
      await checked(o, () => o.publisher.missingTopics(topics)).catch((err: unknown) => {
        throw err instanceof BatchLevelFailure ? err : new BatchLevelFailure(err);
      }),
    );
    if (missing.size > 0) {
      const rest: ClaimedRow[] = [];
      for (const row of pending) {
        if (missing.has(row.topic) && !behindFailure(row)) fail(row, 'unknown-topic', `topic ${row.topic} does not exist on the Kafka cluster: create it`);
        else rest.push(row);
      }
      pending = sendable(rest);
    }
    const limits = o.publisher.messageLimits ? await checked(o, () => o.publisher.messageLimits!(topics.filter((t) => !missing.has(t)))).catch(() => new Map<string, number>()) : undefined;
    if (limits && limits.size > 0) {
      const rest: ClaimedRow[] = [];
      for (const row of pending) {
        const limit = limits.get(row.topic);
        const size = limit === undefined ? 0 : sizeOf(row);
        if (limit !== undefined && size > limit && !behindFailure(row)) fail(row, 'too-large', `row is ${size} bytes, more than topic ${row.topic}'s max.message.bytes ${limit}`);
        else rest.push(row);
      }
      pending = sendable(rest);
    }

    // 3. Chunks, one request at a time.
    const send = async (part: ClaimedRow[]): Promise<void> => {
      part = sendable(part);
      if (part.length === 0) return;
      out.sends += 1;
      try {
        await checked(o, () => o.publisher.send([part], Math.max(1, o.deadline - performance.now())));
        out.acked.push(...part);
        return;
      } catch (err) {
        if (err instanceof BatchLevelFailure) throw err;
        const failure = classifyPublishError(err);
        const cls = failure.type ? ROW_FAILURE_CLASS[failure.type] : undefined;
        if (!cls) throw new BatchLevelFailure(err);
        const partitions = o.publisher.partitionsOfLastSend();
        await o.afterFailedSend(failure.type!);
        const groups = new Map<string, ClaimedRow[]>();
        for (const row of part) {
          const p = partitions.get(row.seq) ?? '?';
          const group = groups.get(p);
          if (group) group.push(row);
          else groups.set(p, [row]);
        }
        if (groups.size > 1) {
          for (const group of groups.values()) await send(group);
          return;
        }
        if (part.length === 1) {
          fail(part[0]!, cls, `Kafka refused the row: ${failure.type}: ${failure.message}`);
          return;
        }
        const half = Math.ceil(part.length / 2);
        await send(part.slice(0, half));
        await send(part.slice(half));
      }
    };
    for (const chunk of chunkBySize(pending, o.batchMaxBytes, sizeOf)) await send(chunk);
  } catch (err) {
    if (!(err instanceof BatchLevelFailure)) throw err;
    out.error = err.error;
    const done = new Set([...out.acked, ...out.failed.map((f) => f.row), ...out.held]);
    out.held.push(...rows.filter((r) => !done.has(r)));
  }
  out.held.sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq)));
  return out;
}

/** Run a publisher call within the batch deadline; any failure of it ends the batch unless the caller classifies it. */
async function checked<T>(o: PublishBatchOptions, call: () => Promise<T>): Promise<T> {
  if (performance.now() >= o.deadline) throw new BatchLevelFailure(new DeadlineError('publishing a batch to Kafka', o.timeoutMs));
  return call();
}
