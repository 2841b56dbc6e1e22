// The launch plan: everything the native child needs, flattened and computed in TypeScript
// before clone. The addon never parses JSON and never decides anything a user could fix; it
// only executes these records in order and reports {stage, step, errno, index} on failure.

/** One mount, in config order, with flags already computed from the option strings. */
export interface NativeMount {
  source: string;
  /** Absolute path inside the container; resolved inside the rootfs by the child. */
  destination: string;
  fstype: string;
  /** MS_* flags for the mount(2) call itself (MS_BIND/MS_REC for binds). */
  flags: number;
  /** MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (+MS_REC) applied after mounting; 0 = none. */
  propagation: number;
  /** Filesystem-specific data string (mode=755,size=65536k...). */
  data: string;
  /** Bind mounts need a remount to apply ro/nosuid/nodev/noexec/atime flags. */
  remountFlags: number;
  /** What to create at the destination if missing: 'dir' or 'file' (binds of files). */
  destinationKind: 'dir' | 'file';
  /** proc and sysfs must land on a real directory: no symlink anywhere in the path. */
  noSymlinks: boolean;
  /** Non-zero: the mount is made read-write and, once the rootfs is complete (devices, the
   *  console, masks), bind-remounted with these flags (MS_BIND|MS_REMOUNT|MS_RDONLY|...). */
  readonlyLateFlags: number;
  /** MOUNT_ATTR_* set and cleared on the mount and every mount below it (mount_setattr with
   *  AT_RECURSIVE) once it is mounted; 0 and 0: no call. */
  recursiveAttrSet: number;
  recursiveAttrClear: number;
  /** A kernel without mount_setattr (ENOSYS) is no error: only the implicit recursion of
   *  `rbind` + `ro` was asked for, and the top mount is read-only anyway. */
  recursiveAttrOptional: boolean;
  /** A bind in a user namespace: an fd of a detached copy of the source mount, made by the
   *  runtime (open_tree), which the init attaches (move_mount) instead of mounting `source` by
   *  path, which the container's root may not reach. -1: none. */
  sourceFd: number;
}

export interface NativeDevice {
  /** Absolute path inside the container (under /dev). */
  path: string;
  /** S_IFCHR, S_IFBLK or S_IFIFO. */
  type: number;
  major: number;
  minor: number;
  /** Permission bits only. */
  mode: number;
  uid: number;
  gid: number;
  /** Bind-mount the host node instead of mknod (inside a user namespace mknod is refused). */
  bindFromHost: boolean;
}

export interface NativeSymlink {
  target: string;
  /** Absolute path inside the container. */
  path: string;
}

export interface NativeNamespaceJoin {
  /** CLONE_NEW* constant of the namespace. */
  type: number;
  /** Open fd (O_RDONLY|O_CLOEXEC) of the namespace file; its type was checked in TypeScript. */
  fd: number;
}

export interface NativeRlimit {
  resource: number;
  soft: bigint;
  hard: bigint;
}

export interface NativeCapabilities {
  /** Bit masks over capability numbers 0..63. */
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
  /** Highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap). */
  lastCap: number;
}

/** linux.seccomp compiled in the parent (addon/seccomp.cc). */
export interface NativeSeccomp {
  /** struct sock_filter[] (8 bytes each), loaded by the child with seccomp(2). */
  filter: Buffer;
  /** SECCOMP_FILTER_FLAG_* for seccomp(SECCOMP_SET_MODE_FILTER, flags, ...). */
  flags: number;
  /** SCMP_ACT_NOTIFY rules: the init loads the filter before InitReady and sends the listener
   *  fd to the parent (SeccompNotifyFd), which passes it on to linux.seccomp.listenerPath. */
  notify: boolean;
}

export type RootEntry = 'pivot_root' | 'chroot' | 'none';

export interface NativePlan {
  // ---- stage 1: the intermediate process (namespaces) ----
  /** Existing namespaces to join, user namespace first. */
  joinNamespaces: NativeNamespaceJoin[];
  /** Create a new user namespace; the parent writes uid_map/gid_map while the child waits. */
  newUserNamespace: boolean;
  /** The other CLONE_NEW* flags to create (may include CLONE_NEWTIME). */
  newNamespaceFlags: number;
  /** Contents for /proc/self/timens_offsets, '' for none. */
  timeOffsets: string;
  /** Value for /proc/self/oom_score_adj, or null to leave it. */
  oomScoreAdj: number | null;
  rlimits: NativeRlimit[];
  /** Join a new session keyring named like runc does (false with --no-new-keyring). */
  sessionKeyringName: string | null;

  // ---- stage 2: the container init ----
  /** Absolute host path of the root filesystem (realpath). */
  rootfs: string;
  /** Build the root filesystem below `rootfs`: mounts, devices, /dev links, the cwd (`create`). */
  buildRootfs: boolean;
  /**
   * How the process gets its root: `pivot_root` in a mount namespace of the container's own (new
   * or joined by path; the rootfs is bound onto itself first, and the mount holding it is made
   * private when it is shared); `chroot` without a mount namespace (the runtime's is shared, so
   * its "/" is left alone); `none` for `exec` into a container whose mount namespace it joins.
   */
  enterRoot: RootEntry;
  /** pivot_root only: propagation for '/' before anything else (MS_SLAVE|MS_REC by default). */
  rootPropagation: number;
  /** pivot_root only: propagation '/' gets after the pivot (shared, unbindable), or 0. */
  rootPropagationAfterPivot: number;
  rootReadonly: boolean;
  noPivot: boolean;
  mounts: NativeMount[];
  devices: NativeDevice[];
  symlinks: NativeSymlink[];
  maskedPaths: string[];
  readonlyPaths: string[];
  /** Entries for /proc/sys: path relative to /proc/sys ('net/ipv4/ip_forward') and value. */
  sysctl: { path: string; value: string }[];
  hostname: string | null;
  domainname: string | null;

  // ---- the process ----
  args: string[];
  /** KEY=VALUE entries, exactly the config's. */
  env: string[];
  /** PATH used to find args[0] when it has no '/'; from the config's env. */
  searchPath: string;
  /** The file to execute instead of looking args[0] up (a startContainer hook's path); null:
   *  args[0]. */
  executable: string | null;
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  /** -1 to leave the umask as it is. */
  umask: number;
  capabilities: NativeCapabilities | null;
  noNewPrivileges: boolean;
  /** personality(2) domain, or -1. */
  personality: number;
  terminal: boolean;
  /** process.consoleSize; 0 and 0 leave the pty's size as it is. */
  consoleRows: number;
  consoleColumns: number;
  /** `tsrunc exec`: every namespace is joined; no create hooks point, no /dev/console. */
  execMode: boolean;
  /** Connected unix socket to send the pty master to, or -1. */
  consoleSocketFd: number;
  /** O_PATH|O_CLOEXEC fd of the exec fifo (opened for writing through a procfs), or -1 (no wait). */
  execFifoFd: number;
  /** Fds of the calling process that become the container process's 0, 1 and 2. Any fd numbers:
   *  one may be listed twice, or be the target number of another entry (`[5, 1, 1]`); the child
   *  copies every source out of the way before it puts any in place. With `terminal`, the pty
   *  replaces 0-2 later. */
  stdio: [number, number, number];
  /** Fds of the calling process that become the container process's 3, 4, ... in this order
   *  (the same rules as `stdio`). Nothing else of the caller reaches the container. */
  extraFds: number[];
  /** The filter to load last, after the capabilities are set and right before execve (before
   *  InitReady when it notifies); null for none. */
  seccomp: NativeSeccomp | null;
}

/** Sync message types, generated from addon/protocol.h (the diagram is in addon/child.cc). */
export { SyncMessage } from './generated/protocol';

export interface SyncRecord {
  type: number;
  stage: number;
  step: number;
  errno: number;
  index: number;
  pid: number;
  /** A file descriptor that came with the record (SCM_RIGHTS), or -1. */
  fd: number;
}
