// What the integration globalSetup (test/helpers/global-setup.ts) publishes to the test workers.
import { inject } from 'vitest';

export interface TsruncTestEnv {
  /** Unique per `vitest run`; part of every path and id the suite creates. */
  runId: string;
  /** Repository root (holds bin/tsrunc, dist/, build/). */
  repo: string;
  /** Parent of the per-test `--root` state dirs: /run/tsrunc-test-<runId>. */
  stateBase: string;
  /** Parent of every temp dir the suite makes (bundles, rootfs): <tmpdir>/tsrunc-test-<runId>. */
  tmpBase: string;
  /** The shared busybox rootfs, built once per run. Never modify it: bundles copy it. */
  rootfs: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    tsruncTestEnv: TsruncTestEnv;
  }
}

/** Environment var that carries the same JSON (for child processes and non-vitest callers). */
export const ENV_VAR = 'TSRUNC_TEST_ENV';

let cached: TsruncTestEnv | null = null;

export function testEnv(): TsruncTestEnv {
  if (cached) return cached;
  let env: TsruncTestEnv | undefined;
  try {
    env = inject('tsruncTestEnv');
  } catch {
    env = undefined;
  }
  if (!env && process.env[ENV_VAR]) env = JSON.parse(process.env[ENV_VAR]) as TsruncTestEnv;
  if (!env) {
    throw new Error(
      'integration test environment missing: run integration tests through vitest with the ' +
        '"integration" project (its globalSetup builds the rootfs), e.g. `npm test`',
    );
  }
  cached = env;
  return env;
}
