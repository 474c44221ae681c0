import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Services: DATABASE_URL/KAFKA_BROKERS if set, else testcontainers where Docker answers, else the
    // local stack (stack/up.sh). Resolved once for the run.
    globalSetup: ['test/support/global-setup.ts'],
    // Integration and fault tests spawn relays and wait on real services; 2 vCPUs here.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: true,
    maxWorkers: 2,
    // No retries: a flaky guarantee test is a failing guarantee test.
    retry: 0,
  },
});
