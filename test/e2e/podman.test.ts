// tsrunc under a real podman 4.3 (podman -> conmon -> tsrunc via --runtime), with podman's
// storage, run and tmp dirs private to the test and --network none.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CommandResult, writeImageArchive } from '../helpers/docker';
import { testEnv } from '../helpers/env';
import { guardHostNetwork } from '../helpers/host-network';
import { procAlive, readLinkOrNull, sleep, waitFor } from '../helpers/lifecycle-helpers';
import { type Podman, startPodman } from '../helpers/podman';
import { statusField } from '../helpers/process';

const IMAGE = 'localhost/busybox:local';

guardHostNetwork();

let pm: Podman;
let names: string[] = [];
let seq = 0;

beforeAll(async () => {
  pm = startPodman();
  const archive = await writeImageArchive(testEnv().rootfs, 'busybox:local', pm.dir);
  const load = await pm.podman(['load', '-i', archive]);
  expect(load.stdout + load.stderr).toContain('busybox:local');
  fs.rmSync(archive);
  // The first container makes podman's conmon cgroup (<parent>/conmon, kept for later ones):
  // make it now, before the per-test leak snapshots.
  const warm = await podman(['run', '--rm', ...pm.runFlags, IMAGE, 'true'], true);
  expect(warm.code, warm.stderr).toBe(0);
});

afterAll(async () => {
  await pm?.stop();
});

afterEach(async () => {
  for (const n of names) await pm.podman(['rm', '--force', '--time', '0', n], { allowFail: true });
  names = [];
});

function podman(args: string[], allowFail = false): Promise<CommandResult> {
  return pm.podman(args, { allowFail });
}

async function detached(args: string[]): Promise<string> {
  const name = `e2e-${process.pid}-${++seq}`;
  names.push(name);
  await podman(['run', '-d', '--name', name, ...pm.runFlags, ...args]);
  return name;
}

async function inspect(name: string, format: string): Promise<string> {
  return (await podman(['inspect', '-f', format, name])).stdout.trim();
}

async function logs(name: string): Promise<string> {
  const res = await podman(['logs', name]);
  return res.stdout + res.stderr;
}

async function waitForLogs(name: string, re: RegExp): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await logs(name);
    if (re.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`logs of ${name} never matched ${re}:\n${text}`);
    await sleep(100);
  }
}

describe('podman --runtime tsrunc', () => {
  it('run --rm prints the output, passes the exit code and leaves no container', async () => {
    const res = await podman([
      'run',
      '--rm',
      ...pm.runFlags,
      IMAGE,
      'sh',
      '-c',
      'echo hi; ls /sys/class/net; grep "Max open files" /proc/self/limits',
    ]);
    const out = res.stdout.split('\n');
    expect(out[0]).toBe('hi');
    expect(out[1]).toBe('lo');
    expect(out[2]).toMatch(/Max open files\s+1024\s+1024/);
    const exit3 = await podman(['run', '--rm', ...pm.runFlags, IMAGE, 'sh', '-c', 'exit 3'], true);
    expect(exit3.code).toBe(3);
    expect((await podman(['ps', '-aq'])).stdout.trim()).toBe('');
  });

  it('run -d: the init runs under tsrunc with its state in the runtime root', async () => {
    const name = await detached([IMAGE, 'sh', '-c', 'echo started; exec sleep 1000']);
    await waitForLogs(name, /started/);
    const pid = Number(await inspect(name, '{{.State.Pid}}'));
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\x001000\x00');
    const id = await inspect(name, '{{.Id}}');
    const record = JSON.parse(fs.readFileSync(path.join(pm.runtimeRoot, id, 'state.json'), 'utf8'));
    expect(record.initPid).toBe(pid);
    expect((await podman(['ps', '--format', '{{.Names}} {{.Status}}'])).stdout).toMatch(
      new RegExp(`^${name} Up`, 'm'),
    );
  });

  it('stop: SIGTERM reaches the process, which exits with its own code', async () => {
    const name = await detached([
      IMAGE,
      'sh',
      '-c',
      'trap "echo got-term; exit 7" TERM; echo ready; while true; do sleep 0.1; done',
    ]);
    await waitForLogs(name, /ready/);
    const pid = Number(await inspect(name, '{{.State.Pid}}'));
    await podman(['stop', '-t', '10', name]);
    expect(await logs(name)).toContain('got-term');
    expect(await inspect(name, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 7');
    await waitFor('the init to be gone', () => !procAlive(pid));
  });

  it('stop: a process that ignores SIGTERM is killed after the timeout', async () => {
    const name = await detached([
      IMAGE,
      'sh',
      '-c',
      'trap "echo got-term" TERM; echo ready; while true; do sleep 0.1; done',
    ]);
    await waitForLogs(name, /ready/);
    const t0 = Date.now();
    await podman(['stop', '-t', '2', name]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(await logs(name)).toContain('got-term');
    expect(await inspect(name, '{{.State.ExitCode}}')).toBe('137');
  });

  it('rm removes a stopped container and rm -f a running one (state dir gone)', async () => {
    const stopped = await detached([IMAGE, 'true']);
    for (let i = 0; i < 50 && (await inspect(stopped, '{{.State.Status}}')) !== 'exited'; i++)
      await sleep(100);
    await podman(['rm', stopped]);
    expect((await podman(['inspect', stopped], true)).code).not.toBe(0);
    const running = await detached([IMAGE, 'sleep', '1000']);
    const id = await inspect(running, '{{.Id}}');
    const pid = Number(await inspect(running, '{{.State.Pid}}'));
    await podman(['rm', '-f', '-t', '0', running]);
    await waitFor('the init to be gone', () => !procAlive(pid));
    expect(fs.existsSync(path.join(pm.runtimeRoot, id))).toBe(false);
    expect((await podman(['ps', '-aq'])).stdout.trim()).toBe('');
  });

  it('--init runs catatonit as pid 1', async () => {
    const res = await podman([
      'run',
      '--rm',
      '--init',
      ...pm.runFlags,
      IMAGE,
      'sh',
      '-c',
      'tr "\\0" " " </proc/1/cmdline',
    ]);
    expect(res.stdout).toMatch(/^\/run\/podman-init -- sh -c /);
  });

  it('podman exec runs in the container, as another user with -u', async () => {
    const name = await detached(['-h', 'pm-host', IMAGE, 'sleep', '1000']);
    const pid = Number(await inspect(name, '{{.State.Pid}}'));
    const res = await podman(
      ['exec', name, 'sh', '-c', 'hostname; readlink /proc/self/ns/pid; exit 5'],
      true,
    );
    expect(res.code, res.stderr).toBe(5);
    expect(res.stdout.trim().split('\n')).toEqual(['pm-host', readLinkOrNull(`/proc/${pid}/ns/pid`)]);
    const user = await podman(['exec', '-u', '1000', name, 'cat', '/proc/self/status']);
    expect(statusField(user.stdout, 'Uid').split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
  });
});
