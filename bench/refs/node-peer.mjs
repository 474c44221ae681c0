#!/usr/bin/env node
// Reference "node-peer": pg-transactional-outbox (npm; the exact version is a devDependency), the
// closest Node.js peer of outbox-relay, publishing the same backlog to Kafka through kafkajs.
//
// Its outbox listener reads the outbox through PostgreSQL logical replication (pgoutput), so it runs
// on the private cluster with wal_level=logical that bench/refs/debezium.mjs uses (--pg-port, default
// 5437), not on --database-url. Setup follows its README: the table and publication from its
// DatabaseSetup SQL, a pgoutput slot created before the backlog, then N rows (transactions of 10,000
// rows; aggregate_id and segment = one of --keys keys; payload jsonb of --payload-bytes as text).
// The measured process is bench/refs/node-peer-worker.mjs: the README's outbox listener configuration
// (replication listener, max-attempts and poisonous-message protection off, the library's default mutex
// concurrency: one message at a time, in commit order) with a message handler that sends each message
// through a kafkajs producer set up like the relay's (idempotent, acks=all, one request in flight).
// --concurrency segment uses the library's segment-mutex controller instead (order per segment only,
// as the relay keeps order per key). seconds: from the worker's process start to the broker append
// time of the last message. The private cluster is deleted at the end unless --keep-cluster.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { DatabaseSetup } from 'pg-transactional-outbox';
import { main, onCleanup, progress, round } from '../lib/cli.mjs';
import { createTopic, deleteTopic, waitForMessages } from '../lib/kafka.mjs';
import { dropReplication, keyExpr, logicalCluster, payloadExpr, preload, repoRoot } from '../lib/pg.mjs';
import { startMeasured } from '../lib/spawn.mjs';

const require = createRequire(import.meta.url);
const packageVersion = (name) => JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')).version;

await main(
  'node-peer',
  {
    extra: {
      'pg-port': { type: 'string', default: '5437' },
      concurrency: { type: 'string', default: 'mutex' },
      'keep-cluster': { type: 'boolean', default: false },
      'stall-seconds': { type: 'string', default: '60' },
    },
    usage:
      '  [--pg-port 5437] private logical PostgreSQL cluster   [--concurrency mutex|segment]\n  [--keep-cluster] leave the private cluster running   [--stall-seconds 60] give up after this long without a new message',
  },
  async (args) => {
    if (!['mutex', 'segment'].includes(args.concurrency)) throw new Error(`--concurrency must be mutex or segment, got "${args.concurrency}"`);
    require.resolve('pg-transactional-outbox');
    const version = packageVersion('pg-transactional-outbox');
    const pgPort = Number(args['pg-port']);
    progress(`private PostgreSQL (wal_level=logical) on 127.0.0.1:${pgPort}`);
    const { url: dbUrl, pool } = await logicalCluster(pgPort, { keep: args['keep-cluster'], applicationName: 'bench-node-peer', onCleanup });

    const schema = `bench_peer_${args.suffix}`;
    const table = 'outbox';
    const publication = `bench_peer_${args.suffix}_pub`;
    const slot = `bench_peer_${args.suffix}`;
    const setup = { outboxOrInbox: 'outbox', database: 'postgres', schema, table, listenerRole: 'postgres', publication, replicationSlot: slot };
    await pool.query(DatabaseSetup.dropAndCreateTable(setup));
    onCleanup(() => dropReplication(pool, { slot, publication, schema }));
    await pool.query(DatabaseSetup.setupReplicationCore(setup));
    // The README: create the slot in a transaction of its own.
    await pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    await createTopic(args.brokers, args.topic, args.partitions);
    onCleanup(() => deleteTopic(args.brokers, args.topic));

    progress(`${args.rows} outbox rows`);
    await preload(pool, {
      table: `${schema}.${table}`,
      rows: args.rows,
      columns: {
        id: 'gen_random_uuid()',
        aggregate_type: "'bench'",
        aggregate_id: keyExpr(args.keys),
        message_type: "'BenchEvent'",
        segment: keyExpr(args.keys),
        payload: payloadExpr(args.payloadBytes, 'jsonb'),
      },
    });
    await pool.query('CHECKPOINT');

    progress(`pg-transactional-outbox ${version} drains the backlog (concurrency: ${args.concurrency})`);
    const log = join(args.workdir, 'node-peer-worker.log');
    const run = startMeasured(
      process.execPath,
      [
        join(repoRoot, 'bench', 'refs', 'node-peer-worker.mjs'),
        JSON.stringify({ databaseUrl: dbUrl, schema, table, publication, slot, topic: args.topic, brokers: args.brokers, concurrency: args.concurrency }),
      ],
      { log, cwd: repoRoot },
    );
    onCleanup(() => run.stop({ graceMs: 10_000 }));
    const { delivered, lastTimestampMs } = await waitForMessages(args.brokers, args.topic, args.rows, {
      stallMs: Number(args['stall-seconds']) * 1000,
      alive: run.alive,
      progress,
    });
    const usage = run.usage();
    await run.stop({ graceMs: 10_000 });
    const seconds = lastTimestampMs === null ? null : (lastTimestampMs - run.startedAtMs) / 1000;
    const processed = Number((await pool.query(`SELECT count(*) FILTER (WHERE processed_at IS NOT NULL) AS n FROM ${schema}.${table}`)).rows[0].n);
    const logTail = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).slice(-3).join(' | ');
    return {
      version: `pg-transactional-outbox ${version} (replication listener) + kafkajs ${packageVersion('kafkajs')}`,
      delivered,
      seconds: seconds === null ? null : round(seconds, 3),
      peak_rss_mb: usage.peakRssMb,
      cpu_s: usage.cpuS,
      processed_rows: processed,
      settings: {
        listener: 'logical replication (pgoutput)',
        concurrency: args.concurrency === 'mutex' ? 'createReplicationMutexConcurrencyController (default: one message at a time)' : 'createReplicationSegmentMutexConcurrencyController (segment = key)',
        enableMaxAttemptsProtection: false,
        enablePoisonousMessageProtection: false,
        producer: 'kafkajs idempotent, acks=all, maxInFlightRequests 1, DefaultPartitioner, one send per message',
        pg: `private cluster 127.0.0.1:${pgPort}, wal_level=logical, fsync=on`,
        keys: args.keys,
        payload_bytes: args.payloadBytes,
      },
      ...(delivered < args.rows ? { error: `the listener stopped delivering (worker log: ${logTail || 'empty'})` } : {}),
      notes: `seconds from the worker process's start to the last message's broker append time; each message is its own transaction on the outbox row (lock, mark processed) and its own Kafka request${args['keep-cluster'] ? '; private cluster kept running (--keep-cluster)' : ''}`,
    };
  },
);
