#!/usr/bin/env node
// The measured process of bench/refs/node-peer.mjs (not meant to be run by hand): pg-transactional-
// outbox's logical replication outbox listener, publishing each outbox message through a kafkajs
// producer. Configuration comes as one JSON argument:
//   { databaseUrl, schema, table, publication, slot, topic, brokers: [..], concurrency: "mutex"|"segment" }
// Runs until SIGTERM, then shuts the listener and the producer down. Errors go to stderr.
import kafkajs from 'kafkajs';
import {
  createReplicationMutexConcurrencyController,
  createReplicationSegmentMutexConcurrencyController,
  getDefaultLogger,
  initializeReplicationMessageListener,
} from 'pg-transactional-outbox';

const cfg = JSON.parse(process.argv[2]);
const url = new URL(cfg.databaseUrl);
const db = { host: url.hostname, port: Number(url.port || 5432), user: decodeURIComponent(url.username || 'postgres'), password: decodeURIComponent(url.password), database: url.pathname.slice(1) || 'postgres' };

// The relay's own producer settings (src/publisher/kafka.ts): idempotent, acks=all, one request in
// flight, kafkajs's Java-compatible default partitioner (murmur2 of the key).
const kafka = new kafkajs.Kafka({ clientId: 'bench-node-peer', brokers: cfg.brokers, logLevel: kafkajs.logLevel.ERROR });
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
await producer.connect();

const publisher = {
  handle: async (message) => {
    await producer.send({
      topic: cfg.topic,
      acks: -1,
      messages: [{ key: message.aggregateId, value: JSON.stringify(message.payload), headers: { id: message.id, type: message.messageType } }],
    });
  },
};

// Warnings and errors only (the library logs every message at trace/debug).
const logger = getDefaultLogger('outbox');
logger.level = process.env.NODE_PEER_LOG_LEVEL ?? 'warn';

// The README's outbox listener example: replication listener, no max-attempts or poisonous-message
// protection (outbox side), mutex concurrency (sequential, the library's default); "segment" keeps the
// order per segment (= the aggregate id here) only, as the relay keeps it per key.
const concurrencyStrategy = cfg.concurrency === 'segment' ? createReplicationSegmentMutexConcurrencyController() : createReplicationMutexConcurrencyController();
const [shutdown] = initializeReplicationMessageListener(
  {
    outboxOrInbox: 'outbox',
    dbListenerConfig: db,
    dbHandlerConfig: db,
    settings: {
      dbSchema: cfg.schema,
      dbTable: cfg.table,
      dbPublication: cfg.publication,
      dbReplicationSlot: cfg.slot,
      enableMaxAttemptsProtection: false,
      enablePoisonousMessageProtection: false,
    },
  },
  publisher,
  logger,
  { concurrencyStrategy },
);
process.stderr.write('node-peer-worker: listening\n');

let stopping = false;
process.on('SIGTERM', async () => {
  if (stopping) return;
  stopping = true;
  await shutdown().catch((err) => process.stderr.write(`node-peer-worker: shutdown: ${err.message}\n`));
  await producer.disconnect().catch(() => undefined);
  process.exit(0);
});
