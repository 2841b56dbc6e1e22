// setupFiles of the integration project: every test gets its own --root and must leave the host
// as it found it (no state dir, mount, cgroup, process or fd of ours). A leak fails the test;
// what leaked is then removed so the next test starts clean.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, beforeEach } from 'vitest';
import { testEnv } from './env';
import { assertNoLeaks, snapshotHost, type HostSnapshot } from './leaks';
import { setStateRoot } from './tsrunc';

if (process.getuid?.() !== 0) {
  throw new Error('integration tests must run as root (uid 0): they create namespaces, mounts and cgroups');
}

let before: HostSnapshot | null = null;
let root: string | null = null;
let seq = 0;

beforeAll(async () => {
  // Node opens some fds lazily (libuv's signal pipe on the first child process, ...): do that
  // now so the first test does not see them as leaks.
  await new Promise<void>((resolve, reject) => {
    const c = spawn('/bin/true', { stdio: ['ignore', 'pipe', 'pipe'] });
    c.on('error', reject);
    c.on('close', () => resolve());
  });
  await fs.promises.readFile('/proc/self/status');
});

beforeEach(() => {
  root = path.join(testEnv().stateBase, `t${process.pid}-${++seq}`);
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  setStateRoot(root);
  before = snapshotHost();
});

afterEach(async () => {
  const snap = before;
  const dir = root;
  before = null;
  root = null;
  setStateRoot(null);
  try {
    if (snap) await assertNoLeaks(snap);
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
});
