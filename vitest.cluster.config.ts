// The three-broker cluster's fault tests (app/test/cluster/), too heavy for `npm test`: `npm run test:cluster`.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['app/test/cluster/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // one test at a time: they share one cluster and take turns breaking it
    fileParallelism: false,
    globalSetup: ['deploy/local/testSetup.ts'],
  },
});
