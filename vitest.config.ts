// Test runner configuration: every package's tests, run from the repository root.
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['*/test/**/*.test.ts', '*/*/test/**/*.test.ts'],
    // the three-broker cluster's fault tests: `npm run test:cluster` (vitest.cluster.config.ts)
    exclude: [...configDefaults.exclude, 'app/test/cluster/**'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['deploy/local/testSetup.ts'],
  },
});
