#!/usr/bin/env node
// Backlog drain measured on a real relay process (`bin/outbox-relay run`), for docs/performance.md:
// preload N rows (200-byte payloads, 1,000 keys) into a fresh outbox and a fresh 3-partition topic,
// spawn the relay, and time from its "relay started" log line until no row is pending. The relay's
// own CPU (utime + stime from /proc/<pid>/stat) over that window gives CPU µs per row; VmHWM from
// /proc/<pid>/status its peak RSS; the relay's PostgreSQL backends' CPU is read the same way. Variants run interleaved (A B A B …) so a busy box hurts them alike.
//
//   node bench/relay-process.mjs [--rows 200000] [--rounds 3] [--variant name=DIR[,ENV=VALUE…]]… [--prof DIR] [--out FILE]
//
// DIR is a checkout holding bin/outbox-relay and its built dist/ (default: this one), so two builds
// of the relay can be compared in one sitting. ENV=VALUE pairs are passed to that variant's relay.
// --prof DIR runs every relay under `node --cpu-prof` and leaves the .cpuprofile files in DIR
// (bench/profile-summary.mjs summarises one). --out FILE appends one JSON line per run.
// Needs the stack (npm run stack:up) and `npm run build`. Linux only (/proc).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createLogger, migrate, outboxNames } from '../dist/index.js';
import { cpuSeconds } from './lib/proc.mjs';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const rows = Number(opt('rows', 200_000));
const rounds = Number(opt('rounds', 3));
const prof = opt('prof');
const out = opt('out');
const variants = args
  .flatMap((a, i) => (a === '--variant' ? [args[i + 1]] : []))
  .map((spec) => {
    const [head, ...pairs] = spec.split(',');
    const [name, dir = '.'] = head.split('=');
    return { name, dir: resolve(dir), env: Object.fromEntries(pairs.map((p) => p.split(/=(.*)/s).slice(0, 2))) };
  });
if (variants.length === 0) variants.push({ name: 'relay', dir: here, env: {} });
if (prof) mkdirSync(prof, { recursive: true });

const stack = Object.fromEntries(
  execFileSync('bash', [join(here, 'stack/up.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .trim()
    .split('\n')
    .map((l) => l.split(/=(.*)/s).slice(0, 2)),
);
const kafka = new kafkajs.Kafka({ clientId: 'bench', brokers: stack.KAFKA_BROKERS.split(','), logLevel: kafkajs.logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const pool = new pg.Pool({ connectionString: stack.DATABASE_URL, max: 2 });
const log = createLogger('silent');

/** CPU seconds of the PostgreSQL backends serving the relay's pool, by pid (local server only). */
async function backendCpu(names) {
  const { rows: r } = await pool.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [names.relayApplicationName]);
  const out = new Map();
  for (const { pid } of r) {
    const cpu = cpuSeconds(pid); // undefined: not on this machine, or gone
    if (cpu !== undefined) out.set(pid, cpu);
  }
  return out;
}
function peakRssMb(pid, field = 'VmHWM') {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function runOne(v, round) {
  const schema = `perf_${randomBytes(4).toString('hex')}`;
  const topic = `perf.${schema}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  const names = outboxNames(schema, 'outbox');
  await migrate(pool, names, log);
  await pool.query(
    `INSERT INTO ${names.outbox} (topic, key, payload)
     SELECT $1, 'key-' || (g % 1000), convert_to(repeat('x', 200), 'UTF8') FROM generate_series(1, $2) g`,
    [topic, rows],
  );
  await pool.query(`VACUUM ANALYZE ${names.outbox}`);
  const env = {
    ...process.env,
    DATABASE_URL: stack.DATABASE_URL,
    KAFKA_BROKERS: stack.KAFKA_BROKERS,
    OUTBOX_SCHEMA: schema,
    OUTBOX_HTTP_ADDR: '127.0.0.1:0',
    LOG_LEVEL: 'info',
    ...v.env,
  };
  // Node refuses --cpu-prof in NODE_OPTIONS: run dist/main.js the way bin/outbox-relay does, with the flags.
  const [command, argv] = prof
    ? ['node', ['--cpu-prof', `--cpu-prof-dir=${resolve(prof)}`, `--cpu-prof-name=${v.name}-${round}-${schema}.cpuprofile`, '--', join(v.dir, 'dist/main.js'), 'run']]
    : [join(v.dir, 'bin/outbox-relay'), ['run']];
  const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const lines = createInterface({ input: child.stdout });
  let start;
  await new Promise((res, rej) => {
    lines.on('line', (line) => {
      if (start === undefined && line.includes('"relay started"')) {
        start = { t: performance.now(), cpu: cpuSeconds(child.pid), rss: peakRssMb(child.pid, 'VmRSS') };
        backendCpu(names).then((pg) => {
          start.pg = pg;
          res();
        }, rej);
      }
    });
    exited.then((e) => rej(new Error(`relay exited before starting: ${JSON.stringify(e)}`)));
  });
  let end;
  for (;;) {
    const { rows: r } = await pool.query(`SELECT EXISTS (SELECT 1 FROM ${names.outbox} WHERE sent_at IS NULL) AS more`);
    if (!r[0].more) {
      end = { t: performance.now(), cpu: cpuSeconds(child.pid), rss: peakRssMb(child.pid), pg: await backendCpu(names) };
      break;
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  child.kill('SIGTERM');
  const exit = await exited;
  const seconds = (end.t - start.t) / 1000;
  const line = {
    variant: v.name,
    round,
    rows,
    seconds: +seconds.toFixed(2),
    rowsPerSecond: Math.round(rows / seconds),
    cpuMicrosPerRow: +(((end.cpu - start.cpu) * 1e6) / rows).toFixed(2),
    cpuShare: +((end.cpu - start.cpu) / seconds).toFixed(2),
    // The relay's PostgreSQL backends (claim, complete, leases); a backend that ended meanwhile is missed.
    pgCpuMicrosPerRow: +(([...end.pg].reduce((sum, [pid, cpu]) => sum + cpu - (start.pg.get(pid) ?? 0), 0) * 1e6) / rows).toFixed(2),
    peakRssMb: +end.rss.toFixed(1),
    startRssMb: +start.rss.toFixed(1),
    exit: exit.code ?? exit.signal,
    at: new Date().toISOString(),
  };
  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.deleteTopics({ topics: [topic] });
  return line;
}

const results = new Map(variants.map((v) => [v.name, []]));
for (let round = 0; round < rounds; round++) {
  for (const v of variants) {
    const line = await runOne(v, round);
    console.log(JSON.stringify(line));
    if (out) appendFileSync(out, `${JSON.stringify(line)}\n`);
    results.get(v.name).push(line);
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log('\nvariant                  median rows/s   median CPU µs/row (min..max)   median peak RSS MB   median PG backend µs/row');
for (const [name, lines] of results) {
  const cpu = lines.map((l) => l.cpuMicrosPerRow);
  console.log(
    `${name.padEnd(24)} ${String(Math.round(median(lines.map((l) => l.rowsPerSecond)))).padStart(14)}   ${median(cpu).toFixed(2).padStart(8)} (${Math.min(...cpu).toFixed(2)}..${Math.max(...cpu).toFixed(2)})   ${median(lines.map((l) => l.peakRssMb)).toFixed(1).padStart(10)}   ${median(lines.map((l) => l.pgCpuMicrosPerRow)).toFixed(2).padStart(10)}`,
  );
}
await admin.disconnect();
await pool.end();
