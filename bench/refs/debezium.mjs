#!/usr/bin/env node
// Reference "debezium": Debezium's PostgreSQL connector with the Outbox Event Router (the jars
// stack/debezium.sh fetches from Maven Central) on Kafka Connect standalone, draining a backlog of N
// rows from a Debezium-style outbox table (id uuid, aggregatetype, aggregateid, type, payload text)
// into one topic (aggregatetype = the topic, route.topic.replacement=${routedByValue}), keyed by
// aggregateid (--keys keys).
//
// Debezium reads the WAL, so it runs on its own private PostgreSQL cluster with wal_level=logical
// (stack/pg-private.sh, --pg-port, default 5437), not on --database-url. The backlog is built so that
// Debezium must catch up on it from a cold start:
//   1. start Connect with snapshot.mode=no_data; wait until the connector created its replication
//      slot; insert one warm-up row (routed to <topic>.warmup) so that Connect has an offset to
//      commit, and wait for that offset; stop Connect (SIGTERM, SIGKILL after 20 s: its Jetty
//      sometimes hangs on SIGTERM)
//   2. insert the N rows (transactions of 10,000 rows)
//   3. start Connect again: seconds = from that JVM's start to the broker append time of the last
//      message (Connect's start-up and connector start included; startup_s says how long those took)
// peak_rss_mb/cpu_s: the Connect JVM of step 3. Every run has its own schema, slot, publication,
// topic, offsets file and REST port (--connect-port, default 8093); all are removed at the end. The
// private cluster is deleted at the end unless --keep-cluster (then the next run reuses it).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main, onCleanup, progress, round } from '../lib/cli.mjs';
import { countMessages, createTopic, deleteTopic, waitForMessages } from '../lib/kafka.mjs';
import { dropReplication, keyExpr, logicalCluster, payloadExpr, preload, repoRoot } from '../lib/pg.mjs';
import { startMeasured } from '../lib/spawn.mjs';

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

async function until(what, timeoutMs, fn, alive = () => true) {
  const t0 = Date.now();
  for (;;) {
    if (await fn()) return;
    if (!alive()) throw new Error(`Kafka Connect exited while waiting for ${what}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(200);
  }
}

async function restJson(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}

await main(
  'debezium',
  {
    extra: {
      'pg-port': { type: 'string', default: '5437' },
      'connect-port': { type: 'string', default: '8093' },
      'connect-heap': { type: 'string', default: '512m' },
      'keep-cluster': { type: 'boolean', default: false },
    },
    usage:
      '  [--pg-port 5437] private logical PostgreSQL cluster   [--connect-port 8093] Connect REST port\n  [--connect-heap 512m]   [--keep-cluster] leave the private cluster running for the next run',
  },
  async (args) => {
    const pgPort = Number(args['pg-port']);
    const connectPort = Number(args['connect-port']);
    const jars = Object.fromEntries(
      execFileSync('bash', ['stack/debezium.sh', 'jars'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
        .trim()
        .split('\n')
        .map((l) => l.split(/=(.*)/s).slice(0, 2)),
    );
    const pluginDir = join(jars.CONNECT_PLUGINS, 'debezium-connector-postgres');
    const dbzJar = readdirSync(pluginDir).find((f) => /^debezium-connector-postgres-.*\.jar$/.test(f));
    const version = dbzJar.replace(/^debezium-connector-postgres-/, '').replace(/\.jar$/, '');
    const connectJar = readdirSync(jars.CONNECT_LIBS).find((f) => /^connect-runtime-.*\.jar$/.test(f));
    const connectVersion = connectJar.replace(/^connect-runtime-/, '').replace(/\.jar$/, '');

    progress(`private PostgreSQL (wal_level=logical) on 127.0.0.1:${pgPort}`);
    const { pool } = await logicalCluster(pgPort, { keep: args['keep-cluster'], applicationName: 'bench-debezium', onCleanup });

    const schema = `bench_dbz_${args.suffix}`;
    const slot = `bench_dbz_${args.suffix}`;
    const publication = `bench_dbz_${args.suffix}_pub`;
    await pool.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.outbox (id uuid PRIMARY KEY, aggregatetype text NOT NULL, aggregateid text NOT NULL, type text NOT NULL, payload text)`);
    onCleanup(() => dropReplication(pool, { slot, publication, schema }));
    await createTopic(args.brokers, args.topic, args.partitions);
    onCleanup(() => deleteTopic(args.brokers, args.topic));
    const warmupTopic = `${args.topic}.warmup`;
    await createTopic(args.brokers, warmupTopic, 1);
    onCleanup(() => deleteTopic(args.brokers, warmupTopic));

    const offsets = join(args.workdir, 'offsets.dat');
    const worker = join(args.workdir, 'worker.properties');
    const connector = join(args.workdir, 'connector.properties');
    const connectorName = `bench-dbz-${args.suffix}`;
    const workerProps = {
      'bootstrap.servers': args.brokers.join(','),
      'plugin.path': jars.CONNECT_PLUGINS,
      'plugin.discovery': 'service_load',
      'offset.storage.file.filename': offsets,
      'offset.flush.interval.ms': '1000',
      listeners: `http://127.0.0.1:${connectPort}`,
      'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
      'value.converter': 'org.apache.kafka.connect.storage.StringConverter',
      'producer.acks': 'all',
      'producer.enable.idempotence': 'true',
    };
    const connectorProps = {
      name: connectorName,
      'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
      'tasks.max': '1',
      'database.hostname': '127.0.0.1',
      'database.port': String(pgPort),
      'database.user': 'postgres',
      'database.password': 'unused',
      'database.dbname': 'postgres',
      'topic.prefix': `bench_dbz_${args.suffix}`,
      'plugin.name': 'pgoutput',
      'slot.name': slot,
      'publication.name': publication,
      'publication.autocreate.mode': 'filtered',
      'table.include.list': `${schema}.outbox`,
      'snapshot.mode': 'no_data',
      'tombstones.on.delete': 'false',
      transforms: 'outbox',
      'transforms.outbox.type': 'io.debezium.transforms.outbox.EventRouter',
      'transforms.outbox.route.topic.replacement': '${routedByValue}',
      'transforms.outbox.table.op.invalid.behavior': 'warn',
    };
    const props = (o) => `${Object.entries(o).map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
    writeFileSync(worker, props(workerProps));
    writeFileSync(connector, props(connectorProps));
    const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
    const jvm = [`-Xms128m`, `-Xmx${args['connect-heap']}`, '-XX:+UseSerialGC'];
    const startConnect = (log) =>
      startMeasured(
        java,
        [
          ...jvm,
          `-Dlog4j2.configurationFile=${join(repoRoot, 'stack', 'kafka', 'log4j2.properties')}`,
          '-Dstack.log.level=WARN',
          '-cp',
          `${jars.CONNECT_LIBS}/*`,
          'org.apache.kafka.connect.cli.ConnectStandalone',
          worker,
          connector,
        ],
        { log },
      );
    const stopConnect = async (run) => {
      const t0 = Date.now();
      await run.stop({ graceMs: 20_000 });
      const s = Math.round((Date.now() - t0) / 100) / 10;
      progress(`Kafka Connect stopped in ${s} s`);
    };
    const taskRunning = async () => {
      const st = await restJson(`http://127.0.0.1:${connectPort}/connectors/${connectorName}/status`);
      return st?.tasks?.[0]?.state === 'RUNNING';
    };
    const slotActive = async () => (await pool.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot])).rows[0]?.active;

    // 1. Create the slot and an offset, then stop.
    if (await restJson(`http://127.0.0.1:${connectPort}/`)) throw new Error(`port ${connectPort} is taken: pass --connect-port`);
    progress(`phase 1: Debezium ${version} on Kafka Connect ${connectVersion} standalone creates its slot ${slot} and an offset`);
    const first = startConnect(join(args.workdir, 'connect-1.log'));
    onCleanup(() => first.stop({ graceMs: 20_000 }));
    await until('the replication slot to be streaming', 180_000, async () => (await slotActive()) === true, first.alive);
    await until('the connector task to run', 60_000, taskRunning, first.alive);
    // With no_data and no change yet, Connect has no offset to commit: one row, routed to a topic of its
    // own (aggregatetype = that topic), gives it one.
    await pool.query(`INSERT INTO ${schema}.outbox (id, aggregatetype, aggregateid, type, payload) VALUES (gen_random_uuid(), $1, 'warmup', 'Warmup', 'warmup')`, [warmupTopic]);
    await until('the warm-up message', 60_000, async () => (await countMessages(args.brokers, warmupTopic)) >= 1, first.alive);
    await until('an offset in the offsets file', 60_000, async () => existsSync(offsets) && statSync(offsets).size > 0, first.alive);
    await sleep(1500); // one more offset flush interval
    await stopConnect(first);
    await until('the replication slot to be released', 30_000, async () => (await slotActive()) === false);

    // 2. The backlog.
    progress(`phase 2: ${args.rows} outbox rows`);
    await preload(pool, {
      table: `${schema}.outbox`,
      rows: args.rows,
      columns: { id: 'gen_random_uuid()', aggregatetype: `'${args.topic}'`, aggregateid: keyExpr(args.keys), type: "'BenchEvent'", payload: payloadExpr(args.payloadBytes, 'text') },
    });
    await pool.query('CHECKPOINT');

    // 3. Drain it.
    progress('phase 3: Kafka Connect starts and drains the backlog');
    const run = startConnect(join(args.workdir, 'connect-2.log'));
    onCleanup(() => run.stop({ graceMs: 20_000 }));
    let startupS = null;
    void until('the connector task to run', 600_000, taskRunning, run.alive)
      .then(() => (startupS = (Date.now() - run.startedAtMs) / 1000))
      .catch(() => undefined);
    const { delivered, lastTimestampMs } = await waitForMessages(args.brokers, args.topic, args.rows, { stallMs: 120_000, alive: run.alive, progress });
    const usage = run.usage();
    await stopConnect(run);
    const seconds = lastTimestampMs === null ? null : (lastTimestampMs - run.startedAtMs) / 1000;
    return {
      version: `Debezium ${version} (PostgreSQL connector + Outbox Event Router) on Kafka Connect ${connectVersion} standalone`,
      delivered,
      seconds: seconds === null ? null : round(seconds, 3),
      peak_rss_mb: usage.peakRssMb,
      cpu_s: usage.cpuS,
      startup_s: startupS === null ? null : round(startupS, 2),
      settings: {
        jvm: jvm.join(' '),
        'plugin.name': 'pgoutput',
        'snapshot.mode': 'no_data',
        'producer.acks': 'all',
        'producer.enable.idempotence': true,
        converters: 'StringConverter',
        router: 'EventRouter, route.topic.replacement=${routedByValue} (aggregatetype = topic), key = aggregateid',
        pg: `private cluster 127.0.0.1:${pgPort}, wal_level=logical, fsync=on`,
        keys: args.keys,
        payload_bytes: args.payloadBytes,
      },
      notes: `seconds from the Connect JVM's start to the last message's broker append time; startup_s: JVM start to connector task RUNNING; the backlog was inserted while Connect was stopped (slot and offset made before), so Debezium catches up from the WAL; Debezium's cluster is private (wal_level=logical, fsync=on)${args['keep-cluster'] ? ' (kept running: --keep-cluster)' : ' (deleted at the end)'}`,
    };
  },
);
