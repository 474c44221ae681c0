/**
 * Picks the services every integration and fault test uses, in this order:
 * 1. DATABASE_URL and KAFKA_BROKERS from the environment, if both are set;
 * 2. testcontainers (PostgreSQL + Apache Kafka in KRaft mode) where a Docker engine answers;
 * 3. otherwise the local stack: stack/up.sh reuses or starts PostgreSQL on 127.0.0.1:5432 and assembles
 *    and starts a real Kafka broker from Maven Central jars on 127.0.0.1:9092.
 * Tests isolate themselves (own schema, own topics), so one set of services serves the whole run.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    kafkaBrokers: string;
    servicesFrom: string;
  }
}

const run = promisify(execFile);

async function fromLocalStack(): Promise<{ databaseUrl: string; kafkaBrokers: string }> {
  const { stdout } = await run('bash', ['stack/up.sh'], { maxBuffer: 10 * 1024 * 1024, timeout: 600_000 });
  const values = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
  if (!values.DATABASE_URL || !values.KAFKA_BROKERS) throw new Error(`stack/up.sh printed no service addresses:\n${stdout}`);
  return { databaseUrl: values.DATABASE_URL, kafkaBrokers: values.KAFKA_BROKERS };
}

function dockerMayAnswer(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

async function fromTestcontainers(): Promise<{ databaseUrl: string; kafkaBrokers: string; stop: () => Promise<void> } | undefined> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    return undefined;
  }
  const pg = await new GenericContainer('postgres:16')
    .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  // Fixed host port so the advertised listener matches what clients dial.
  const kafka = await new GenericContainer('apache/kafka:4.1.1')
    .withExposedPorts({ container: 9092, host: 19092 })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
      KAFKA_ADVERTISED_LISTENERS: 'PLAINTEXT://127.0.0.1:19092',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .start();
  return {
    databaseUrl: `postgres://postgres@${pg.getHost()}:${pg.getMappedPort(5432)}/postgres`,
    kafkaBrokers: '127.0.0.1:19092',
    stop: async () => {
      await kafka.stop();
      await pg.stop();
    },
  };
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  if (process.env.DATABASE_URL && process.env.KAFKA_BROKERS) {
    project.provide('databaseUrl', process.env.DATABASE_URL);
    project.provide('kafkaBrokers', process.env.KAFKA_BROKERS);
    project.provide('servicesFrom', 'environment');
    return;
  }
  if (dockerMayAnswer()) {
    const containers = await fromTestcontainers();
    if (containers) {
      project.provide('databaseUrl', containers.databaseUrl);
      project.provide('kafkaBrokers', containers.kafkaBrokers);
      project.provide('servicesFrom', 'testcontainers');
      return containers.stop;
    }
  }
  const local = await fromLocalStack();
  project.provide('databaseUrl', local.databaseUrl);
  project.provide('kafkaBrokers', local.kafkaBrokers);
  project.provide('servicesFrom', 'local stack (stack/up.sh)');
}
