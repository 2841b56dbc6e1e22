// Soak: many whole container lifecycles, one after another and many at once. Afterwards the host
// must look as before: the same fds in this process, no new mounts, cgroups, state dirs or
// processes (test/helpers/leaks.ts), and every process ran exactly once.
//
// Its own vitest project (`npm run test:soak`; `npm test` runs it when CI=true). No timings are
// asserted: it only has to finish and leave nothing behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerId, makeBundle, tempDir, type Bundle } from '../helpers/bundle';
import {
  childExited,
  forceRemove,
  procAlive,
  procStartTime,
  spawnTsrunc,
  stateDirOf,
  waitFor,
} from '../helpers/lifecycle-helpers';
import { assertNoLeaks, snapshotHost } from '../helpers/leaks';
import { tsrunc } from '../helpers/tsrunc';

const SEQUENTIAL_CYCLES = 500;
const PARALLEL_CYCLES = 50;
/** Generous: 50 creates at once share two cores with whatever else runs here. */
const CLI_TIMEOUT_MS = 180_000;

interface Fixture {
  bundle: Bundle;
  /** Host dir mounted at /out: each run of the process appends a line to runs. */
  out: string;
  runs(): number;
  cleanup(): Promise<void>;
}

/** A read-only busybox rootfs whose short process appends one line to a host file and exits. */
async function fixture(): Promise<Fixture> {
  const out = tempDir('soak-out');
  const bundle = await makeBundle((c) => {
    c.root.readonly = true;
    c.mounts.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
    c.process.args = ['sh', '-c', 'echo run >> /out/runs'];
  });
  return {
    bundle,
    out,
    runs: () => {
      try {
        return fs.readFileSync(path.join(out, 'runs'), 'utf8').split('\n').filter(Boolean).length;
      } catch {
        return 0;
      }
    },
    cleanup: async () => {
      await bundle.cleanup();
      fs.rmSync(out, { recursive: true, force: true });
    },
  };
}

function lastLogLine(logFile: string): string {
  try {
    return fs.readFileSync(logFile, 'utf8').trim().split('\n').pop() ?? '';
  } catch {
    return '';
  }
}

/**
 * create, start, wait for the process to exit, delete (without --force: it must be stopped).
 * create runs with stdio ignored: the init inherits create's stdio and would hold our pipes open
 * until it exits; errors are read from its --log file instead.
 */
async function lifecycle(f: Fixture, id: string): Promise<void> {
  const pidFile = path.join(f.bundle.dir, `${id}.pid`);
  const logFile = path.join(f.out, `${id}.log`);
  const creator = spawnTsrunc([
    '--log',
    logFile,
    '--log-format',
    'json',
    'create',
    '--bundle',
    f.bundle.dir,
    '--pid-file',
    pidFile,
    id,
  ]);
  await childExited(creator);
  expect(creator.exitCode, `create ${id}: ${lastLogLine(logFile)}`).toBe(0);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  const startTime = procStartTime(pid);
  expect(procAlive(pid, startTime), `init of ${id}`).toBe(true);
  const start = await tsrunc(['start', id], { timeoutMs: CLI_TIMEOUT_MS });
  expect(start, `start ${id}`).toMatchObject({ code: 0, stderr: '' });
  await waitFor(`the process of ${id} to exit`, () => !procAlive(pid, startTime), 60_000);
  const del = await tsrunc(['delete', id], { timeoutMs: CLI_TIMEOUT_MS });
  expect(del, `delete ${id}`).toMatchObject({ code: 0, stderr: '' });
  expect(fs.existsSync(stateDirOf(id))).toBe(false);
  fs.rmSync(pidFile, { force: true });
  fs.rmSync(logFile, { force: true });
}

describe('soak', () => {
  it(`${SEQUENTIAL_CYCLES} sequential create/start/delete cycles leave the host as it was`, async () => {
    const f = await fixture();
    let id = '';
    try {
      const before = snapshotHost();
      for (let i = 0; i < SEQUENTIAL_CYCLES; i++) {
        id = containerId('tsrunc-soak');
        await lifecycle(f, id);
      }
      expect(f.runs()).toBe(SEQUENTIAL_CYCLES);
      expect(fs.readdirSync(f.out)).toEqual(['runs']);
      await assertNoLeaks(before, { retryMs: 5000 });
    } finally {
      if (id) await forceRemove(id);
      await f.cleanup();
    }
  });

  it(`${PARALLEL_CYCLES} create/start/wait/delete cycles in parallel leave the host as it was`, async () => {
    const f = await fixture();
    const ids = Array.from({ length: PARALLEL_CYCLES }, () => containerId('tsrunc-soak'));
    try {
      const before = snapshotHost();
      const results = await Promise.allSettled(ids.map((id) => lifecycle(f, id)));
      const failed = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
      expect(failed).toEqual([]);
      expect(f.runs()).toBe(PARALLEL_CYCLES);
      const list = await tsrunc(['list', '-q'], { timeoutMs: CLI_TIMEOUT_MS });
      expect(list).toMatchObject({ code: 0, stdout: '' });
      await assertNoLeaks(before, { retryMs: 5000 });
    } finally {
      for (const id of ids) await forceRemove(id);
      await f.cleanup();
    }
  });
});
