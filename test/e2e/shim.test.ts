// A containerd shim v2 end to end: ctr -> a private containerd 1.6 -> the shim of the runtime
// under test -> containers. The runtime is $TSRUNC_SHIM_RUNTIME, by default tsrunc's own shim
// (io.containerd.tsrunc.v1, bin/containerd-shim-tsrunc-v1); TSRUNC_SHIM_RUNTIME=io.containerd.runc.v2
// runs the same tests against containerd's Go shim and runc, which is how they were checked.
// What differs between runtimes is in test/helpers/shim.ts. The containers get their own network
// namespace (no --net-host): loopback only, no traffic.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { containerId, tempDir } from '../helpers/bundle';
import {
  type CommandResult,
  type ContainerdDaemon,
  engineCgroupParent,
  startContainerd,
  writeImageArchive,
} from '../helpers/docker';
import { testEnv } from '../helpers/env';
import { guardHostNetwork } from '../helpers/host-network';
import { cgroupDirsNamed, procAlive, readLinkOrNull, sleep, waitFor } from '../helpers/lifecycle-helpers';
import { mountAt, parseMountInfo } from '../helpers/mountinfo';
import {
  parentOf,
  sameProcessAlive,
  shimPathDirs,
  shimProcesses,
  shimRuntime,
  shimServers,
  shimSocketPath,
  socketAccepts,
} from '../helpers/shim';

const execFileP = promisify(execFile);

const RUNTIME = shimRuntime();
const IMAGE = 'docker.io/library/busybox:local';
const SNAPSHOTTERS = ['native', 'overlayfs'];
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const PTY_RUN = path.join(__dirname, '..', 'helpers', 'pty-run.py');
/** Bounds a wait for something containerd or the shim does in the background (not a timing
 *  assertion: only how long a hang takes to be reported). */
const SETTLE_MS = 30_000;

guardHostNetwork();

let containerd: ContainerdDaemon;
/** A namespace of this run: the shim's state dirs and sockets are named after it. */
let namespace: string;
let binDirs: string[] = [];
let stateRootExisted = false;
/** Containers and groups of the running test: afterEach removes them and checks what is left. */
let ids: string[] = [];
let groups: string[] = [];

beforeAll(async () => {
  namespace = `tsrunc-test-${testEnv().runId}`;
  stateRootExisted = fs.existsSync(RUNTIME.stateRoot);
  binDirs = shimPathDirs(RUNTIME);
  containerd = await startContainerd({ pathDirs: binDirs, namespace });
  const archive = await writeImageArchive(testEnv().rootfs, 'busybox:local', containerd.dir);
  // An import unpacks the image for one snapshotter: once for each.
  for (const snapshotter of SNAPSHOTTERS) {
    await containerd.ctr(['image', 'import', '--snapshotter', snapshotter, archive]);
  }
  fs.rmSync(archive);
});

afterEach(async () => {
  const [testIds, testGroups] = [ids, groups];
  ids = [];
  groups = [];
  for (const id of testIds) await removeContainer(id);
  await checkShimLeftovers(testIds, testGroups);
});

afterAll(async () => {
  try {
    if (containerd) await checkShimLeftovers([], []);
  } finally {
    await containerd?.stop();
    for (const dir of binDirs) fs.rmSync(dir, { recursive: true, force: true });
    removeStateRoot();
  }
});

function ctr(args: string[], allowFail = false): Promise<CommandResult> {
  return containerd.ctr(args, { allowFail });
}

/** Kill, delete and remove `id`, whatever state it is in ("not found" is fine). */
async function removeContainer(id: string): Promise<void> {
  await ctr(['task', 'kill', '-s', 'SIGKILL', id], true);
  for (let i = 0; i < 50; i++) {
    const res = await ctr(['task', 'delete', '--force', id], true);
    if (res.code === 0 || /not found/.test(res.stderr)) break;
    await sleep(100);
  }
  await ctr(['container', 'rm', id], true);
}

/** containerd's bundle of `id` (config.json, the rootfs mount point, the shim's address). */
function bundleOf(id: string): string {
  return path.join(containerd.dir, 'containerd-state', 'io.containerd.runtime.v2.task', namespace, id);
}

function runtimeStateOf(id: string): string {
  return path.join(RUNTIME.stateRoot, namespace, id);
}

function socketOf(group: string): string {
  return shimSocketPath(RUNTIME, containerd.socket, namespace, group);
}

/**
 * What a test's containers may not leave behind once removed: a shim process of our containerd,
 * a socket of their shims (containers and groups both name one), the runtime's state dir, the
 * bundle. Throws when something is left, after removing shims, sockets and state dirs so later
 * tests start clean (a bundle may hold a mount: the leak guard unmounts it).
 */
async function checkShimLeftovers(testIds: string[], testGroups: string[]): Promise<void> {
  const problems: string[] = [];
  const deadline = Date.now() + SETTLE_MS;
  while (shimProcesses(containerd.socket).length && Date.now() < deadline) await sleep(100);
  for (const p of shimProcesses(containerd.socket)) {
    problems.push(`shim process ${p.pid}: ${p.argv.join(' ')}`);
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
  for (const key of [...testIds, ...testGroups]) {
    const socket = socketOf(key);
    if (fs.existsSync(socket)) problems.push(`shim socket ${socket} (of ${key})`);
    fs.rmSync(socket, { force: true });
  }
  for (const id of testIds) {
    for (const dir of [runtimeStateOf(id), bundleOf(id)]) {
      if (fs.existsSync(dir)) problems.push(`state dir ${dir}`);
    }
    fs.rmSync(runtimeStateOf(id), { recursive: true, force: true });
  }
  if (problems.length) throw new Error(`left behind:\n  ${problems.join('\n  ')}`);
}

/** The namespace's dir in the runtime's state root: every container's dir is gone by now. */
function removeStateRoot(): void {
  const dir = path.join(RUNTIME.stateRoot, namespace ?? '');
  if (!namespace || !fs.existsSync(dir)) return;
  const left = fs.readdirSync(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  // The root itself only when this file made it and nothing else uses it now.
  if (!stateRootExisted && fs.readdirSync(RUNTIME.stateRoot).length === 0) fs.rmdirSync(RUNTIME.stateRoot);
  if (left.length) throw new Error(`left in ${dir}: ${left.join(', ')}`);
}

function newId(): string {
  const id = containerId('shim');
  ids.push(id);
  return id;
}

function newGroup(): string {
  const group = containerId('group');
  groups.push(group);
  return group;
}

interface RunOptions {
  snapshotter?: string;
  /** Run in this shim group (the runtime's group annotation). */
  group?: string;
  extra?: string[];
}

/** `ctr run` flags for container `id`: our runtime, its cgroup below the run's parent. */
function runFlags(id: string, opts: RunOptions = {}): string[] {
  const flags = [
    '--runtime',
    RUNTIME.name,
    '--snapshotter',
    opts.snapshotter ?? 'native',
    '--cgroup',
    `${engineCgroupParent()}/${id}`,
  ];
  if (opts.group) flags.push('--annotation', `${RUNTIME.groupAnnotation}=${opts.group}`);
  return [...flags, ...(opts.extra ?? [])];
}

/** `ctr run -d` (stdio to /dev/null); returns the init's pid. */
async function runDetached(
  id: string,
  cmd: string[] = ['sleep', '1000'],
  opts: RunOptions = {},
): Promise<number> {
  await ctr(['run', '-d', '--null-io', ...runFlags(id, opts), IMAGE, id, ...cmd]);
  const task = await taskOf(id);
  if (task?.status !== 'RUNNING')
    throw new Error(`task ${id} is ${task?.status ?? 'missing'} after ctr run -d`);
  return task.pid;
}

interface Task {
  pid: number;
  status: string;
}

/** `ctr task ls`: task id -> pid and status. */
async function taskList(): Promise<Map<string, Task>> {
  const out = new Map<string, Task>();
  for (const line of (await ctr(['task', 'ls'])).stdout.trim().split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id) out.set(id, { pid: Number(pid), status });
  }
  return out;
}

async function taskOf(id: string): Promise<Task | undefined> {
  return (await taskList()).get(id);
}

/** Polls `ctr task ls` until task `id` has `status`. */
async function waitForStatus(id: string, status: string): Promise<void> {
  let last: Task | undefined;
  const deadline = Date.now() + SETTLE_MS;
  while ((last = await taskOf(id))?.status !== status) {
    if (Date.now() > deadline) throw new Error(`task ${id} is ${last?.status ?? 'gone'}, not ${status}`);
    await sleep(100);
  }
}

/** `ctr task kill -s <signal>`, then `ctr task delete` once it stopped; returns delete's result. */
async function killAndDelete(id: string, signal = 'SIGKILL'): Promise<CommandResult> {
  await ctr(['task', 'kill', '-s', signal, id]);
  await waitForStatus(id, 'STOPPED');
  return ctr(['task', 'delete', id], true);
}

/** Mount points of the host whose path has `id` as one of its components. */
function mountsOf(id: string): string[] {
  return parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))
    .map((m) => m.mountPoint)
    .filter((mp) => mp.split('/').includes(id));
}

/** Nothing of the removed container `id` is left: processes `pids`, mounts, cgroups, state. */
async function expectContainerGone(id: string, pids: number[]): Promise<void> {
  await waitFor(`the processes of ${id} to be gone`, () => pids.every((p) => !procAlive(p)), SETTLE_MS);
  expect((await ctr(['container', 'ls', '-q'])).stdout.split('\n')).not.toContain(id);
  expect(mountsOf(id)).toEqual([]);
  expect(cgroupDirsNamed(id)).toEqual([]);
  expect(fs.existsSync(runtimeStateOf(id))).toBe(false);
  expect(fs.existsSync(bundleOf(id))).toBe(false);
}

/** The v1 freezer state of container `id`'s cgroup, as the host sees it. */
function freezerState(id: string): string {
  const file = path.join('/sys/fs/cgroup/freezer', engineCgroupParent(), id, 'freezer.state');
  return fs.readFileSync(file, 'utf8').trim();
}

interface PtyRun {
  exit: number;
  output: string;
  timedOut: boolean;
}

/**
 * Runs ctr with `args` on a fresh pty (as at a terminal). Once the output shows "ready", the
 * helper types `input`.
 */
async function ctrOnPty(args: string[], input: string): Promise<PtyRun> {
  const { stdout } = await execFileP(PYTHON, [
    PTY_RUN,
    '--rows',
    '30',
    '--cols',
    '100',
    '--marker',
    'ready',
    '--resize',
    '40',
    '120',
    '--input',
    input,
    '--timeout',
    '60',
    '--',
    ...containerd.ctrCommand(args),
  ]);
  return JSON.parse(stdout) as PtyRun;
}

/** The process in a container with a terminal: names its tty, reads a line, exits `code`. */
const TTY_SCRIPT = (code: number) => ['sh', '-c', `tty; echo ready; read x; echo got-$x; exit ${code}`];

describe(`ctr run with the shim of ${RUNTIME.name}`, () => {
  it('run --rm prints the output and passes the exit code', async () => {
    const id = newId();
    const res = await ctr(
      ['run', '--rm', ...runFlags(id), IMAGE, id, 'sh', '-c', 'echo out; echo err >&2; exit 3'],
      true,
    );
    expect(res.code, res.stderr).toBe(3);
    expect(res.stdout).toBe('out\n');
    expect(res.stderr).toContain('err\n');
    await expectContainerGone(id, []);
  });

  it('run -t --rm: the output arrives through the terminal, input reaches the process, exit code too', async () => {
    const id = newId();
    const run = await ctrOnPty(
      ['run', '-t', '--rm', ...runFlags(id), IMAGE, id, ...TTY_SCRIPT(4)],
      'hello\r',
    );
    expect(run.timedOut).toBe(false);
    expect(run.exit, run.output).toBe(4);
    expect(run.output).toMatch(/^\/dev\/pts\/\d+\r?$/m);
    expect(run.output).toContain('got-hello');
    await expectContainerGone(id, []);
  });

  it('a detached container: exec, exec -t, ps, pause/resume, metrics, kill, delete, rm', async () => {
    const id = newId();
    const pid = await runDetached(id);
    // Where the leftover checks look: the runtime's state, the shim's socket, the bundle.
    expect(fs.existsSync(runtimeStateOf(id))).toBe(true);
    expect(fs.statSync(socketOf(id)).isSocket()).toBe(true);
    expect(fs.existsSync(path.join(bundleOf(id), 'config.json'))).toBe(true);

    const exec = await ctr(
      [
        'task',
        'exec',
        '--exec-id',
        'e1',
        id,
        'sh',
        '-c',
        'readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; echo exec-out; exit 7',
      ],
      true,
    );
    expect(exec.code, exec.stderr).toBe(7);
    expect(exec.stdout.split('\n')).toEqual([
      readLinkOrNull(`/proc/${pid}/ns/pid`),
      readLinkOrNull(`/proc/${pid}/ns/mnt`),
      'exec-out',
      '',
    ]);

    const tty = await ctrOnPty(['task', 'exec', '-t', '--exec-id', 'e2', id, ...TTY_SCRIPT(5)], 'hi\r');
    expect(tty.timedOut).toBe(false);
    expect(tty.exit, tty.output).toBe(5);
    expect(tty.output).toMatch(/^\/dev\/pts\/\d+\r?$/m);
    expect(tty.output).toContain('got-hi');

    const ps = await ctr(['task', 'ps', id]);
    expect(
      ps.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => Number(l.split(/\s+/)[0])),
    ).toContain(pid);

    await ctr(['task', 'pause', id]);
    expect((await taskOf(id))?.status).toBe('PAUSED');
    expect(freezerState(id)).toBe('FROZEN');
    await ctr(['task', 'resume', id]);
    expect((await taskOf(id))?.status).toBe('RUNNING');
    expect(freezerState(id)).toBe('THAWED');

    const metrics = await ctr(['task', 'metrics', id]);
    const usage = /^memory\.usage_in_bytes\s+(\d+)\s*$/m.exec(metrics.stdout);
    expect(usage, metrics.stdout).not.toBeNull();
    expect(Number(usage![1])).toBeGreaterThan(0);

    const del = await killAndDelete(id);
    expect(del.code, del.stderr).toBe(0);
    expect(del.stderr).toContain(`task ${id} exit with non-zero exit code 137`);
    await ctr(['container', 'rm', id]);
    await expectContainerGone(id, [pid]);
  });

  it.each(SNAPSHOTTERS)(
    'snapshotter %s: the rootfs is a mount the shim made, the container runs on it',
    async (snapshotter) => {
      const id = newId();
      const pid = await runDetached(id, ['sleep', '1000'], { snapshotter });
      const rootfs = path.join(bundleOf(id), 'rootfs');
      const host = mountAt(parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')), rootfs);
      expect(host, `no mount at ${rootfs}`).toBeDefined();
      const snapshots = `io.containerd.snapshotter.v1.${snapshotter}/snapshots/`;
      if (snapshotter === 'overlayfs') {
        expect(host!.fstype).toBe('overlay');
        expect(host!.superOptions.find((o) => o.startsWith('upperdir='))).toContain(snapshots);
      } else {
        // A bind mount of the snapshot dir.
        expect(host!.root).toContain(snapshots);
      }
      // The container's "/" is that file system at that path.
      const inside = mountAt(parseMountInfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8')), '/');
      expect({ dev: inside?.dev, root: inside?.root }).toEqual({ dev: host!.dev, root: host!.root });
      const exec = await ctr([
        'task',
        'exec',
        '--exec-id',
        'w',
        id,
        'sh',
        '-c',
        'echo written > /new; cat /new',
      ]);
      expect(exec.stdout).toBe('written\n');

      expect((await killAndDelete(id)).code).toBe(0);
      await ctr(['container', 'rm', id]);
      await expectContainerGone(id, [pid]);
    },
  );
});

describe(`shim groups (${RUNTIME.groupAnnotation})`, () => {
  it('two containers of a group share one shim, which outlives the first and exits after the second', async () => {
    const group = newGroup();
    const [a, b] = [newId(), newId()];
    const pidA = await runDetached(a, ['sleep', '1000'], { group });
    const pidB = await runDetached(b, ['sleep', '1000'], { group });
    const shimPid = parentOf(pidA)!;
    expect(parentOf(pidB)).toBe(shimPid);
    const servers = shimServers(containerd.socket);
    expect(servers.map((s) => s.pid)).toEqual([shimPid]);
    const shim = servers[0];
    expect(fs.statSync(socketOf(group)).isSocket()).toBe(true);

    expect((await killAndDelete(a)).code).toBe(0);
    await ctr(['container', 'rm', a]);
    await expectContainerGone(a, [pidA]);
    expect(sameProcessAlive(shim.pid, shim.startTime)).toBe(true);
    expect((await taskOf(b))?.status).toBe('RUNNING');
    expect((await ctr(['task', 'exec', '--exec-id', 'x', b, 'sh', '-c', 'exit 6'], true)).code).toBe(6);

    expect((await killAndDelete(b)).code).toBe(0);
    await ctr(['container', 'rm', b]);
    await expectContainerGone(b, [pidB]);
    await waitFor('the shim to exit', () => !sameProcessAlive(shim.pid, shim.startTime), SETTLE_MS);
    expect(fs.existsSync(socketOf(group))).toBe(false);
  });

  it('20 parallel run --rm in one group: each its own output and exit code, one shim serves them all', async () => {
    const group = newGroup();
    const sync = tempDir('e2e-shim-sync');
    const n = 20;
    const runIds = Array.from({ length: n }, () => newId());
    const seen = new Set<number>();
    const record = () => shimServers(containerd.socket).forEach((s) => seen.add(s.pid));
    const poller = setInterval(record, 50);
    const finished: CommandResult[] = [];
    let runs: Promise<CommandResult>[] = [];
    try {
      // Each waits for /sync/go, so all of them run at once before any exits.
      runs = runIds.map((id, i) =>
        ctr(
          [
            'run',
            '--rm',
            ...runFlags(id, {
              group,
              extra: ['--mount', `type=bind,src=${sync},dst=/sync,options=rbind:ro`],
            }),
            IMAGE,
            id,
            'sh',
            '-c',
            `while [ ! -e /sync/go ]; do sleep 0.05; done; echo ${i}; exit ${i % 7}`,
          ],
          true,
        ).then((res) => {
          finished.push(res);
          return res;
        }),
      );
      let tasks = new Map<string, Task>();
      const deadline = Date.now() + 90_000;
      while (runIds.some((id) => tasks.get(id)?.status !== 'RUNNING')) {
        if (finished.length) throw new Error(`a ctr run ended early: ${JSON.stringify(finished[0])}`);
        if (Date.now() > deadline) throw new Error('not all containers are running');
        await sleep(200);
        tasks = await taskList();
      }
      record();
      const parents = new Set(runIds.map((id) => parentOf(tasks.get(id)!.pid)));
      expect([...parents]).toEqual([...seen]);
      fs.writeFileSync(path.join(sync, 'go'), '');
      const results = await Promise.all(runs);
      record();
      expect(results.map((r) => [r.code, r.stdout])).toEqual(runIds.map((_, i) => [i % 7, `${i}\n`]));
      expect(seen.size).toBe(1);
    } finally {
      clearInterval(poller);
      fs.writeFileSync(path.join(sync, 'go'), '');
      await Promise.allSettled(runs);
      fs.rmSync(sync, { recursive: true, force: true });
    }
  }, 240_000);
});

describe('faults', () => {
  it('a process that cannot be started: the runtime says why on ctr stderr, nothing is left', async () => {
    const id = newId();
    const res = await ctr(['run', '--rm', ...runFlags(id), IMAGE, id, '/nonexistent'], true);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(RUNTIME.execNotFound('/nonexistent'));
    await ctr(['container', 'rm', id], true);
    await expectContainerGone(id, []);
  });

  it('the shim SIGKILLed under 5 running containers of a group: containerd cleans up, nothing is left', async () => {
    const group = newGroup();
    const group5 = Array.from({ length: 5 }, () => newId());
    const pids: number[] = [];
    for (const id of group5) pids.push(await runDetached(id, ['sleep', '1000'], { group }));
    const shimPid = parentOf(pids[0])!;
    expect(pids.map((p) => parentOf(p))).toEqual(pids.map(() => shimPid));
    expect(shimServers(containerd.socket).map((s) => s.pid)).toEqual([shimPid]);
    expect(group5.map((id) => fs.existsSync(runtimeStateOf(id)))).toEqual(group5.map(() => true));

    process.kill(shimPid, 'SIGKILL');
    // containerd sees the connections drop and runs the shim's delete for each container.
    const deadline = Date.now() + SETTLE_MS;
    for (;;) {
      const tasks = await taskList();
      if (group5.every((id) => tasks.get(id)?.status === undefined || tasks.get(id)?.status === 'STOPPED'))
        break;
      if (Date.now() > deadline) throw new Error('containerd did not notice the dead shim');
      await sleep(200);
    }
    for (const id of group5) {
      const del = await ctr(['task', 'delete', id], true);
      expect(del.code === 0 || /not found/.test(del.stderr), del.stderr).toBe(true);
      await ctr(['container', 'rm', id]);
    }
    for (const [i, id] of group5.entries()) await expectContainerGone(id, [pids[i]]);
    // The dead shim could not remove its socket; a later start of the group replaces it. It must
    // not be served by anything.
    const socket = socketOf(group);
    expect(fs.existsSync(socket) ? await socketAccepts(socket) : false).toBe(false);
    fs.rmSync(socket, { force: true });
  });

  it('containerd restarted under 2 running containers: kill, delete and their exits still work', async () => {
    const [a, b] = [newId(), newId()];
    const pidA = await runDetached(a);
    const pidB = await runDetached(b, ['sh', '-c', 'trap "exit 9" TERM; while true; do sleep 0.1; done']);
    const shims = shimServers(containerd.socket);
    expect(new Set(shims.map((s) => s.pid))).toEqual(new Set([parentOf(pidA), parentOf(pidB)]));
    expect(shims).toHaveLength(2);
    const before = containerd.pid();

    await containerd.restart();
    expect(containerd.pid()).not.toBe(before);
    const tasks = await taskList();
    expect([tasks.get(a), tasks.get(b)]).toEqual([
      { pid: pidA, status: 'RUNNING' },
      { pid: pidB, status: 'RUNNING' },
    ]);
    expect(shims.every((s) => sameProcessAlive(s.pid, s.startTime))).toBe(true);
    expect((await ctr(['task', 'exec', '--exec-id', 'r1', b, 'sh', '-c', 'exit 2'], true)).code).toBe(2);

    const delA = await killAndDelete(a);
    expect(delA.code, delA.stderr).toBe(0);
    expect(delA.stderr).toContain(`task ${a} exit with non-zero exit code 137`);
    const delB = await killAndDelete(b, 'SIGTERM');
    expect(delB.code, delB.stderr).toBe(0);
    expect(delB.stderr).toContain(`task ${b} exit with non-zero exit code 9`);
    for (const id of [a, b]) await ctr(['container', 'rm', id]);
    await expectContainerGone(a, [pidA]);
    await expectContainerGone(b, [pidB]);
  });
});
