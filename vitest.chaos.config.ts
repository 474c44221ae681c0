import { defineConfig } from 'vitest/config';

// npm run test:chaos: the P1/P2 rows of the failure matrix (test/chaos/, docs/chaos.md). Starts what it
// needs (TCP proxies in front of PostgreSQL and of a broker of its own on :9196, advertised as :9198);
// one file, its scenarios one after another (they share the proxies). Not part of `npm test`: a few
// minutes, and it owns ports 9195-9198.
export default defineConfig({
  test: {
    retry: 0,
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 240_000,
  },
});
