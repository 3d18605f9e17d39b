import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Media workers and Chromium are heavy on a 2-core machine: run files one or two at a time.
    maxWorkers: 2,
    pool: 'forks',
    reporters: ['default', './test/summaryReporter.ts'],
  },
});
