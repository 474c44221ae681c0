#!/usr/bin/env node
// Reference "kafka-ceiling": how fast this broker takes N records of --payload-bytes from one
// producer, with no database at all. Runs Kafka's own org.apache.kafka.tools.ProducerPerformance
// (the kafka-tools jar of the stack's Kafka, same JVM and class path as the broker) with
//   --num-records N --record-size <payload-bytes> --throughput -1
//   --producer-props acks=all enable.idempotence=true bootstrap.servers=<brokers>
// on a fresh topic. seconds: from the JVM's start to the broker's append time of the last message.
// Its own throughput figure (measured from its first send, JVM start-up excluded) is own_rows_per_s.
// Records have no key (ProducerPerformance sends none), so --keys is not used.
// Needs the stack's jars: STACK_DIR (default <repo>/.stack) /kafka/libs, i.e. after stack/up.sh.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main, onCleanup, progress, round } from '../lib/cli.mjs';
import { createTopic, deleteTopic, waitForMessages } from '../lib/kafka.mjs';
import { repoRoot } from '../lib/pg.mjs';
import { startMeasured } from '../lib/spawn.mjs';

await main('kafka-ceiling', {}, async (args) => {
  const stackDir = process.env.STACK_DIR ?? join(repoRoot, '.stack');
  const libs = join(stackDir, 'kafka', 'libs');
  const tools = existsSync(libs) ? readdirSync(libs).find((f) => /^kafka-tools-\d.*\.jar$/.test(f)) : undefined;
  if (!tools) throw new Error(`no kafka-tools jar in ${libs}: run stack/up.sh first (or set STACK_DIR)`);
  const version = tools.replace(/^kafka-tools-/, '').replace(/\.jar$/, '');
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';

  await createTopic(args.brokers, args.topic, args.partitions);
  onCleanup(() => deleteTopic(args.brokers, args.topic));
  const log = join(args.workdir, 'producer-perf.log');
  const props = ['acks=all', 'enable.idempotence=true', `bootstrap.servers=${args.brokers.join(',')}`];
  progress(`ProducerPerformance ${version}: ${args.rows} records of ${args.payloadBytes} bytes into ${args.topic} (log: ${log})`);
  const run = startMeasured(
    java,
    [
      '-Xms256m',
      '-Xmx512m',
      `-Dlog4j2.configurationFile=${join(repoRoot, 'stack', 'kafka', 'log4j2.properties')}`,
      '-Dstack.log.level=WARN',
      '-cp',
      `${libs}/*`,
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      args.topic,
      '--num-records',
      String(args.rows),
      '--record-size',
      String(args.payloadBytes),
      '--throughput',
      '-1',
      '--producer-props',
      ...props,
    ],
    { log },
  );
  onCleanup(() => run.stop({ graceMs: 5000 }));
  const { code } = await run.exited;
  const usage = run.usage();
  if (code !== 0) throw new Error(`ProducerPerformance exited with ${code}: ${readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ')}`);
  const { delivered, lastTimestampMs } = await waitForMessages(args.brokers, args.topic, args.rows, { stallMs: 10_000, progress });
  const summary = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => / records sent, .* records\/sec/.test(l))
    .at(-1);
  const own = summary ? Number(/records sent, ([\d.]+) records\/sec/.exec(summary)[1]) : null;
  const seconds = lastTimestampMs === null ? null : (lastTimestampMs - run.startedAtMs) / 1000;
  return {
    version: `Apache Kafka ${version} ProducerPerformance`,
    delivered,
    seconds: seconds === null ? null : round(seconds, 3),
    peak_rss_mb: usage.peakRssMb,
    cpu_s: usage.cpuS,
    own_rows_per_s: own === null ? null : Math.round(own),
    settings: { acks: 'all', 'enable.idempotence': true, throughput: -1, record_size: args.payloadBytes, keys: null, jvm_heap: '256m..512m', partitions: args.partitions },
    notes: `seconds from JVM start to the last record's broker append time (JVM start-up included); own_rows_per_s is ProducerPerformance's own figure from its first send; summary: ${summary?.trim() ?? 'none'}`,
  };
});
