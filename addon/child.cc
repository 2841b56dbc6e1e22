// The container side of tsrunc: the stage-1 (namespaces) and stage-2 (init) processes.
//
// Everything in this file runs in a child cloned out of a multithreaded Node process. Only the
// cloning thread exists there, and the other threads may have held locks (malloc, stdio, locale)
// at the moment of the clone. So until execve: system calls only, on memory prepared before the
// clone (the Plan) or on this stack. No malloc/new, no printf/strerror, no C++ exceptions, no
// N-API, and _exit, never exit. Failures go back to the parent as one fixed SyncRecord.
//
// The protocol with the parent (message types and failure steps: addon/protocol.h, from which
// the TypeScript side's names are generated; src/runtime/protocol.ts drives the parent side):
//
//   parent (node)                 stage 1 "tsrunc:[1:NS]"             stage 2 "tsrunc:[2:INIT]"
//   -------------                 -------                             ------------------------
//   block signals, clone() ────>  reset signals, stdio map (the
//   restore the signal mask       container's fds 0..2+extra),
//                                 close other fds, not dumpable,
//                                 oom_score_adj, rlimits,
//                                 setns(joined, user first),
//                                 unshare(CLONE_NEWUSER)?
//            <─── IntermediateReady
//   uid_map/gid_map, cgroups
//            ───> IntermediateGo
//                                 setresuid(0) in the user ns,
//                                 unshare(other namespaces),
//                                 timens_offsets,
//                                 clone(CLONE_PARENT) ──────────────>  setsid, rootfs bind,
//            <─── InitPid(pid)                                         mounts, devices, links
//   reap stage 1                  _exit(0)
//            <──────────────────────────────────────────────────────  RunCreateHooks
//   createRuntime, createContainer hooks
//            ──────────────────────────────────────────────────────>  CreateHooksDone
//                                                                      pivot_root, console,
//                                                                      masks, sysctl, hostname,
//                                                                      user, caps, cwd, lookup
//                                    (only when the filter notifies:)  load seccomp
//            <──────────────────────────────────────────────────────  SeccompNotifyFd + fd
//   send fd + state to listenerPath
//            ──────────────────────────────────────────────────────>  SeccompNotifyDone
//            <──────────────────────────────────────────────────────  InitReady
//   save state, exit                                                   open exec.fifo (blocks
//                                                                      until `start`), rlimits,
//                                                                      load seccomp, execve
//
//   `tsrunc exec` is the same with every namespace joined by setns in stage 1 (so no rootfs work),
//   without RunCreateHooks/CreateHooksDone and without the exec fifo: InitReady, then execve.
//
//   Any child may send Error{stage, step, errno, index} instead and _exit(1). An EOF on the
//   socket before InitReady means the parent died: the child exits.

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "fdpass.h"
#include "plan.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif

namespace tsrunc {
namespace {

constexpr int kStage1 = 1;
constexpr int kStage2 = 2;
constexpr size_t kPathMax = 4096;

// ---- tiny libc-free helpers (no locale, no allocation) ----

size_t StrLen(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') n++;
  return n;
}

// Appends src to buf (capacity cap); returns false when it does not fit.
bool Append(char* buf, size_t cap, const char* src) {
  size_t len = StrLen(buf);
  size_t add = StrLen(src);
  if (len + add + 1 > cap) return false;
  memcpy(buf + len, src, add + 1);
  return true;
}

bool AppendInt(char* buf, size_t cap, long long value) {
  char digits[24];
  int i = sizeof(digits) - 1;
  digits[i] = '\0';
  bool negative = value < 0;
  unsigned long long v = negative ? -(unsigned long long)value : (unsigned long long)value;
  do {
    digits[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  if (negative) digits[--i] = '-';
  return Append(buf, cap, digits + i);
}

// "/proc/self/fd/N": mount(2) and friends follow this magic link to the exact object we
// resolved, so a path swapped for a symlink after the check cannot redirect them.
void FdPath(char* buf, int fd) {
  buf[0] = '\0';
  Append(buf, 32, "/proc/self/fd/");
  AppendInt(buf, 32, fd);
}

bool WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    len -= (size_t)n;
  }
  return true;
}

// ---- sync socket ----

int g_sync_fd = -1;

void SendRecord(int32_t type, int32_t stage, int32_t step, int32_t err, int32_t index,
                int32_t pid) {
  SyncRecord rec = {type, stage, step, err, index, pid};
  // MSG_NOSIGNAL: a parent that went away must not kill us with SIGPIPE mid-message.
  while (send(g_sync_fd, &rec, sizeof(rec), MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

[[noreturn]] void Fail(int stage, int step, int err, int index = -1) {
  SendRecord(kError, stage, step, err, index, 0);
  _exit(1);
}

// Waits for one record of the expected type; anything else (EOF, a wrong size, a wrong
// type) means the parent is gone or confused, and the child must not go on.
void Expect(int stage, int32_t type) {
  SyncRecord rec;
  for (;;) {
    // MSG_TRUNC: the real length of a longer datagram, so it is refused, not cut to size.
    ssize_t n = recv(g_sync_fd, &rec, sizeof(rec), MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n != (ssize_t)sizeof(rec) || rec.type != type) _exit(1);
    return;
  }
}

// ---- path resolution confined to the rootfs ----

// Opens `path` (absolute inside the container) below root_fd, never leaving it: symlinks and
// ".." are resolved as if root_fd were "/" (openat2 RESOLVE_IN_ROOT). Returns -1 with errno.
int OpenInRoot(int root_fd, const char* path, int flags, uint64_t extra_resolve) {
  while (*path == '/') path++;
  if (*path == '\0') path = ".";
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra_resolve;
  int fd;
  do {
    fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
  } while (fd < 0 && errno == EAGAIN);
  return fd;
}

constexpr int kMaxSymlinkHops = 40;

int MkdirAllInRootHops(int root_fd, const char* path, bool last_is_file, mode_t dir_mode, int hops);

// A component that exists as a dangling symlink: continue with the link's target (read
// relative to the rootfs, as RESOLVE_IN_ROOT would) followed by the rest of the path.
int FollowDanglingLink(int root_fd, int parent_fd, const char* name, const char* path, size_t start,
                       size_t rest, bool last_is_file, mode_t dir_mode, int hops) {
  // A procfs "symlink" such as /proc/self/fd/N is a magic link: its text names an object of
  // the runtime, never a path to follow (a process.cwd of /proc/self/fd/N, CVE-2024-21626).
  struct statfs parent_fs;
  if (fstatfs(parent_fd, &parent_fs) < 0) return -1;
  if (parent_fs.f_type == PROC_SUPER_MAGIC) {
    errno = ELOOP;
    return -1;
  }
  char target[kPathMax];
  ssize_t n = readlinkat(parent_fd, name, target, sizeof(target) - 1);
  if (n < 0) return -1;  // EINVAL: not a symlink, then the EEXIST stands
  target[n] = '\0';
  if (hops >= kMaxSymlinkHops) {
    errno = ELOOP;
    return -1;
  }
  char next[kPathMax];
  next[0] = '\0';
  if (target[0] != '/') {
    memcpy(next, path, start);
    next[start] = '\0';
  }
  if (!Append(next, sizeof(next), target) || !Append(next, sizeof(next), path + rest)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return MkdirAllInRootHops(root_fd, next, last_is_file, dir_mode, hops + 1);
}

// mkdir -p inside the rootfs, one component at a time, each created relative to the fd of its
// parent so a racing symlink cannot send the mkdir outside. The last component becomes an
// empty file when last_is_file. A dangling symlink on the way is followed inside the rootfs.
// Returns 0 or -1 with errno.
int MkdirAllInRoot(int root_fd, const char* path, bool last_is_file, mode_t dir_mode) {
  return MkdirAllInRootHops(root_fd, path, last_is_file, dir_mode, 0);
}

int MkdirAllInRootHops(int root_fd, const char* path, bool last_is_file, mode_t dir_mode,
                       int hops) {
  char prefix[kPathMax];
  size_t len = StrLen(path);
  if (len >= kPathMax) {
    errno = ENAMETOOLONG;
    return -1;
  }
  size_t pos = 0;
  while (pos < len) {
    while (pos < len && path[pos] == '/') pos++;
    if (pos >= len) break;
    size_t start = pos;
    while (pos < len && path[pos] != '/') pos++;
    bool last = true;
    for (size_t k = pos; k < len; k++) {
      if (path[k] != '/') {
        last = false;
        break;
      }
    }
    memcpy(prefix, path, pos);
    prefix[pos] = '\0';
    bool want_file = last && last_is_file;
    int fd = OpenInRoot(root_fd, prefix, O_PATH | (want_file ? 0 : O_DIRECTORY), 0);
    if (fd >= 0) {
      close(fd);
      continue;
    }
    if (errno != ENOENT) return -1;
    char parent[kPathMax];
    memcpy(parent, path, start);
    parent[start] = '\0';
    int parent_fd = OpenInRoot(root_fd, parent, O_PATH | O_DIRECTORY, 0);
    if (parent_fd < 0) return -1;
    char name[256];
    size_t name_len = pos - start;
    if (name_len >= sizeof(name)) {
      close(parent_fd);
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(name, path + start, name_len);
    name[name_len] = '\0';
    int rc;
    if (want_file) {
      rc = openat(parent_fd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (rc >= 0) close(rc);
    } else {
      rc = mkdirat(parent_fd, name, dir_mode);
    }
    int saved = errno;
    if (rc < 0 && saved == EEXIST) {
      fd = OpenInRoot(root_fd, prefix, O_PATH | (want_file ? 0 : O_DIRECTORY), 0);
      if (fd >= 0) {  // created meanwhile by someone else
        close(fd);
        close(parent_fd);
        continue;
      }
      int followed = FollowDanglingLink(root_fd, parent_fd, name, path, start, pos, last_is_file,
                                        dir_mode, hops);
      saved = errno;
      close(parent_fd);
      if (followed == 0) return 0;
      errno = saved == EINVAL ? EEXIST : saved;
      return -1;
    }
    close(parent_fd);
    if (rc < 0) {
      errno = saved;
      return -1;
    }
    // Verify what is there now resolves (a dangling symlink would not).
    fd = OpenInRoot(root_fd, prefix, O_PATH | (want_file ? 0 : O_DIRECTORY), 0);
    if (fd < 0) return -1;
    close(fd);
  }
  return 0;
}

// Opens the parent directory of `path` inside the root (creating it) and copies the last
// component to name. Returns the parent fd or -1 with errno.
int OpenParentInRoot(int root_fd, const char* path, char* name, size_t name_cap) {
  char parent[kPathMax];
  size_t len = StrLen(path);
  while (len > 1 && path[len - 1] == '/') len--;
  if (len >= kPathMax) {
    errno = ENAMETOOLONG;
    return -1;
  }
  size_t slash = len;
  while (slash > 0 && path[slash - 1] != '/') slash--;
  size_t name_len = len - slash;
  if (name_len == 0 || name_len >= name_cap) {
    errno = EINVAL;
    return -1;
  }
  memcpy(name, path + slash, name_len);
  name[name_len] = '\0';
  memcpy(parent, path, slash);
  parent[slash] = '\0';
  if (MkdirAllInRoot(root_fd, parent, false, 0755) < 0) return -1;
  return OpenInRoot(root_fd, parent, O_PATH | O_DIRECTORY, 0);
}

// True when the object behind fd is below `root` in this mount namespace.
bool FdIsUnder(int fd, const char* root) {
  char link[32];
  FdPath(link, fd);
  char target[kPathMax];
  ssize_t n = readlink(link, target, sizeof(target) - 1);
  if (n < 0) return false;
  target[n] = '\0';
  size_t root_len = StrLen(root);
  if (root_len == 1 && root[0] == '/') return target[0] == '/';
  if (strncmp(target, root, root_len) != 0) return false;
  return target[root_len] == '\0' || target[root_len] == '/';
}

// Flags of the mount holding fd that a bind remount must keep (the kernel refuses to clear
// locked nosuid/nodev/noexec/atime flags inside a user namespace).
unsigned long LockedMountFlags(int fd) {
  struct statfs st;
  if (fstatfs(fd, &st) < 0) return 0;
  unsigned long flags = 0;
  if (st.f_flags & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flags & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flags & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flags & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flags & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flags & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

// ---- stage 2 steps ----

// Fails with kStepMountNotDirectory when `path` (inside the root) exists but is not reached as a
// directory without a symlink: a symlink anywhere on the way, or a file. A missing path is fine
// (it is made next).
void CheckOrdinaryDirectory(int root_fd, const char* path, int index) {
  int fd = OpenInRoot(root_fd, path, O_PATH, RESOLVE_NO_SYMLINKS);
  if (fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR) Fail(kStage2, kStepMountNotDirectory, errno, index);
    return;
  }
  struct stat st;
  bool is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  close(fd);
  if (!is_dir) Fail(kStage2, kStepMountNotDirectory, ENOTDIR, index);
}

void ApplyMounts(const Plan& plan, int root_fd) {
  for (int i = 0; i < plan.mount_count; i++) {
    const MountRecord& m = plan.mounts[i];
    bool is_remount = (m.flags & MS_REMOUNT) != 0;
    uint64_t resolve = m.no_symlinks ? RESOLVE_NO_SYMLINKS : 0;
    // proc and sysfs: a symlink or a non-directory on the way is refused before anything is
    // made (MkdirAllInRoot would follow a dangling link and create its target).
    if (m.no_symlinks) CheckOrdinaryDirectory(root_fd, m.destination, i);
    if (!is_remount && MkdirAllInRoot(root_fd, m.destination, m.destination_is_file, 0755) < 0) {
      Fail(kStage2, kStepMountTarget, errno, i);
    }
    int target = OpenInRoot(root_fd, m.destination, O_PATH, resolve);
    if (target < 0 && m.no_symlinks && (errno == ELOOP || errno == ENOTDIR))
      Fail(kStage2, kStepMountNotDirectory, errno, i);
    if (target < 0) Fail(kStage2, kStepMountTarget, errno, i);
    if (!FdIsUnder(target, plan.rootfs)) Fail(kStage2, kStepMountTarget, EXDEV, i);
    if (m.no_symlinks) {
      struct stat st;
      if (fstat(target, &st) < 0 || !S_ISDIR(st.st_mode))
        Fail(kStage2, kStepMountNotDirectory, ENOTDIR, i);
    }
    char target_path[32];
    FdPath(target_path, target);
    const char* source = m.source[0] != '\0' ? m.source : nullptr;
    const char* fstype = m.fstype[0] != '\0' ? m.fstype : nullptr;
    const char* data = m.data[0] != '\0' ? m.data : nullptr;
    unsigned long flags = m.flags;
    if (is_remount) flags |= LockedMountFlags(target);
    if (m.source_fd >= 0) {
      // The runtime's copy of the source, made where the source could be reached.
      if (syscall(SYS_move_mount, m.source_fd, "", target, "",
                  MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
        Fail(kStage2, kStepMount, errno, i);
      }
      close(m.source_fd);
    } else if (mount(source, target_path, fstype, flags, data) < 0) {
      Fail(kStage2, kStepMount, errno, i);
    }
    close(target);
    bool recursive_attrs = m.recursive_attr_set != 0 || m.recursive_attr_clear != 0;
    if (m.remount_flags == 0 && m.propagation == 0 && !recursive_attrs) continue;
    // Re-open: the fd from before the mount names the directory underneath it.
    int mounted = OpenInRoot(root_fd, m.destination, O_PATH, resolve);
    if (mounted < 0) Fail(kStage2, kStepMountRemount, errno, i);
    FdPath(target_path, mounted);
    if (m.remount_flags != 0) {
      unsigned long rflags = MS_REMOUNT | MS_BIND | m.remount_flags | LockedMountFlags(mounted);
      if (mount(nullptr, target_path, nullptr, rflags, nullptr) < 0) {
        Fail(kStage2, kStepMountRemount, errno, i);
      }
    }
    if (recursive_attrs) {
      // The whole tree below the mount: what a remount cannot reach (rbind + ro, rro, ...).
      struct mount_attr attr;
      memset(&attr, 0, sizeof(attr));
      attr.attr_set = m.recursive_attr_set;
      attr.attr_clr = m.recursive_attr_clear;
      if (syscall(SYS_mount_setattr, mounted, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                  sizeof(attr)) < 0 &&
          !(errno == ENOSYS && m.recursive_attr_optional)) {
        Fail(kStage2, kStepMountSetattr, errno, i);
      }
    }
    if (m.propagation != 0 && mount(nullptr, target_path, nullptr, m.propagation, nullptr) < 0) {
      Fail(kStage2, kStepMountPropagation, errno, i);
    }
    close(mounted);
  }
}

// The mounts asked read-only but made read-write (a tmpfs or /dev, so that mount points, device
// nodes and /dev/console could be made in them) become read-only now that the rootfs is
// complete. "/" is the container's root here (after pivot_root or chroot).
void RemountReadonlyLate(const Plan& plan) {
  int root_fd = -1;
  for (int i = 0; i < plan.mount_count; i++) {
    const MountRecord& m = plan.mounts[i];
    if (m.readonly_late_flags == 0) continue;
    if (root_fd < 0) root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) Fail(kStage2, kStepMountReadonlyLate, errno, i);
    int mounted = OpenInRoot(root_fd, m.destination, O_PATH, 0);
    if (mounted < 0) Fail(kStage2, kStepMountReadonlyLate, errno, i);
    char path[32];
    FdPath(path, mounted);
    unsigned long flags = m.readonly_late_flags | MS_RDONLY | LockedMountFlags(mounted);
    if (mount(nullptr, path, nullptr, flags, nullptr) < 0)
      Fail(kStage2, kStepMountReadonlyLate, errno, i);
    close(mounted);
  }
  if (root_fd >= 0) close(root_fd);
}

// Makes the node `name` in dir exactly as asked. Idempotent and safe against other containers
// sharing the rootfs (a /dev on disk): an existing node of the right type and number is kept,
// anything else is replaced; owner and mode are set through an O_PATH fd of the node itself, so
// a symlink swapped in meanwhile is never followed. Returns 0 or -1 with errno.
int MakeDeviceNode(int dir, const char* name, const DeviceRecord& d) {
  dev_t dev = makedev(d.major, d.minor);
  for (int attempt = 0; attempt < 8; attempt++) {
    if (mknodat(dir, name, d.type | d.mode, dev) < 0 && errno != EEXIST) return -1;
    int node = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (node < 0) {
      if (errno == ENOENT) continue;  // removed by another container meanwhile
      return -1;
    }
    struct stat st;
    bool matches = fstat(node, &st) == 0 && (st.st_mode & S_IFMT) == d.type &&
                   (d.type == S_IFIFO || st.st_rdev == dev);
    if (!matches) {
      close(node);
      if (unlinkat(dir, name, 0) < 0 && errno != ENOENT) return -1;
      continue;
    }
    char node_path[32];
    FdPath(node_path, node);
    // mknod applied the umask and a kept node has its old mode: the config's mode is exact.
    int rc = fchownat(node, "", d.uid, d.gid, AT_EMPTY_PATH);
    if (rc == 0) rc = chmod(node_path, d.mode);
    int saved = errno;
    close(node);
    if (rc == 0) return 0;
    errno = saved;
    return -1;
  }
  errno = EBUSY;
  return -1;
}

void CreateDevices(const Plan& plan, int root_fd) {
  for (int i = 0; i < plan.device_count; i++) {
    const DeviceRecord& d = plan.devices[i];
    char name[256];
    int dir = OpenParentInRoot(root_fd, d.path, name, sizeof(name));
    if (dir < 0) Fail(kStage2, kStepDevice, errno, i);
    if (!FdIsUnder(dir, plan.rootfs)) Fail(kStage2, kStepDevice, EXDEV, i);
    if (d.bind_from_host) {
      // A device the config lists replaces whatever the rootfs had there.
      if (unlinkat(dir, name, 0) < 0 && errno != ENOENT) Fail(kStage2, kStepDevice, errno, i);
      int fd = openat(dir, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0) Fail(kStage2, kStepDevice, errno, i);
      char fd_path[32];
      FdPath(fd_path, fd);
      if (mount(d.path, fd_path, nullptr, MS_BIND, nullptr) < 0)
        Fail(kStage2, kStepDevice, errno, i);
      close(fd);
    } else if (MakeDeviceNode(dir, name, d) < 0) {
      Fail(kStage2, kStepDevice, errno, i);
    }
    close(dir);
  }
}

void CreateSymlinks(const Plan& plan, int root_fd) {
  for (int i = 0; i < plan.symlink_count; i++) {
    const SymlinkRecord& s = plan.symlinks[i];
    char name[256];
    int dir = OpenParentInRoot(root_fd, s.path, name, sizeof(name));
    if (dir < 0) Fail(kStage2, kStepSymlink, errno, i);
    if (symlinkat(s.target, dir, name) < 0 && errno != EEXIST)
      Fail(kStage2, kStepSymlink, errno, i);
    close(dir);
  }
}

// /proc/self/mountinfo (of the procfs `proc_fd`), streamed through a small buffer and handed to
// `scan` field by field as it comes: lines can be long (overlay options), and the scanners need a
// few fields each. Fields: id parent dev root point options [optional...] - fstype source super.
// scan.Field(index, after, text, len, too_long) gets each field NUL-terminated (cut when
// too_long), `index` counting from 0 on its line and `after` from 0 after the " - " separator
// (-1 before it); scan.EndLine() ends a line and returns false to stop. False with errno when
// the file cannot be read.
template <typename Scan>
bool StreamMountInfo(int proc_fd, Scan& scan) {
  int fd = openat(proc_fd, "self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char field[kPathMax];
  size_t len = 0;
  bool too_long = false;
  int index = 0;
  int after = -1;
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      close(fd);
      errno = saved;
      return false;
    }
    if (n == 0) break;
    for (ssize_t i = 0; i < n; i++) {
      char c = chunk[i];
      if (c != ' ' && c != '\n') {
        if (len + 1 < sizeof(field)) {
          field[len++] = c;
        } else {
          too_long = true;
        }
        continue;
      }
      field[len] = '\0';
      if (after < 0 && index >= 6 && len == 1 && field[0] == '-') {
        after = 0;
      } else {
        scan.Field(index, after, field, len, too_long);
        if (after >= 0) after++;
      }
      index++;
      len = 0;
      too_long = false;
      if (c == '\n') {
        index = 0;
        after = -1;
        if (!scan.EndLine()) {
          close(fd);
          return true;
        }
      }
    }
  }
  close(fd);
  return true;
}

// mountinfo escapes space, tab, newline and backslash as \ooo; unescapes in place.
size_t UnescapeMountPath(char* text, size_t len) {
  size_t out = 0;
  for (size_t i = 0; i < len; i++) {
    bool escape = text[i] == '\\' && i + 3 < len && text[i + 1] >= '0' && text[i + 1] <= '3' &&
                  text[i + 2] >= '0' && text[i + 2] <= '7' && text[i + 3] >= '0' &&
                  text[i + 3] <= '7';
    if (escape) {
      text[out++] =
          (char)(((text[i + 1] - '0') << 6) | ((text[i + 2] - '0') << 3) | (text[i + 3] - '0'));
      i += 3;
    } else {
      text[out++] = text[i];
    }
  }
  text[out] = '\0';
  return out;
}

// True when mount point `point` (length len) is `path` or one of its ancestors.
bool MountPointHolds(const char* point, size_t len, const char* path) {
  if (len == 1 && point[0] == '/') return true;
  if (strncmp(point, path, len) != 0) return false;
  return path[len] == '\0' || path[len] == '/';
}

// The mount that holds `rootfs` (the longest mount point that is it or an ancestor; of equal
// ones the last, stacked on top) and whether it is shared.
struct RootfsParentScan {
  const char* rootfs;
  // This line's mount point when it holds the rootfs.
  char point[kPathMax];
  size_t point_len = 0;
  bool holds_rootfs = false;
  bool shared = false;
  // The best line so far.
  char best[kPathMax];
  size_t best_len = 0;
  bool found = false;
  bool best_shared = false;

  void Field(int index, int after, char* text, size_t len, bool too_long) {
    if (index == 4 && !too_long) {
      len = UnescapeMountPath(text, len);
      if (MountPointHolds(text, len, rootfs)) {
        memcpy(point, text, len + 1);
        point_len = len;
        holds_rootfs = true;
      }
    } else if (index >= 6 && after < 0 && strncmp(text, "shared:", 7) == 0) {
      shared = true;
    }
  }

  bool EndLine() {
    if (holds_rootfs && point_len >= best_len) {
      memcpy(best, point, point_len + 1);
      best_len = point_len;
      best_shared = shared;
      found = true;
    }
    holds_rootfs = false;
    shared = false;
    return true;
  }
};

// pivot_root refuses a new root whose parent mount is shared. That mount is looked up after "/"
// got its propagation, in the mount namespace we are in (new, or joined by path: then not a copy
// of the runtime's), and made private only if it is still shared.
void MakeRootfsParentPrivate(const char* rootfs) {
  int proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) Fail(kStage2, kStepRootfsParentPrivate, errno, 0);
  RootfsParentScan scan;
  scan.rootfs = rootfs;
  if (!StreamMountInfo(proc_fd, scan)) Fail(kStage2, kStepRootfsParentPrivate, errno, 0);
  close(proc_fd);
  if (!scan.found) Fail(kStage2, kStepRootfsParentPrivate, ENOENT, 1);
  if (scan.best_shared && mount(nullptr, scan.best, nullptr, MS_PRIVATE, nullptr) < 0) {
    Fail(kStage2, kStepRootfsParentPrivate, errno, 2);
  }
}

// True when `path` is `root` or below it.
bool PathAtOrBelow(const char* path, const char* root) {
  size_t root_len = StrLen(root);
  if (strncmp(path, root, root_len) != 0) return false;
  return path[root_len] == '\0' || path[root_len] == '/';
}

// The first full (its root is the file system's root) proc or sysfs mount outside the rootfs
// whose id is not in `skip`.
struct FullProcSysScan {
  const char* rootfs;
  const int* skip;
  int skip_count;
  // This line.
  int id = -1;
  bool full = false;
  bool outside = false;
  bool kind = false;
  char point[kPathMax];
  // The answer.
  bool found = false;
  int found_id = -1;
  char found_point[kPathMax];

  void Field(int index, int after, char* text, size_t len, bool too_long) {
    if (index == 0) {
      id = 0;
      for (size_t i = 0; i < len; i++) id = id * 10 + (text[i] - '0');
    } else if (index == 3) {
      full = len == 1 && text[0] == '/';
    } else if (index == 4 && !too_long) {
      len = UnescapeMountPath(text, len);
      memcpy(point, text, len + 1);
      outside = !PathAtOrBelow(point, rootfs);
    } else if (after == 0) {
      kind = strcmp(text, "proc") == 0 || strcmp(text, "sysfs") == 0;
    }
  }

  bool EndLine() {
    bool skipped = false;
    for (int i = 0; i < skip_count; i++) skipped |= skip[i] == id;
    if (full && outside && kind && !skipped) {
      found = true;
      found_id = id;
      memcpy(found_point, point, StrLen(point) + 1);
      return false;
    }
    full = outside = kind = false;
    return true;
  }
};

// --no-pivot leaves the runtime's mount tree in the container's mount namespace, below the
// moved rootfs: out of reach by path, but the kernel lets a process that makes a user namespace
// of its own mount a new proc (sysfs) when a full one with nothing locked over it is anywhere in
// its mount namespace. So, as runc 1.1 does, the host's full proc and sysfs mounts are unmounted
// here first, or covered with a tmpfs where they cannot be (EPERM, EINVAL: locked mounts of a
// user namespace's copy). Their removal does not reach the host: each is made a slave first.
void HideHostProcAndSys(const Plan& plan) {
  // The mountinfo is read through this fd: the host's /proc may be among the unmounted ones.
  int proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) Fail(kStage2, kStepNoPivotHide, errno, 0);
  int skip[128];
  int skip_count = 0;
  // Every round removes a mount or skips one from then on: bounded by the mounts there are.
  for (int round = 0; round < 4096; round++) {
    FullProcSysScan scan;
    scan.rootfs = plan.rootfs;
    scan.skip = skip;
    scan.skip_count = skip_count;
    if (!StreamMountInfo(proc_fd, scan)) Fail(kStage2, kStepNoPivotHide, errno, 0);
    if (!scan.found) {
      close(proc_fd);
      return;
    }
    if (skip_count == (int)(sizeof(skip) / sizeof(skip[0])))
      Fail(kStage2, kStepNoPivotHide, E2BIG, 1);
    if (mount(nullptr, scan.found_point, nullptr, MS_SLAVE | MS_REC, nullptr) < 0) {
      // Its mount point is gone (deleted on the host): nothing to reach it by.
      if (errno != ENOENT) Fail(kStage2, kStepNoPivotHide, errno, 2);
      skip[skip_count++] = scan.found_id;
      continue;
    }
    // Not skipped after an unmount: if it was another mount stacked on top that went, the
    // next round finds this one again.
    if (umount2(scan.found_point, MNT_DETACH | UMOUNT_NOFOLLOW) == 0) continue;
    if (errno != EINVAL && errno != EPERM) Fail(kStage2, kStepNoPivotHide, errno, 3);
    if (mount("tmpfs", scan.found_point, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) < 0) {
      Fail(kStage2, kStepNoPivotHide, errno, 4);
    }
    skip[skip_count++] = scan.found_id;
  }
  Fail(kStage2, kStepNoPivotHide, ELOOP, 5);
}

// No mount namespace of the container's own: the rootfs was built in the runtime's mount
// namespace (the runtime-spec's "inherit"), and "/" is left alone; the process is confined to the
// rootfs by chroot alone, which a process keeping CAP_SYS_CHROOT can leave.
void ChrootIntoRootfs(const Plan& plan) {
  if (chdir(plan.rootfs) < 0) Fail(kStage2, kStepChroot, errno);
  if (chroot(".") < 0) Fail(kStage2, kStepChroot, errno);
  if (chdir("/") < 0) Fail(kStage2, kStepChroot, errno);
}

void PivotRoot(const Plan& plan) {
  if (plan.no_pivot) {
    // MS_MOVE the rootfs over "/" and chroot: for callers on a ramfs root where pivot_root
    // is impossible (runc --no-pivot).
    HideHostProcAndSys(plan);
    if (chdir(plan.rootfs) < 0) Fail(kStage2, kStepPivotRoot, errno);
    if (mount(plan.rootfs, "/", nullptr, MS_MOVE, nullptr) < 0)
      Fail(kStage2, kStepPivotRoot, errno);
    if (chroot(".") < 0) Fail(kStage2, kStepPivotRoot, errno);
    if (chdir("/") < 0) Fail(kStage2, kStepPivotRoot, errno);
    return;
  }
  int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (old_root < 0) Fail(kStage2, kStepPivotRoot, errno);
  if (chdir(plan.rootfs) < 0) Fail(kStage2, kStepPivotRoot, errno);
  // pivot_root(".", "."): the old root ends up stacked on top of the new one, so no directory
  // for it is needed inside the rootfs; then it is detached.
  if (syscall(SYS_pivot_root, ".", ".") < 0) Fail(kStage2, kStepPivotRoot, errno);
  if (fchdir(old_root) < 0) Fail(kStage2, kStepPivotRoot, errno);
  // Slave first, so the unmount below does not propagate back to the host.
  if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0)
    Fail(kStage2, kStepPivotRoot, errno);
  if (umount2(".", MNT_DETACH) < 0) Fail(kStage2, kStepPivotRoot, errno);
  if (chdir("/") < 0) Fail(kStage2, kStepPivotRoot, errno);
  close(old_root);
}

// Opens a pty from the container's own devpts, sends the master to the console socket and
// makes the peer our controlling terminal, stdio and /dev/console.
void SetupConsole(const Plan& plan) {
  int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) Fail(kStage2, kStepConsole, errno, 0);
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) Fail(kStage2, kStepConsole, errno, 1);
  // TIOCGPTPEER opens the peer through the master, not by a /dev/pts path that could be a link.
  int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (peer < 0) Fail(kStage2, kStepConsole, errno, 2);
  // The process's user owns its terminal (it may reopen it, write to it by path), as with
  // runc; the group stays the devpts one (gid=5, tty). A uid not mapped in our user namespace
  // (EINVAL) or a pty owner we may not change (EPERM) leaves it as it is, as runc does.
  if (fchown(peer, plan.uid, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM) {
    Fail(kStage2, kStepConsole, errno, 10);
  }
  if (plan.console_rows > 0 || plan.console_columns > 0) {
    struct winsize size;
    memset(&size, 0, sizeof(size));
    size.ws_row = (unsigned short)plan.console_rows;
    size.ws_col = (unsigned short)plan.console_columns;
    if (ioctl(master, TIOCSWINSZ, &size) < 0) Fail(kStage2, kStepConsole, errno, 9);
  }
  unsigned pty_number = 0;
  if (ioctl(master, TIOCGPTN, &pty_number) < 0) Fail(kStage2, kStepConsole, errno, 3);

  char pty_name[64] = "/dev/pts/";
  AppendInt(pty_name, sizeof(pty_name), pty_number);
  if (SendWithFds(plan.console_socket_fd, pty_name, StrLen(pty_name), &master, 1) < 0) {
    Fail(kStage2, kStepConsole, errno, 4);
  }
  close(master);
  close(plan.console_socket_fd);

  // /dev/console: an empty file bind-mounted from the peer, by fd. Whatever the rootfs has
  // there (a symlink to a host file, CVE-2025-52565, a device, a directory) is replaced, never
  // followed; a /dev that is a symlink is resolved inside the root.
  // An exec'd process gets a pty of its own; /dev/console stays the init's.
  int root = plan.exec_mode ? -1 : open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int dev = root >= 0 ? OpenInRoot(root, "/dev", O_PATH | O_DIRECTORY, 0) : -1;
  if (root >= 0) close(root);
  if (dev >= 0) {
    if (unlinkat(dev, "console", 0) < 0 && errno == EISDIR) unlinkat(dev, "console", AT_REMOVEDIR);
    int console =
        openat(dev, "console", O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (console < 0) Fail(kStage2, kStepConsole, errno, 5);
    char src[32];
    char dst[32];
    FdPath(src, peer);
    FdPath(dst, console);
    if (mount(src, dst, nullptr, MS_BIND, nullptr) < 0) Fail(kStage2, kStepConsole, errno, 6);
    close(console);
    close(dev);
  }
  if (ioctl(peer, TIOCSCTTY, 0) < 0) Fail(kStage2, kStepConsole, errno, 7);
  for (int fd = 0; fd <= 2; fd++) {
    if (dup2(peer, fd) < 0) Fail(kStage2, kStepConsole, errno, 8);
  }
  close(peer);
}

void MaskPaths(const Plan& plan) {
  if (plan.masked_count == 0) return;
  int root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) Fail(kStage2, kStepMaskPath, errno, -1);
  // The mask source must be the real null device (CVE-2025-31133): check it is char 1:3.
  int null_fd = OpenInRoot(root_fd, "/dev/null", O_PATH, RESOLVE_NO_SYMLINKS);
  struct stat null_st;
  bool have_null = null_fd >= 0 && fstat(null_fd, &null_st) == 0 && S_ISCHR(null_st.st_mode) &&
                   major(null_st.st_rdev) == 1 && minor(null_st.st_rdev) == 3;
  for (int i = 0; i < plan.masked_count; i++) {
    int target = OpenInRoot(root_fd, plan.masked_paths[i], O_PATH | O_NOFOLLOW, 0);
    if (target < 0) {
      if (errno == ENOENT) continue;
      Fail(kStage2, kStepMaskPath, errno, i);
    }
    struct stat st;
    if (fstat(target, &st) < 0) Fail(kStage2, kStepMaskPath, errno, i);
    char target_path[32];
    FdPath(target_path, target);
    if (S_ISDIR(st.st_mode)) {
      if (mount("tmpfs", target_path, "tmpfs", MS_RDONLY, nullptr) < 0) {
        Fail(kStage2, kStepMaskPath, errno, i);
      }
    } else {
      if (!have_null) Fail(kStage2, kStepMaskPath, ENODEV, i);
      char null_path[32];
      FdPath(null_path, null_fd);
      if (mount(null_path, target_path, nullptr, MS_BIND, nullptr) < 0) {
        Fail(kStage2, kStepMaskPath, errno, i);
      }
      // Read-only too: writes must not reach the device behind the mask.
      int masked = OpenInRoot(root_fd, plan.masked_paths[i], O_PATH | O_NOFOLLOW, 0);
      if (masked < 0) Fail(kStage2, kStepMaskPath, errno, i);
      FdPath(target_path, masked);
      unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | LockedMountFlags(masked);
      if (mount(nullptr, target_path, nullptr, flags, nullptr) < 0) {
        Fail(kStage2, kStepMaskPath, errno, i);
      }
      close(masked);
    }
    close(target);
  }
  if (null_fd >= 0) close(null_fd);
  close(root_fd);
}

void ReadonlyPaths(const Plan& plan) {
  if (plan.readonly_count == 0) return;
  int root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) Fail(kStage2, kStepReadonlyPath, errno, -1);
  for (int i = 0; i < plan.readonly_count; i++) {
    int target = OpenInRoot(root_fd, plan.readonly_paths[i], O_PATH | O_NOFOLLOW, 0);
    if (target < 0) {
      if (errno == ENOENT) continue;
      Fail(kStage2, kStepReadonlyPath, errno, i);
    }
    char target_path[32];
    FdPath(target_path, target);
    if (mount(target_path, target_path, nullptr, MS_BIND | MS_REC, nullptr) < 0) {
      Fail(kStage2, kStepReadonlyPath, errno, i);
    }
    close(target);
    int mounted = OpenInRoot(root_fd, plan.readonly_paths[i], O_PATH | O_NOFOLLOW, 0);
    if (mounted < 0) Fail(kStage2, kStepReadonlyPath, errno, i);
    FdPath(target_path, mounted);
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | LockedMountFlags(mounted);
    if (mount(nullptr, target_path, nullptr, flags, nullptr) < 0) {
      Fail(kStage2, kStepReadonlyPath, errno, i);
    }
    close(mounted);
  }
  close(root_fd);
}

// A procfs instance of our own, mounted nowhere (CVE-2025-52881): the config's mounts (a tmpfs
// or a bind of another file, even a host procfs file, over /proc/sys/...) and anything the
// container does to its /proc cannot redirect our writes. Made here, inside the container's pid
// and mount namespaces: /proc/sys/net entries follow the net namespace of the opener (us).
// Returns the fd of the detached mount's root, or -1 with errno and the failing step in *step.
int OpenPrivateProcfs(int* step) {
  *step = 0;
  int fs_fd = (int)syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC);
  if (fs_fd < 0) return -1;
  *step = 1;
  if (syscall(SYS_fsconfig, fs_fd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) {
    int saved = errno;
    close(fs_fd);
    errno = saved;
    return -1;
  }
  *step = 2;
  int mnt_fd = (int)syscall(SYS_fsmount, fs_fd, FSMOUNT_CLOEXEC,
                            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  int saved = errno;
  close(fs_fd);
  errno = saved;
  return mnt_fd;
}

// The procfs the init uses for its own writes: the private one; for the exec fifo alone, when
// none can be made (a user namespace that does not own the pid namespace), the container's
// /proc if it is a procfs. -1 when neither is needed.
int OpenInitProcfs(const Plan& plan) {
  if (plan.sysctl_count == 0 && plan.exec_fifo_fd < 0) return -1;
  int step;
  int fd = OpenPrivateProcfs(&step);
  if (fd >= 0) return fd;
  if (plan.sysctl_count > 0) Fail(kStage2, kStepSysctlProcfs, errno, step);
  int saved = errno;
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  fd = (int)syscall(SYS_openat2, AT_FDCWD, "/proc", &how, sizeof(how));
  struct statfs st;
  if (fd < 0 || fstatfs(fd, &st) < 0 || st.f_type != PROC_SUPER_MAGIC) {
    Fail(kStage2, kStepExecFifoProcfs, saved);
  }
  return fd;
}

void WriteSysctls(const Plan& plan, int proc_fd) {
  for (int i = 0; i < plan.sysctl_count; i++) {
    char path[kPathMax] = "sys/";
    if (!Append(path, sizeof(path), plan.sysctls[i].path))
      Fail(kStage2, kStepSysctl, ENAMETOOLONG, i);
    // Strictly below the private instance: no symlink, no magic link, no mount crossed.
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS;
    int fd;
    do {
      fd = (int)syscall(SYS_openat2, proc_fd, path, &how, sizeof(how));
    } while (fd < 0 && errno == EAGAIN);
    if (fd < 0) Fail(kStage2, kStepSysctl, errno, i);
    // Only ever write into a real procfs (CVE-2019-16884: /proc replaced by something else).
    struct statfs st;
    if (fstatfs(fd, &st) < 0 || st.f_type != PROC_SUPER_MAGIC) Fail(kStage2, kStepSysctl, EXDEV, i);
    const char* value = plan.sysctls[i].value;
    if (!WriteAll(fd, value, StrLen(value))) Fail(kStage2, kStepSysctl, errno, i);
    close(fd);
  }
}

// Loading a seccomp filter without no_new_privs needs CAP_SYS_ADMIN, and the filter is loaded
// last, after the user switch and the capset: keep CAP_SYS_ADMIN in the effective and permitted
// sets until then (DropSeccompAdmin), when the config's sets would not have it.
constexpr int kCapSysAdmin = 21;
constexpr uint64_t kSysAdminBit = 1ULL << kCapSysAdmin;

bool KeepsAdminForSeccomp(const Plan& plan) {
  if (plan.seccomp_filter == nullptr || plan.no_new_privileges) return false;
  if (plan.has_capabilities) {
    return (plan.cap_effective & plan.cap_permitted & kSysAdminBit) == 0;
  }
  return plan.uid != 0;  // no capabilities object: a non-root user loses them all on setuid
}

int SetCapabilities(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  data[0].effective = (uint32_t)effective;
  data[1].effective = (uint32_t)(effective >> 32);
  data[0].permitted = (uint32_t)permitted;
  data[1].permitted = (uint32_t)(permitted >> 32);
  data[0].inheritable = (uint32_t)inheritable;
  data[1].inheritable = (uint32_t)(inheritable >> 32);
  return (int)syscall(SYS_capset, &header, data);
}

// The final capability sets, once the filter is in. Returns 0 or -1 with errno.
int DropSeccompAdmin(const Plan& plan) {
  if (!KeepsAdminForSeccomp(plan)) return 0;
  if (!plan.has_capabilities) return SetCapabilities(0, 0, 0);
  return SetCapabilities(plan.cap_effective, plan.cap_permitted, plan.cap_inheritable);
}

void SwitchUser(const Plan& plan) {
  bool keep_admin = KeepsAdminForSeccomp(plan);
  if (plan.has_capabilities || keep_admin) {
    // Keep the permitted set across setuid; capset below decides what remains.
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) Fail(kStage2, kStepCapset, errno);
  }
  if (plan.has_capabilities) {
    for (int cap = 0; cap <= plan.cap_last && cap < 64; cap++) {
      if (plan.cap_bounding & (1ULL << cap)) continue;
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
        Fail(kStage2, kStepCapBounding, errno, cap);
      }
    }
  }
  // Raw syscalls: glibc's wrappers signal every thread it believes exists (setxid broadcast),
  // and the Node threads it remembers are not in this process.
  if (syscall(SYS_setgroups, (size_t)plan.additional_gid_count, plan.additional_gids) < 0) {
    Fail(kStage2, kStepSetgroups, errno);
  }
  if (syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) < 0) Fail(kStage2, kStepSetgid, errno);
  if (syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) < 0) Fail(kStage2, kStepSetuid, errno);
  uint64_t admin = keep_admin ? kSysAdminBit : 0;
  if (!plan.has_capabilities) {
    if (keep_admin && SetCapabilities(admin, admin, 0) < 0) Fail(kStage2, kStepCapset, errno);
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    return;
  }
  if (SetCapabilities(plan.cap_effective | admin, plan.cap_permitted | admin,
                      plan.cap_inheritable) < 0) {
    Fail(kStage2, kStepCapset, errno);
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
    Fail(kStage2, kStepCapAmbient, errno, -1);
  }
  for (int cap = 0; cap <= plan.cap_last && cap < 64; cap++) {
    if (!(plan.cap_ambient & (1ULL << cap))) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
      Fail(kStage2, kStepCapAmbient, errno, cap);
    }
  }
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
}

bool IsExecutableFile(const char* path) {
  struct stat st;
  if (stat(path, &st) < 0) return false;
  if (!S_ISREG(st.st_mode)) {
    errno = EACCES;
    return false;
  }
  return access(path, X_OK) == 0;
}

// Finds args[0] like execvp would, with the container's PATH, so that a missing binary fails
// `create` with a clear error instead of a dead container at `start`.
void LookupExecutable(const Plan& plan, char* resolved) {
  const char* name = plan.executable != nullptr ? plan.executable : plan.argv[0];
  resolved[0] = '\0';
  bool has_slash = false;
  for (const char* p = name; *p; p++) has_slash |= (*p == '/');
  if (has_slash) {
    if (!Append(resolved, kPathMax, name)) Fail(kStage2, kStepExecLookup, ENAMETOOLONG);
    if (!IsExecutableFile(resolved)) Fail(kStage2, kStepExecLookup, errno);
    return;
  }
  const char* dirs = plan.search_path;
  int last_error = ENOENT;
  while (true) {
    const char* end = dirs;
    while (*end && *end != ':') end++;
    size_t dir_len = (size_t)(end - dirs);
    if (dir_len > 0 && dir_len + StrLen(name) + 2 < kPathMax) {
      memcpy(resolved, dirs, dir_len);
      resolved[dir_len] = '\0';
      Append(resolved, kPathMax, "/");
      Append(resolved, kPathMax, name);
      if (IsExecutableFile(resolved)) return;
      if (errno != ENOENT && errno != ENOTDIR) last_error = errno;
    }
    if (*end == '\0') break;
    dirs = end + 1;
  }
  Fail(kStage2, kStepExecLookup, last_error);
}

// Every disposition back to SIG_DFL, then the mask cleared: in this order, so that a signal
// pending meanwhile is delivered to the default action, never to a handler of Node's.
void ResetSignals() {
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &action, nullptr);  // glibc's internal signals fail with EINVAL: fine
  }
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
}

// Installs the filter compiled in the parent (struct sock_filter[] in the Plan). Raw syscall on
// memory prepared before clone: no libseccomp here. Returns the listener fd with
// SECCOMP_FILTER_FLAG_NEW_LISTENER, else 0; -1 with errno.
int LoadSeccomp(const Plan& plan) {
  struct sock_fprog prog;
  prog.len = plan.seccomp_instructions;
  prog.filter = (struct sock_filter*)plan.seccomp_filter;
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, plan.seccomp_flags, &prog);
}

// The listener fd goes to the parent (which passes it to linux.seccomp.listenerPath) on the sync
// socket, attached to a SeccompNotifyFd record.
void SendSeccompListener(int listener) {
  SyncRecord rec = {kSeccompNotifyFd, kStage2, 0, 0, 0, 0};
  ssize_t n = SendWithFds(g_sync_fd, &rec, sizeof(rec), &listener, 1);
  if (n != (ssize_t)sizeof(rec)) Fail(kStage2, kStepSeccompNotifyFd, n < 0 ? errno : EMSGSIZE);
}

[[noreturn]] void RunStage2(const Plan& plan) {
  // What `ps` shows until execve (the comm is 15 characters at most).
  prctl(PR_SET_NAME, plan.exec_mode ? "tsrunc:[2:EXEC]" : "tsrunc:[2:INIT]", 0, 0, 0);
  if (setsid() < 0) Fail(kStage2, kStepSetsid, errno);
  umask(0);  // devices and created paths get exactly the modes we ask for

  bool pivot = plan.enter_root == kEnterPivotRoot;
  if (pivot) {
    if (mount(nullptr, "/", nullptr, plan.root_propagation, nullptr) < 0) {
      Fail(kStage2, kStepRootPropagation, errno);
    }
    MakeRootfsParentPrivate(plan.rootfs);
    if (mount(plan.rootfs, plan.rootfs, nullptr, MS_BIND | MS_REC, nullptr) < 0) {
      Fail(kStage2, kStepRootfsBind, errno);
    }
  }
  if (plan.build_rootfs) {
    int root_fd = open(plan.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) Fail(kStage2, kStepOpenRootfs, errno);
    ApplyMounts(plan, root_fd);
    CreateDevices(plan, root_fd);
    CreateSymlinks(plan, root_fd);
    if (MkdirAllInRoot(root_fd, plan.cwd, false, 0755) < 0) Fail(kStage2, kStepCwdCreate, errno);
    close(root_fd);
  }

  if (!plan.exec_mode) {
    // createContainer hooks take our cwd (nsenter --wd): the rootfs, as runc gives them, so a
    // hook may work relative to it (`mount --bind ... ./lib/x`) in our mount namespace.
    if (chdir(plan.rootfs) < 0) Fail(kStage2, kStepHooksCwd, errno);
    SendRecord(kRunCreateHooks, kStage2, 0, 0, 0, 0);
    Expect(kStage2, kCreateHooksDone);
  }

  if (pivot) {
    PivotRoot(plan);
  } else if (plan.enter_root == kEnterChroot) {
    ChrootIntoRootfs(plan);
  }
  if (plan.terminal) SetupConsole(plan);
  int proc_fd = OpenInitProcfs(plan);
  // Before readonlyPaths: the usual config makes /proc/sys read-only.
  WriteSysctls(plan, proc_fd);
  if (pivot) {
    MaskPaths(plan);
    ReadonlyPaths(plan);
  }
  // After the masks, as runc's finalizeRootfs: a read-only /dev still took /dev/console.
  RemountReadonlyLate(plan);
  if (pivot) {
    if (plan.root_readonly) {
      int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
      unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | LockedMountFlags(root);
      if (root < 0 || mount(nullptr, "/", nullptr, flags, nullptr) < 0) {
        Fail(kStage2, kStepRootReadonly, errno);
      }
      close(root);
    }
    // The bind that became "/" copied its (private) parent, and an unbindable "/" would have
    // refused that bind, as it would every bind since (masks, read-only paths, the console):
    // shared and unbindable are asked for last.
    if (plan.root_propagation_after_pivot != 0 &&
        mount(nullptr, "/", nullptr, plan.root_propagation_after_pivot, nullptr) < 0) {
      Fail(kStage2, kStepRootPropagation, errno);
    }
  }
  if (plan.hostname && sethostname(plan.hostname, StrLen(plan.hostname)) < 0) {
    Fail(kStage2, kStepHostname, errno);
  }
  if (plan.domainname && setdomainname(plan.domainname, StrLen(plan.domainname)) < 0) {
    Fail(kStage2, kStepDomainname, errno);
  }
  if (plan.session_keyring &&
      syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, plan.session_keyring) < 0 &&
      errno != ENOSYS) {
    Fail(kStage2, kStepKeyring, errno);
  }
  if (plan.personality_domain >= 0 && personality((unsigned long)plan.personality_domain) < 0) {
    Fail(kStage2, kStepPersonality, errno);
  }

  // The cwd is entered as root first, so a directory only root may enter (/root, mode 700)
  // works for any user, as with runc; a permission error is retried as the user, for a cwd
  // that only the user may enter (a volume of the user's, a root squashed by NFS).
  bool cwd_entered = chdir(plan.cwd) == 0;
  if (!cwd_entered && errno != EACCES && errno != EPERM) Fail(kStage2, kStepChdir, errno);
  SwitchUser(plan);
  if (!cwd_entered && chdir(plan.cwd) < 0) Fail(kStage2, kStepChdir, errno);
  // CVE-2024-21626: a cwd reached through a leaked host fd is outside our root; the kernel
  // then reports it with an "(unreachable)" prefix instead of a path.
  char cwd_check[kPathMax];
  if (syscall(SYS_getcwd, cwd_check, sizeof(cwd_check)) < 0 || cwd_check[0] != '/') {
    Fail(kStage2, kStepCwdUnreachable, ENOENT);
  }
  char executable[kPathMax];
  LookupExecutable(plan, executable);
  if (plan.no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    Fail(kStage2, kStepNoNewPrivileges, errno);
  }
  // linux.seccomp, after the capabilities are set. A filter with SCMP_ACT_NOTIFY rules is loaded
  // here, while the sync socket can still carry its listener fd to the parent (and a failure
  // still reaches `create`); the syscalls from here to execve then pass through it (sendmsg,
  // recvfrom, capset, sendto, close, openat, write, umask, prlimit64, close_range,
  // rt_sigaction, rt_sigprocmask, execve), as with runc. Any other filter is loaded right
  // before execve, below.
  if (plan.seccomp_filter && plan.seccomp_notify) {
    int listener = LoadSeccomp(plan);
    if (listener < 0) Fail(kStage2, kStepSeccomp, errno);
    SendSeccompListener(listener);
    close(listener);
    Expect(kStage2, kSeccompNotifyDone);
    if (DropSeccompAdmin(plan) < 0) Fail(kStage2, kStepSeccompCapset, errno);
  }

  SendRecord(kInitReady, kStage2, 0, 0, 0, 0);
  close(g_sync_fd);

  if (plan.exec_fifo_fd >= 0) {
    // Reopened for writing through the procfs magic link of our O_PATH fd; blocks until
    // `tsrunc start` opens the fifo for reading.
    char fifo_path[32] = "self/fd/";
    AppendInt(fifo_path, sizeof(fifo_path), plan.exec_fifo_fd);
    int fifo = openat(proc_fd, fifo_path, O_WRONLY | O_CLOEXEC);
    if (fifo < 0 || !WriteAll(fifo, "0", 1)) _exit(127);
    close(fifo);
    close(plan.exec_fifo_fd);
  }
  if (proc_fd >= 0) close(proc_fd);
  if (plan.umask_value >= 0) umask((mode_t)plan.umask_value);
  // Last, so a small RLIMIT_NOFILE or RLIMIT_NPROC limits the container, not our setup. Only
  // lowering is left to do here (RaiseHardLimits ran with privileges), so this cannot fail.
  for (int i = 0; i < plan.rlimit_count; i++) {
    struct rlimit limit = {(rlim_t)plan.rlimits[i].soft, (rlim_t)plan.rlimits[i].hard};
    if (setrlimit((__rlimit_resource_t)plan.rlimits[i].resource, &limit) < 0) _exit(127);
  }
  // Anything the runtime opened is O_CLOEXEC already; this also drops what Node inherited.
  // Fds 0..2+extra were put in place by dup2 (MapStdio; SetupConsole for a terminal), which
  // leaves them without FD_CLOEXEC: they pass execve, and nothing else does.
  syscall(SYS_close_range, 3 + plan.extra_fd_count, ~0U, CLOSE_RANGE_CLOEXEC);
  ResetSignals();
  // Last, so the filter sees only capset (when CAP_SYS_ADMIN was kept to load it without
  // no_new_privs) and execve of ours. A failure cannot reach `create` any more (InitReady is
  // sent): it is reported on the container's stderr.
  if (plan.seccomp_filter && !plan.seccomp_notify) {
    if (LoadSeccomp(plan) < 0) {
      const char msg[] = "tsrunc: linux.seccomp: load the filter failed\n";
      WriteAll(2, msg, sizeof(msg) - 1);
      _exit(127);
    }
    if (DropSeccompAdmin(plan) < 0) {
      const char msg[] =
          "tsrunc: linux.seccomp: drop CAP_SYS_ADMIN after loading the filter failed\n";
      WriteAll(2, msg, sizeof(msg) - 1);
      _exit(127);
    }
  }
  execve(executable, plan.argv, plan.envp);
  const char msg[] = "tsrunc: exec of the container process failed\n";
  WriteAll(2, msg, sizeof(msg) - 1);
  _exit(127);
}

}  // namespace

// Hard limits above the current ones need CAP_SYS_RESOURCE, which the process may not keep:
// raise them now, and report a refusal as the config's fault while `create` can still tell.
void RaiseHardLimits(const Plan& plan) {
  for (int i = 0; i < plan.rlimit_count; i++) {
    __rlimit_resource_t resource = (__rlimit_resource_t)plan.rlimits[i].resource;
    struct rlimit current;
    if (getrlimit(resource, &current) < 0) Fail(kStage1, kStepRlimit, errno, i);
    if ((rlim_t)plan.rlimits[i].hard <= current.rlim_max) continue;
    struct rlimit raised = {current.rlim_cur, (rlim_t)plan.rlimits[i].hard};
    if (setrlimit(resource, &raised) < 0) Fail(kStage1, kStepRlimit, errno, i);
  }
}

// The entry of the child's plan that names the fd the container's fd `target` (0..2+extra)
// comes from.
int& MapEntry(Plan& plan, int target) {
  return target < 3 ? plan.stdio_fds[target] : plan.extra_fds[target - 3];
}

// Calls f(fd) for each fd of the runtime's own that the children keep: the sync socket, the
// console socket, the exec fifo, the namespace files to join, the bind sources (-1: none).
template <typename F>
void ForEachRuntimeFd(const Plan& plan, F f) {
  f(g_sync_fd);
  f(plan.console_socket_fd);
  f(plan.exec_fifo_fd);
  for (int i = 0; i < plan.join_count; i++) f(plan.joins[i].fd);
  for (int i = 0; i < plan.mount_count; i++) f(plan.mounts[i].source_fd);
}

bool IsRuntimeFd(const Plan& plan, int fd) {
  bool found = false;
  ForEachRuntimeFd(plan, [&](int own) { found |= own >= 0 && own == fd; });
  return found;
}

// fd itself when it is at or above `floor`, else a close-on-exec copy there (the old number is
// left open: it lies in the container's range, and dup2 onto it closes it). -1 with errno.
int MoveToOrAbove(int fd, int floor) {
  if (fd >= floor) return fd;
  return fcntl(fd, F_DUPFD_CLOEXEC, floor);
}

// Builds the container's fds 0..2+extra from the runtime's fds the plan lists. A source may be
// listed twice or be another entry's target number (stdio [5, 1, 1], extra [0, 2]), so nothing
// is put in place before every source has a copy above the whole range; and the runtime's own
// fds in that range move above it first, as a dup2 onto their number would close them. The
// moved numbers are written into the plan (the child's copy), which the rest of the child uses.
void MapStdio(Plan& plan) {
  const int count = 3 + plan.extra_fd_count;
  // The parent checked every source was open before it made the sync socket; a runtime fd here
  // would mean one was closed and reused meanwhile, and it must not reach the container.
  for (int target = 0; target < count; target++) {
    if (IsRuntimeFd(plan, MapEntry(plan, target))) Fail(kStage1, kStepStdio, EBADF, target);
  }
  int moved = MoveToOrAbove(g_sync_fd, count);
  if (moved < 0) Fail(kStage1, kStepStdio, errno, -1);
  g_sync_fd = moved;  // Fail reports on the old number until here, which is still open
  int* own[] = {&plan.console_socket_fd, &plan.exec_fifo_fd};
  for (int* fd : own) {
    if (*fd < 0) continue;  // none
    *fd = MoveToOrAbove(*fd, count);
    if (*fd < 0) Fail(kStage1, kStepStdio, errno, -1);
  }
  for (int i = 0; i < plan.join_count; i++) {
    plan.joins[i].fd = MoveToOrAbove(plan.joins[i].fd, count);
    if (plan.joins[i].fd < 0) Fail(kStage1, kStepStdio, errno, -1);
  }
  for (int i = 0; i < plan.mount_count; i++) {
    if (plan.mounts[i].source_fd < 0) continue;
    plan.mounts[i].source_fd = MoveToOrAbove(plan.mounts[i].source_fd, count);
    if (plan.mounts[i].source_fd < 0) Fail(kStage1, kStepStdio, errno, -1);
  }
  for (int target = 0; target < count; target++) {
    int copy = fcntl(MapEntry(plan, target), F_DUPFD_CLOEXEC, count);
    if (copy < 0) Fail(kStage1, kStepStdio, errno, target);
    MapEntry(plan, target) = copy;
  }
  // dup2 clears FD_CLOEXEC on the target (the copy is never the target itself: it is above).
  for (int target = 0; target < count; target++) {
    if (dup2(MapEntry(plan, target), target) < 0) Fail(kStage1, kStepStdio, errno, target);
  }
  for (int target = 0; target < count; target++) {
    close(MapEntry(plan, target));
    MapEntry(plan, target) = target;
  }
}

// Closes every fd the Node process had except the container's fds 0..2+extra (MapStdio) and
// the runtime's own that the plan names, all above that range by now: close_range over each gap
// between two kept fds, found in order (a scan per kept fd: no list to sort, however many).
void CloseInheritedFds(const Plan& plan) {
  unsigned next = 3 + (unsigned)plan.extra_fd_count;
  for (;;) {
    long kept = -1;  // the lowest kept fd at or above next
    ForEachRuntimeFd(plan, [&](int fd) {
      if (fd >= 0 && (unsigned)fd >= next && (kept < 0 || fd < kept)) kept = fd;
    });
    if (kept < 0) break;
    if ((unsigned)kept > next) syscall(SYS_close_range, next, (unsigned)kept - 1, 0);
    next = (unsigned)kept + 1;
  }
  syscall(SYS_close_range, next, ~0U, 0);
}

[[noreturn]] void RunStage1(Plan& plan, int sync_fd) {
  g_sync_fd = sync_fd;
  // Every signal is blocked (SpawnInit blocked them all around clone): a signal that arrives
  // now stays pending until the dispositions Node installed are back to SIG_DFL, so no Node
  // handler ever runs in this copy of the process. ResetSignals unblocks last, as posix_spawn.
  ResetSignals();
  prctl(PR_SET_NAME, "tsrunc:[1:NS]", 0, 0, 0);
  MapStdio(plan);
  CloseInheritedFds(plan);
  // Die with the runtime while the container is still being built.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // Not dumpable before joining anything: a process already in a joined namespace must not
  // reach us through /proc/<pid>/{exe,fd,environ} or ptrace (CVE-2019-5736, CVE-2016-9962).
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) Fail(kStage1, kStepDumpable, errno);

  if (plan.set_oom_score_adj) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    char value[24] = "";
    AppendInt(value, sizeof(value), plan.oom_score_adj);
    if (fd < 0 || !WriteAll(fd, value, StrLen(value))) Fail(kStage1, kStepOomScoreAdj, errno);
    close(fd);
  }
  RaiseHardLimits(plan);
  for (int i = 0; i < plan.join_count; i++) {
    if (setns(plan.joins[i].fd, plan.joins[i].type) < 0) Fail(kStage1, kStepSetns, errno, i);
    close(plan.joins[i].fd);
  }
  bool in_user_namespace = plan.new_user_namespace;
  for (int i = 0; i < plan.join_count; i++)
    in_user_namespace |= plan.joins[i].type == CLONE_NEWUSER;
  if (plan.new_user_namespace && unshare(CLONE_NEWUSER) < 0) Fail(kStage1, kStepUnshareUser, errno);

  SendRecord(kIntermediateReady, kStage1, 0, 0, 0, getpid());
  Expect(kStage1, kIntermediateGo);

  if (in_user_namespace) {
    if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0) {
      Fail(kStage1, kStepBecomeRoot, errno);
    }
  }
  if (plan.new_namespace_flags != 0 && unshare(plan.new_namespace_flags) < 0) {
    Fail(kStage1, kStepUnshare, errno);
  }
  if (plan.time_offsets[0] != '\0') {
    int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || !WriteAll(fd, plan.time_offsets, StrLen(plan.time_offsets))) {
      Fail(kStage1, kStepTimeOffsets, errno);
    }
    close(fd);
  }
  // CLONE_PARENT: the init becomes a child of the runtime process itself (not of this
  // short-lived stage), so `tsrunc run` can wait for it and a subreaper above inherits it.
  // The init shares the sync socket; it must not speak before InitPid is sent, so it waits for
  // this pipe to close, which happens when stage 1 exits right after sending.
  int order[2];
  if (pipe2(order, O_CLOEXEC) < 0) Fail(kStage1, kStepCloneInit, errno);
  long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) Fail(kStage1, kStepCloneInit, errno);
  if (pid == 0) {
    close(order[1]);
    char byte;
    while (read(order[0], &byte, 1) < 0 && errno == EINTR) {
    }
    close(order[0]);
    RunStage2(plan);
  }
  SendRecord(kInitPid, kStage1, 0, 0, 0, (int32_t)pid);
  _exit(0);
}

}  // namespace tsrunc
