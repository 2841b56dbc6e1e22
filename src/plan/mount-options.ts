// Mount option strings -> mount(2) flags, propagation and filesystem data, the way mount(8)
// and runc read them, plus runtime-spec 1.1's recursive options (rro, rnosuid, ...) as
// mount_setattr(2) attributes. Unknown options are filesystem data (mode=755, size=64k).
import { MOUNT_ATTR, MS } from './linux';

interface FlagOption {
  /** true: the option clears the flag (rw clears MS_RDONLY). */
  clear: boolean;
  flag: number;
}

const FLAG_OPTIONS: Record<string, FlagOption> = {
  async: { clear: true, flag: MS.SYNCHRONOUS },
  atime: { clear: true, flag: MS.NOATIME },
  bind: { clear: false, flag: MS.BIND },
  defaults: { clear: false, flag: 0 },
  dev: { clear: true, flag: MS.NODEV },
  diratime: { clear: true, flag: MS.NODIRATIME },
  dirsync: { clear: false, flag: MS.DIRSYNC },
  exec: { clear: true, flag: MS.NOEXEC },
  iversion: { clear: false, flag: MS.I_VERSION },
  lazytime: { clear: false, flag: MS.LAZYTIME },
  loud: { clear: true, flag: MS.SILENT },
  mand: { clear: false, flag: MS.MANDLOCK },
  noatime: { clear: false, flag: MS.NOATIME },
  nodev: { clear: false, flag: MS.NODEV },
  nodiratime: { clear: false, flag: MS.NODIRATIME },
  noexec: { clear: false, flag: MS.NOEXEC },
  noiversion: { clear: true, flag: MS.I_VERSION },
  nolazytime: { clear: true, flag: MS.LAZYTIME },
  nomand: { clear: true, flag: MS.MANDLOCK },
  norelatime: { clear: true, flag: MS.RELATIME },
  nostrictatime: { clear: true, flag: MS.STRICTATIME },
  nosuid: { clear: false, flag: MS.NOSUID },
  nosymfollow: { clear: false, flag: MS.NOSYMFOLLOW },
  rbind: { clear: false, flag: MS.BIND | MS.REC },
  relatime: { clear: false, flag: MS.RELATIME },
  remount: { clear: false, flag: MS.REMOUNT },
  ro: { clear: false, flag: MS.RDONLY },
  rw: { clear: true, flag: MS.RDONLY },
  silent: { clear: false, flag: MS.SILENT },
  strictatime: { clear: false, flag: MS.STRICTATIME },
  suid: { clear: true, flag: MS.NOSUID },
  sync: { clear: false, flag: MS.SYNCHRONOUS },
};

// The recursive options (runtime-spec 1.1): applied to the mount and every mount below it with
// mount_setattr(AT_RECURSIVE). A flag option sets or clears its attribute.
const RECURSIVE_FLAG_OPTIONS: Record<string, FlagOption> = {
  rro: { clear: false, flag: MOUNT_ATTR.RDONLY },
  rrw: { clear: true, flag: MOUNT_ATTR.RDONLY },
  rnosuid: { clear: false, flag: MOUNT_ATTR.NOSUID },
  rsuid: { clear: true, flag: MOUNT_ATTR.NOSUID },
  rnodev: { clear: false, flag: MOUNT_ATTR.NODEV },
  rdev: { clear: true, flag: MOUNT_ATTR.NODEV },
  rnoexec: { clear: false, flag: MOUNT_ATTR.NOEXEC },
  rexec: { clear: true, flag: MOUNT_ATTR.NOEXEC },
  rnodiratime: { clear: false, flag: MOUNT_ATTR.NODIRATIME },
  rdiratime: { clear: true, flag: MOUNT_ATTR.NODIRATIME },
  rnosymfollow: { clear: false, flag: MOUNT_ATTR.NOSYMFOLLOW },
  rsymfollow: { clear: true, flag: MOUNT_ATTR.NOSYMFOLLOW },
};

// The atime mode is one field the kernel replaces as a whole (it refuses to clear part of it):
// a mode option sets it; the "not that mode" options (ratime, rnorelatime, rnostrictatime) put
// it back to the kernel's default, relatime.
const RECURSIVE_ATIME_OPTIONS: Record<string, number> = {
  rrelatime: MOUNT_ATTR.RELATIME,
  rnoatime: MOUNT_ATTR.NOATIME,
  rstrictatime: MOUNT_ATTR.STRICTATIME,
  ratime: MOUNT_ATTR.RELATIME,
  rnorelatime: MOUNT_ATTR.RELATIME,
  rnostrictatime: MOUNT_ATTR.RELATIME,
};

const PROPAGATION_OPTIONS: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

export interface ParsedMountOptions {
  flags: number;
  propagation: number;
  data: string;
  isBind: boolean;
  /** MOUNT_ATTR_* to set and to clear on the whole mount tree (recursive options). */
  recursiveSet: number;
  recursiveClear: number;
}

export function parseMountOptions(options: readonly string[] | undefined): ParsedMountOptions {
  let flags = 0;
  let propagation = 0;
  let recursiveSet = 0;
  let recursiveClear = 0;
  const data: string[] = [];
  for (const option of options ?? []) {
    const flagOption = FLAG_OPTIONS[option];
    if (flagOption !== undefined) {
      flags = flagOption.clear ? flags & ~flagOption.flag : flags | flagOption.flag;
      continue;
    }
    const propagationFlag = PROPAGATION_OPTIONS[option];
    if (propagationFlag !== undefined) {
      propagation = propagationFlag;
      continue;
    }
    // A later recursive option wins over an earlier one about the same attribute.
    const recursive = RECURSIVE_FLAG_OPTIONS[option];
    if (recursive !== undefined) {
      recursiveSet = recursive.clear ? recursiveSet & ~recursive.flag : recursiveSet | recursive.flag;
      recursiveClear = recursive.clear ? recursiveClear | recursive.flag : recursiveClear & ~recursive.flag;
      continue;
    }
    const atime = RECURSIVE_ATIME_OPTIONS[option];
    if (atime !== undefined) {
      recursiveSet = (recursiveSet & ~MOUNT_ATTR.ATIME_MASK) | atime;
      recursiveClear |= MOUNT_ATTR.ATIME_MASK;
      continue;
    }
    data.push(option);
  }
  return {
    flags,
    propagation,
    data: data.join(','),
    isBind: (flags & MS.BIND) !== 0,
    recursiveSet,
    recursiveClear,
  };
}

/** The option names this parser understands (for `tsrunc features`). */
export function knownMountOptions(): string[] {
  return [
    ...Object.keys(FLAG_OPTIONS),
    ...Object.keys(PROPAGATION_OPTIONS),
    ...Object.keys(RECURSIVE_FLAG_OPTIONS),
    ...Object.keys(RECURSIVE_ATIME_OPTIONS),
  ].sort();
}

/** Root propagation values of linux.rootfsPropagation. */
export function rootPropagationFlags(value: string | undefined): number {
  if (value === undefined || value === '') return MS.SLAVE | MS.REC;
  const flags = PROPAGATION_OPTIONS[value];
  if (flags === undefined) throw new Error(`unknown rootfsPropagation ${value}`);
  return flags;
}

// Flags a bind mount can only get through a second, MS_REMOUNT call.
export const BIND_REMOUNT_FLAGS =
  MS.RDONLY |
  MS.NOSUID |
  MS.NODEV |
  MS.NOEXEC |
  MS.NOATIME |
  MS.NODIRATIME |
  MS.RELATIME |
  MS.STRICTATIME |
  MS.NOSYMFOLLOW;
