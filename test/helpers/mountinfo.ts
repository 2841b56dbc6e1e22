// /proc/<pid>/mountinfo parsing and host-side mount checks for the namespace, rootfs, mount and
// /dev integration tests.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { containerId, makeBundle, type Bundle, type ConfigMutator } from './bundle';
import { stateRoot, tsrunc, type RunOptions, type TsruncResult } from './tsrunc';

export interface MountInfo {
  id: number;
  parent: number;
  /** "major:minor" of the filesystem. */
  dev: string;
  /** Root of the mount inside its filesystem ("/" or "/null" for a bind of a file). */
  root: string;
  mountPoint: string;
  /** Per-mount options (rw,nosuid,...). */
  options: string[];
  /** Optional fields: shared:N, master:N, propagate_from:N, unbindable. */
  optional: string[];
  fstype: string;
  source: string;
  /** Per-superblock options (size=..., mode=..., gid=...). */
  superOptions: string[];
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 6) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      dev: f[2],
      root: unescape(f[3]),
      mountPoint: unescape(f[4]),
      options: f[5].split(','),
      optional: f.slice(6, sep),
      fstype: f[sep + 1],
      source: unescape(f[sep + 2]),
      superOptions: (f[sep + 3] ?? '').split(','),
    });
  }
  return out;
}

/** The last (topmost) mount at exactly `mountPoint`, or undefined. */
export function mountAt(mounts: MountInfo[], mountPoint: string): MountInfo | undefined {
  return mounts.filter((m) => m.mountPoint === mountPoint).pop();
}

/** Like mountAt, but fails with the whole table when there is no such mount. */
export function mustMountAt(mounts: MountInfo[], mountPoint: string): MountInfo {
  const m = mountAt(mounts, mountPoint);
  if (!m) {
    throw new Error(
      `no mount at ${mountPoint} in:\n${mounts.map((x) => `${x.id} ${x.parent} ${x.mountPoint} ${x.fstype}`).join('\n')}`,
    );
  }
  return m;
}

/** Host mounts (this process's mount namespace) at or below `dir`. */
export function hostMountsUnder(dir: string): string[] {
  const prefix = dir.replace(/\/+$/, '');
  return parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))
    .map((m) => m.mountPoint)
    .filter((p) => p === prefix || p.startsWith(prefix + '/'));
}

/** Peer group tags of a mount: { shared: N | null, master: N | null }. */
export function propagationOf(m: MountInfo): { shared: number | null; master: number | null } {
  const tag = (name: string) => {
    const f = m.optional.find((o) => o.startsWith(`${name}:`));
    return f === undefined ? null : Number(f.slice(name.length + 1));
  };
  return { shared: tag('shared'), master: tag('master') };
}

/** mount(8) wrapper for host-side test fixtures. */
export function hostMount(args: string[]): void {
  execFileSync('mount', args, { stdio: 'pipe' });
}

/** Lazy unmount of everything at or below `dir` (deepest first); never throws. */
export function hostUnmountAll(dir: string): void {
  for (const mp of hostMountsUnder(dir).sort((a, b) => b.length - a.length)) {
    try {
      execFileSync('umount', ['-l', mp], { stdio: 'pipe' });
    } catch {
      /* already gone */
    }
  }
}

/** readlink of this process's namespace file: "net:[4026531833]". */
export function hostNs(type: string): string {
  return fs.readlinkSync(`/proc/self/ns/${type}`);
}

/** Names in a directory, sorted ([] when it does not exist). */
export function listNames(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

// ---- running a container and keeping its bundle for host-side checks ----

export interface KeptRun extends TsruncResult {
  id: string;
  bundle: Bundle;
  /** Host mounts under the bundle dir after the run and `delete` that were not there before
   *  the run (should be []). */
  leftoverMounts: string[];
  /** Whether the container's state dir was still there after `run` returned. */
  stateLeft: boolean;
}

/**
 * makeBundle(mutate) + `tsrunc run`; then `delete --force` if the state dir is still there, and
 * records what mounts remain under the bundle. The bundle is NOT removed: call
 * `bundle.cleanup()` (in a finally) after the host-side checks.
 */
export async function runKeepBundle(mutate?: ConfigMutator, opts: RunOptions = {}): Promise<KeptRun> {
  const id = opts.id ?? containerId();
  const root = opts.root ?? stateRoot();
  const bundle = await makeBundle(mutate);
  // Mounts the test itself made under the bundle (fixtures) are not the runtime's.
  const before = new Set(hostMountsUnder(bundle.dir));
  try {
    const res = await tsrunc(['run', ...(opts.runArgs ?? []), '--bundle', bundle.dir, id], { ...opts, root });
    const stateLeft = fs.existsSync(path.join(root, id));
    if (stateLeft) await tsrunc(['delete', '--force', id], { root }).catch(() => undefined);
    return {
      ...res,
      id,
      bundle,
      leftoverMounts: hostMountsUnder(bundle.dir).filter((m) => !before.has(m)),
      stateLeft,
    };
  } catch (e) {
    hostUnmountAll(bundle.dir);
    await bundle.cleanup();
    throw e;
  }
}

/** stderr as non-empty lines. */
export function errLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '');
}

/**
 * Splits output made of sections that start with a line "==name" into { name: text }.
 * Text before the first marker goes to "".
 */
export function sections(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  let name = '';
  for (const line of stdout.split('\n')) {
    const m = /^==(\S+)$/.exec(line);
    if (m) {
      name = m[1];
      out[name] = out[name] ?? '';
      continue;
    }
    out[name] = (out[name] ?? '') + line + '\n';
  }
  for (const k of Object.keys(out)) out[k] = out[k].replace(/\n+$/, '\n').replace(/^\n$/, '');
  return out;
}
