#!/usr/bin/env node
/**
 * npm run test:compat: the conformance test against real Debezium. Starts what it needs
 * (stack/debezium.sh up: Maven jars, a private PostgreSQL with wal_level=logical, Kafka Connect
 * standalone with Debezium 3.7.0.Final), runs test/compat/, and stops it all again (down), whatever
 * the outcome. Kafka: $KAFKA_BROKERS (default 127.0.0.1:9092; its own topics per run).
 * The result table is written to .compat/latest.md; copy it into docs/debezium.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';

const env = { ...process.env, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092' };
const t0 = Date.now();
let status = 1;
try {
  const out = execFileSync('bash', ['stack/debezium.sh', 'up'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const values = Object.fromEntries(out.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
  console.error(`compat: services up in ${Math.round((Date.now() - t0) / 1000)} s`);
  const result = spawnSync('npx', ['vitest', 'run', '--config', 'vitest.compat.config.ts'], {
    env: { ...env, DEBEZIUM_DATABASE_URL: values.DATABASE_URL, CONNECT_URL: values.CONNECT_URL },
    stdio: 'inherit',
  });
  status = result.status ?? 1;
} finally {
  spawnSync('bash', ['stack/debezium.sh', 'down'], { env, stdio: 'inherit' });
  console.error(`compat: ${status === 0 ? 'passed' : 'FAILED'} in ${Math.round((Date.now() - t0) / 1000)} s (result: .compat/latest.md)`);
}
process.exit(status);
