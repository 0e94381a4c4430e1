import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Multi-process tests spawn several ranks each; on a 2-core machine they must not overlap.
    fileParallelism: false,
  },
});
