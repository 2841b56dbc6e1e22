// tsrunc under a real containerd 1.6 driven with `ctr` (ctr -> containerd ->
// io.containerd.runc.v2 shim -> tsrunc via --runc-binary), started privately by the test. The
// containers get their own network namespace (loopback only): ctr sets up no network.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import * as fs from 'node:fs';
import * as path from 'node:path';

import { containerId, defaultTestConfig, tempDir } from '../helpers/bundle';
import {
  type CommandResult,
  type ContainerdDaemon,
  engineCgroupParent,
  runtimeCalls,
  startContainerd,
  writeImageArchive,
  writeRuntimeWrapper,
  removeCtrContainer,
} from '../helpers/docker';
import { testEnv } from '../helpers/env';
import { guardHostNetwork } from '../helpers/host-network';
import { procAlive, readLinkOrNull, sleep, waitFor, writeScript } from '../helpers/lifecycle-helpers';

const IMAGE = 'docker.io/library/busybox:local';
/** The --root the runc shim gives the runtime (containerd's default namespace). */
const RUNTIME_ROOT = '/run/containerd/runc/default';

guardHostNetwork();

let containerd: ContainerdDaemon;
let wrapper: string;
let callLog: string;
let ids: string[] = [];
let logDir: string;

beforeAll(async () => {
  containerd = await startContainerd();
  callLog = path.join(containerd.dir, 'runtime-calls.log');
  fs.writeFileSync(callLog, '');
  wrapper = writeRuntimeWrapper(containerd.dir, { callLog });
  // Task output files (--log-uri), in a dir made now: files of a test in the engine dir itself
  // would be state leaks.
  logDir = path.join(containerd.dir, 'logs');
  fs.mkdirSync(logDir);
  const archive = await writeImageArchive(testEnv().rootfs, 'busybox:local', containerd.dir);
  await containerd.ctr(['image', 'import', '--snapshotter', 'native', archive]);
  fs.rmSync(archive);
});

afterAll(async () => {
  await containerd?.stop();
});

afterEach(async () => {
  for (const id of ids) {
    await removeCtrContainer(containerd, id);
    fs.rmSync(path.join(logDir, `${id}.log`), { force: true });
  }
  ids = [];
});

function ctr(args: string[], allowFail = false): Promise<CommandResult> {
  return containerd.ctr(args, { allowFail });
}

/** `ctr run` flags for a container `id` run by tsrunc. */
function runFlags(id: string): string[] {
  return ['--runc-binary', wrapper, '--snapshotter', 'native', '--cgroup', `${engineCgroupParent()}/${id}`];
}

/** The container's v1 cgroup dir of `controller`, as the host sees it. */
function hostCgroup(controller: string, id: string): string {
  return path.join('/sys/fs/cgroup', controller, engineCgroupParent(), id);
}

/** `ctr run -d` with the output going to `<dir>/<id>.log`; returns [id, log path]. */
async function detached(cmd: string[]): Promise<[string, string]> {
  const id = containerId('e2e');
  ids.push(id);
  const log = path.join(logDir, `${id}.log`);
  await ctr(['run', '-d', ...runFlags(id), '--log-uri', `file://${log}`, IMAGE, id, ...cmd]);
  return [id, log];
}

async function taskStatus(id: string): Promise<{ pid: number; status: string }> {
  const row = (await ctr(['task', 'ls'])).stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
  if (!row) throw new Error(`no task ${id}`);
  const [, pid, status] = row.trim().split(/\s+/);
  return { pid: Number(pid), status };
}

const readLog = (log: string) => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');

async function waitForLog(log: string, re: RegExp): Promise<string> {
  await waitFor(`${log} to match ${re}`, () => re.test(readLog(log)), 10_000);
  return readLog(log);
}

describe('ctr run --runc-binary tsrunc', () => {
  it('prints the output and passes the exit code; --rm removes the container', async () => {
    const id = containerId('e2e');
    const res = await ctr(['run', '--rm', ...runFlags(id), IMAGE, id, 'echo', 'hi'], true);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe('hi\n');
    const failing = containerId('e2e');
    const exit3 = await ctr(
      ['run', '--rm', ...runFlags(failing), IMAGE, failing, 'sh', '-c', 'exit 3'],
      true,
    );
    expect(exit3.code).toBe(3);
    expect((await ctr(['container', 'ls', '-q'])).stdout.trim()).toBe('');
    expect(fs.existsSync(hostCgroup('memory', id))).toBe(false);
  });

  it('the container is in its own namespaces with only loopback, in the cgroup ctr asked for', async () => {
    const id = containerId('e2e');
    const res = await ctr(
      [
        'run',
        '--rm',
        ...runFlags(id),
        IMAGE,
        id,
        'sh',
        '-c',
        'ls /sys/class/net; readlink /proc/self/ns/net; readlink /proc/self/ns/pid; grep :memory: /proc/self/cgroup',
      ],
      true,
    );
    expect(res.code, res.stderr).toBe(0);
    const [links, netns, pidns, memcg] = res.stdout.trim().split('\n');
    expect(links).toBe('lo');
    expect(netns).toMatch(/^net:\[\d+\]$/);
    expect(netns).not.toBe(readLinkOrNull('/proc/self/ns/net'));
    expect(pidns).toMatch(/^pid:\[\d+\]$/);
    expect(pidns).not.toBe(readLinkOrNull('/proc/self/ns/pid'));
    // The v1 cgroup namespace is the host's (ctr asks for none), so the full path shows.
    expect(memcg.replace(/^\d+:/, '')).toBe(`memory:${engineCgroupParent()}/${id}`);
  });

  it('task pause stops the processes, task resume restarts them', async () => {
    const [id, log] = await detached([
      'sh',
      '-c',
      'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done',
    ]);
    await waitForLog(log, /tick 3/);
    expect((await taskStatus(id)).status).toBe('RUNNING');
    await ctr(['task', 'pause', id]);
    expect((await taskStatus(id)).status).toBe('PAUSED');
    expect(fs.readFileSync(path.join(hostCgroup('freezer', id), 'freezer.state'), 'utf8').trim()).toBe(
      'FROZEN',
    );
    // Output already in the pipe still reaches the log: let it, then count.
    await sleep(300);
    const atPause = readLog(log).length;
    await sleep(700);
    expect(readLog(log).length).toBe(atPause);
    await ctr(['task', 'resume', id]);
    expect((await taskStatus(id)).status).toBe('RUNNING');
    await waitFor('progress after resume', () => readLog(log).length > atPause, 5000);
  });

  it('task kill delivers a signal; SIGKILL stops the task with 137', async () => {
    const [id, log] = await detached([
      'sh',
      '-c',
      'trap "echo got-usr1" USR1; echo ready; while true; do sleep 0.1; done',
    ]);
    await waitForLog(log, /ready/);
    const { pid } = await taskStatus(id);
    await ctr(['task', 'kill', '-s', 'SIGUSR1', id]);
    await waitForLog(log, /got-usr1/);
    expect((await taskStatus(id)).status).toBe('RUNNING');
    await ctr(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitFor('the init to be gone', () => !procAlive(pid), 5000);
    for (let i = 0; i < 50 && (await taskStatus(id)).status !== 'STOPPED'; i++) await sleep(100);
    expect((await taskStatus(id)).status).toBe('STOPPED');
    const del = await ctr(['task', 'delete', id], true);
    expect(del.stdout + del.stderr).toMatch(/137/);
  });

  it('task exec runs a process in the container namespaces', async () => {
    const [id, log] = await detached(['sh', '-c', 'echo ready; exec sleep 1000']);
    await waitForLog(log, /ready/);
    const { pid } = await taskStatus(id);
    const res = await ctr(
      [
        'task',
        'exec',
        '--exec-id',
        'e1',
        id,
        'sh',
        '-c',
        'readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; exit 6',
      ],
      true,
    );
    expect(res.code, res.stderr).toBe(6);
    expect(res.stdout.trim().split('\n')).toEqual([
      readLinkOrNull(`/proc/${pid}/ns/pid`),
      readLinkOrNull(`/proc/${pid}/ns/mnt`),
    ]);
  });
});

describe('ctr and a task that is created but never started', () => {
  /**
   * A task ctr creates and never starts: `ctr run -d` makes the task, then cannot write its
   * --pid-file and stops there. Returns the init's pid.
   */
  async function createdTask(id: string): Promise<number> {
    const res = await ctr(
      ['run', '-d', ...runFlags(id), '--pid-file', '/nonexistent/dir/pid', IMAGE, id, 'sleep', '1000'],
      true,
    );
    expect(res.stderr).toContain('/nonexistent/dir');
    const { pid, status } = await taskStatus(id);
    expect(status).toBe('CREATED');
    const record = JSON.parse(fs.readFileSync(path.join(RUNTIME_ROOT, id, 'state.json'), 'utf8'));
    expect(record.initPid).toBe(pid);
    // Still the runtime's init waiting for start, not the process.
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain('sleep');
    return pid;
  }

  it('ctr refuses a plain task delete; delete --force kills it first, then tsrunc deletes it', async () => {
    const id = containerId('e2e');
    ids.push(id);
    const pid = await createdTask(id);
    const plain = await ctr(['task', 'delete', id], true);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain('task must be stopped before deletion: created');
    expect((await taskStatus(id)).status).toBe('CREATED');
    expect(procAlive(pid)).toBe(true);
    const forced = await ctr(['task', 'delete', '--force', id], true);
    expect(forced.code, forced.stderr).toBe(0);
    await waitFor('the init to be gone', () => !procAlive(pid), 5000);
    expect(fs.existsSync(path.join(RUNTIME_ROOT, id))).toBe(false);
    expect(fs.existsSync(hostCgroup('memory', id))).toBe(false);
    // The shim kills the created container before it asks tsrunc to delete it.
    const calls = runtimeCalls(callLog, id).filter((c) => !c.startsWith('create '));
    expect(calls.slice(0, 2)).toEqual(['kill --all <id> 9', 'delete <id>']);
  });

  it('task kill, then task delete, removes it', async () => {
    const id = containerId('e2e');
    ids.push(id);
    const pid = await createdTask(id);
    await ctr(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitFor('the init to be gone', () => !procAlive(pid), 5000);
    for (let i = 0; i < 50 && (await taskStatus(id)).status !== 'STOPPED'; i++) await sleep(100);
    expect((await taskStatus(id)).status).toBe('STOPPED');
    const del = await ctr(['task', 'delete', id], true);
    expect(del.code, del.stderr).toBe(0);
    expect(fs.existsSync(path.join(RUNTIME_ROOT, id))).toBe(false);
    expect(fs.existsSync(hostCgroup('memory', id))).toBe(false);
    const calls = runtimeCalls(callLog, id).filter((c) => !c.startsWith('create '));
    expect(calls.slice(0, 2)).toEqual(['kill <id> 9', 'delete <id>']);
  });
});

describe('ctr and a failing poststart hook', () => {
  it('ctr run fails with the hook message; the container is stopped and deleted, poststop ran', async () => {
    const id = containerId('e2e');
    ids.push(id);
    const dir = tempDir('e2e-hook');
    try {
      // The hook fails once the process has started (it wrote /tmp/ran).
      const hook = writeScript(
        path.join(dir, 'fail.sh'),
        `#!/bin/sh\nfor i in $(seq 100); do [ -e ${dir}/ran ] && break; sleep 0.05; done\n` +
          'echo hook-out\necho hook-err >&2\nexit 4\n',
      );
      // `ctr run --config` takes the whole spec from the file (no image): the shared rootfs,
      // read-only, with a host dir on /tmp.
      const cfg = await defaultTestConfig();
      cfg.root = { path: testEnv().rootfs, readonly: true };
      cfg.mounts.push({ destination: '/tmp', type: 'bind', source: dir, options: ['rbind', 'rw'] });
      cfg.process.args = ['sh', '-c', 'echo ran > /tmp/ran; sleep 1; echo late > /tmp/late'];
      cfg.linux.cgroupsPath = `${engineCgroupParent()}/${id}`;
      cfg.hooks = {
        poststart: [{ path: hook }],
        poststop: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${dir}/poststop.json`] }],
      };
      const spec = path.join(dir, 'config.json');
      fs.writeFileSync(spec, JSON.stringify(cfg));
      const res = await ctr(['run', '--runc-binary', wrapper, '--config', spec, id], true);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(
        'OCI runtime start failed: error running poststart hook #0: exit status 4, stdout: hook-out, stderr: hook-err',
      );
      expect(fs.existsSync(path.join(dir, 'ran'))).toBe(true);
      // ctr deleted the task on its way out: tsrunc had stopped the container, so a plain
      // delete did it, and ran the poststop hook.
      expect((await ctr(['task', 'ls', '-q'])).stdout.split('\n')).not.toContain(id);
      expect(fs.existsSync(path.join(RUNTIME_ROOT, id))).toBe(false);
      expect(fs.existsSync(hostCgroup('memory', id))).toBe(false);
      const poststop = JSON.parse(fs.readFileSync(path.join(dir, 'poststop.json'), 'utf8'));
      expect(poststop).toMatchObject({ id, status: 'stopped' });
      expect(runtimeCalls(callLog, id).filter((c) => !c.startsWith('create '))[1]).toBe('delete <id>');
      await sleep(1500);
      expect(fs.existsSync(path.join(dir, 'late'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
