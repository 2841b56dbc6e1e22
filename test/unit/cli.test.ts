import { prepareArgs } from '../../src/cli/commands/exec';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { runCli } from '../../src/cli/main';
import { formatTable } from '../../src/cli/commands/list';
import {
  type ContainerRecord,
  EXEC_FIFO,
  processStartTime,
  reserveContainer,
  stateDir,
} from '../../src/state/store';
import { setCliLogger } from '../../src/cli/context';
import { native } from '../../src/native';

const fsCommonJs = createRequire(__filename)('node:fs') as typeof fs;
let tmp: string;
let root: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-cli-'));
  root = path.join(tmp, 'root');
});

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  setCliLogger({ format: 'text', debug: false });
  vi.restoreAllMocks();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in this process with stdout/stderr captured. It writes fds 1 and 2 with
 *  fs.writeSync (src/util/fs.ts writeAllSync): that is replaced on node:fs's CommonJS object,
 *  and syncBuiltinESMExports() carries it to the module namespace the sources import. */
async function cli(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const realWriteSync = fsCommonJs.writeSync;
  const capture = (fd: number, data: Uint8Array, offset?: number | null, ...rest: unknown[]): number => {
    if (fd !== 1 && fd !== 2)
      return (realWriteSync as (...a: unknown[]) => number)(fd, data, offset, ...rest);
    const text = Buffer.from(data)
      .subarray(offset ?? 0)
      .toString();
    if (fd === 1) stdout += text;
    else stderr += text;
    return data.length - (offset ?? 0);
  };
  fsCommonJs.writeSync = capture as typeof fs.writeSync;
  syncBuiltinESMExports();
  try {
    const code = await runCli(['--root', root, ...args]);
    return { code, stdout, stderr };
  } finally {
    fsCommonJs.writeSync = realWriteSync;
    syncBuiltinESMExports();
    vi.restoreAllMocks();
  }
}

async function sleeper(): Promise<ChildProcess> {
  const child = spawn('sleep', ['100'], { stdio: 'ignore' });
  children.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
  return child;
}

/** A container record whose init is `pid` (a real process of ours). */
async function fakeContainer(
  id: string,
  pid: number,
  fields: Partial<ContainerRecord> = {},
): Promise<ContainerRecord> {
  const rec: ContainerRecord = {
    ociVersion: '1.3.0',
    id,
    initPid: pid,
    initStartTime: processStartTime(pid) ?? '',
    bundle: '/bundles/' + id,
    rootfs: '/bundles/' + id + '/rootfs',
    created: '2026-11-22T06:35:16.388778657Z',
    owner: '',
    phase: 'created',
    config: {},
    ...fields,
  };
  await reserveContainer(root, rec, native(), () => ({ release() {} }));
  return rec;
}

function exited(child: ChildProcess): Promise<unknown> {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve),
  );
}

describe('global flags', () => {
  it('prints the version', async () => {
    expect(await cli('--version')).toEqual({
      code: 0,
      stdout: 'tsrunc version 0.1.0\nspec: 1.3.0\n',
      stderr: '',
    });
    expect((await cli('-v')).stdout).toContain('tsrunc version');
  });

  it('fails on an unknown command, a missing command and a bad flag with one line', async () => {
    for (const args of [['bogus'], [], ['list', '--format', 'yaml'], ['state']]) {
      const r = await cli(...args);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('shows help with -h', async () => {
    const r = await cli('-h');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('create <container-id>');
  });
});

describe('spec', () => {
  /** `tsrunc <global> spec <flags> --bundle <fresh dir>`: the namespace types of the config. */
  async function specNamespaces(global: string[], flags: string[]): Promise<string[]> {
    const bundle = fs.mkdtempSync(path.join(tmp, 'bundle-'));
    const r = await cli(...global, 'spec', ...flags, '--bundle', bundle);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    const config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    return config.linux.namespaces.map((ns: { type: string }) => ns.type);
  }

  it('--rootless writes the rootless spec; the global --rootless <value> does not', async () => {
    const rootless = ['pid', 'ipc', 'uts', 'mount', 'user'];
    const plain = ['pid', 'network', 'ipc', 'uts', 'mount'];
    expect(await specNamespaces([], ['--rootless'])).toEqual(rootless);
    expect(await specNamespaces([], ['--rootless=true'])).toEqual(rootless);
    expect(await specNamespaces(['--rootless', 'false'], ['--rootless'])).toEqual(rootless);
    expect(await specNamespaces([], [])).toEqual(plain);
    expect(await specNamespaces([], ['--rootless=false'])).toEqual(plain);
    expect(await specNamespaces(['--rootless', 'true'], [])).toEqual(plain);
  });
});

describe('list', () => {
  it('prints only the header for an empty or missing root', async () => {
    expect(await cli('list')).toEqual({
      code: 0,
      stdout: 'ID          PID         STATUS      BUNDLE      CREATED     OWNER\n',
      stderr: '',
    });
    expect((await cli('list', '-q')).stdout).toBe('');
    expect((await cli('list', '--format', 'json')).stdout).toBe('[]\n');
  });

  it('lists containers with their status', async () => {
    const child = await sleeper();
    await fakeContainer('b-running', child.pid!);
    await fakeContainer('a-created', child.pid!);
    fs.writeFileSync(path.join(stateDir(root, 'a-created'), EXEC_FIFO), '');
    await fakeContainer('c-stopped', child.pid!, { initStartTime: '1' });
    expect((await cli('list', '-q')).stdout).toBe('a-created\nb-running\nc-stopped\n');
    const json = JSON.parse((await cli('list', '-f', 'json')).stdout);
    expect(json.map((s: { id: string; status: string; pid: number }) => [s.id, s.status, s.pid])).toEqual([
      ['a-created', 'created', child.pid],
      ['b-running', 'running', child.pid],
      ['c-stopped', 'stopped', 0],
    ]);
    const table = (await cli('list')).stdout.split('\n');
    expect(table[0]).toMatch(/^ID {10}PID {9}STATUS {6}BUNDLE {15}CREATED {26}OWNER$/);
    expect(table[1]).toMatch(
      new RegExp(
        `^a-created {3}${child.pid} +created +/bundles/a-created +2026-11-22T06:35:16.388778657Z   $`,
      ),
    );
  });

  it('lays out columns like Go tabwriter (minwidth 12, padding 3)', () => {
    const row = {
      ociVersion: '',
      id: 'x',
      pid: 0,
      status: 'stopped' as const,
      bundle: 'b',
      rootfs: '',
      created: 'c',
      owner: 'root',
    };
    expect(formatTable([row])).toBe(
      'ID          PID         STATUS      BUNDLE      CREATED     OWNER\n' +
        'x           0           stopped     b           c           root\n',
    );
  });
});

describe('state', () => {
  it('fails for a missing container with exactly the contract line', async () => {
    expect(await cli('state', 'nope')).toEqual({ code: 1, stdout: '', stderr: 'container does not exist\n' });
  });

  it('rejects an invalid id', async () => {
    const r = await cli('state', '../etc');
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'invalid container id: "../etc"\n' });
  });

  it('keeps numeric-looking ids as strings', async () => {
    expect((await cli('state', '0123')).stderr).toBe('container does not exist\n');
    const child = await sleeper();
    await fakeContainer('1e3', child.pid!);
    expect(JSON.parse((await cli('state', '1e3')).stdout).id).toBe('1e3');
  });

  it('prints the OCI state pretty with two spaces', async () => {
    const child = await sleeper();
    await fakeContainer('c1', child.pid!, { annotations: { k: 'v' } });
    const r = await cli('state', 'c1');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      JSON.stringify(
        {
          ociVersion: '1.3.0',
          id: 'c1',
          pid: child.pid,
          status: 'running',
          bundle: '/bundles/c1',
          rootfs: '/bundles/c1/rootfs',
          created: '2026-11-22T06:35:16.388778657Z',
          owner: '',
          annotations: { k: 'v' },
        },
        null,
        2,
      ) + '\n',
    );
  });
});

describe('logging', () => {
  it('appends a JSON error line to --log with --log-format json', async () => {
    const log = path.join(tmp, 'log.json');
    fs.writeFileSync(log, '{"level":"info","msg":"earlier","time":"2026-01-01T00:00:00Z"}\n');
    const r = await cli('--log', log, '--log-format', 'json', 'state', 'nope');
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'container does not exist\n' });
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    const last = JSON.parse(lines[1]);
    expect(Object.keys(last)).toEqual(['level', 'msg', 'time']);
    expect(last.level).toBe('error');
    expect(last.msg).toBe('container does not exist');
    expect(last.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('writes text lines with the default format', async () => {
    const log = path.join(tmp, 'log.txt');
    await cli('--log', log, 'kill', 'nope');
    expect(fs.readFileSync(log, 'utf8')).toMatch(
      /^time="[^"]+" level=error msg="container does not exist"\n$/,
    );
  });
});

describe('kill', () => {
  it('rejects an unknown signal with runc wording', async () => {
    const child = await sleeper();
    await fakeContainer('c1', child.pid!);
    expect(await cli('kill', 'c1', 'FOO')).toEqual({ code: 1, stdout: '', stderr: 'unknown signal "FOO"\n' });
  });

  it('signals the init by name and by number', async () => {
    const child = await sleeper();
    await fakeContainer('c1', child.pid!);
    expect((await cli('kill', 'c1', 'KILL')).code).toBe(0);
    await exited(child);
    expect(child.signalCode).toBe('SIGKILL');
    const other = await sleeper();
    await fakeContainer('c2', other.pid!);
    expect((await cli('kill', 'c2', '15')).code).toBe(0);
    await exited(other);
    expect(other.signalCode).toBe('SIGTERM');
  });

  it('refuses a stopped container and never signals a recycled pid', async () => {
    const child = await sleeper();
    await fakeContainer('c1', child.pid!, { initStartTime: '1' });
    expect(await cli('kill', 'c1', 'KILL')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'container not running\n',
    });
    expect(child.exitCode === null && child.signalCode === null).toBe(true);
    // --all on a stopped container has nothing to do, as in runc.
    expect((await cli('kill', '--all', 'c1', 'KILL')).code).toBe(0);
    expect(child.signalCode).toBeNull();
  });
});

describe('delete', () => {
  it('refuses a running container without --force', async () => {
    const child = await sleeper();
    await fakeContainer('c1', child.pid!);
    expect(await cli('delete', 'c1')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cannot delete container c1 that is not stopped: running\n',
    });
    expect(fs.existsSync(stateDir(root, 'c1'))).toBe(true);
  });

  it('kills and removes a running container with --force, then runs poststop hooks', async () => {
    const child = await sleeper();
    const marker = path.join(tmp, 'poststop');
    const hook = { path: '/bin/sh', args: ['sh', '-c', `cat > ${marker}`] };
    await fakeContainer('c1', child.pid!, { config: { hooks: { poststop: [hook] } } });
    expect(await cli('delete', '--force', 'c1')).toEqual({ code: 0, stdout: '', stderr: '' });
    await exited(child);
    expect(child.signalCode).toBe('SIGKILL');
    expect(fs.existsSync(stateDir(root, 'c1'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(marker, 'utf8'))).toMatchObject({ id: 'c1', status: 'stopped' });
  });

  it('refuses a created container without --force (the spec, not runc) and leaves it as it was', async () => {
    const child = await sleeper();
    await fakeContainer('c1', child.pid!);
    const fifo = path.join(stateDir(root, 'c1'), EXEC_FIFO);
    fs.writeFileSync(fifo, '');
    expect(await cli('delete', 'c1')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cannot delete container c1 that is not stopped: created\n',
    });
    expect(fs.existsSync(fifo)).toBe(true);
    expect(child.exitCode === null && child.signalCode === null).toBe(true);
    expect(JSON.parse((await cli('state', 'c1')).stdout)).toMatchObject({
      status: 'created',
      pid: child.pid,
    });
    expect(await cli('delete', '--force', 'c1')).toEqual({ code: 0, stdout: '', stderr: '' });
    await exited(child);
    expect(child.signalCode).toBe('SIGKILL');
    expect(fs.existsSync(stateDir(root, 'c1'))).toBe(false);
  });

  it('deletes a stopped container without --force', async () => {
    const child = await sleeper();
    child.kill('SIGKILL');
    await exited(child);
    await fakeContainer('c2', child.pid!);
    expect(await cli('delete', 'c2')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(fs.existsSync(stateDir(root, 'c2'))).toBe(false);
  });

  it('cleans up a state dir without state.json (a create of an older tsrunc that died early)', async () => {
    fs.mkdirSync(stateDir(root, 'half'), { recursive: true });
    expect((await cli('delete', 'half')).code).toBe(0);
    expect(fs.existsSync(stateDir(root, 'half'))).toBe(false);
  });

  it('fails for a missing container, except with --force', async () => {
    expect(await cli('delete', 'nope')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'container does not exist\n',
    });
    expect(await cli('delete', '-f', 'nope')).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});

describe('exec arguments', () => {
  it('takes the flags containerd passes and fails with exit 255 and one line', async () => {
    const r = await cli(
      '--log-format',
      'json',
      'exec',
      '--process',
      '/tmp/p.json',
      '--detach',
      '--pid-file',
      'x',
      'c1',
    );
    expect(r).toEqual({ code: 255, stdout: '', stderr: 'container does not exist\n' });
  });

  it("leaves the command's own flags to the command: everything after the id is its", () => {
    expect(prepareArgs(['-e', 'A=1', '--tty', 'c1', 'sh', '-c', 'echo -n x'])).toEqual([
      '-e',
      'A=1',
      '--tty',
      'c1',
      '--',
      'sh',
      '-c',
      'echo -n x',
    ]);
    expect(prepareArgs(['--user=1000', '-d', 'c1', 'ls', '-l'])).toEqual([
      '--user=1000',
      '-d',
      'c1',
      '--',
      'ls',
      '-l',
    ]);
    expect(prepareArgs(['c1', '--', 'ls'])).toEqual(['c1', '--', 'ls']);
    expect(prepareArgs(['--process', 'p.json', 'c1'])).toEqual(['--process', 'p.json', 'c1', '--']);
  });
});
