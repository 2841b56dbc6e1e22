// tsrunc under a real containerd 1.6 driven with `ctr` (ctr -> containerd ->
// io.containerd.runc.v2 shim -> tsrunc via --runc-binary), started privately by the test. The
// containers get their own network namespace (loopback only): ctr sets up no network.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import * as fs from 'node:fs';
import * as path from 'node:path';

import { containerId } from '../helpers/bundle';
import {
  type CommandResult,
  type ContainerdDaemon,
  engineCgroupParent,
  startContainerd,
  writeImageArchive,
  writeRuntimeWrapper,
} from '../helpers/docker';
import { testEnv } from '../helpers/env';
import { guardHostNetwork } from '../helpers/host-network';
import { procAlive, readLinkOrNull, sleep, waitFor } from '../helpers/lifecycle-helpers';

const IMAGE = 'docker.io/library/busybox:local';

guardHostNetwork();

let containerd: ContainerdDaemon;
let wrapper: string;
let ids: string[] = [];
let logDir: string;

beforeAll(async () => {
  containerd = await startContainerd();
  wrapper = writeRuntimeWrapper(containerd.dir);
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
    await ctr(['task', 'kill', '-s', 'SIGKILL', id], true);
    for (let i = 0; i < 50; i++) {
      const res = await ctr(['task', 'delete', '--force', id], true);
      if (res.code === 0 || /not found/.test(res.stderr)) break;
      await sleep(100);
    }
    await ctr(['container', 'rm', id], true);
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
