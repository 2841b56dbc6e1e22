// Faults a runtime has to survive (SECURITY.md, "Faults to survive"): tsrunc killed at every step
// of `create`, many creates of one id at once, the init dying before `start`, a hook that hangs,
// and pid reuse.
//
// The kills at named steps use the runtime's test seam TSRUNC_FAULT_STOP=<step> (see the end of
// src/runtime/create.ts): create SIGSTOPs itself right after that step, the test looks at what is
// half made, then SIGKILLs it.
import { type ChildProcess, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  containerId,
  makeBundle,
  tempDir,
  type Bundle,
  type Config,
  withUserNamespace,
} from '../helpers/bundle';
import {
  cgroupDirsNamed,
  childExited,
  createContainer,
  expectOneLineError,
  killChild,
  mountsContaining,
  procAlive,
  processesMatching,
  procStartTime,
  procState,
  sleep,
  spawnHostSleep,
  spawnTsrunc,
  stateDirOf,
  stateOf,
  waitFor,
  waitForStatus,
  writeScript,
} from '../helpers/lifecycle-helpers';
import { type Background, tsruncBackground } from '../helpers/process';
import { tsrunc, type TsruncResult } from '../helpers/tsrunc';

/** A hook that wrote its pid to `pidFile` and may still run: kill its process group. */
function killHookGroup(pidFile: string): void {
  const hookPid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8') : 0);
  if (hookPid <= 0 || !procAlive(hookPid)) return;
  try {
    process.kill(-hookPid, 'SIGKILL');
  } catch {
    process.kill(hookPid, 'SIGKILL');
  }
}

/** The pids in cgroup.procs of each dir. */
function cgroupProcs(dirs: string[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const d of dirs) {
    const text = fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8');
    out.set(d, text.split('\n').filter(Boolean).map(Number).sort());
  }
  return out;
}

interface ProcRow {
  pid: number;
  ppid: number;
  state: string;
}

function processTable(): ProcRow[] {
  const rows: ProcRow[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat
        .slice(stat.lastIndexOf(')') + 1)
        .trim()
        .split(' ');
      rows.push({ pid: Number(name), state: f[0], ppid: Number(f[1]) });
    } catch {
      // gone meanwhile
    }
  }
  return rows;
}

/** Live (non-zombie) children of `pid`. */
/** Some process holds an flock on `dir` (flock(1) cannot take a shared one without waiting). */
function lockHeld(dir: string): boolean {
  return spawnSync('flock', ['--nonblock', '--shared', dir, 'true']).status !== 0;
}

function liveChildrenOf(pid: number): number[] {
  return processTable()
    .filter((p) => p.ppid === pid && p.state !== 'Z' && p.state !== 'X')
    .map((p) => p.pid);
}

/** Zombies whose parent is this test process: children we forgot to reap. */
function ourZombies(): number[] {
  return processTable()
    .filter((p) => p.ppid === process.pid && p.state === 'Z')
    .map((p) => p.pid);
}

function readRecordFile(id: string): Record<string, unknown> | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDirOf(id), 'state.json'), 'utf8'));
  } catch {
    return null;
  }
}

function isFifo(p: string): boolean {
  try {
    return fs.lstatSync(p).isFIFO();
  } catch {
    return false;
  }
}

/** The process in the bundle: it records each run in the rootfs, then exits. */
function recordsRuns(c: Config): void {
  c.root.readonly = false;
  c.process.args = ['sh', '-c', 'echo $$ >> /tmp/runs'];
}

function runsOf(bundle: Bundle): string[] {
  try {
    return fs
      .readFileSync(path.join(bundle.rootfs, 'tmp', 'runs'), 'utf8')
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * After a create that was killed: `state` is sane, `delete --force` exits 0 and removes every
 * trace (state dir, cgroups, mounts, the processes it started, no zombie of ours), and the id
 * can be created, started and deleted again.
 */
async function expectCleanAfterForceDelete(
  id: string,
  bundle: Bundle,
  opts: { expectStatus?: string; pids?: number[]; initPid?: number; initStart?: string | null } = {},
): Promise<void> {
  if (fs.existsSync(stateDirOf(id))) {
    const s = await stateOf(id);
    expect(s.status).toBe(opts.expectStatus ?? 'stopped');
    if (s.status === 'stopped') expect(s.pid).toBe(0);
  }
  const del = await tsrunc(['delete', '--force', id]);
  expect(del, del.stderr).toMatchObject({ code: 0, stderr: '' });
  expect(fs.existsSync(stateDirOf(id))).toBe(false);
  expect(expectOneLineError(await tsrunc(['state', id]))).toBe('container does not exist');
  expect(cgroupDirsNamed(id)).toEqual([]);
  if (opts.initPid && opts.initPid > 0) {
    await waitFor('the init to go', () => !procAlive(opts.initPid!, opts.initStart));
  }
  for (const pid of opts.pids ?? []) await waitFor(`process ${pid} to go`, () => !procAlive(pid));
  // No tsrunc, stage-1 or init process (the clones carry the id in their command line).
  await waitFor(`no process of ${id}`, () => processesMatching(id).length === 0, 3000);
  expect(mountsContaining(bundle.dir)).toEqual([]);
  expect(ourZombies()).toEqual([]);

  // The id is free again: create, start, the process runs once, delete.
  const before = runsOf(bundle).length;
  const pidFile = path.join(bundle.dir, 'again.pid');
  const again = await tsrunc(['create', '--bundle', bundle.dir, '--pid-file', pidFile, id]);
  expect(again.code, again.stderr).toBe(0);
  expect((await stateOf(id)).status).toBe('created');
  expect((await tsrunc(['start', id])).code).toBe(0);
  await waitForStatus(id, 'stopped');
  expect(runsOf(bundle).length).toBe(before + 1);
  expect(await tsrunc(['delete', id])).toMatchObject({ code: 0, stderr: '' });
  expect(fs.existsSync(stateDirOf(id))).toBe(false);
  expect(cgroupDirsNamed(id)).toEqual([]);
  fs.rmSync(pidFile, { force: true });
}

/** Wait until the process is stopped by a signal (state T). */
async function waitStopped(child: ChildProcess, what: string): Promise<void> {
  await waitFor(
    what,
    () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`tsrunc exited (${child.exitCode ?? child.signalCode}) before ${what}`);
      }
      return procState(child.pid!) === 'T';
    },
    15_000,
  );
}

/** Wait for a background tsrunc's pipes to close (the init may hold them until it dies). */
async function drained(bg: Background): Promise<TsruncResult> {
  return Promise.race([
    bg.done,
    sleep(10_000).then(() => {
      throw new Error('tsrunc output pipes still open');
    }),
  ]);
}

type Step = 'reserved' | 'cgroups' | 'fifo' | 'spawned' | 'idmaps' | 'initpid' | 'hooks' | 'ready' | 'saved';

const STEPS: [Step, string][] = [
  ['reserved', 'after reserving the state dir'],
  ['cgroups', 'after the cgroups are made'],
  ['fifo', 'after the exec fifo is made'],
  ['spawned', 'after spawnInit (stage 1 alive)'],
  ['idmaps', 'after the id maps are written'],
  ['initpid', 'after the init pid is recorded'],
  ['hooks', 'at the create hooks point'],
  ['ready', 'after InitReady, before state created is saved'],
  ['saved', 'after state created is saved, before the pid file'],
];
const ORDER = STEPS.map(([s]) => s);
const reached = (step: Step, point: Step) => ORDER.indexOf(step) >= ORDER.indexOf(point);

/**
 * What the half-made container looks like with create stopped right after `step`; returns the
 * pids of the processes create started (stage 1 or the init) so the caller can check they go.
 */
async function expectHalfMade(
  step: Step,
  id: string,
  creator: ChildProcess,
  pidFile: string,
  userNs: boolean,
): Promise<number[]> {
  const dir = stateDirOf(id);
  expect(fs.existsSync(dir)).toBe(true);
  const rec = readRecordFile(id);
  const children = liveChildrenOf(creator.pid!);
  // The id never exists without a record and the creator's lock; nothing else exists before it is made.
  expect(rec, 'state.json').not.toBeNull();
  expect(cgroupDirsNamed(id).length > 0, 'cgroups').toBe(reached(step, 'cgroups'));
  expect(isFifo(path.join(dir, 'exec.fifo')), 'exec.fifo').toBe(reached(step, 'fifo'));
  expect(children.length, 'children of tsrunc').toBe(reached(step, 'spawned') ? 1 : 0);
  expect(fs.existsSync(pidFile), 'pid file').toBe(false);
  if (rec) {
    // The stopped create still holds the state dir's lock (flock(1) -n fails against it).
    expect(lockHeld(dir), 'lock held by the creator').toBe(true);
    expect(rec.phase).toBe(step === 'saved' ? 'created' : 'creating');
    const s = await stateOf(id);
    expect(s.status).toBe(step === 'saved' ? 'created' : 'creating');
    if (step !== 'saved') {
      // A create in progress is not taken for a dead one: a plain delete refuses it.
      expect(expectOneLineError(await tsrunc(['delete', id]))).toContain('creating');
      expect(fs.existsSync(dir)).toBe(true);
    }
  }
  if (step === 'spawned' || step === 'idmaps') {
    expect(rec!.initPid).toBe(0);
  }
  if (step === 'idmaps') {
    // Stage 1 is in the container's cgroups and (with a user namespace) has its maps.
    const stage1 = children[0];
    for (const [d, pids] of cgroupProcs(cgroupDirsNamed(id))) expect(pids, d).toContain(stage1);
    const uidMap = fs.readFileSync(`/proc/${stage1}/uid_map`, 'utf8').trim().split(/\s+/);
    expect(uidMap).toEqual(userNs ? ['0', '100000', '65536'] : ['0', '0', '4294967295']);
  }
  if (reached(step, 'initpid')) {
    // Stage 1 is reaped; the one child is the init, as recorded.
    expect(children).toEqual([rec!.initPid]);
    expect(procStartTime(rec!.initPid as number)).toBe(rec!.initStartTime);
    for (const [d, pids] of cgroupProcs(cgroupDirsNamed(id))) expect(pids, d).toEqual([rec!.initPid]);
  }
  return children;
}

async function killAtStep(step: Step, userNs: boolean): Promise<void> {
  const id = containerId();
  const bundle = await makeBundle((c, b) => {
    recordsRuns(c);
    if (userNs) withUserNamespace(c, b);
  });
  const pidFile = path.join(bundle.dir, 'init.pid');
  const bg = tsruncBackground(['create', '--bundle', bundle.dir, '--pid-file', pidFile, id], {
    env: { TSRUNC_FAULT_STOP: step },
  });
  try {
    await waitStopped(bg.child, `create to stop ${step}`);
    const started = await expectHalfMade(step, id, bg.child, pidFile, userNs);
    const rec = readRecordFile(id);
    bg.child.kill('SIGKILL');
    await childExited(bg.child);
    expect(bg.child.signalCode).toBe('SIGKILL');
    expect(fs.existsSync(pidFile)).toBe(false);
    // Past `saved` the container is complete: only the pid file is missing.
    await expectCleanAfterForceDelete(id, bundle, {
      expectStatus: step === 'saved' ? 'created' : 'stopped',
      pids: started,
      initPid: Number(rec?.initPid ?? 0),
      initStart: (rec?.initStartTime as string | undefined) ?? null,
    });
    // The process never ran before the second create.
    expect(runsOf(bundle)).toHaveLength(1);
    await drained(bg);
  } finally {
    await killChild(bg.child);
    await tsrunc(['delete', '--force', id]);
    await bundle.cleanup();
  }
}

describe('fault: tsrunc SIGKILLed at each step of create', () => {
  it.each(STEPS)('killed at %s (%s)', async (step) => {
    await killAtStep(step, false);
  });

  it.each(STEPS)('with a user namespace: killed at %s (%s)', async (step) => {
    await killAtStep(step, true);
  });

  it('a create stopped at a step and continued finishes normally', async () => {
    const id = containerId();
    const bundle = await makeBundle(recordsRuns);
    const pidFile = path.join(bundle.dir, 'init.pid');
    const bg = tsruncBackground(['create', '--bundle', bundle.dir, '--pid-file', pidFile, id], {
      env: { TSRUNC_FAULT_STOP: 'hooks' },
    });
    try {
      await waitStopped(bg.child, 'create to stop at the hooks point');
      bg.child.kill('SIGCONT');
      await childExited(bg.child);
      expect(bg.child.exitCode, bg.stderr()).toBe(0);
      const s = await stateOf(id);
      expect(s).toMatchObject({ status: 'created', pid: Number(fs.readFileSync(pidFile, 'utf8')) });
      expect((await tsrunc(['start', id])).code).toBe(0);
      await waitForStatus(id, 'stopped');
      expect(runsOf(bundle)).toHaveLength(1);
      expect((await tsrunc(['delete', id])).code).toBe(0);
      await drained(bg);
    } finally {
      await killChild(bg.child);
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });
});

describe('fault: tsrunc create killed half way', () => {
  it('killed while a createRuntime hook runs', async () => {
    const id = containerId();
    const outDir = tempDir('fault');
    const marker = path.join(outDir, 'hook-started');
    const hookPidFile = path.join(outDir, 'hook.pid');
    const hook = writeScript(
      path.join(outDir, 'slow-hook.sh'),
      `#!/bin/sh\necho $$ > ${hookPidFile}\n: > ${marker}\nexec /bin/sleep 5\n`,
    );
    const bundle = await makeBundle((c) => {
      recordsRuns(c);
      c.hooks = { createRuntime: [{ path: hook }] };
    });
    const creator = spawnTsrunc(['create', '--bundle', bundle.dir, id]);
    try {
      await waitFor('the hook to start', () => fs.existsSync(marker), 10_000);
      const rec = readRecordFile(id)!;
      expect(rec.initPid).toBeGreaterThan(0);
      expect((await stateOf(id)).status).toBe('creating');
      creator.kill('SIGKILL');
      await childExited(creator);
      // The hook file is not part of the config any more: the id must be re-creatable.
      bundle.config.hooks = {};
      bundle.writeConfig();
      await expectCleanAfterForceDelete(id, bundle, {
        initPid: rec.initPid as number,
        initStart: rec.initStartTime as string,
      });
    } finally {
      await killChild(creator);
      killHookGroup(hookPidFile);
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });

  it('delete --force waits for a create in progress, never kills it, then deletes the container', async () => {
    const id = containerId();
    const outDir = tempDir('fault');
    const marker = path.join(outDir, 'hook-started');
    const hookPidFile = path.join(outDir, 'hook.pid');
    const hook = writeScript(
      path.join(outDir, 'slow-hook.sh'),
      `#!/bin/sh\necho $$ > ${hookPidFile}\n: > ${marker}\nexec /bin/sleep 2\n`,
    );
    const bundle = await makeBundle((c) => {
      c.process.args = ['sleep', '1000'];
      c.hooks = { createContainer: [{ path: hook }] };
    });
    const creator = spawnTsrunc(['create', '--bundle', bundle.dir, id]);
    try {
      await waitFor('the hook to start', () => fs.existsSync(marker), 10_000);
      const rec = readRecordFile(id)!;
      expect(rec.initPid).toBeGreaterThan(0);
      expect((await stateOf(id)).status).toBe('creating');
      // Without --force a create in progress is not deleted, and the refusal does not wait.
      const plain = await tsrunc(['delete', id]);
      expect(expectOneLineError(plain)).toContain('creating');
      expect(fs.existsSync(stateDirOf(id))).toBe(true);
      // With --force it waits for the create's lock: the create finishes on its own.
      const del = await tsrunc(['delete', '--force', id]);
      expect(del, del.stderr).toMatchObject({ code: 0, stderr: '' });
      await childExited(creator);
      expect(creator.signalCode).toBeNull();
      expect(creator.exitCode).toBe(0);
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
      expect(cgroupDirsNamed(id)).toEqual([]);
      await waitFor('the init to go', () => !procAlive(rec.initPid as number, rec.initStartTime as string));
      await waitFor(`no process of ${id}`, () => processesMatching(id).length === 0, 3000);
    } finally {
      await killChild(creator);
      killHookGroup(hookPidFile);
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });

  it('delete --force against a create that keeps its lock fails cleanly and leaves the create alone', async () => {
    const id = containerId();
    const bundle = await makeBundle((c) => {
      c.process.args = ['sleep', '1000'];
    });
    const bg = tsruncBackground(['create', '--bundle', bundle.dir, id], {
      env: { TSRUNC_FAULT_STOP: 'hooks' },
    });
    try {
      await waitStopped(bg.child, 'create to stop at the hooks point');
      const del = await tsrunc(['delete', '--force', id]);
      expect(expectOneLineError(del)).toBe(
        `cannot delete container ${id}: another operation on it (a create?) still holds its lock`,
      );
      // The creating process was not signalled: it is still stopped, and its container intact.
      expect(bg.child.exitCode).toBeNull();
      expect(bg.child.signalCode).toBeNull();
      expect(processTable().find((p) => p.pid === bg.child.pid)?.state).toBe('T');
      expect((await stateOf(id)).status).toBe('creating');
      bg.child.kill('SIGCONT');
      await childExited(bg.child);
      expect(bg.child.exitCode, bg.stderr()).toBe(0);
      expect((await stateOf(id)).status).toBe('created');
      expect((await tsrunc(['delete', '--force', id])).code).toBe(0);
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
      expect(cgroupDirsNamed(id)).toEqual([]);
      await drained(bg);
    } finally {
      await killChild(bg.child);
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  }, 60_000);

  it('killed at random points of create (10 attempts)', async () => {
    const bundle = await makeBundle(recordsRuns);
    const ids: string[] = [];
    try {
      // How long a whole create takes here: the kills are spread over that span (node startup,
      // validation, clone, handshake, the state writes).
      const calibrateId = containerId();
      ids.push(calibrateId);
      const t0 = Date.now();
      const cal = spawnTsrunc(['create', '--bundle', bundle.dir, calibrateId]);
      await childExited(cal);
      const span = Math.max(50, Date.now() - t0);
      expect(cal.exitCode).toBe(0);
      expect((await tsrunc(['delete', '--force', calibrateId])).code).toBe(0);
      for (let attempt = 0; attempt < 10; attempt++) {
        const id = containerId();
        ids.push(id);
        const creator = spawnTsrunc(['create', '--bundle', bundle.dir, id]);
        await sleep(Math.floor(((attempt + Math.random()) * span) / 10));
        creator.kill('SIGKILL');
        await childExited(creator);
        const rec = readRecordFile(id);
        // A create that got to `created` before the kill is a whole container.
        await expectCleanAfterForceDelete(id, bundle, {
          expectStatus: rec?.phase === 'created' ? 'created' : 'stopped',
          initPid: Number(rec?.initPid ?? 0),
          initStart: (rec?.initStartTime as string | undefined) ?? null,
        });
      }
    } finally {
      for (const id of ids) await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  }, 120_000);
});

interface WinnerSnapshot {
  stateJson: string;
  initPid: number;
  initStart: string | null;
  fifo: { ino: number; dev: number; mode: number };
  cgroups: Map<string, number[]>;
}

function snapshotWinner(id: string, pidFile: string): WinnerSnapshot {
  const initPid = Number(fs.readFileSync(pidFile, 'utf8'));
  const fifo = fs.lstatSync(path.join(stateDirOf(id), 'exec.fifo'));
  return {
    stateJson: fs.readFileSync(path.join(stateDirOf(id), 'state.json'), 'utf8'),
    initPid,
    initStart: procStartTime(initPid),
    fifo: { ino: fifo.ino, dev: fifo.dev, mode: fifo.mode },
    cgroups: cgroupProcs(cgroupDirsNamed(id)),
  };
}

describe('fault: concurrent creates of one id', () => {
  it("20 concurrent creates: exactly one wins, the others change nothing of the winner's", async () => {
    const id = containerId();
    const bundle = await makeBundle(recordsRuns);
    const n = 20;
    const pidFiles = Array.from({ length: n }, (_, i) => path.join(bundle.dir, `init-${i}.pid`));
    const runs = pidFiles.map((pidFile) =>
      tsruncBackground(['create', '--bundle', bundle.dir, '--pid-file', pidFile, id]),
    );
    let winner = -1;
    let snap: WinnerSnapshot | null = null;
    try {
      // The winner's state is taken the moment its create exits, while the others may still run.
      const codes = await Promise.all(
        runs.map(
          (r, i) =>
            new Promise<number | null>((resolve) =>
              r.child.once('exit', (code) => {
                if (code === 0 && winner < 0) {
                  winner = i;
                  snap = snapshotWinner(id, pidFiles[i]);
                }
                resolve(code);
              }),
            ),
        ),
      );
      expect(
        codes.filter((c) => c === 0),
        runs.map((r) => r.stderr()).join(''),
      ).toHaveLength(1);
      const won = snap as WinnerSnapshot | null;
      expect(won).not.toBeNull();
      const w = won!;
      for (const [i, r] of runs.entries()) {
        if (i === winner) continue;
        const res = await drained(r);
        expect(expectOneLineError(res), `create #${i}`).toBe('container with given ID already exists');
        expect(fs.existsSync(pidFiles[i]), `pid file #${i}`).toBe(false);
      }
      // The record is the winner's, byte for byte as it was when the winner finished.
      expect(fs.readFileSync(path.join(stateDirOf(id), 'state.json'), 'utf8')).toBe(w.stateJson);
      const rec = JSON.parse(w.stateJson);
      expect(rec).toMatchObject({ phase: 'created', initPid: w.initPid });
      expect(w.initStart).not.toBeNull();
      expect(procAlive(w.initPid, w.initStart)).toBe(true);
      const fifo = fs.lstatSync(path.join(stateDirOf(id), 'exec.fifo'));
      expect(fifo.isFIFO()).toBe(true);
      expect({ ino: fifo.ino, dev: fifo.dev, mode: fifo.mode }).toEqual(w.fifo);
      // Its cgroups are the same dirs holding the init and nothing else.
      expect(w.cgroups.size).toBeGreaterThan(0);
      for (const pids of w.cgroups.values()) expect(pids).toEqual([w.initPid]);
      expect(cgroupProcs(cgroupDirsNamed(id))).toEqual(w.cgroups);
      expect((await tsrunc(['list', '-q'])).stdout).toBe(`${id}\n`);
      expect(await stateOf(id)).toMatchObject({ status: 'created', pid: w.initPid });
      // start runs the process exactly once.
      expect(runsOf(bundle)).toEqual([]);
      expect((await tsrunc(['start', id])).code).toBe(0);
      await waitForStatus(id, 'stopped');
      expect(runsOf(bundle)).toEqual(['1']);
      expect(await tsrunc(['delete', id])).toMatchObject({ code: 0, stderr: '' });
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
      expect(cgroupDirsNamed(id)).toEqual([]);
      await drained(runs[winner]);
    } finally {
      for (const r of runs) await killChild(r.child);
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  }, 90_000);
});

describe('fault: the init dies before start', () => {
  it('init killed before start: stopped with pid 0, start fails and runs nothing, delete removes all', async () => {
    const c = await createContainer(recordsRuns);
    try {
      const cgroups = cgroupDirsNamed(c.id);
      expect(cgroups.length).toBeGreaterThan(0);
      const startTime = procStartTime(c.pid);
      process.kill(c.pid, 'SIGKILL');
      await waitFor('the init to die', () => !procAlive(c.pid, startTime));
      expect(await stateOf(c.id)).toMatchObject({ id: c.id, status: 'stopped', pid: 0 });
      const res = await tsrunc(['start', c.id]);
      expect(expectOneLineError(res)).toBe('cannot start a container that has stopped');
      expect(await stateOf(c.id)).toMatchObject({ status: 'stopped', pid: 0 });
      expect(runsOf(c.bundle)).toEqual([]);
      expect(expectOneLineError(await tsrunc(['kill', c.id, 'KILL']))).toBe('container not running');
      const del = await tsrunc(['delete', c.id]);
      expect(del).toMatchObject({ code: 0, stderr: '' });
      expect(fs.existsSync(stateDirOf(c.id))).toBe(false);
      expect(cgroups.filter((d) => fs.existsSync(d))).toEqual([]);
      expect(runsOf(c.bundle)).toEqual([]);
    } finally {
      await c.cleanup();
    }
  });
});

describe('fault: a hook that hangs', () => {
  it('a hook past its timeout is killed with its children and grandchildren; create fails', async () => {
    const id = containerId();
    const out = tempDir('hookout');
    // A unique duration so that we can find exactly these sleeps in the process table.
    const tag = `100.${process.pid}${Date.now() % 100000}`;
    const bundle = await makeBundle((cfg, b) => {
      const slow = writeScript(
        path.join(b.dir, 'slow.sh'),
        [
          '#!/bin/sh',
          // A child, and a grandchild under a second shell that stays.
          `/bin/sleep ${tag} &`,
          `echo $! > ${out}/child.pid`,
          `/bin/sh -c '/bin/sleep ${tag} & echo $! > ${out}/grandchild.pid; wait' &`,
          `echo $! > ${out}/middle.pid`,
          // A grandchild whose parent exits at once: an orphan, no longer our descendant.
          `/bin/sh -c '/bin/sleep ${tag} & echo $! > ${out}/orphan.pid'`,
          `echo $$ > ${out}/hook.pid`,
          `/bin/sleep ${tag}`,
          '',
        ].join('\n'),
      );
      cfg.process.args = ['sleep', '1000'];
      cfg.hooks = { createRuntime: [{ path: slow, timeout: 1 }] };
    });
    const pidFiles = ['hook', 'child', 'middle', 'grandchild', 'orphan'];
    try {
      const res = await tsrunc(['create', '--bundle', bundle.dir, id]);
      const line = expectOneLineError(res);
      expect(line).toBe('error running createRuntime hook #0: hook ran past specified timeout of 1.0s');
      const pids = pidFiles.map((f) => Number(fs.readFileSync(path.join(out, `${f}.pid`), 'utf8')));
      for (const pid of pids) expect(pid).toBeGreaterThan(0);
      await waitFor(
        'the hook and all it started to die',
        () => processesMatching(`sleep ${tag}`).length === 0 && pids.every((p) => !procAlive(p)),
        3000,
      );
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
      expect(cgroupDirsNamed(id)).toEqual([]);
      await waitFor('no process of the container', () => processesMatching(id).length === 0, 2000);
    } finally {
      for (const p of processesMatching(`sleep ${tag}`)) process.kill(p.pid, 'SIGKILL');
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('fault: pid reuse', () => {
  function sleeper(c: Config): void {
    c.process.args = ['sleep', '1000'];
  }

  /** The host process is alive, the same one, and was not signalled. */
  function expectUntouched(proc: ChildProcess, startTime: string | null): void {
    expect(procAlive(proc.pid!, startTime)).toBe(true);
    expect(proc.exitCode).toBeNull();
    expect(proc.signalCode).toBeNull();
  }

  it.each([
    ['initPid', 'the init'],
    ['phase', 'a create whose tsrunc died'],
  ])(
    'a recycled pid in %s (%s) is never signalled by state, kill, kill --all or delete --force',
    async (field) => {
      const c = await createContainer(sleeper);
      const stateFile = path.join(stateDirOf(c.id), 'state.json');
      const original = fs.readFileSync(stateFile, 'utf8');
      const host = spawnHostSleep();
      try {
        await waitFor('the host sleep', () => procAlive(host.pid!));
        const hostStart = procStartTime(host.pid!);
        const rec = JSON.parse(original);
        if (field === 'initPid') {
          expect(rec.initPid).toBe(c.pid);
          // The pid now names a live host process; the start time is still the init's.
          rec.initPid = host.pid;
        } else {
          // A create whose tsrunc died (its lock is free) must not signal anything it names.
          rec.phase = 'creating';
          rec.initPid = host.pid;
        }
        fs.writeFileSync(stateFile, JSON.stringify(rec));
        expect(await stateOf(c.id)).toMatchObject({ status: 'stopped', pid: 0 });
        expect(expectOneLineError(await tsrunc(['kill', c.id, 'KILL']))).toBe('container not running');
        expect((await tsrunc(['kill', '--all', c.id, 'KILL'])).code).toBe(0);
        await sleep(200);
        expectUntouched(host, hostStart);
        const del = await tsrunc(['delete', '--force', c.id]);
        expect(del).toMatchObject({ code: 0, stderr: '' });
        expect(fs.existsSync(stateDirOf(c.id))).toBe(false);
        // The real init was in the container's cgroups: it is gone, the host process is not.
        await waitFor('the real init to go', () => !procAlive(c.pid));
        expect(cgroupDirsNamed(c.id)).toEqual([]);
        await sleep(200);
        expectUntouched(host, hostStart);
      } finally {
        await killChild(host);
        // If the test failed half way, put the true record back so cleanup finds the init.
        if (fs.existsSync(stateDirOf(c.id))) fs.writeFileSync(stateFile, original);
        else if (procAlive(c.pid)) process.kill(c.pid, 'SIGKILL');
        await c.cleanup();
      }
    },
  );

  it('a recorded start time that does not match the live pid means stopped; the pid is not signalled', async () => {
    const c = await createContainer(sleeper);
    const stateFile = path.join(stateDirOf(c.id), 'state.json');
    const original = fs.readFileSync(stateFile, 'utf8');
    const startTime = procStartTime(c.pid)!;
    try {
      const rec = JSON.parse(original);
      expect(rec.initStartTime).toBe(startTime);
      rec.initStartTime = String(Number(startTime) - 1);
      fs.writeFileSync(stateFile, JSON.stringify(rec));
      expect(await stateOf(c.id)).toMatchObject({ status: 'stopped', pid: 0 });
      const res = await tsrunc(['kill', c.id, 'KILL']);
      expect(expectOneLineError(res)).toBe('container not running');
      await sleep(200);
      expect(procAlive(c.pid, startTime)).toBe(true);
    } finally {
      if (fs.existsSync(stateFile)) fs.writeFileSync(stateFile, original);
      await c.cleanup();
    }
  });
});
