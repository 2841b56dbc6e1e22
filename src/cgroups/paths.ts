// Where a container's cgroup goes: linux.cgroupsPath as runc reads it.
//   - absolute ("/a/b"): that path from the root of every hierarchy;
//   - relative ("a/b") or absent (the container id): below the runtime's own cgroup in each
//     hierarchy, as runc's cgroupfs driver does;
//   - with --systemd-cgroup, "slice:prefix:name": the cgroupfs path systemd would use,
//     <slice expanded>/<prefix>-<name>.scope (no systemd runs here to ask; the path is made
//     directly, which is what the systemd driver ends up with on disk).
import * as path from 'node:path';

import { configError } from '../errors';

export interface CgroupTarget {
  /** Absolute cgroup path (from the hierarchy root), or relative to the runtime's own cgroup. */
  path: string;
  relative: boolean;
}

export function cgroupTarget(cgroupsPath: string | undefined, id: string, systemd: boolean): CgroupTarget {
  if (systemd) return { path: systemdPath(cgroupsPath, id), relative: false };
  if (!cgroupsPath) return { path: id, relative: true };
  if (cgroupsPath.split('/').includes('..'))
    throw configError('linux.cgroupsPath', `must not contain "..": ${cgroupsPath}`);
  return cgroupsPath.startsWith('/')
    ? { path: path.posix.normalize(cgroupsPath), relative: false }
    : { path: path.posix.normalize(cgroupsPath), relative: true };
}

function systemdPath(cgroupsPath: string | undefined, id: string): string {
  const parts = cgroupsPath ? cgroupsPath.split(':') : ['', 'tsrunc', id];
  if (parts.length !== 3) {
    throw configError(
      'linux.cgroupsPath',
      `with --systemd-cgroup it must be "slice:prefix:name", got "${cgroupsPath}"`,
    );
  }
  const [slice, prefix, name] = parts;
  const unit = `${prefix ? `${prefix}-` : ''}${name}.scope`;
  return path.posix.join(expandSlice(slice || 'system.slice'), unit);
}

/** systemd's slice nesting: "a-b-c.slice" lives at /a.slice/a-b.slice/a-b-c.slice. */
export function expandSlice(slice: string): string {
  if (!slice.endsWith('.slice')) throw configError('linux.cgroupsPath', `"${slice}" is not a slice name`);
  if (slice === '-.slice') return '/';
  const base = slice.slice(0, -'.slice'.length);
  if (base.includes('/') || base.startsWith('-') || base.endsWith('-') || base.includes('--')) {
    throw configError('linux.cgroupsPath', `invalid slice name "${slice}"`);
  }
  const segments = base.split('-');
  let current = '';
  let result = '';
  for (const segment of segments) {
    current = current ? `${current}-${segment}` : segment;
    result += `/${current}.slice`;
  }
  return result;
}
