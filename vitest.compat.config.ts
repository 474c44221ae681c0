import { defineConfig } from 'vitest/config';

// npm run test:compat (scripts/compat.mjs): the Debezium conformance test, against the private
// PostgreSQL and Kafka Connect that stack/debezium.sh starts. Not part of `npm test`: start-up alone
// takes about a minute (docs/debezium.md).
export default defineConfig({
  test: { retry: 0, include: ['test/compat/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 120_000 },
});
