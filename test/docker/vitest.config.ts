import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/*
 * `npm run test:docker`: the Docker test alone (it needs DOCKER_HOST and docker-compose, which
 * `npm test` users may not have). One file, one fork; the image build runs in beforeAll.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/docker/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 25 * 60_000,
    pool: 'forks',
    maxWorkers: 1,
    reporters: ['default', './test/summaryReporter.ts'],
  },
});
