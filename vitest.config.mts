import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          // Real containers, cgroups and mounts on one host: one file at a time.
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 60_000,
          // Root check, build check, shared busybox rootfs, end-of-run leak check.
          globalSetup: ['test/helpers/global-setup.ts'],
          // Per-test --root and leak check after every test.
          setupFiles: ['test/helpers/leak-guard.ts'],
        },
      },
    ],
  },
});
