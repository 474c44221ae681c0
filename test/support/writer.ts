/**
 * A steady application-style writer for fault tests: keeps committing transactions of keyed rows
 * (per-key counters in order, keys interleaved, as writeKeyed does) until stopped, so faults land
 * while batches are in flight.
 */
import { payloadOf, type Written } from './checker.js';
import type { NewRow } from './outbox.js';

export interface SteadyWriter {
  /** Rows committed so far. */
  readonly written: Written[];
  /** Resolves once this many rows have been committed. */
  reach(rows: number): Promise<void>;
  /** Stop after the transaction in progress; resolves with every committed row. */
  stop(): Promise<Written[]>;
}

export function startWriter(
  insert: (rows: NewRow[]) => Promise<void>,
  topic: string,
  options: { keys: number; rowsPerTx: number; pauseMs?: number; prefix?: string },
): SteadyWriter {
  const written: Written[] = [];
  const next = new Array<number>(options.keys).fill(0);
  let cursor = 0;
  let stopping = false;
  const waiters: { rows: number; resolve: () => void }[] = [];
  const loop = (async () => {
    while (!stopping) {
      const batch: Written[] = [];
      for (let i = 0; i < options.rowsPerTx; i++) {
        const k = cursor++ % options.keys;
        batch.push({ key: `${options.prefix ?? 'key'}-${k}`, n: next[k]!++ });
      }
      await insert(batch.map((w) => ({ topic, key: w.key, payload: payloadOf(w) })));
      written.push(...batch);
      for (const w of waiters.filter((w) => written.length >= w.rows)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  })();
  return {
    written,
    reach: (rows) =>
      written.length >= rows
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiters.push({ rows, resolve })),
            loop.then(() => Promise.reject(new Error(`writer stopped at ${written.length} rows, before ${rows}`))),
          ]),
    async stop() {
      stopping = true;
      await loop;
      return written;
    },
  };
}
