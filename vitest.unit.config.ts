import { defineConfig } from 'vitest/config';

// The `unit` project of vitest.config.ts on its own (no services): what StrykerJS runs
// (stryker.config.mjs; `npm run test:mutation`).
export default defineConfig({
  test: { retry: 0, include: ['test/unit/**/*.test.ts'] },
});
