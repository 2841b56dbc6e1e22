// The runtime as a library in one long-lived process (what the shim does): many containers at
// once through one Runtime, each with its own stdio pipes, no per-operation process, and nothing
// process-wide touched. Runs in the vitest worker itself.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';

import { native } from '../../src/native';
import { Runtime } from '../../src/runtime/runtime';
import { createLogger } from '../../src/util/log';
import { containerId, defaultTestConfig, removeTree, tempDir } from '../helpers/bundle';
import { testEnv } from '../helpers/env';
import { stateRoot } from '../helpers/tsrunc';

let work: string | null = null;
const runtimes: Runtime[] = [];

afterEach(async () => {
  for (const runtime of runtimes.splice(0)) runtime.close();
  if (work) await removeTree(work);
  work = null;
});

function newRuntime(): Runtime {
  const logFile = path.join(work!, 'runtime.log');
  const runtime = new Runtime({
    root: stateRoot(),
    logger: createLogger({ file: logFile, format: 'json', debug: false }),
  });
  runtimes.push(runtime);
  return runtime;
}

/** A bundle dir whose config runs `args` on the shared busybox rootfs, read-only. */
async function bundleRunning(args: string[]): Promise<string> {
  const dir = fs.mkdtempSync(path.join(work!, 'b-'));
  const config = await defaultTestConfig();
  config.root = { path: testEnv().rootfs, readonly: true };
  // The run's tag in every argv (as $0 of sh): a concurrent test run's leak check leaves these
  // processes alone.
  config.process.args = [...args, `tsrunc-test-${testEnv().runId}`];
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

/** A pipe (a fifo in our temp dir): the write end for a container, the read end as a stream. */
function pipe(name: string): { writeFd: number; output: Promise<string> } {
  const fifo = path.join(work!, `${name}.fifo`);
  native().mkfifo(fifo, 0o600);
  const readFd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeFd = fs.openSync(fifo, fs.constants.O_WRONLY);
  fs.rmSync(fifo);
  const reader = new net.Socket({ fd: readFd, readable: true, writable: false });
  const output = new Promise<string>((resolve, reject) => {
    let text = '';
    reader.on('data', (chunk: Buffer) => (text += chunk.toString()));
    reader.on('end', () => resolve(text));
    reader.on('error', reject);
  });
  return { writeFd, output };
}

interface Lifecycle {
  id: string;
  initOut: string;
  execOut: string;
  execErr: string;
  execCode: number;
  initCode: number;
  initSignal: number;
}

/** create, start, exec, kill, wait, delete: each container with pipes of its own. */
async function lifecycle(runtime: Runtime, bundle: string, index: number): Promise<Lifecycle> {
  const id = containerId(`lib${index}`);
  const initOut = pipe(`${id}-init`);
  const execOut = pipe(`${id}-out`);
  const execErr = pipe(`${id}-err`);
  try {
    await runtime.create({ id, bundle, stdio: { stdout: initOut.writeFd } });
  } finally {
    fs.closeSync(initOut.writeFd);
  }
  await runtime.start(id);
  let exec;
  try {
    exec = await runtime.exec(id, {
      args: ['sh', '-c', `echo out-${index}; echo err-${index} >&2; exit ${index % 100}`],
      stdio: { stdout: execOut.writeFd, stderr: execErr.writeFd },
    });
  } finally {
    fs.closeSync(execOut.writeFd);
    fs.closeSync(execErr.writeFd);
  }
  const execStatus = await exec.exit.wait();
  await runtime.kill(id, 'KILL');
  const initStatus = await runtime.wait(id);
  await runtime.delete(id);
  return {
    id,
    initOut: await initOut.output,
    execOut: await execOut.output,
    execErr: await execErr.output,
    execCode: execStatus.exitCode,
    initCode: initStatus.exitCode,
    initSignal: initStatus.signal,
  };
}

function exitCodeOf(file: string, args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

/** What this process is, as far as a container operation could change it. */
function processSnapshot(): Record<string, unknown> {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(.*)$`, 'm'))?.[1];
  const fds = fs.readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd} -> ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return `${fd} (gone)`; // the fd readdir used itself
    }
  });
  const signals = ['SIGINT', 'SIGTERM', 'SIGCHLD', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
  return {
    sigBlk: field('SigBlk'),
    sigIgn: field('SigIgn'),
    sigCgt: field('SigCgt'),
    noNewPrivs: field('NoNewPrivs'),
    seccomp: field('Seccomp'),
    caps: [field('CapInh'), field('CapPrm'), field('CapEff'), field('CapBnd'), field('CapAmb')],
    limits: fs.readFileSync('/proc/self/limits', 'utf8'),
    cwd: process.cwd(),
    umask: readUmask(),
    env: JSON.stringify(process.env),
    fds: fds.filter((line) => !line.endsWith('(gone)')).sort(),
    listeners: Object.fromEntries(signals.map((s) => [s, process.listenerCount(s as NodeJS.Signals)])),
    resources: [...process.getActiveResourcesInfo()].sort(),
    ns: fs.readlinkSync('/proc/self/ns/mnt'),
    root: fs.readlinkSync('/proc/self/root'),
  };
}

/** The snapshot once handles that were closing have closed (a FileHandle's close, a timer that
 *  just fired): what is still there then is held. */
async function settledSnapshot(): Promise<Record<string, unknown>> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  await new Promise((resolve) => setImmediate(resolve));
  return processSnapshot();
}

function readUmask(): string {
  // /proc/<pid>/status has Umask since Linux 4.7: reading it does not change it.
  return fs.readFileSync('/proc/self/status', 'utf8').match(/^Umask:\s*(\S+)$/m)?.[1] ?? '?';
}

describe('the runtime as a library in one process', () => {
  it('runs 50 containers concurrently: each its own output and exit status, the event loop never stalled', async () => {
    work = tempDir('library');
    const runtime = newRuntime();
    const bundle = await bundleRunning(['sh', '-c', 'echo init-$(hostname); exec sleep 1000']);
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    // Children of child_process (as hooks are) run alongside: the reaper must not take their exits.
    const [results, ownExits] = await Promise.all([
      Promise.all(Array.from({ length: 50 }, (_, i) => lifecycle(runtime, bundle, i))),
      Promise.all(
        Array.from({ length: 20 }, (_, i) => exitCodeOf('sh', ['-c', `sleep 0.$((${i} % 5)); exit 3`])),
      ),
    ]);
    delay.disable();
    expect(ownExits).toEqual(Array(20).fill(3));
    expect(results).toHaveLength(50);
    for (const [i, r] of results.entries()) {
      expect(r.execOut, r.id).toBe(`out-${i}\n`);
      expect(r.execErr, r.id).toBe(`err-${i}\n`);
      expect(r.execCode, r.id).toBe(i % 100);
      expect(r.initOut, r.id).toMatch(/^init-\S+\n$/);
      expect({ code: r.initCode, signal: r.initSignal }, r.id).toEqual({ code: 137, signal: 9 });
    }
    // A hang, not a timing: no callback may hold the loop for a second (the numbers go to
    // `npm run bench`).
    expect(delay.max / 1e6).toBeLessThan(1000);
    expect(await runtime.list()).toEqual([]);
    expect(runtime.context.reaper.size).toBe(0);
  }, 180_000);

  it('leaves nothing process-wide changed after 200 lifecycles', async () => {
    work = tempDir('library');
    const runtime = newRuntime();
    const bundle = await bundleRunning(['sh', '-c', 'echo init-$(hostname); exec sleep 1000']);
    // One lifecycle first: lazily made things (the addon, libuv's signal pipe) are made now.
    await lifecycle(runtime, bundle, 0);
    const before = await settledSnapshot();
    let right = 0;
    for (let batch = 0; batch < 20; batch++) {
      const indexes = Array.from({ length: 10 }, (_, i) => batch * 10 + i + 1);
      const results = await Promise.all(indexes.map((i) => lifecycle(runtime, bundle, i)));
      right += results.filter(
        (r, k) => r.execOut === `out-${indexes[k]}\n` && r.execCode === indexes[k] % 100,
      ).length;
    }
    expect(right).toBe(200);
    expect(await settledSnapshot()).toEqual(before);
    expect(runtime.context.reaper.size).toBe(0);
  }, 300_000);
});
