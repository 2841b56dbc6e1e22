// Linux constants the plan builder turns config strings into. Values from <linux/sched.h>,
// <sys/mount.h> and <sys/stat.h>.

export const CLONE = {
  NEWTIME: 0x00000080,
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

/** OCI namespace type -> clone flag and the /proc/<pid>/ns file name. */
export const NAMESPACES: Record<string, { flag: number; procName: string }> = {
  pid: { flag: CLONE.NEWPID, procName: 'pid' },
  network: { flag: CLONE.NEWNET, procName: 'net' },
  mount: { flag: CLONE.NEWNS, procName: 'mnt' },
  ipc: { flag: CLONE.NEWIPC, procName: 'ipc' },
  uts: { flag: CLONE.NEWUTS, procName: 'uts' },
  user: { flag: CLONE.NEWUSER, procName: 'user' },
  cgroup: { flag: CLONE.NEWCGROUP, procName: 'cgroup' },
  time: { flag: CLONE.NEWTIME, procName: 'time' },
};

export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  I_VERSION: 0x800000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** MOUNT_ATTR_* of mount_setattr(2) (<linux/mount.h>). The atime mode is the 3-bit field
 *  ATIME_MASK (relatime is 0): it can only be replaced as a whole. */
export const MOUNT_ATTR = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  ATIME_MASK: 0x70,
  RELATIME: 0x0,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
  NODIRATIME: 0x80,
  NOSYMFOLLOW: 0x200000,
} as const;

export const S_IF = { CHR: 0o020000, BLK: 0o060000, FIFO: 0o010000 } as const;

export const PERSONALITY: Record<string, number> = { LINUX: 0x0000, LINUX32: 0x0008 };
