import { defineConfig } from 'vitest/config'

// Tests that start real ranks cannot share a 2-core machine with each other: they run one file at a time.
const serial = { pool: 'forks' as const, fileParallelism: false, testTimeout: 90_000, hookTimeout: 60_000 }

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      { test: { name: 'ranks', include: ['test/ranks/**/*.test.ts'], ...serial } },
      { test: { name: 'failure', include: ['test/failure/**/*.test.ts'], ...serial } },
      { test: { name: 'package', include: ['test/package/**/*.test.ts'], ...serial, testTimeout: 240_000, hookTimeout: 600_000 } },
      { test: { name: 'cluster', include: ['test/cluster/**/*.test.ts'], ...serial, testTimeout: 180_000, globalSetup: ['test/cluster/setup.ts'] } },
      { test: { name: 'scale', include: ['test/scale/**/*.test.ts'], ...serial, testTimeout: 180_000, globalSetup: ['test/scale/setup.ts'] } },
    ],
  },
})
