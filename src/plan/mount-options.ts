// Mount option strings -> mount(2) flags, propagation and filesystem data, the way mount(8)
// and runc read them. Unknown options are filesystem data (mode=755, size=64k, newinstance).
import { MS } from './linux';

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
}

export function parseMountOptions(options: readonly string[] | undefined): ParsedMountOptions {
  let flags = 0;
  let propagation = 0;
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
    data.push(option);
  }
  return { flags, propagation, data: data.join(','), isBind: (flags & MS.BIND) !== 0 };
}

/** The option names this parser understands (for `tsrunc features`). */
export function knownMountOptions(): string[] {
  return [...Object.keys(FLAG_OPTIONS), ...Object.keys(PROPAGATION_OPTIONS)].sort();
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
