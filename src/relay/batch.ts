/**
 * Pure batching of mapped rows (the mapping itself is src/mapping/; the conversion to the Kafka
 * client's message type is the publisher's, src/publisher/kafkajs-messages.ts).
 */
import type { OutboxRow } from '../sql/claimBatch.js';

/** Bytes a row adds to a produce request, roughly: what batchMaxBytes limits. */
export function rowSize(row: OutboxRow): number {
  let size = (row.payload?.length ?? 0) + (row.key === null ? 0 : Buffer.byteLength(row.key));
  const headers = row.headers;
  for (const name in headers) {
    const value = headers[name]!;
    size += Buffer.byteLength(name) + (value === null ? 0 : Buffer.byteLength(value));
  }
  return size;
}

/** rowSize, computed once per row however often it is asked (a batch asks up to three times). */
export function rowSizes(): (row: OutboxRow) => number {
  const sizes = new Map<OutboxRow, number>();
  return (row) => {
    let size = sizes.get(row);
    if (size === undefined) sizes.set(row, (size = rowSize(row)));
    return size;
  };
}

/**
 * Split rows (in outbox order) into consecutive chunks of at most maxBytes each, so that no produce
 * request exceeds the broker's message.max.bytes. A single row larger than maxBytes gets a chunk of its
 * own (the broker then judges it). Order is kept: chunks are sent one after another.
 */
export function chunkBySize<R extends OutboxRow>(rows: R[], maxBytes: number, sizeOf: (row: R) => number = rowSize): R[][] {
  const chunks: R[][] = [];
  let current: R[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = sizeOf(row);
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
