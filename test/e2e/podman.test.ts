// tsrunc under a real podman 4.3 (podman -> conmon -> tsrunc via --runtime), with podman's
// storage, run and tmp dirs private to the test and --network none.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import * as fs from 'node:fs';
import * as path from 'node:path';

import { tempDir } from '../helpers/bundle';
import { type CommandResult, runtimeCalls, writeImageArchive } from '../helpers/docker';
import { testEnv } from '../helpers/env';
import { guardHostNetwork } from '../helpers/host-network';
import { procAlive, readLinkOrNull, sleep, waitFor, writeScript } from '../helpers/lifecycle-helpers';
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

describe('podman and containers that are never started', () => {
  function newName(): string {
    const name = `e2e-${process.pid}-${++seq}`;
    names.push(name);
    return name;
  }

  it('create then rm never reaches the runtime', async () => {
    const name = newName();
    await podman(['create', '--name', name, ...pm.runFlags, IMAGE, 'sleep', '1000']);
    const id = await inspect(name, '{{.Id}}');
    await podman(['rm', name]);
    expect((await podman(['inspect', name], true)).code).not.toBe(0);
    expect(runtimeCalls(pm.callLog, id)).toEqual([]);
  });

  it('init then rm: tsrunc holds a created container, and podman deletes it with --force', async () => {
    const name = newName();
    await podman(['create', '--name', name, ...pm.runFlags, IMAGE, 'sleep', '1000']);
    await podman(['init', name]);
    expect(await inspect(name, '{{.State.Status}}')).toBe('initialized');
    const id = await inspect(name, '{{.Id}}');
    const pid = Number(await inspect(name, '{{.State.Pid}}'));
    const record = JSON.parse(fs.readFileSync(path.join(pm.runtimeRoot, id, 'state.json'), 'utf8'));
    expect(record.initPid).toBe(pid);
    expect(fs.existsSync(path.join(pm.runtimeRoot, id, 'exec.fifo'))).toBe(true);
    await podman(['rm', name]);
    await waitFor('the init to be gone', () => !procAlive(pid));
    expect(fs.existsSync(path.join(pm.runtimeRoot, id))).toBe(false);
    // Only --force deletes (conmon's cleanup may add a second one).
    const calls = runtimeCalls(pm.callLog, id);
    expect(calls[0].split(' ')[0]).toBe('create');
    expect(new Set(calls.slice(1))).toEqual(new Set(['delete --force <id>']));
  });

  it('init then start runs the process', async () => {
    const name = newName();
    await podman([
      'create',
      '--name',
      name,
      ...pm.runFlags,
      IMAGE,
      'sh',
      '-c',
      'echo started; exec sleep 1000',
    ]);
    await podman(['init', name]);
    await podman(['start', name]);
    await waitForLogs(name, /started/);
    const pid = Number(await inspect(name, '{{.State.Pid}}'));
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\x001000\x00');
    expect(await inspect(name, '{{.State.Status}}')).toBe('running');
  });
});

describe('podman and a failing poststart hook', () => {
  it('run fails with the hook message; poststop ran; tsrunc holds nothing; the process did not go on', async () => {
    const name = `e2e-${process.pid}-${++seq}`;
    names.push(name);
    const dir = tempDir('e2e-hook');
    try {
      const hooksDir = path.join(dir, 'hooks.d');
      fs.mkdirSync(hooksDir);
      const fail = writeScript(
        path.join(dir, 'fail.sh'),
        '#!/bin/sh\necho hook-out\necho hook-err >&2\nexit 4\n',
      );
      const stop = writeScript(path.join(dir, 'stop.sh'), `#!/bin/sh\ncat > ${dir}/poststop.json\n`);
      const hookFile = (p: string, stage: string) =>
        JSON.stringify({ version: '1.0.0', hook: { path: p }, when: { always: true }, stages: [stage] });
      fs.writeFileSync(path.join(hooksDir, 'fail.json'), hookFile(fail, 'poststart'));
      fs.writeFileSync(path.join(hooksDir, 'stop.json'), hookFile(stop, 'poststop'));
      const res = await podman(
        [
          '--hooks-dir',
          hooksDir,
          'run',
          '--name',
          name,
          ...pm.runFlags,
          IMAGE,
          'sh',
          '-c',
          'echo ran; sleep 1; echo late',
        ],
        true,
      );
      expect(res.code).not.toBe(0);
      expect(res.stderr.split('\n')[0]).toBe(
        'error running poststart hook #0: exit status 4, stdout: hook-out, stderr: hook-err',
      );
      const id = await inspect(name, '{{.Id}}');
      // conmon's exit command (podman container cleanup) deletes it once the init is gone.
      await waitFor('tsrunc to delete it', () => !fs.existsSync(path.join(pm.runtimeRoot, id)), 10_000);
      // Poststop hooks run after the state dir is removed, before delete returns (runtime-spec):
      // the hook may still be writing its file when the state dir is already gone.
      const poststopFile = path.join(dir, 'poststop.json');
      await waitFor(
        'the poststop hook to write its state',
        () => readJsonOrNull(poststopFile) !== null,
        10_000,
      );
      const poststop = readJsonOrNull(poststopFile);
      expect(poststop).toMatchObject({ id, status: 'stopped' });
      const calls = runtimeCalls(pm.callLog, id);
      expect(calls.slice(0, 2).map((c) => c.split(' ')[0])).toEqual(['create', 'start']);
      expect(new Set(calls.slice(2))).toEqual(new Set(['delete --force <id>']));
      await sleep(1500);
      expect(await logs(name)).not.toContain('late');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The JSON in a file, or null while it is missing or not yet complete. */
function readJsonOrNull(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}
