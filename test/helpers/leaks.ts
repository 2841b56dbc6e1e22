// Host snapshots for leak checks: state dirs, mounts, cgroups, processes, our own fds.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ENV_VAR } from './env';

const RUN_DIR = '/run';
const STATE_PREFIX = 'tsrunc-test-';
const DEFAULT_ROOT = '/run/tsrunc';
const CGROUP_ROOT = '/sys/fs/cgroup';
const CGROUP_DEPTH = 5;

export interface ProcInfo {
  pid: number;
  ppid: number;
  state: string;
  startTime: string;
  pidNs: string;
  cmdline: string[];
}

export interface HostSnapshot {
  /** Paths under /run/tsrunc-test-* (depth <= 3) and /run/tsrunc (depth 1), dirs marked with a
   *  trailing '/'. Names starting with '.' are ignored. */
  state: Set<string>;
  /** Mount points (from /proc/self/mountinfo) that contain "tsrunc", keyed "mountid mountpoint". */
  mounts: Map<string, string>;
  /** cgroup dirs under /sys/fs/cgroup (depth <= 5) whose path contains "tsrunc". */
  cgroups: Set<string>;
  /** Every process, keyed "pid:starttime". */
  procs: Map<string, ProcInfo>;
  /** Our open fds: fd number -> link target. */
  fds: Map<number, string>;
}

export interface LeakCheckOptions {
  /** Compare our own fds (off for the vitest main process). Default true. */
  fds?: boolean;
  /** Count new children of this process as leaks. Default true. */
  children?: boolean;
  /** Keep polling this long for things that are still going away. Default 1000 ms. */
  retryMs?: number;
  /** After reporting, remove what leaked (kill, umount, rmdir, rm) so later tests start clean.
   *  Default true. */
  cleanup?: boolean;
}

export interface Leaks {
  state: string[];
  mounts: string[];
  cgroups: string[];
  procs: ProcInfo[];
  fds: string[];
}

// Several `vitest run`s may share this host (one per engineer): each must leave the others'
// containers, state dirs and mounts alone, or its leak check reports them and its cleanup kills
// them. Everything a run makes carries its tag `tsrunc-test-<runId>` (state dirs, bundle and
// rootfs paths, the runtime's --root/--bundle arguments); things tagged for another run are
// not ours. Untagged things still count, so a real leak of ours is never missed.
const RUN_TAG = /tsrunc-test-[0-9]+-[0-9a-f]+/g;

function ownRunTag(): string | null {
  try {
    const env = JSON.parse(process.env[ENV_VAR] ?? 'null') as { runId?: string } | null;
    return env?.runId ? `${STATE_PREFIX}${env.runId}` : null;
  } catch {
    return null;
  }
}

/** A container cgroup is named after its id, `<prefix>-<runId>-<pid>-<n>` (see containerId). */
function cgroupOfOtherRun(name: string): boolean {
  const own = ownRunTag();
  const match = /-([0-9]+-[0-9a-f]{6})-[0-9]+-[0-9]+$/.exec(name);
  return own !== null && match !== null && `${STATE_PREFIX}${match[1]}` !== own;
}

// The benchmarks (scripts/bench*) tag what they make `tsrunc-bench-*`: never a test's, and a
// bench may run while a test run does.
const BENCH_TAG = /tsrunc-bench[-.]/;

/** `text` names another run's (or a benchmark's) things and none of ours. */
function belongsToOtherRun(text: string): boolean {
  const own = ownRunTag();
  if (!own) return false;
  const tags = text.match(RUN_TAG);
  if (tags?.includes(own)) return false;
  return tags !== null || BENCH_TAG.test(text);
}

/** Processes started on purpose to outlive a test ("pid:starttime"), see keepProcess. */
const kept = new Set<string>();

/**
 * Process `pid` is not a leak of the test that starts it: a daemon of the whole file that the
 * test restarted. The file stops it itself.
 */
export function keepProcess(pid: number): void {
  const info = procInfo(pid);
  if (info) kept.add(`${info.pid}:${info.startTime}`);
}

/** The path (in its file system) of the mount that is the process's "/": a container's rootfs. */
function rootMountSource(pid: number): string {
  for (const line of (readText(`/proc/${pid}/mountinfo`) ?? '').split('\n')) {
    const f = line.split(' ');
    if (f.length > 4 && f[4] === '/') return unescapeMount(f[3]);
  }
  return '';
}

function readText(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

function readLink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return '?';
  }
}

function listDir(p: string): fs.Dirent[] {
  try {
    return fs.readdirSync(p, { withFileTypes: true });
  } catch {
    return [];
  }
}

function snapshotState(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string, depth: number) => {
    for (const e of listDir(dir)) {
      if (e.name.startsWith('.')) continue; // lock files and the like
      const p = path.join(dir, e.name);
      out.add(e.isDirectory() ? p + '/' : p);
      if (e.isDirectory() && depth < 2) walk(p, depth + 1);
    }
  };
  for (const e of listDir(RUN_DIR)) {
    if (!e.isDirectory()) continue;
    if (e.name.startsWith(STATE_PREFIX) && !belongsToOtherRun(e.name)) {
      out.add(path.join(RUN_DIR, e.name) + '/');
      walk(path.join(RUN_DIR, e.name), 1);
    }
  }
  // The default --root, for tests of the default.
  walk(DEFAULT_ROOT, 2);
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function snapshotMounts(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (readText('/proc/self/mountinfo') ?? '').split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mountPoint = unescapeMount(f[4]);
    if (mountPoint.includes('tsrunc') && !belongsToOtherRun(mountPoint))
      out.set(`${f[0]} ${mountPoint}`, mountPoint);
  }
  return out;
}

function snapshotCgroups(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string, rel: string, depth: number) => {
    for (const e of listDir(dir)) {
      if (!e.isDirectory()) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (r.includes('tsrunc')) out.add(path.join(CGROUP_ROOT, r));
      if (depth < CGROUP_DEPTH) walk(path.join(dir, e.name), r, depth + 1);
    }
  };
  walk(CGROUP_ROOT, '', 1);
  return out;
}

function procInfo(pid: number): ProcInfo | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return null;
  // comm may contain spaces and parentheses: fields start after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cmd = readText(`/proc/${pid}/cmdline`) ?? '';
  return {
    pid,
    state: rest[0],
    ppid: Number(rest[1]),
    startTime: rest[19],
    pidNs: readLink(`/proc/${pid}/ns/pid`),
    cmdline: cmd.split('\0').filter((s) => s !== ''),
  };
}

function snapshotProcs(): Map<string, ProcInfo> {
  const out = new Map<string, ProcInfo>();
  for (const e of listDir('/proc')) {
    if (!/^\d+$/.test(e.name)) continue;
    const info = procInfo(Number(e.name));
    if (info) out.set(`${info.pid}:${info.startTime}`, info);
  }
  return out;
}

function snapshotFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    out.set(Number(name), readLink(`/proc/self/fd/${name}`));
  }
  // readdirSync's own directory fd is closed again by now and shows as '?'.
  for (const [fd, target] of out) if (target === '?') out.delete(fd);
  return out;
}

export function snapshotHost(): HostSnapshot {
  return {
    state: snapshotState(),
    mounts: snapshotMounts(),
    cgroups: snapshotCgroups(),
    procs: snapshotProcs(),
    fds: snapshotFds(),
  };
}

function isRuntimeProcess(p: ProcInfo): boolean {
  return p.cmdline.slice(0, 2).some((a) => path.basename(a) === 'tsrunc');
}

export function findLeaks(before: HostSnapshot, opts: LeakCheckOptions = {}): Leaks {
  const now = snapshotHost();
  const ownPidNs = readLink('/proc/self/ns/pid');
  const state = [...now.state].filter((p) => !before.state.has(p));
  // Directories that are only state bases or per-test roots are not leaks; a container's state
  // dir (or any file) in them is.
  const leakedState = state.filter((p) => {
    const parts = path.relative(RUN_DIR, p).split('/');
    const containerDepth = parts[0].startsWith(STATE_PREFIX) ? 3 : 2;
    return !p.endsWith('/') || parts.length >= containerDepth;
  });
  const mounts = [...now.mounts].filter(([k]) => !before.mounts.has(k)).map(([, mp]) => mp);
  // Parents such as ".../tsrunc" or "*.slice" may legitimately stay; leaf cgroups of containers may not.
  const cgroups = [...now.cgroups].filter((c) => {
    if (before.cgroups.has(c)) return false;
    const base = path.basename(c);
    // Engines put containers below /tsrunc-test-<runId>.slice (test/helpers/docker.ts).
    if (cgroupOfOtherRun(base) || belongsToOtherRun(c)) return false;
    return base !== 'tsrunc' && !base.endsWith('.slice');
  });
  const isNew = (pid: number) => {
    const cur = [...now.procs.values()].find((q) => q.pid === pid);
    return cur !== undefined && !before.procs.has(`${cur.pid}:${cur.startTime}`);
  };
  const procs = [...now.procs]
    .filter(([k]) => !before.procs.has(k) && !kept.has(k))
    .map(([, p]) => p)
    .filter((p) => {
      if (p.pid === process.pid) return false;
      // A container shows whose it is by its rootfs path (a bind mount) or its cgroup (engines
      // put containers below a tagged parent).
      const where = `${rootMountSource(p.pid)} ${readText(`/proc/${p.pid}/cgroup`) ?? ''}`;
      if (belongsToOtherRun(`${p.cmdline.join(' ')} ${where}`)) return false;
      // A zombie is ours when its parent is us or new; an orphan (e.g. a killed container init)
      // waiting for pid 1 to reap it is not: this machine's pid 1 reaps only every second or so.
      if (p.state === 'Z') return p.ppid === process.pid || isNew(p.ppid);
      return (
        ((opts.children ?? true) && p.ppid === process.pid) ||
        (p.pidNs !== '?' && ownPidNs !== '?' && p.pidNs !== ownPidNs) ||
        isRuntimeProcess(p)
      );
    });
  const fds =
    opts.fds === false
      ? []
      : [...now.fds].filter(([fd, t]) => before.fds.get(fd) !== t).map(([fd, t]) => `${fd} -> ${t}`);
  return { state: leakedState, mounts, cgroups, procs, fds };
}

function isEmpty(l: Leaks): boolean {
  return !l.state.length && !l.mounts.length && !l.cgroups.length && !l.procs.length && !l.fds.length;
}

export function describeLeaks(l: Leaks): string {
  const lines: string[] = [];
  for (const s of l.state) lines.push(`  state:   ${s}`);
  for (const m of l.mounts) lines.push(`  mount:   ${m}`);
  for (const c of l.cgroups) lines.push(`  cgroup:  ${c}`);
  for (const p of l.procs) {
    lines.push(
      `  process: pid ${p.pid} ppid ${p.ppid} state ${p.state} ns ${p.pidNs}: ${p.cmdline.join(' ')}`,
    );
  }
  for (const f of l.fds) lines.push(`  fd:      ${f}`);
  return lines.join('\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Best effort removal of what leaked: processes, then mounts, cgroups, state entries. */
export async function cleanupLeaks(l: Leaks): Promise<void> {
  for (const p of l.procs) {
    const cur = procInfo(p.pid);
    if (cur && cur.startTime === p.startTime && p.state !== 'Z') {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  // Frozen cgroups hold killed tasks: thaw them.
  for (const c of l.cgroups) {
    for (const [file, value] of [
      ['freezer.state', 'THAWED'],
      ['cgroup.freeze', '0'],
    ]) {
      try {
        if (fs.existsSync(path.join(c, file))) fs.writeFileSync(path.join(c, file), value);
      } catch {
        /* not ours to fix */
      }
    }
  }
  await sleep(100);
  for (const m of [...l.mounts].reverse()) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  for (const c of [...l.cgroups].sort((a, b) => b.length - a.length)) {
    for (let i = 0; i < 10; i++) {
      try {
        fs.rmdirSync(c);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
        await sleep(50);
      }
    }
  }
  for (const s of l.state) {
    try {
      fs.rmSync(s.replace(/\/$/, ''), { recursive: true, force: true });
    } catch {
      /* ignore */
    }
  }
}

/**
 * Throw (after cleaning up, unless opts.cleanup is false) when the host has state dirs, mounts,
 * cgroups, processes or fds that `before` did not have. Polls for opts.retryMs first, so things
 * that are on their way out (an exiting process, a closing pipe) are not counted.
 */
export async function assertNoLeaks(before: HostSnapshot, opts: LeakCheckOptions = {}): Promise<void> {
  const deadline = Date.now() + (opts.retryMs ?? 1000);
  let leaks = findLeaks(before, opts);
  while (!isEmpty(leaks) && Date.now() < deadline) {
    await sleep(50);
    leaks = findLeaks(before, opts);
  }
  if (isEmpty(leaks)) return;
  const text = describeLeaks(leaks);
  if (opts.cleanup ?? true) await cleanupLeaks(leaks);
  throw new Error(`leaked resources:\n${text}`);
}
