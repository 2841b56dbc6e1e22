// A containerd shim v2 end to end: ctr -> a private containerd 1.6 -> the shim of the runtime
// under test -> containers. The runtime is $TSRUNC_SHIM_RUNTIME, by default tsrunc's own shim
// (io.containerd.tsrunc.v1, bin/containerd-shim-tsrunc-v1); TSRUNC_SHIM_RUNTIME=io.containerd.runc.v2
// runs the same tests against containerd's Go shim and runc, which is how they were checked.
// What differs between runtimes is in test/helpers/shim.ts. The containers get their own network
// namespace (no --net-host): loopback only, no traffic.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';

import { task, ttrpcWire } from '../../src/shim/proto';
import { TtrpcClient } from '../../src/shim/ttrpc/client';
import { encodeFrame, FrameType, MAX_MESSAGE } from '../../src/shim/ttrpc/frame';
import { Code, type TtrpcError } from '../../src/shim/ttrpc/server';
import { containerId, tempDir } from '../helpers/bundle';
import {
  type CommandResult,
  type ContainerdDaemon,
  engineCgroupParent,
  startContainerd,
  writeImageArchive,
  removeCtrContainer,
} from '../helpers/docker';
import { testEnv } from '../helpers/env';
import { guardHostNetwork } from '../helpers/host-network';
import {
  cgroupDirsNamed,
  procAlive,
  readLinkOrNull,
  sleep,
  waitFor,
  writeScript,
} from '../helpers/lifecycle-helpers';
import { mountAt, parseMountInfo } from '../helpers/mountinfo';
import {
  type CtrEvent,
  CtrEvents,
  parentOf,
  sameProcessAlive,
  shimPathDirs,
  shimProcesses,
  shimRuntime,
  shimServers,
  shimSocketPath,
  TSRUNC_SHIM_RUNTIME,
  socketAccepts,
} from '../helpers/shim';

const execFileP = promisify(execFile);

const RUNTIME = shimRuntime();
const IMAGE = 'docker.io/library/busybox:local';
const SNAPSHOTTERS = ['native', 'overlayfs'];
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const PTY_RUN = path.join(__dirname, '..', 'helpers', 'pty-run.py');
const RAW_SOCKET = path.join(__dirname, '..', 'helpers', 'raw-socket.py');
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
function removeContainer(id: string): Promise<void> {
  return removeCtrContainer(containerd, id);
}

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

describe(`update and grouping options of the shim of ${RUNTIME.name}`, () => {
  it("Update (ctr 1.6 has no `task update`: sent on the shim's socket as containerd would): the memory cgroup gets the new limit", async () => {
    const id = newId();
    await runDetached(id, ['sleep', '1000'], { extra: ['--memory-limit', String(64 * 1024 * 1024)] });
    const limitFile = path.join('/sys/fs/cgroup/memory', engineCgroupParent(), id, 'memory.limit_in_bytes');
    expect(fs.readFileSync(limitFile, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
    const address = fs.readFileSync(path.join(bundleOf(id), 'address'), 'utf8').trim();
    const client = await TtrpcClient.connect(address);
    try {
      const resources = { memory: { limit: 48 * 1024 * 1024 } };
      const request = task.UpdateTaskRequest.encode({
        id,
        resources: {
          type_url: 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources',
          value: Buffer.from(JSON.stringify(resources)),
        },
      }).finish();
      await client.call('containerd.task.v2.Task', 'Update', request, { timeoutMs: 10_000 });
    } finally {
      client.close();
    }
    expect(fs.readFileSync(limitFile, 'utf8').trim()).toBe(String(48 * 1024 * 1024));
    expect((await killAndDelete(id)).code).toBe(0);
  });

  it.skipIf(RUNTIME.name !== TSRUNC_SHIM_RUNTIME)(
    'grouping "namespace" in the config file --runtime-config-path names: two containers without a group annotation share one shim (skipped for other shims: the Go shim has no such option and refuses runtimeoptions)',
    async () => {
      expect.assertions(4);
      groups.push(`namespace:${namespace}`);
      const config = path.join(tempDir('e2e-shim-config'), 'shim.json');
      fs.writeFileSync(config, JSON.stringify({ grouping: 'namespace' }));
      const [a, b] = [newId(), newId()];
      const pidA = await runDetached(a, ['sleep', '1000'], { extra: ['--runtime-config-path', config] });
      const pidB = await runDetached(b, ['sleep', '1000'], { extra: ['--runtime-config-path', config] });
      const shimPid = parentOf(pidA);
      expect(parentOf(pidB)).toBe(shimPid);
      expect(shimServers(containerd.socket).map((server) => server.pid)).toEqual([shimPid]);
      expect((await killAndDelete(a)).code).toBe(0);
      expect((await killAndDelete(b)).code).toBe(0);
      fs.rmSync(path.dirname(config), { recursive: true, force: true });
    },
  );
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

/** `ctr events` of our containerd, subscribed (it has seen an event) before this returns. */
function ctrEvents(): Promise<CtrEvents> {
  return CtrEvents.start(
    containerd.ctrCommand(['events']),
    namespace,
    (n) => ctr(['namespaces', 'label', namespace, `tsrunc.test.marker=${n}`]),
    SETTLE_MS,
  );
}

/** A container's events as short labels: `create`, `exit <id> <status>`, `exec-added <exec id>`. */
function labels(events: CtrEvent[]): string[] {
  return events.map((e) => {
    const name = e.topic.slice('/tasks/'.length);
    const ev = e.event;
    // exit_status 0 is left out of the JSON (Go's omitempty).
    if (name === 'exit') return `exit ${String(ev.id)} ${Number(ev.exit_status ?? 0)}`;
    if (name === 'exec-added' || name === 'exec-started') return `${name} ${String(ev.exec_id)}`;
    return name;
  });
}

/** The labels of `all` that are in `wanted`, in their order. */
function pick(all: string[], wanted: string[]): string[] {
  return all.filter((l) => wanted.includes(l));
}

describe(`events of the shim of ${RUNTIME.name} (ctr events)`, () => {
  it('run --rm and run -d with exec, pause, resume, kill, delete: each container in the contract order', async () => {
    const events = await ctrEvents();
    const fifoDir = tempDir('e2e-shim-fifos');
    try {
      const a = newId();
      const run = await ctr(['run', '--rm', ...runFlags(a), IMAGE, a, 'sh', '-c', 'exit 3'], true);
      expect(run.code, run.stderr).toBe(3);

      const b = newId();
      const pid = await runDetached(b);
      const exec = await ctr(['task', 'exec', '--exec-id', 'e1', b, 'sh', '-c', 'exit 7'], true);
      expect(exec.code, exec.stderr).toBe(7);
      await ctr(['task', 'pause', b]);
      await ctr(['task', 'resume', b]);
      // Still running when the init dies: its exit comes first all the same (containerd#9719).
      await ctr(['task', 'exec', '-d', '--fifo-dir', fifoDir, '--exec-id', 'e2', b, 'sleep', '1000']);
      const del = await killAndDelete(b);
      expect(del.code, del.stderr).toBe(0);
      await ctr(['container', 'rm', b]);

      const deleted = (id: string) => (all: CtrEvent[]) =>
        all.some((e) => e.topic === '/tasks/delete' && e.event.container_id === id);
      await events.waitFor(`/tasks/delete of ${a}`, deleted(a), SETTLE_MS);
      await events.waitFor(`/tasks/delete of ${b}`, deleted(b), SETTLE_MS);

      const ofA = labels(events.ofContainer(a));
      expect(ofA).toEqual(['create', 'start', `exit ${a} 3`, 'delete']);
      const ofB = labels(events.ofContainer(b));
      // Each event once, nothing else.
      expect([...ofB].sort()).toEqual(
        [
          'create',
          'start',
          'exec-added e1',
          'exec-started e1',
          'exit e1 7',
          'paused',
          'resumed',
          'exec-added e2',
          'exec-started e2',
          'exit e2 137',
          `exit ${b} 137`,
          'delete',
        ].sort(),
      );
      // The orders the contract promises (the exec's exit and the pause have none between them).
      expect(pick(ofB, ['create', 'start', `exit ${b} 137`, 'delete'])).toEqual([
        'create',
        'start',
        `exit ${b} 137`,
        'delete',
      ]);
      expect(pick(ofB, ['start', 'exec-added e1', 'exec-started e1', 'exit e1 7', `exit ${b} 137`])).toEqual([
        'start',
        'exec-added e1',
        'exec-started e1',
        'exit e1 7',
        `exit ${b} 137`,
      ]);
      expect(pick(ofB, ['exec-added e2', 'exec-started e2', 'exit e2 137', `exit ${b} 137`])).toEqual([
        'exec-added e2',
        'exec-started e2',
        'exit e2 137',
        `exit ${b} 137`,
      ]);
      expect(pick(ofB, ['start', 'paused', 'resumed', `exit ${b} 137`])).toEqual([
        'start',
        'paused',
        'resumed',
        `exit ${b} 137`,
      ]);
      // The pids: create, start and exit name the init; exec-started and the exec's exit the exec.
      const evB = events.ofContainer(b);
      const byLabel = (l: string) => evB[ofB.indexOf(l)].event;
      expect([byLabel('create').pid, byLabel('start').pid, byLabel(`exit ${b} 137`).pid]).toEqual([
        pid,
        pid,
        pid,
      ]);
      expect(byLabel('exec-started e1').pid).toBe(byLabel('exit e1 7').pid);
      expect(byLabel('exit e1 7').pid).not.toBe(pid);
      expect(byLabel('delete')).toMatchObject({ pid, exit_status: 137 });
      await expectContainerGone(a, []);
      await expectContainerGone(b, [pid]);
    } finally {
      await events.stop();
      fs.rmSync(fifoDir, { recursive: true, force: true });
    }
  });

  it('a process over its memory limit is OOM-killed: exit 137, /tasks/oom before its /tasks/exit', async () => {
    const events = await ctrEvents();
    try {
      const id = newId();
      // dd allocates its 100 MiB block (and fills it) before it copies anything.
      const run = await ctr(
        [
          'run',
          '--rm',
          ...runFlags(id, { extra: ['--memory-limit', String(32 * 1024 * 1024)] }),
          IMAGE,
          id,
          'dd',
          'if=/dev/zero',
          'of=/dev/null',
          'bs=100M',
          'count=1',
        ],
        true,
      );
      expect(run.code, run.stderr).toBe(137);
      await events.waitFor(
        `/tasks/delete of ${id}`,
        (all) => all.some((e) => e.topic === '/tasks/delete' && e.event.container_id === id),
        SETTLE_MS,
      );
      expect(labels(events.ofContainer(id))).toEqual(['create', 'start', 'oom', `exit ${id} 137`, 'delete']);
      await expectContainerGone(id, []);
    } finally {
      await events.stop();
    }
  });
});

interface RunningCtr {
  stdin: Writable;
  done: Promise<CommandResult>;
  kill(): void;
}

/** ctr with `args`, its stdin a pipe of ours: done resolves with its exit and output. ctr is
 *  SIGKILLed after 60 s (as runClient does): a hang fails the test instead of stalling it. */
function startCtr(args: string[]): RunningCtr {
  const argv = containerd.ctrCommand(args);
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => {});
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const timer = setTimeout(kill, 60_000);
  const done = new Promise<CommandResult>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout, stderr });
    }),
  );
  return { stdin: child.stdin, done, kill };
}

/** The children of `parent` whose name (comm) is `comm`. */
function childrenNamed(parent: number, comm: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => parentOf(pid) === parent && readOr(`/proc/${pid}/comm`).trim() === comm);
}

/** Where in the kernel `pid` waits (e.g. `anon_pipe_write`), '' when gone. */
function wchan(pid: number): string {
  return readOr(`/proc/${pid}/wchan`);
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The lines of `file`, sorted (two streams appended by two writers have no order between them). */
function sortedLines(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).sort();
}

describe(`stdio of the shim of ${RUNTIME.name}`, () => {
  it('--log-uri file://: stdout and stderr appended to the file, its missing dir made', async () => {
    const dir = tempDir('e2e-shim-log');
    try {
      const [a, b] = [newId(), newId()];
      const made = path.join(dir, 'made-by-the-shim', `${a}.log`);
      const existing = path.join(dir, 'existing.log');
      fs.writeFileSync(existing, 'before\n');
      for (const [id, file] of [
        [a, made],
        [b, existing],
      ]) {
        await ctr([
          'run',
          '-d',
          '--log-uri',
          `file://${file}`,
          ...runFlags(id),
          IMAGE,
          id,
          'sh',
          '-c',
          // containerd 1.6.20's shim closes the shared file when stdout ends, dropping stderr not
          // copied by then: the sleep lets its copy finish first.
          'echo out; echo err >&2; sleep 0.5',
        ]);
      }
      for (const id of [a, b]) {
        await waitForStatus(id, 'STOPPED');
        expect((await ctr(['task', 'delete', id])).code).toBe(0);
        await ctr(['container', 'rm', id]);
      }
      expect(fs.statSync(path.dirname(made)).isDirectory()).toBe(true);
      expect(sortedLines(made)).toEqual(['err', 'out']);
      expect(sortedLines(existing)).toEqual(['before', 'err', 'out']);
      expect(fs.readFileSync(existing, 'utf8')).toMatch(/^before\n/);
      await expectContainerGone(a, []);
      await expectContainerGone(b, []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--log-uri binary://: the logger gets stdout on fd 3, stderr on fd 4, the query as argv, only the two variables', async () => {
    const dir = tempDir('e2e-shim-logger');
    try {
      const id = newId();
      const out = (name: string) => path.join(dir, name);
      // No PATH in its environment: absolute paths only. fd 5 is closed before anything starts,
      // so no child keeps the shim waiting for "ready".
      const logger = writeScript(
        out('logger.sh'),
        [
          '#!/bin/sh',
          // The Go shim sends SIGTERM when it closes the IO, maybe before the copy below is done.
          "trap '' TERM",
          'exec 5>&-',
          `echo $$ > ${out('pid')}`,
          `for a in "$@"; do echo "$a"; done > ${out('argv')}`,
          `/bin/tr '\\0' '\\n' < /proc/$$/environ > ${out('env')}`,
          `/bin/cat <&3 > ${out('stdout.tmp')}`,
          `/bin/mv ${out('stdout.tmp')} ${out('stdout')}`,
          `/bin/cat <&4 > ${out('stderr.tmp')}`,
          `/bin/mv ${out('stderr.tmp')} ${out('stderr')}`,
          '',
        ].join('\n'),
      );
      await ctr([
        'run',
        '-d',
        '--log-uri',
        `binary://${logger}?k=v`,
        ...runFlags(id),
        IMAGE,
        id,
        'sh',
        '-c',
        'echo out; echo err >&2; echo out2',
      ]);
      await waitForStatus(id, 'STOPPED');
      expect((await ctr(['task', 'delete', id])).code).toBe(0);
      // The logger has read both streams to their ends once the files are renamed.
      await waitFor('the logger to copy both streams', () => fs.existsSync(out('stderr')), SETTLE_MS);
      expect(fs.readFileSync(out('stdout'), 'utf8')).toBe('out\nout2\n');
      expect(fs.readFileSync(out('stderr'), 'utf8')).toBe('err\n');
      expect(fs.readFileSync(out('argv'), 'utf8')).toBe('k\nv\n');
      expect(sortedLines(out('env'))).toEqual([`CONTAINER_ID=${id}`, `CONTAINER_NAMESPACE=${namespace}`]);
      const loggerPid = Number(fs.readFileSync(out('pid'), 'utf8'));
      await waitFor('the logger to exit', () => !procAlive(loggerPid), SETTLE_MS);
      await ctr(['container', 'rm', id]);
      await expectContainerGone(id, []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a container whose stdout nobody reads does not hold up another of its shim', async () => {
    const group = newGroup();
    const fifoDir = tempDir('e2e-shim-fifos');
    try {
      const hung = newId();
      // ctr -d opens the FIFOs, copies what comes while it runs and exits: then nobody reads.
      // /done would only appear if 10 MB of output got through.
      await ctr([
        'run',
        '-d',
        '--fifo-dir',
        fifoDir,
        ...runFlags(hung, { group }),
        IMAGE,
        hung,
        'sh',
        '-c',
        'yes hung | head -c 10000000; touch /done; sleep 1000',
      ]);
      const hungPid = (await taskOf(hung))!.pid;
      // `head` (a child of the init) waits in a pipe write: its output goes nowhere.
      await waitFor(
        'head in the container to block writing its output',
        () => childrenNamed(hungPid, 'head').some((pid) => /pipe_write/.test(wchan(pid))),
        SETTLE_MS,
      );

      const other = newId();
      const run = await ctr(
        ['run', '--rm', ...runFlags(other, { group }), IMAGE, other, 'sh', '-c', 'echo hello; exit 4'],
        true,
      );
      expect(run.code, run.stderr).toBe(4);
      expect(run.stdout).toBe('hello\n');
      expect((await taskOf(hung))?.status).toBe('RUNNING');
      expect(
        (await ctr(['task', 'exec', '--exec-id', 'x', hung, 'sh', '-c', 'test -e /done'], true)).code,
      ).toBe(1);
      await expectContainerGone(other, []);

      expect((await killAndDelete(hung)).code).toBe(0);
      await ctr(['container', 'rm', hung]);
      await expectContainerGone(hung, [hungPid]);
    } finally {
      fs.rmSync(fifoDir, { recursive: true, force: true });
    }
  });

  it('stdin piped into ctr run reaches the process, which sees EOF when ctr closes it', async () => {
    const id = newId();
    const run = startCtr([
      'run',
      '--rm',
      ...runFlags(id),
      IMAGE,
      id,
      'sh',
      '-c',
      'read x; echo got $x; cat; echo eof',
    ]);
    try {
      // Input only once the task runs: ctr asks the shim to close stdin (CloseIO) when its input
      // ends, but only if that happens after it created the task (before, nothing ever closes
      // the shim's writer and the process waits for EOF for good, with any shim).
      await waitForStatus(id, 'RUNNING');
      run.stdin.end('hello\nmore\n');
      const res = await run.done;
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toBe('got hello\nmore\neof\n');
    } finally {
      run.kill();
      await run.done;
    }
    await expectContainerGone(id, []);
  });
});

interface RawExchange {
  /** The replies received, decoded. */
  replies: { streamId: number; code: number; message: string }[];
  /** The shim closed the connection (after we stopped sending, at the latest). */
  closed: boolean;
}

/**
 * Sends `bytes` to a shim's socket, waits for `replies` frames (or the close), then stops sending
 * and waits up to `closeMs` for the shim to close its side. Through test/helpers/raw-socket.py: a
 * Node socket whose write fails (the shim closed) drops what the shim answered before.
 */
function rawExchange(
  socketPath: string,
  bytes: Buffer,
  replies: number,
  closeMs = SETTLE_MS,
): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const args = [
      RAW_SOCKET,
      '--socket',
      socketPath,
      '--replies',
      String(replies),
      '--close-timeout',
      String(closeMs / 1000),
      '--timeout',
      String(SETTLE_MS / 1000),
    ];
    const child = execFile(PYTHON, args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`raw-socket.py: ${error.message}: ${stderr.trim()}`));
      const out = JSON.parse(stdout) as {
        frames: { streamId: number; type: number; payload: string }[];
        closed: boolean;
      };
      resolve({
        closed: out.closed,
        replies: out.frames.map((f) => {
          const status = ttrpcWire.Response.decode(Buffer.from(f.payload, 'hex')).status;
          return { streamId: f.streamId, code: status?.code ?? 0, message: status?.message ?? '' };
        }),
      });
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(bytes);
  });
}

describe(`the socket of the shim of ${RUNTIME.name}`, () => {
  it('garbage, an oversized frame, unknown methods: answered or dropped, and the shim keeps serving', async () => {
    const id = newId();
    const pid = await runDetached(id);
    const shim = shimServers(containerd.socket).find((s) => s.pid === parentOf(pid));
    expect(shim, 'the shim of the container').toBeDefined();
    const address = fs.readFileSync(path.join(bundleOf(id), 'address'), 'utf8').trim();
    const socketPath = address.replace(/^unix:\/\//, '');
    expect(fs.statSync(socketPath).isSocket()).toBe(true);

    // Not ttrpc at all: read as a header, its first bytes announce a frame of about 1.1 GB.
    // Nothing succeeds; whether the shim closes the connection when it ends depends on the
    // runtime (see closesBadHeaderConnection): a runtime that does not is not waited for.
    const http = await rawExchange(
      socketPath,
      Buffer.from('GET / HTTP/1.1\r\nHost: shim\r\n\r\n'),
      0,
      RUNTIME.closesBadHeaderConnection ? SETTLE_MS : 0,
    );
    expect(http.replies.filter((r) => r.code === 0)).toEqual([]);
    if (RUNTIME.closesBadHeaderConnection) expect(http.closed).toBe(true);

    // A well-formed frame whose payload is no Request (0xff: a varint that never ends).
    const undecodable = encodeFrame(1, FrameType.Request, Buffer.alloc(16, 0xff));
    const bad = await rawExchange(socketPath, undecodable, 1);
    expect(bad.replies).toEqual([
      { streamId: 1, code: Code.InvalidArgument, message: expect.stringMatching(/^unmarshal request error/) },
    ]);
    expect(bad.closed).toBe(true);

    // One byte over ttrpc's 4 MiB limit, sent in full.
    const oversized = encodeFrame(3, FrameType.Request, Buffer.alloc(MAX_MESSAGE + 1, 0x61));
    const big = await rawExchange(socketPath, oversized, 1);
    expect(big.replies).toEqual([
      {
        streamId: 3,
        code: Code.ResourceExhausted,
        message: `message length ${MAX_MESSAGE + 1} exceed maximum message size of ${MAX_MESSAGE}`,
      },
    ]);
    expect(big.closed).toBe(true);

    const client = await TtrpcClient.connect(socketPath);
    try {
      const empty = new Uint8Array();
      const failure = (call: Promise<unknown>) =>
        call.then(
          () => null,
          (error: TtrpcError) => ({ code: error.code, message: error.message }),
        );
      expect(await failure(client.call('containerd.task.v2.Task', 'NoSuchMethod', empty))).toEqual({
        code: Code.Unimplemented,
        message: 'method NoSuchMethod',
      });
      expect(await failure(client.call('no.such.Service', 'Create', empty))).toEqual({
        code: Code.Unimplemented,
        message: 'service no.such.Service',
      });
      // The same connection still answers a real request.
      const reply = task.ConnectResponse.decode(
        await client.call('containerd.task.v2.Task', 'Connect', task.ConnectRequest.encode({ id }).finish()),
      );
      expect({ shimPid: reply.shimPid, taskPid: reply.taskPid }).toEqual({
        shimPid: shim!.pid,
        taskPid: pid,
      });
    } finally {
      client.close();
    }

    expect(sameProcessAlive(shim!.pid, shim!.startTime)).toBe(true);
    const exec = await ctr(
      ['task', 'exec', '--exec-id', 'after', id, 'sh', '-c', 'echo still; exit 5'],
      true,
    );
    expect(exec.code, exec.stderr).toBe(5);
    expect(exec.stdout).toBe('still\n');
    expect((await killAndDelete(id)).code).toBe(0);
    await ctr(['container', 'rm', id]);
    await expectContainerGone(id, [pid]);
  });
});
