// The bench's view of the world: the stack (stack/up.sh), one Kafka admin and one pg pool, fresh
// per-run schemas and topics, the machine and the versions of everything measured.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createLogger, migrate, outboxNames } from '../../dist/index.js';

export const ROOT = new URL('../../', import.meta.url).pathname;
const silent = createLogger('silent');

/** `bash stack/up.sh` (reuses running services); returns { DATABASE_URL, KAFKA_BROKERS }. */
export function stackUp() {
  const out = execFileSync('bash', [`${ROOT}stack/up.sh`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
}

export class BenchEnv {
  constructor(stack) {
    this.stack = stack;
    this.kafka = new kafkajs.Kafka({ clientId: 'bench', brokers: stack.KAFKA_BROKERS.split(','), logLevel: kafkajs.logLevel.NOTHING });
    this.admin = this.kafka.admin();
    this.pool = new pg.Pool({ connectionString: stack.DATABASE_URL, max: 4 });
    this.made = [];
  }

  async connect() {
    await this.admin.connect();
  }

  /**
   * A fresh outbox schema (all migrations) and its topic. The topic stamps LogAppendTime, so a
   * message's timestamp is the broker's append (= acknowledgement) time whatever the producer sets.
   */
  async outbox({ partitions = 3, trigger = true } = {}) {
    const schema = `bench_${randomBytes(4).toString('hex')}`;
    const topic = `bench.${schema}`;
    await this.topic(topic, partitions);
    const names = outboxNames(schema, 'outbox');
    await migrate(this.pool, names, silent);
    if (!trigger) await this.pool.query(`DROP TRIGGER ${names.notifyTrigger} ON ${names.outbox}`);
    const run = { schema, topic, names };
    this.made.push(run);
    return run;
  }

  async topic(topic, partitions) {
    for (let attempt = 1; ; attempt++) {
      // The broker's metadata can lag right after many topics were deleted: retry a few times.
      try {
        await this.admin.createTopics({
          topics: [{ topic, numPartitions: partitions, replicationFactor: 1, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] }],
          waitForLeaders: true,
        });
        return;
      } catch (err) {
        if (attempt >= 5) throw err;
        await sleep(1000);
      }
    }
  }

  /** Preload `rows` rows of `payloadBytes`-byte payloads over `keys` keys (0 = keyless). */
  async preload(run, rows, { payloadBytes = 200, keys = 1000 } = {}) {
    await this.pool.query(
      `INSERT INTO ${run.names.outbox} (topic, key, payload)
       SELECT $1, ${keys > 0 ? `'key-' || (g % ${Number(keys)})` : 'NULL'}, convert_to(repeat('x', $3), 'UTF8')
       FROM generate_series(1, $2) g`,
      [run.topic, rows, payloadBytes],
    );
    await this.pool.query(`VACUUM ANALYZE ${run.names.outbox}`);
  }

  /** Messages in the topic (sum of the partitions' high watermarks). */
  async messageCount(topic) {
    const offs = await this.admin.fetchTopicOffsets(topic);
    return offs.reduce((n, p) => n + Number(p.high), 0);
  }

  async pending(run) {
    const r = await this.pool.query(`SELECT count(*)::int AS n FROM ${run.names.outbox} WHERE sent_at IS NULL`);
    return r.rows[0].n;
  }

  async drop(run) {
    await this.pool.query(`DROP SCHEMA IF EXISTS ${run.schema} CASCADE`).catch(() => undefined);
    await this.admin.deleteTopics({ topics: [run.topic] }).catch(() => undefined);
    this.made = this.made.filter((r) => r !== run);
  }

  async close() {
    for (const run of [...this.made]) await this.drop(run);
    await this.admin.disconnect().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
/** A sleep that does not keep the process alive (for timeouts raced against the real event). */
export const timeout = (ms) => new Promise((res) => setTimeout(res, ms).unref());

/** CPU model, cores, memory, OS, load: what a reader needs to judge the numbers. */
export function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const mem = /MemTotal:\s*(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
  return {
    cpu_model: model.trim(),
    cpus: os.cpus().length,
    memory_gb: mem ? Math.round((Number(mem[1]) / 1024 / 1024) * 10) / 10 : null,
    os: `${os.type()} ${os.release()} (${os.arch()})`,
    loadavg_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export async function versions(env) {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8'));
  const lock = JSON.parse(readFileSync(`${ROOT}package-lock.json`, 'utf8'));
  let commit = null;
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout
  }
  const pgv = (await env.pool.query('SHOW server_version')).rows[0].server_version;
  return {
    outbox_relay: pkg.version,
    git_commit: commit,
    node: process.version,
    kafkajs: lock.packages?.['node_modules/kafkajs']?.version ?? null,
    postgresql: pgv,
    kafka: kafkaVersion(),
  };
}

function kafkaVersion() {
  const libs = `${process.env.STACK_DIR ?? `${ROOT}.stack`}/kafka/libs`;
  try {
    const jar = readdirSync(libs).find((f) => /^kafka-clients-.*\.jar$/.test(f));
    return jar ? jar.replace(/^kafka-clients-|\.jar$/g, '') : null;
  } catch {
    return null;
  }
}
