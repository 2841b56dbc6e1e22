import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { runHooks, runHooksWarnOnly } from '../../src/runtime/hooks';
import { createLogger } from '../../src/util/log';

let tmp: string;
const cleanups: (() => void)[] = [];

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-hooks-'));
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** An executable shell script in the temp dir. */
function script(name: string, body: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

const state = { ociVersion: '1.3.0', id: 'c1', status: 'creating', pid: 42, bundle: '/b' };

describe('runHooks', () => {
  it('passes the state on stdin and runs hooks in order', async () => {
    const out = path.join(tmp, 'out');
    const first = script('first', `cat > ${out}.0`);
    const second = script('second', `cat > ${out}.1; test -s ${out}.0 && echo ok > ${out}.order`);
    await runHooks('createRuntime', [{ path: first }, { path: second }], state, {});
    expect(JSON.parse(fs.readFileSync(`${out}.0`, 'utf8'))).toEqual(state);
    expect(JSON.parse(fs.readFileSync(`${out}.1`, 'utf8'))).toEqual(state);
    expect(fs.readFileSync(`${out}.order`, 'utf8')).toBe('ok\n');
  });

  it('gives the hook exactly its env and its args, args[0] as argv0', async () => {
    const out = path.join(tmp, 'out');
    // /proc/$$/environ and cmdline are what execve received: nothing the shell adds later.
    const hook = script(
      'hook',
      `tr '\\0' '\\n' < /proc/$$/environ > ${out}.env; tr '\\0' ' ' < /proc/$$/cmdline > ${out}.argv`,
    );
    await runHooks(
      'prestart',
      [{ path: hook, args: ['my-argv0', 'one', 'two words'], env: ['A=1', 'B=x=y'] }],
      state,
    );
    expect(fs.readFileSync(`${out}.env`, 'utf8')).toBe('A=1\nB=x=y\n');
    // sh reports its own argv0 (my-argv0) then the script path it was given by the kernel.
    expect(fs.readFileSync(`${out}.argv`, 'utf8')).toBe(`/bin/sh ${hook} one two words `);
    const argv0 = path.join(tmp, 'argv0');
    const probe = script('probe', `echo "$0" > ${argv0}`);
    await runHooks('prestart', [{ path: '/bin/sh', args: ['custom-name', probe] }], state);
    // The shell is exec'd with argv0 custom-name, and runs the script as $0 = probe path.
    expect(fs.readFileSync(argv0, 'utf8')).toBe(`${probe}\n`);
  });

  it('sets argv0 of a binary hook from args[0]', async () => {
    const out = path.join(tmp, 'cmdline');
    await runHooks(
      'prestart',
      [{ path: '/bin/sh', args: ['custom-name', '-c', `tr '\\0' ' ' < /proc/$$/cmdline > ${out}`] }],
      state,
    );
    expect(fs.readFileSync(out, 'utf8').startsWith('custom-name -c ')).toBe(true);
  });

  it('fails on a non-zero exit with the hook index and its output, and stops there', async () => {
    const ran = path.join(tmp, 'ran');
    const ok = script('ok', 'true');
    const bad = script('bad', 'echo to-stdout; echo "line one" >&2; echo "line two" >&2; exit 3');
    const after = script('after', `touch ${ran}`);
    await expect(
      runHooks('createRuntime', [{ path: ok }, { path: bad }, { path: after }], state),
    ).rejects.toThrow(
      'error running createRuntime hook #1: exit status 3, stdout: to-stdout, stderr: line one\\nline two',
    );
    expect(fs.existsSync(ran)).toBe(false);
  });

  it('reports a hook killed by a signal', async () => {
    const hook = script('suicide', 'kill -TERM $$');
    await expect(runHooks('poststart', [{ path: hook }], state)).rejects.toThrow(
      'error running poststart hook #0: signal: SIGTERM',
    );
  });

  it('reports a hook that cannot be executed', async () => {
    await expect(runHooks('prestart', [{ path: path.join(tmp, 'missing') }], state)).rejects.toThrow(
      `error running prestart hook #0: cannot execute ${path.join(tmp, 'missing')}: no such file or directory`,
    );
  });

  it('kills the hook and its children when it overruns its timeout', async () => {
    const pidFile = path.join(tmp, 'pids');
    const hook = script('slow', `sleep 100 & echo "$$ $!" > ${pidFile}; sleep 100`);
    await expect(runHooks('createContainer', [{ path: hook, timeout: 1 }], state)).rejects.toThrow(
      'error running createContainer hook #0: hook ran past specified timeout of 1.0s',
    );
    const [hookPid, childPid] = fs.readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
    // The background sleep is reparented and reaped by whoever adopts it: wait briefly.
    await waitFor(() => liveProcessesInGroup(hookPid).length === 0);
    expect(isLive(childPid)).toBe(false);
  });

  it('runs the hook inside the namespaces of enterPid', async () => {
    const child = spawn('unshare', ['--uts', 'sh', '-c', 'hostname tsrunc-hook-test && exec sleep 100'], {
      stdio: 'ignore',
    });
    cleanups.push(() => child.kill('SIGKILL'));
    // Once it runs sleep, unshare has made the namespace and the shell has set the hostname.
    await waitFor(() => commOf(child.pid!) === 'sleep');
    expect(readLink(`/proc/${child.pid}/ns/uts`)).not.toBe(readLink('/proc/self/ns/uts'));
    const out = path.join(tmp, 'seen-hostname');
    const hook = script('print-hostname', `hostname > ${out}; cat > ${out}.state`);
    await runHooks('createContainer', [{ path: hook }], state, { enterPid: child.pid });
    expect(fs.readFileSync(out, 'utf8')).toBe('tsrunc-hook-test\n');
    expect(JSON.parse(fs.readFileSync(`${out}.state`, 'utf8'))).toEqual(state);
    // Without enterPid the same hook sees our hostname.
    await runHooks('createRuntime', [{ path: hook }], state);
    expect(fs.readFileSync(out, 'utf8')).toBe(`${os.hostname()}\n`);
  });

  it('fails clearly when the process to enter is gone', async () => {
    const hook = script('noop', 'true');
    await expect(
      runHooks('startContainer', [{ path: hook }], state, { enterPid: 999_999_999 }),
    ).rejects.toThrow(
      'error running startContainer hook #0: cannot enter the namespaces of process 999999999: it is gone',
    );
  });

  it('does nothing without hooks: not even serialize the state', async () => {
    // JSON.stringify throws on a BigInt: any work on the state would reject.
    const unserializable = { ...state, pid: 1n };
    await expect(runHooks('prestart', undefined, unserializable)).resolves.toBeUndefined();
    await expect(runHooks('prestart', [], unserializable)).resolves.toBeUndefined();
    await expect(
      runHooksWarnOnly(createLogger({ format: 'text', debug: false }), 'poststop', [], unserializable),
    ).resolves.toBeUndefined();
  });
});

describe('runHooksWarnOnly', () => {
  it('runs every hook and logs each failure as a warning', async () => {
    const log = path.join(tmp, 'log.json');
    const logger = createLogger({ file: log, format: 'json', debug: false });
    const ran = path.join(tmp, 'ran');
    const bad = script('bad', 'echo nope >&2; exit 1');
    const after = script('after', `touch ${ran}`);
    await runHooksWarnOnly(logger, 'poststop', [{ path: bad }, { path: after }], state);
    expect(fs.existsSync(ran)).toBe(true);
    const lines = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warning',
      msg: 'error running poststop hook #0: exit status 1, stdout: , stderr: nope',
    });
  });
});

function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function readLink(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

/** Processes (not zombies) whose process group is `pgid`. */
function liveProcessesInGroup(pgid: number): number[] {
  const found: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is the state (field 3), fields[2] the pgrp (field 5).
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') found.push(Number(name));
  }
  return found;
}

function isLive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
