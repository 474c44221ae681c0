// PostgreSQL and stack helpers for benchmarks:
//
//   stackEnv(script = ['stack/up.sh']) run a stack script (default stack/up.sh, which reuses running
//                                   services) and return the NAME=value lines it prints as an object,
//                                   e.g. { DATABASE_URL, KAFKA_BROKERS }
//   preload(pool, { table, rows, columns, chunk })
//                                   INSERT INTO table (cols) SELECT <exprs> FROM generate_series(…) g,
//                                   in transactions of `chunk` rows (default 10,000); each column's
//                                   expression may use g (1..rows); then VACUUM ANALYZE
//   median(numbers)                 for the summaries of the interleaved benches
//   keyExpr(keys)                   'key-' || (g % keys): `keys` distinct keys, round robin
//   payloadExpr(bytes, kind)        a payload of exactly `bytes` bytes: kind 'bytea' (the relay's
//                                   column), 'text', or 'jsonb' ({"d": "xxx…"}, `bytes` long as text)
//   preloadRelayOutbox(pool, names, { topic, rows, payloadBytes, keys })
//                                   the relay's outbox (names from outboxNames(), migrated)
//   privateCluster(port, { logical }) start (once) a private PostgreSQL on 127.0.0.1:port with
//                                   stack/pg-private.sh, fsync=on like a default server (logical:
//                                   wal_level=logical); returns its URL. An already running cluster
//                                   keeps the settings it was started with.
//   destroyPrivateCluster(port)     stop it and delete its data directory
//   logicalCluster(port, { keep, applicationName, onCleanup })
//                                   privateCluster(port, { logical: true }), checked to run with
//                                   wal_level=logical, and a pool on it: { url, pool }; onCleanup
//                                   (bench/lib/cli.mjs) gets the pool's end and, unless keep, the
//                                   cluster's deletion
//   dropReplication(pool, { slot, publication, schema })
//                                   drop a replication slot, a publication and a schema (cleanup)
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function parseEnvLines(out) {
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => l.split(/=(.*)/s).slice(0, 2)),
  );
}

export function stackEnv(script = ['stack/up.sh']) {
  return parseEnvLines(execFileSync('bash', script, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
}

/** The median of numbers (the upper one of the middle two for an even count). */
export function median(xs) {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

export function keyExpr(keys) {
  return `'key-' || (g % ${Math.trunc(keys)})`;
}

export function payloadExpr(bytes, kind = 'bytea') {
  const n = Math.trunc(bytes);
  if (kind === 'bytea') return `convert_to(repeat('x', ${n}), 'UTF8')`;
  if (kind === 'text') return `repeat('x', ${n})`;
  if (kind === 'jsonb') return `jsonb_build_object('d', repeat('x', ${Math.max(0, n - 9)}))`; // {"d": "…"} is 9 bytes
  throw new Error(`unknown payload kind ${kind}`);
}

export async function preload(pool, { table, rows, columns, chunk = 10_000 }) {
  const names = Object.keys(columns);
  const exprs = Object.values(columns);
  const client = await pool.connect();
  try {
    for (let from = 1; from <= rows; from += chunk) {
      const to = Math.min(rows, from + chunk - 1);
      await client.query(`INSERT INTO ${table} (${names.join(', ')}) SELECT ${exprs.join(', ')} FROM generate_series(${from}, ${to}) g`);
    }
    await client.query(`VACUUM ANALYZE ${table}`);
  } finally {
    client.release();
  }
}

export async function preloadRelayOutbox(pool, names, { topic, rows, payloadBytes = 200, keys = 1000, chunk }) {
  await preload(pool, {
    table: names.outbox,
    rows,
    chunk,
    columns: { topic: `'${topic.replaceAll("'", "''")}'`, key: keys > 0 ? keyExpr(keys) : 'NULL', payload: payloadExpr(payloadBytes, 'bytea') },
  });
}

export function privateCluster(port, { logical = false } = {}) {
  const env = { ...process.env };
  // fsync=on: pg-private.sh turns it off for fault tests; a benchmark compares with a default server.
  env.PG_PRIVATE_OPTS = `-c fsync=on${logical ? ' -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10' : ''}`;
  const out = execFileSync('bash', ['stack/pg-private.sh', 'start', String(port)], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseEnvLines(out).DATABASE_URL;
}

export function destroyPrivateCluster(port) {
  execFileSync('bash', ['stack/pg-private.sh', 'destroy', String(port)], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
}

export async function logicalCluster(port, { keep = false, applicationName = 'bench', onCleanup }) {
  const url = privateCluster(port, { logical: true });
  if (!keep) onCleanup(() => destroyPrivateCluster(port));
  const pool = new pg.Pool({ connectionString: url, max: 2, application_name: applicationName });
  onCleanup(() => pool.end());
  const walLevel = (await pool.query('SHOW wal_level')).rows[0].wal_level;
  if (walLevel !== 'logical') {
    throw new Error(`the cluster on port ${port} runs with wal_level=${walLevel}; delete it (stack/pg-private.sh destroy ${port}) so that it starts again with wal_level=logical`);
  }
  return { url, pool };
}

export async function dropReplication(pool, { slot, publication, schema }) {
  await pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => undefined);
  await pool.query(`DROP PUBLICATION IF EXISTS ${publication}`);
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

/** The repository's root directory (ends with a slash). */
export const repoRoot = ROOT;
