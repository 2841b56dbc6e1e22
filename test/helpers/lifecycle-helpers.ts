// Helpers shared by the lifecycle, CLI-contract and hook integration tests: created containers
// with guaranteed cleanup, state reads, and host-side checks (processes, mounts, state dirs).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { containerId, makeBundle, type Bundle, type ConfigMutator } from './bundle';
import { testEnv } from './env';
import { stateRoot, tsrunc, type TsruncResult } from './tsrunc';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `cond` until it is true; throws (naming `what`) after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(20);
  }
}

/** `<root>/<id>` of the current test's --root. */
export function stateDirOf(id: string, root = stateRoot()): string {
  return path.join(root, id);
}

/** Field 22 of /proc/<pid>/stat, or null if the process is gone. */
export function procStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat
      .slice(stat.lastIndexOf(')') + 1)
      .trim()
      .split(' ')[22 - 3];
  } catch {
    return null;
  }
}

/** Process state letter (R, S, Z, ...), or null if gone. */
export function procState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat
      .slice(stat.lastIndexOf(')') + 1)
      .trim()
      .split(' ')[0];
  } catch {
    return null;
  }
}

/** The process pid (with this start time, if given) exists and is not a zombie. */
export function procAlive(pid: number, startTime?: string | null): boolean {
  const st = procState(pid);
  if (st === null || st === 'Z' || st === 'X') return false;
  return startTime ? procStartTime(pid) === startTime : true;
}

export function readLinkOrNull(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

/** Live (non-zombie) processes whose command line contains `needle`, except ourselves. */
export function processesMatching(needle: string): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (!cmdline.includes(needle)) continue;
    if (!procAlive(pid)) continue;
    out.push({ pid, cmdline });
  }
  return out;
}

/** Mount points of this (host) mount namespace whose path contains `needle`. */
export function mountsContaining(needle: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((mp) => mp !== undefined && mp.includes(needle));
}

/** Exit 1 (or `code`: exec's 255) and exactly one non-empty line on stderr; returns that line. */
export function expectOneLineError(res: TsruncResult, code = 1): string {
  expect(res.code, `stderr: ${res.stderr}`).toBe(code);
  expect(res.stderr).toMatch(/^[^\n]+\n$/);
  return res.stderr.trimEnd();
}

export interface OciStateJson {
  ociVersion: string;
  id: string;
  pid: number;
  status: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

/** `tsrunc state <id>`, parsed; fails the test if it fails. */
export async function stateOf(id: string): Promise<OciStateJson> {
  const res = await tsrunc(['state', id]);
  expect(res.code, `state ${id}: ${res.stderr}`).toBe(0);
  return JSON.parse(res.stdout) as OciStateJson;
}

export async function waitForStatus(id: string, status: string, timeoutMs = 5000): Promise<OciStateJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await stateOf(id);
    if (s.status === status) return s;
    if (Date.now() > deadline) throw new Error(`container ${id} is ${s.status}, wanted ${status}`);
    await sleep(50);
  }
}

/**
 * Remove a container by every means: `delete --force`, then (if its record named a process that
 * still lives) SIGKILL that process, then the state dir. Never throws.
 */
export async function forceRemove(id: string, root = stateRoot()): Promise<void> {
  const dir = stateDirOf(id, root);
  if (fs.existsSync(dir)) {
    await tsrunc(['delete', '--force', id], { root }).catch(() => undefined);
  }
  if (fs.existsSync(dir)) {
    try {
      const rec = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
      if (rec.initPid > 0 && procAlive(rec.initPid, rec.initStartTime)) process.kill(rec.initPid, 'SIGKILL');
    } catch {
      /* nothing to kill */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface Created {
  id: string;
  bundle: Bundle;
  /** The init's host pid (from --pid-file). */
  pid: number;
  result: TsruncResult;
  /** delete --force (if still there) and remove the bundle. Idempotent. */
  cleanup(): Promise<void>;
}

/**
 * makeBundle(mutate) + `tsrunc create`. Throws (after cleaning up) when create fails, unless
 * `allowFail` is set (then pid is 0).
 */
export async function createContainer(
  mutate?: ConfigMutator,
  opts: { id?: string; args?: string[]; globalArgs?: string[]; allowFail?: boolean; bundle?: Bundle } = {},
): Promise<Created> {
  const id = opts.id ?? containerId();
  const bundle = opts.bundle ?? (await makeBundle(mutate));
  const pidFile = path.join(bundle.dir, 'init.pid');
  const cleanup = async () => {
    await forceRemove(id);
    await bundle.cleanup();
  };
  let result: TsruncResult;
  try {
    result = await tsrunc([
      ...(opts.globalArgs ?? []),
      'create',
      '--bundle',
      bundle.dir,
      '--pid-file',
      pidFile,
      ...(opts.args ?? []),
      id,
    ]);
  } catch (e) {
    await cleanup();
    throw e;
  }
  if (result.code !== 0 && !opts.allowFail) {
    await cleanup();
    throw new Error(`create ${id} failed (${result.code}): ${result.stderr}`);
  }
  const pid = result.code === 0 ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : 0;
  return { id, bundle, pid, result, cleanup };
}

/** Spawn `node bin/tsrunc --root <root> ...args` without waiting (for fault injection). */
export function spawnTsrunc(args: string[], root = stateRoot()): ChildProcess {
  const env = testEnv();
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.NODE_OPTIONS;
  return spawn(process.execPath, [path.join(env.repo, 'bin', 'tsrunc'), '--root', root, ...args], {
    cwd: env.repo,
    env: childEnv,
    stdio: 'ignore',
  });
}

/** Wait for a spawned child to exit (resolves at once if it already has). */
export function childExited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A host `sleep` process (our child) to stand in for a recycled pid. */
export function spawnHostSleep(): ChildProcess {
  return spawn('/bin/sleep', ['1000'], { stdio: 'ignore' });
}

/** SIGKILL a child of ours and wait until it is reaped. */
export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  await childExited(child);
}

/** Write an executable file. */
export function writeScript(file: string, text: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode: 0o755 });
  return file;
}

/** RFC3339 (seconds, optional fraction, Z or offset). */
export const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/** Every cgroup dir on the host (all hierarchies, a few levels down) named `name` (a container
 *  cgroup is named after its id), sorted. */
export function cgroupDirsNamed(name: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue; // cpu -> cpu,cpuacct and the like are symlinks
      const p = path.join(dir, e.name);
      if (e.name === name) found.push(p);
      else if (depth < 8) walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found.sort();
}
