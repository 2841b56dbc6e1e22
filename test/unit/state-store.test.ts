import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CONTAINER_EXISTS, CONTAINER_NOT_EXIST } from '../../src/errors';
import { native } from '../../src/native';
import { createRuntimeContext, type RuntimeContext } from '../../src/runtime/context';
import { containerState, containerStatus } from '../../src/runtime/status';
import {
  type ContainerRecord,
  EXEC_FIFO,
  listIds,
  processIsZombie,
  processStartTime,
  readRecord,
  removeContainerDir,
  reserveContainer,
  stateDir,
  validateContainerId,
  writeRecord,
} from '../../src/state/store';

const repo = path.resolve(__dirname, '../..');
let tmp: string;
let root: string;
let ctx: RuntimeContext;
const children: ChildProcess[] = [];

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-store-'));
  root = path.join(tmp, 'root');
  ctx = createRuntimeContext({ root });
});

const noLock = () => ({ release() {} });

/** reserveContainer with the real addon and no lock (these tests are about the directory). */
function reserve(rootDir: string, rec: ContainerRecord): Promise<unknown> {
  return reserveContainer(rootDir, rec, native(), noLock);
}

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

function record(fields: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    ociVersion: '1.3.0',
    id: 'c1',
    initPid: 0,
    initStartTime: '',
    bundle: '/bundle',
    rootfs: '/bundle/rootfs',
    created: '2026-11-22T06:35:16.388778657Z',
    owner: '',
    phase: 'created',
    config: {},
    ...fields,
  };
}

/** A child that lives until killed; resolves once it has exec'd (its start time is final). */
async function longLived(file = 'sleep', args = ['100']): Promise<ChildProcess> {
  const child = spawn(file, args, { stdio: 'ignore' });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return child;
}

async function killAndReap(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('validateContainerId', () => {
  it.each(['a', 'abc-DEF_1.2+3', '0123', '...', 'a'.repeat(1024)])('accepts %j', (id) => {
    expect(() => validateContainerId(id)).not.toThrow();
  });
  it.each(['', '.', '..', 'a/b', '../x', 'a b', 'ä', 'a\n', 'a:b', 'a'.repeat(1025)])('rejects %j', (id) => {
    expect(() => validateContainerId(id)).toThrow(`invalid container id: ${JSON.stringify(id)}`);
  });
});

describe('reserveContainer', () => {
  it('creates the root and the container dir with mode 0711', async () => {
    const oldUmask = process.umask(0o022);
    try {
      await reserve(root, record({ id: 'c1' }));
    } finally {
      process.umask(oldUmask);
    }
    expect(fs.statSync(root).mode & 0o777).toBe(0o711);
    expect(fs.statSync(stateDir(root, 'c1')).mode & 0o777).toBe(0o711);
  });

  it('refuses an id that is taken', async () => {
    await reserve(root, record({ id: 'c1' }));
    await expect(reserve(root, record({ id: 'c1' }))).rejects.toThrow(CONTAINER_EXISTS);
  });

  it('lets exactly one of 20 concurrent processes win', async () => {
    const storeJs = transpileStore(path.join(tmp, 'js'));
    const script = `
      const { reserveContainer } = require(${JSON.stringify(storeJs)});
      const { native } = require(${JSON.stringify(path.join(path.dirname(storeJs), '..', 'native', 'index.js'))});
      const noLock = () => ({ release() {} });
      reserveContainer(process.argv[1], { id: 'race', marker: process.pid }, native(), noLock).then(
        () => process.stdout.write('won'),
        (e) => process.stdout.write(e.message),
      );`;
    const outputs = await Promise.all(Array.from({ length: 20 }, () => runNode(['-e', script, root])));
    expect(outputs.filter((o) => o === 'won')).toHaveLength(1);
    expect(outputs.filter((o) => o === CONTAINER_EXISTS)).toHaveLength(19);
    // The losers left no staging dir, and the winner's record is the one in place.
    expect(fs.readdirSync(root)).toEqual(['race']);
    expect(readRecord(root, 'race').marker).toBeGreaterThan(0);
    // A bound for a busy machine (it compiles src/ and starts 20 node processes), not a timing.
  }, 60_000);

  it('the id appears with its first record and its lock already in place (a create is never mistaken for a dead one)', async () => {
    const lock = await reserveContainer(root, record({ id: 'c1', phase: 'creating' }), native(), (dir) =>
      ctx.locks.lockNewDir(dir, 'c1'),
    );
    expect(fs.readdirSync(root)).toEqual(['c1']);
    expect(fs.readdirSync(stateDir(root, 'c1'))).toEqual(['state.json']);
    const rec = readRecord(root, 'c1');
    expect(await containerStatus(ctx, rec)).toBe('creating');
    lock.release();
    expect(await containerStatus(ctx, rec)).toBe('stopped');
  });
});

/** Compile src/ to plain CommonJS (the store and all it imports), for child processes to require. */
function transpileStore(outDir: string): string {
  const sources = (fs.readdirSync(path.join(repo, 'src'), { recursive: true }) as string[]).filter(
    (rel) => rel.endsWith('.ts') && !rel.endsWith('.d.ts'),
  );
  for (const rel of sources) {
    const source = fs.readFileSync(path.join(repo, 'src', rel), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
      },
    });
    const out = path.join(outDir, rel.replace(/\.ts$/, '.js'));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, outputText);
  }
  // The native binding is found relative to the compiled files: <outDir>/../build.
  fs.symlinkSync(path.join(repo, 'build'), path.join(outDir, '..', 'build'));
  return path.join(outDir, 'state/store.js');
}

function runNode(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

describe('records', () => {
  it('round-trips a record, atomically replacing the file and leaving no temp file', async () => {
    await reserve(root, record({ id: 'c1' }));
    await writeRecord(root, record({ initPid: 1 }));
    const file = path.join(stateDir(root, 'c1'), 'state.json');
    const firstInode = fs.statSync(file).ino;
    await writeRecord(root, record({ initPid: 2 }));
    expect(readRecord(root, 'c1').initPid).toBe(2);
    // rename() replaced the file: a reader never sees a half-written one.
    expect(fs.statSync(file).ino).not.toBe(firstInode);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(stateDir(root, 'c1'))).toEqual(['state.json']);
  });

  it('leaves no temp file when the write fails', async () => {
    await expect(writeRecord(root, record({ id: 'missing' }))).rejects.toThrow();
    expect(fs.existsSync(root)).toBe(false);
  });

  it('reports a missing container', () => {
    expect(() => readRecord(root, 'nope')).toThrow(CONTAINER_NOT_EXIST);
    fs.mkdirSync(root);
    expect(() => readRecord(root, 'nope')).toThrow(CONTAINER_NOT_EXIST);
  });

  it('returns a deletable stopped record for a dir without state.json', async () => {
    fs.mkdirSync(stateDir(root, 'early'), { recursive: true });
    const rec = readRecord(root, 'early');
    expect(rec).toMatchObject({ id: 'early', phase: 'creating', initPid: 0 });
    expect(await containerStatus(ctx, rec)).toBe('stopped');
  });

  it('lists ids sorted and removes one dir', async () => {
    expect(listIds(root)).toEqual([]);
    for (const id of ['b', 'a', 'c']) await reserve(root, record({ id }));
    fs.writeFileSync(path.join(root, 'stray-file'), '');
    expect(listIds(root)).toEqual(['a', 'b', 'c']);
    removeContainerDir(root, 'b');
    expect(listIds(root)).toEqual(['a', 'c']);
    expect(() => removeContainerDir(root, '..')).toThrow('invalid container id');
  });
});

describe('processStartTime', () => {
  it('reads field 22 even when comm contains spaces and parentheses', async () => {
    const weird = path.join(tmp, 'a) b (c');
    fs.copyFileSync(execFileSync('sh', ['-c', 'command -v sleep']).toString().trim(), weird);
    fs.chmodSync(weird, 0o755);
    const child = await longLived(weird, ['100']);
    const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const prefix = `${child.pid} (a) b (c) `;
    expect(stat.startsWith(prefix)).toBe(true);
    const expected = stat.slice(prefix.length).split(' ')[22 - 3];
    expect(processStartTime(child.pid!)).toBe(expected);
    expect(expected).toMatch(/^[0-9]+$/);
  });

  it('returns null for a process that is gone', async () => {
    const child = await longLived();
    await killAndReap(child);
    expect(processStartTime(child.pid!)).toBeNull();
    expect(processStartTime(0)).toBeNull();
  });
});

describe('containerStatus', () => {
  it('follows a real init: created, running, stopped', async () => {
    const child = await longLived();
    await reserve(root, record({ id: 'c1' }));
    const rec = record({ initPid: child.pid!, initStartTime: processStartTime(child.pid!)! });
    await writeRecord(root, rec);
    fs.writeFileSync(path.join(stateDir(root, 'c1'), EXEC_FIFO), '');
    expect(await containerStatus(ctx, rec)).toBe('created');
    fs.rmSync(path.join(stateDir(root, 'c1'), EXEC_FIFO));
    expect(await containerStatus(ctx, rec)).toBe('running');
    await killAndReap(child);
    expect(await containerStatus(ctx, rec)).toBe('stopped');
  });

  it('reports a zombie init as stopped', async () => {
    // The forked child exits at once and its parent never reaps it. (A shell that execs sleep
    // after `true &` may reap `true` first when it is quick, and leave no zombie.)
    const script =
      'import os, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(100)\n';
    const child = spawn('python3', ['-c', script], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    children.push(child);
    const zombiePid = Number(
      await new Promise<string>((resolve) =>
        child.stdout!.once('data', (d: Buffer) => resolve(d.toString())),
      ),
    );
    await waitFor(() => processIsZombie(zombiePid));
    await reserve(root, record({ id: 'c1' }));
    const rec = record({ initPid: zombiePid, initStartTime: processStartTime(zombiePid)! });
    expect(await containerStatus(ctx, rec)).toBe('stopped');
    expect((await containerState(ctx, rec)).pid).toBe(0);
  });

  it('reports a recycled pid (different start time) as stopped', async () => {
    const child = await longLived();
    await reserve(root, record({ id: 'c1' }));
    const rec = record({ initPid: child.pid!, initStartTime: '1' });
    expect(await containerStatus(ctx, rec)).toBe('stopped');
  });

  it('reports creating while another process holds the lock, stopped once it died', async () => {
    await reserve(root, record({ id: 'c1' }));
    // A process holds LOCK_EX on the state dir, as a creating tsrunc (CLI or shim) does.
    const script =
      'import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_EX)\ntime.sleep(100)\n';
    const creator = await longLived('python3', ['-c', script, stateDir(root, 'c1')]);
    const rec = record({ phase: 'creating' });
    await waitFor(() => ctx.locks.isHeld(root, 'c1'));
    expect(await containerStatus(ctx, rec)).toBe('creating');
    // Our own operation holding the lock sees a dead create.
    expect(await containerStatus(ctx, rec, { lockHeld: true })).toBe('stopped');
    await killAndReap(creator);
    await waitFor(() => !ctx.locks.isHeld(root, 'c1'));
    expect(await containerStatus(ctx, rec)).toBe('stopped');
  });
});

describe('ociState', () => {
  it('has runc key order, pid 0 when stopped, and annotations when set', async () => {
    const child = await longLived();
    await reserve(root, record({ id: 'c1' }));
    const rec = record({
      initPid: child.pid!,
      initStartTime: processStartTime(child.pid!)!,
      annotations: { a: 'b' },
    });
    const s = await containerState(ctx, rec);
    expect(Object.keys(s)).toEqual([
      'ociVersion',
      'id',
      'pid',
      'status',
      'bundle',
      'rootfs',
      'created',
      'owner',
      'annotations',
    ]);
    expect(s).toMatchObject({ ociVersion: '1.3.0', pid: child.pid, status: 'running' });
    await killAndReap(child);
    expect(await containerState(ctx, { ...rec, annotations: undefined })).toEqual({
      ociVersion: '1.3.0',
      id: 'c1',
      pid: 0,
      status: 'stopped',
      bundle: '/bundle',
      rootfs: '/bundle/rootfs',
      created: '2026-11-22T06:35:16.388778657Z',
      owner: '',
    });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
