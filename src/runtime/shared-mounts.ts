// A container without a mount namespace shares the runtime's (runtime-spec): its config's mounts
// are made below its rootfs in the host's mount table, where nothing would ever remove them. The
// record keeps the ids of the mounts that were there before `create` (the rootfs itself may be a
// mount, e.g. containerd's overlay); every other mount at or below the rootfs is the container's,
// and is unmounted when the container is deleted or its create fails. (runc leaves them behind.)
import { constants } from 'node:os';

import type { NativeBinding } from '../native';
import { type HostMount, readMountInfo } from '../plan/host';
import type { ContainerRecord } from '../state/store';

const MNT_DETACH = 2;
const UMOUNT_NOFOLLOW = 8;

function atOrBelow(mountPoint: string, rootfs: string): boolean {
  return mountPoint === rootfs || mountPoint.startsWith(rootfs.endsWith('/') ? rootfs : `${rootfs}/`);
}

/** Ids of the mounts at or below `rootfs` now. */
export function mountIdsAtOrBelow(rootfs: string, mounts: HostMount[]): number[] {
  return mounts.filter((m) => atOrBelow(m.mountPoint, rootfs)).map((m) => m.id);
}

/**
 * Unmounts every mount at or below the container's rootfs that was not there before its create,
 * the deepest first (lazily: a mount still busy goes once it is not). Returns the mount points
 * that could not be unmounted, with why.
 */
export function unmountContainerMounts(
  native: Pick<NativeBinding, 'umount'>,
  rec: ContainerRecord,
): string[] {
  const before = rec.mountsBeforeCreate;
  if (before === undefined) return [];
  const kept = new Set(before);
  const ours = readMountInfo()
    .filter((m) => atOrBelow(m.mountPoint, rec.rootfs) && !kept.has(m.id))
    // Deepest first; of mounts stacked on one point, the top (newest, higher id) first.
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length || b.id - a.id);
  const failures: string[] = [];
  for (const mount of ours) {
    try {
      // NOFOLLOW: a symlink the container left where a mount point was is never followed.
      native.umount(mount.mountPoint, MNT_DETACH | UMOUNT_NOFOLLOW);
    } catch (error) {
      const code = (error as { errno?: number }).errno;
      // Gone already: an unmount above took it along (a recursive bind's submounts).
      if (code === constants.errno.EINVAL || code === constants.errno.ENOENT) continue;
      failures.push(`${mount.mountPoint}: ${(error as Error).message}`);
    }
  }
  return failures;
}
