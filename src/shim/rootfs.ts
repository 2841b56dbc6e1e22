// CreateTaskRequest.rootfs: the mounts containerd's snapshotter hands the shim, made in order on
// <bundle>/rootfs before the container is created, and removed again when it is deleted (or its
// create fails). The overlayfs snapshotter sends one overlay mount
// (`lowerdir=…,upperdir=…,workdir=…,index=off`), the native one a bind (`rbind`, `rw` or `ro`).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { RuntimeError } from '../errors';
import type { NativeBinding } from '../native';
import { readMountInfo } from '../plan/host';
import { MS } from '../plan/linux';
import { BIND_REMOUNT_FLAGS, parseMountOptions } from '../plan/mount-options';

export interface RootfsMount {
  type: string;
  source: string;
  /** containerd 1.6 never sets it; a path below the rootfs is refused (see mountRootfs). */
  target?: string;
  options: string[];
}

const MNT_DETACH = 2;
const UMOUNT_NOFOLLOW = 8;

/** The longest mount(2) data string: the kernel copies one page including the NUL, and 4096 is
 *  the smallest page size Linux has, so this holds on every host. */
export const MAX_MOUNT_DATA = 4095;

type MountNative = Pick<NativeBinding, 'mount' | 'umount' | 'openPath' | 'closeFd' | 'strerror'>;

/** Why a step failed: a system call's errno text ("no such file or directory"), else the
 *  message. */
function errorText(native: MountNative, error: unknown): string {
  const errno = (error as { errno?: number }).errno;
  if (typeof errno === 'number' && errno > 0) return native.strerror(errno).toLowerCase();
  return (error as Error).message;
}

function describe(index: number, mount: RootfsMount): string {
  return `rootfs mount ${index + 1} (type ${mount.type}, source ${mount.source})`;
}

/**
 * overlay's lowerdir list with every directory below one common parent written as
 * /proc/self/fd/<fd of that parent>/<rest>, for a data string longer than a page. containerd
 * chdir's to the common parent and passes relative paths; a shim serving several containers in
 * one Node process cannot change its working directory under its other work, so it opens the
 * parent instead (overlayfs resolves the paths while mount(2) runs, the fd is closed after).
 * Returns the shorter data and the fd to close, or null when there is nothing to shorten.
 */
function shortenOverlayData(native: MountNative, data: string): { data: string; fd: number } | null {
  const options = data.split(',');
  const at = options.findIndex((option) => option.startsWith('lowerdir='));
  if (at < 0) return null;
  const lowers = options[at].slice('lowerdir='.length).split(':');
  if (!lowers.every((dir) => path.isAbsolute(dir))) return null;
  let common = path.dirname(lowers[0]);
  for (const dir of lowers) {
    while (common !== '/' && !dir.startsWith(`${common}/`)) common = path.dirname(common);
  }
  if (common === '/') return null;
  const fd = native.openPath(common, true);
  const prefix = `/proc/self/fd/${fd}/`;
  const short = lowers.map((dir) => prefix + dir.slice(common.length + 1));
  options[at] = `lowerdir=${short.join(':')}`;
  return { data: options.join(','), fd };
}

/** One rootfs mount on `target`; returns how many mounts it left there (a bind whose remount
 *  failed still counts), throwing with that count attached. */
function mountOne(native: MountNative, mount: RootfsMount, target: string): number {
  const parsed = parseMountOptions(mount.options);
  if (parsed.recursiveSet !== 0 || parsed.recursiveClear !== 0) {
    throw new Error('recursive mount options (rro, rnosuid, ...) are not supported here');
  }
  const isBind = parsed.isBind || mount.type === 'bind';
  if (isBind) {
    native.mount(mount.source, target, '', MS.BIND | (parsed.flags & MS.REC), '');
    // A bind takes its flags from its source; ro, nosuid, ... need a remount of the new mount.
    const remount = parsed.flags & BIND_REMOUNT_FLAGS;
    try {
      if (remount !== 0) native.mount('', target, '', MS.REMOUNT | MS.BIND | remount, '');
      if (parsed.propagation !== 0) native.mount('', target, '', parsed.propagation, '');
    } catch (error) {
      throw Object.assign(error as Error, { mounted: 1 });
    }
    return 1;
  }

  let data = parsed.data;
  let fd = -1;
  if (Buffer.byteLength(data) > MAX_MOUNT_DATA && mount.type === 'overlay') {
    const shorter = shortenOverlayData(native, data);
    if (shorter) ({ data, fd } = shorter);
  }
  try {
    if (Buffer.byteLength(data) > MAX_MOUNT_DATA) {
      throw new Error(
        `mount options are ${Buffer.byteLength(data)} bytes, more than the ${MAX_MOUNT_DATA} mount(2) takes`,
      );
    }
    native.mount(mount.source, target, mount.type, parsed.flags, data);
  } finally {
    if (fd >= 0) native.closeFd(fd);
  }
  try {
    if (parsed.propagation !== 0) native.mount('', target, '', parsed.propagation, '');
  } catch (error) {
    throw Object.assign(error as Error, { mounted: 1 });
  }
  return 1;
}

/**
 * Mount each of `mounts` in order onto `target` (created 0711 with its parents when missing: the
 * rootfs dir containerd makes has that mode). On a failure, what was mounted is unmounted again
 * and a one-line error names the mount and why.
 */
export function mountRootfs(native: MountNative, mounts: RootfsMount[], target: string): void {
  try {
    fs.mkdirSync(target, { recursive: true, mode: 0o711 });
  } catch (error) {
    throw new RuntimeError(`rootfs: create ${target}: ${(error as Error).message}`);
  }
  let mounted = 0;
  for (const [index, mount] of mounts.entries()) {
    try {
      // containerd 2's Mount.target is a path inside the rootfs, where a symlink of the image
      // could lead anywhere: refused until something sends it.
      if (mount.target !== undefined && mount.target !== '' && mount.target !== '/') {
        throw new Error(`a target inside the rootfs (${mount.target}) is not supported`);
      }
      mounted += mountOne(native, mount, target);
    } catch (error) {
      mounted += (error as { mounted?: number }).mounted ?? 0;
      // Mounts stack on one point: each unmount takes the top one.
      for (; mounted > 0; mounted--) {
        try {
          native.umount(target, MNT_DETACH | UMOUNT_NOFOLLOW);
        } catch {
          // Nothing more to take off (unmountRootfs at delete tries again).
          break;
        }
      }
      throw Object.assign(new RuntimeError(`${describe(index, mount)}: ${errorText(native, error)}`), {
        code: (error as { code?: string }).code,
      });
    }
  }
}

function atOrBelow(mountPoint: string, dir: string): boolean {
  return mountPoint === dir || mountPoint.startsWith(dir === '/' ? '/' : `${dir}/`);
}

function mountPointsAtOrBelow(dir: string): string[] {
  return readMountInfo()
    .map((m) => m.mountPoint)
    .filter((point) => atOrBelow(point, dir));
}

/**
 * Unmount every mount at or below `target`, the deepest first (a busy one lazily, MNT_DETACH);
 * nothing mounted or no `target` at all is fine. Returns how many were unmounted.
 */
export function unmountRootfs(native: Pick<NativeBinding, 'umount'>, target: string): number {
  let real: string;
  try {
    // mountinfo has the resolved path.
    real = fs.realpathSync(target);
  } catch {
    return 0;
  }
  const initial = mountPointsAtOrBelow(real).length;
  let left = initial;
  // A mount hidden under a later one on its parent's point cannot be named by its path: it
  // goes with its parent (lazily), or on a later pass once what covered it is gone.
  while (left > 0) {
    // Deepest first; a point with stacked mounts comes once per mount (an unmount always
    // takes the top one, so their order on one point does not matter).
    const points = mountPointsAtOrBelow(real).sort(
      (a, b) => b.split('/').length - a.split('/').length || b.length - a.length,
    );
    for (const point of points) {
      try {
        native.umount(point, UMOUNT_NOFOLLOW);
      } catch (error) {
        const code = (error as { code?: string }).code;
        // Busy (in use, or mounts below it that a path cannot reach): detach it lazily.
        if (code === 'EBUSY') native.umount(point, MNT_DETACH | UMOUNT_NOFOLLOW);
        // EINVAL, ENOENT: not a mount point any more (a detach above took it along).
        else if (code !== 'EINVAL' && code !== 'ENOENT') {
          throw new RuntimeError(`unmount ${point}: ${String((error as Error).message).toLowerCase()}`);
        }
      }
    }
    const now = mountPointsAtOrBelow(real).length;
    if (now >= left)
      throw new RuntimeError(`unmount ${real}: ${now} mounts at or below it cannot be unmounted`);
    left = now;
  }
  return initial;
}
