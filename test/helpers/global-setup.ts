// globalSetup of the integration project (runs once, in the vitest main process): checks that we
// are root and the tree is built, builds the shared busybox rootfs, publishes the paths, and at
// the end checks that the whole run leaked nothing.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ENV_VAR, type TsruncTestEnv } from './env';
import { assertNoLeaks, snapshotHost } from './leaks';
import { buildBusyboxRootfs } from './rootfs';

const repo = path.resolve(__dirname, '..', '..');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    newest = Math.max(newest, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

function checkBuilt(): void {
  const required = [
    path.join(repo, 'dist', 'cli', 'main.js'),
    path.join(repo, 'build', 'addon', 'Release', 'tsrunc_native.node'),
  ];
  const missing = required.filter((f) => !fs.existsSync(f));
  if (missing.length) {
    throw new Error(
      `tsrunc is not built (missing ${missing.map((f) => path.relative(repo, f)).join(', ')}): ` +
        'run `npm run build`, or `npm test` which sets up and builds first',
    );
  }
  const builtAt = fs.statSync(required[0]).mtimeMs;
  if (newestMtime(path.join(repo, 'src')) > builtAt) {
    console.warn('warning: src/ is newer than dist/: integration tests run the old build (npm run build)');
  }
}

export default function setup(project: TestProject): () => Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'integration tests must run as root (uid 0): they create namespaces, mounts and cgroups. ' +
        'Run `npm test` as root, or `npm run test:unit` for the unit tests alone',
    );
  }
  checkBuilt();

  const before = snapshotHost();
  const runId = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const env: TsruncTestEnv = {
    runId,
    repo,
    stateBase: `/run/tsrunc-test-${runId}`,
    tmpBase: path.join(os.tmpdir(), `tsrunc-test-${runId}`),
    rootfs: '',
  };
  env.rootfs = path.join(env.tmpBase, 'rootfs');
  fs.mkdirSync(env.stateBase, { recursive: true, mode: 0o700 });
  fs.mkdirSync(env.tmpBase, { recursive: true, mode: 0o755 });

  const removeAll = () => {
    execFileSync('rm', ['-rf', '--one-file-system', '--', env.tmpBase]);
    fs.rmSync(env.stateBase, { recursive: true, force: true });
  };
  try {
    buildBusyboxRootfs(env.rootfs);
  } catch (e) {
    removeAll();
    throw e;
  }
  project.provide('tsruncTestEnv', env);
  process.env[ENV_VAR] = JSON.stringify(env);

  return async () => {
    // Processes are the workers' business (they are gone now); fds are per worker.
    const failure = await assertNoLeaks(before, { fds: false, children: false, retryMs: 2000 })
      .then(() => assertEngineCgroupParentsGone(env.runId))
      .then(
        () => null,
        (error: unknown) => error as Error,
      );
    removeAll();
    // vitest reports an error thrown here ("error during close") but still exits 0, whatever
    // process.exitCode says: the run must fail when it leaked. The results are printed by now.
    if (failure) {
      console.error(`tsrunc test run: ${failure.message}`);
      process.exit(1);
    }
  };
}

/**
 * The engines' cgroup parent of this run (`/tsrunc-test-<runId>.slice`, test/helpers/docker.ts)
 * may stay while a test file runs, so the per-test check spares it; once the run is over it must
 * be gone from every hierarchy. Throws (after removing the empty ones) when it is not.
 */
function assertEngineCgroupParentsGone(runId: string): void {
  const name = `tsrunc-test-${runId}.slice`;
  const roots = ['/sys/fs/cgroup', ...fs.readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}`)];
  const left = roots.map((root) => path.join(root, name)).filter((dir) => fs.existsSync(dir));
  for (const dir of left) {
    try {
      fs.rmdirSync(dir);
    } catch {
      /* not empty: reported below all the same */
    }
  }
  if (left.length > 0)
    throw new Error(`leaked resources: engine cgroup parents left:\n  ${left.join('\n  ')}`);
}
