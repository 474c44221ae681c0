/**
 * What the chaos suite (npm run test:chaos) starts: a TCP proxy in front of PostgreSQL and one in
 * front of a broker of its own, and the settings and bounds its scenarios share. Every relay the
 * suite spawns reaches PostgreSQL and Kafka only through the proxies, so a scenario can blackhole,
 * reset or delay either side while the relay runs (test/support/proxy.ts).
 *
 * Kafka clients dial the address the broker advertises, not the one they were given: the suite's
 * broker listens on 127.0.0.1:9196 and advertises the proxy's 127.0.0.1:9198 (KAFKA_ADVERTISED_PORT),
 * controller 9197. PostgreSQL (127.0.0.1:5432) is reached through 127.0.0.1:9195.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { DEFAULT_BACKOFF } from '../../src/backoff.js';
import { relayQueryTimeoutMs } from '../../src/db.js';
import { PASS, startProxy, type TcpProxy } from '../support/proxy.js';

const run = promisify(execFile);

export const PG_PROXY_PORT = 9195;
export const KAFKA_PORT = 9196;
export const KAFKA_PROXY_PORT = 9198;
export const BROKERS = `127.0.0.1:${KAFKA_PROXY_PORT}`;

const brokerEnv = {
  PATH: process.env.PATH ?? '',
  ...(process.env.STACK_DIR ? { STACK_DIR: process.env.STACK_DIR } : {}),
  ...(process.env.JAVA_HOME ? { JAVA_HOME: process.env.JAVA_HOME } : {}),
  KAFKA_PORT: String(KAFKA_PORT),
  KAFKA_CONTROLLER_PORT: String(KAFKA_PORT + 1),
  KAFKA_ADVERTISED_PORT: String(KAFKA_PROXY_PORT),
};

export interface ChaosServices {
  pg: TcpProxy;
  kafka: TcpProxy;
  /** DATABASE_URL through the PostgreSQL proxy. */
  databaseUrl: string;
  stop(): Promise<void>;
}

/** Proxies first (the broker's own start-up check and warm-up dial the advertised proxy port), then the broker. */
export async function startChaosServices(directDatabaseUrl: string): Promise<ChaosServices> {
  const direct = new URL(directDatabaseUrl);
  const pg = await startProxy({ port: PG_PROXY_PORT, targetHost: direct.hostname, targetPort: Number(direct.port || 5432) });
  const kafka = await startProxy({ port: KAFKA_PROXY_PORT, targetPort: KAFKA_PORT });
  await run('bash', ['stack/up.sh'], { env: brokerEnv, timeout: 180_000 });
  const viaProxy = new URL(directDatabaseUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(PG_PROXY_PORT);
  return {
    pg,
    kafka,
    databaseUrl: viaProxy.toString(),
    async stop() {
      pg.setMode(PASS);
      kafka.setMode(PASS);
      await run('bash', ['stack/down.sh'], { env: brokerEnv, timeout: 60_000 }).catch(() => undefined);
      await pg.close();
      await kafka.close();
    },
  };
}

/**
 * Small timeouts so each scenario takes well under a minute. Every bound a scenario asserts is
 * computed from these, the way the relay computes its own (src/db.ts, src/backoff.ts).
 */
export const SETTINGS = {
  OUTBOX_PUBLISH_TIMEOUT_MS: '2000',
  OUTBOX_DB_CONNECT_TIMEOUT_MS: '2000',
  OUTBOX_LISTEN_HEARTBEAT_MS: '1000',
  OUTBOX_POLL_INTERVAL_MS: '500',
  OUTBOX_BACKLOG_INTERVAL_MS: '1000',
  OUTBOX_LEASE_TTL_MS: '4000',
  OUTBOX_BATCH_SIZE: '100',
} as const;

const ms = (name: keyof typeof SETTINGS) => Number(SETTINGS[name]);
export const BATCH = ms('OUTBOX_BATCH_SIZE');
export const PUBLISH_TIMEOUT = ms('OUTBOX_PUBLISH_TIMEOUT_MS');
export const CONNECT_TIMEOUT = ms('OUTBOX_DB_CONNECT_TIMEOUT_MS');
export const HEARTBEAT = ms('OUTBOX_LISTEN_HEARTBEAT_MS');
export const POLL = ms('OUTBOX_POLL_INTERVAL_MS');
/** node-postgres query_timeout of the relay's pool: a query on a half-open connection fails after this. */
export const QUERY_TIMEOUT = relayQueryTimeoutMs(PUBLISH_TIMEOUT);
/** Connections in the relay's pool (`max` in src/relay/relay.ts): after a half-open spell each may be dead. */
export const RELAY_POOL_MAX = 4;
/** The longest backoff between two failed attempts. */
export const MAX_BACKOFF = DEFAULT_BACKOFF.maxMs;
/** Process scheduling on a shared 2-core machine: added once to every bound. */
export const SLACK = 5000;

/** One row of docs/chaos.md. */
export interface ChaosRow {
  fault: string;
  mustHold: string;
  result: 'pass' | 'FAIL';
  numbers: string;
}

export function writeReport(path: string, rows: ChaosRow[], header: string): void {
  const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const table = [
    '| fault | what must hold | result | numbers |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${cell(r.fault)} | ${cell(r.mustHold)} | ${r.result} | ${cell(r.numbers)} |`),
  ];
  writeFileSync(path, `${header}\n\n${table.join('\n')}\n`);
}
