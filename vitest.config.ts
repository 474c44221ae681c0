import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // No retries anywhere: a flaky guarantee test is a failing guarantee test.
    retry: 0,
    maxWorkers: 2,
    projects: [
      {
        // Pure logic: no services, milliseconds.
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        // Real PostgreSQL and real Kafka: DATABASE_URL/KAFKA_BROKERS if set, else testcontainers where
        // Docker answers, else the local stack (stack/up.sh), resolved once for the run.
        test: {
          name: 'services',
          include: ['test/integration/**/*.test.ts', 'test/fault/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
