import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/docker needs Docker: `npm run test:docker` runs it.
    exclude: [...configDefaults.exclude, 'test/docker/**'],
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Media workers and Chromium are heavy on a 2-core machine: run files one or two at a time.
    maxWorkers: 2,
    pool: 'forks',
    reporters: ['default', './test/summaryReporter.ts'],
  },
});
