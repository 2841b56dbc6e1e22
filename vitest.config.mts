import { defineConfig } from 'vitest/config';

// Real containers on one host: the integration and soak projects share these.
const realContainers = {
  environment: 'node',
  // Real containers, cgroups and mounts on one host: one file at a time.
  fileParallelism: false,
  hookTimeout: 60_000,
  // Root check, build check, shared busybox rootfs, end-of-run leak check.
  globalSetup: ['test/helpers/global-setup.ts'],
  // Per-test --root and leak check after every test.
  setupFiles: ['test/helpers/leak-guard.ts'],
};

// `npm test` (scripts/test.sh) runs the projects unit and integration, then e2e (tsrunc under
// real Docker, containerd and podman) in a run of its own; soak runs only when asked for
// (`npm run test:soak`, or `npm test` with CI=true).
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
          ...realContainers,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          ...realContainers,
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // Each file starts its engines (containerd, dockerd) and imports an image first.
          hookTimeout: 180_000,
          testTimeout: 120_000,
        },
      },
      {
        test: {
          ...realContainers,
          name: 'soak',
          include: ['test/soak/**/*.test.ts'],
          // Hundreds of lifecycles per test; no timing is asserted, this only bounds a hang.
          testTimeout: 40 * 60_000,
        },
      },
    ],
  },
});
