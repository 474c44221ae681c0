// Command line of a benchmark reference (bench/refs/<name>.mjs), the contract the harness calls:
//
//   node bench/refs/<name>.mjs --rows N --payload-bytes 200 --keys 1000 --partitions 3 \
//        --brokers 127.0.0.1:9092 --database-url postgres://postgres@127.0.0.1:5432/postgres [--topic T] [--workdir DIR]
//
// Progress goes to stderr (progress()); the last stdout line is one JSON object (what fn returns, with
// system, rows and rows_per_s added). A failure exits 1 with one line on stderr: an error thrown inside
// fn (then stdout has no JSON line), or a result with delivered < rows (the JSON line is still printed,
// with the reason in its `error` field when fn set one).
//
//   import { main, progress } from '../lib/cli.mjs';
//   await main('kafka-ceiling', { extra: { mode: { type: 'string', default: 'x' } } }, async (args) => ({ ...result }));
//
// args: { rows, payloadBytes, keys, partitions, brokers (string[]), databaseUrl, topic, workdir, …extra }.
// topic defaults to bench.<name>.<random>; workdir to a fresh directory under the OS temp dir.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const COMMON = {
  rows: { type: 'string', default: '100000' },
  'payload-bytes': { type: 'string', default: '200' },
  keys: { type: 'string', default: '1000' },
  partitions: { type: 'string', default: '3' },
  brokers: { type: 'string', default: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092' },
  'database-url': { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
  topic: { type: 'string' },
  workdir: { type: 'string' },
  help: { type: 'boolean', default: false },
};

/** A short random suffix for topic, schema, slot and table names (lowercase, safe unquoted). */
export function uniqueSuffix() {
  return randomBytes(4).toString('hex');
}

/** A line on stderr, prefixed with the reference's name and the seconds since the process began. */
export function progress(message) {
  process.stderr.write(`[${refName} +${(performance.now() / 1000).toFixed(1)}s] ${message}\n`);
}

/** One line on stderr and exit 1 (cleanup hooks registered with onCleanup run first). */
export class BenchError extends Error {}

let refName = 'bench';
const cleanups = [];

/** Run fn at exit, success or failure, last registered first (deletes topics, stops processes). */
export function onCleanup(fn) {
  cleanups.push(fn);
}

async function runCleanups() {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (err) {
      progress(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function positiveInt(name, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new BenchError(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

/**
 * Parse the common arguments (plus `extra`, node:util parseArgs options), run fn(args), print its
 * result as the last stdout line (with system, rows and rows_per_s filled in) and exit 0; on an error,
 * print one line to stderr and exit 1. `usage` is printed for --help.
 */
export async function main(name, { extra = {}, usage = '' } = {}, fn) {
  refName = name;
  let code = 0;
  const stop = () => {
    progress('interrupted; cleaning up');
    void runCleanups().then(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    let values;
    try {
      ({ values } = parseArgs({ options: { ...COMMON, ...extra }, strict: true, allowPositionals: false }));
    } catch (err) {
      throw new BenchError(`${err.message} (see --help)`);
    }
    if (values.help) {
      process.stdout.write(
        `usage: node bench/refs/${name}.mjs --rows N --payload-bytes 200 --keys 1000 --partitions 3 --brokers HOST:PORT --database-url URL [--topic T] [--workdir DIR]${usage ? `\n${usage}` : ''}\n`,
      );
      return;
    }
    const suffix = uniqueSuffix();
    const workdir = values.workdir ?? mkdtempSync(join(tmpdir(), `bench-${name}-`));
    mkdirSync(workdir, { recursive: true });
    const args = {
      ...values,
      rows: positiveInt('rows', values.rows),
      payloadBytes: positiveInt('payload-bytes', values['payload-bytes']),
      keys: positiveInt('keys', values.keys),
      partitions: positiveInt('partitions', values.partitions),
      brokers: values.brokers.split(',').map((b) => b.trim()).filter(Boolean),
      databaseUrl: values['database-url'],
      topic: values.topic ?? `bench.${name}.${suffix}`,
      workdir,
      suffix,
    };
    const result = await fn(args);
    await runCleanups();
    const out = {
      system: name,
      rows: args.rows,
      ...result,
      rows_per_s: result.seconds > 0 ? Math.round(result.delivered / result.seconds) : null,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    if (!(out.delivered >= args.rows)) {
      // The JSON line still says what was measured; the exit code and stderr say it failed.
      process.stderr.write(`${name}: error: delivered ${out.delivered} of ${args.rows} messages${out.error ? `: ${out.error}` : ''}\n`);
      code = 1;
    }
  } catch (err) {
    await runCleanups();
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${name}: error: ${msg.split('\n')[0]}\n`);
    if (!(err instanceof BenchError) && err instanceof Error && process.env.BENCH_DEBUG) process.stderr.write(`${err.stack}\n`);
    code = 1;
  }
  process.exit(code);
}

/** Round to `digits` decimals. */
export function round(x, digits = 2) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
