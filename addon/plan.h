// The launch plan as plain C data. binding.cc decodes the JavaScript plan into this before
// clone(); the child only reads it. Nothing here may allocate once the child runs.
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

namespace tsrunc {

struct MountRecord {
  const char* source;
  const char* destination;
  const char* fstype;
  unsigned long flags;
  unsigned long propagation;
  const char* data;
  unsigned long remount_flags;
  bool destination_is_file;
  bool no_symlinks;
  // Non-zero: bind-remount with these flags once the rootfs is complete (a read-only tmpfs or
  // /dev is made read-write first, so mount points and device nodes can be made in it).
  unsigned long readonly_late_flags;
  // MOUNT_ATTR_* set and cleared on the mount and every mount below it (mount_setattr with
  // AT_RECURSIVE; 0 and 0: no call). Optional: ENOSYS is no error.
  uint64_t recursive_attr_set;
  uint64_t recursive_attr_clear;
  bool recursive_attr_optional;
  // A bind whose source the runtime opened before the user namespace could stand in its way:
  // a detached copy of the source mount (open_tree OPEN_TREE_CLONE), attached with move_mount
  // instead of mount(source). -1: mount `source` by path.
  int source_fd;
};

struct DeviceRecord {
  const char* path;
  unsigned type;  // S_IFCHR, S_IFBLK, S_IFIFO
  unsigned major;
  unsigned minor;
  unsigned mode;
  uid_t uid;
  gid_t gid;
  bool bind_from_host;
};

struct SymlinkRecord {
  const char* target;
  const char* path;
};

struct NamespaceJoin {
  int type;
  int fd;
};

struct RlimitRecord {
  int resource;
  uint64_t soft;
  uint64_t hard;
};

struct SysctlRecord {
  const char* path;  // relative to /proc/sys
  const char* value;
};

// How the process gets its root directory.
enum RootEntry : int {
  // `exec` into a container with a mount namespace: joining it gave us its root.
  kEnterNone = 0,
  // A mount namespace of the container's own (new or joined by path): bind the rootfs onto
  // itself, build it there, pivot_root (or MS_MOVE + chroot with --no-pivot).
  kEnterPivotRoot = 1,
  // No mount namespace: the container shares the runtime's (runtime-spec), so "/" stays as it
  // is and the process chroots into the rootfs.
  kEnterChroot = 2,
};

// The stage-1 child runs on its own copy of the Plan (the copy-on-write image of the parent's
// memory after the raw clone) and rewrites some fds in it: it moves the runtime's own fds
// (sync socket, console socket, exec fifo, namespace files) above the container's fd range
// before it builds that range (MapStdio in child.cc). The parent's Plan never changes.
struct Plan {
  // stage 1
  NamespaceJoin* joins;
  int join_count;
  bool new_user_namespace;
  int new_namespace_flags;
  const char* time_offsets;  // "" for none
  bool set_oom_score_adj;
  int oom_score_adj;
  const RlimitRecord* rlimits;
  int rlimit_count;
  const char* session_keyring;  // nullptr: keep the caller's keyring

  // stage 2
  const char* rootfs;
  // Build the root filesystem (mounts, devices, /dev links, the cwd) below `rootfs`: `create`.
  bool build_rootfs;
  RootEntry enter_root;
  // kEnterPivotRoot: the propagation of "/" before anything else (MS_SLAVE|MS_REC by default),
  // and the one "/" gets after pivot_root (0: none). Unused otherwise: without a mount namespace
  // of the container's own, the runtime's "/" is not ours to change.
  unsigned long root_propagation;
  unsigned long root_propagation_after_pivot;
  bool root_readonly;
  bool no_pivot;
  MountRecord* mounts;  // not const: stage 1 moves the source fds (MapStdio)
  int mount_count;
  const DeviceRecord* devices;
  int device_count;
  const SymlinkRecord* symlinks;
  int symlink_count;
  const char* const* masked_paths;
  int masked_count;
  const char* const* readonly_paths;
  int readonly_count;
  const SysctlRecord* sysctls;
  int sysctl_count;
  const char* hostname;    // nullptr: leave
  const char* domainname;  // nullptr: leave
  const char* cwd;

  // process
  // `tsrunc exec`: every namespace is joined, no create hooks point, no /dev/console mount.
  bool exec_mode;
  char* const* argv;
  char* const* envp;
  const char* search_path;
  // The file to execute (a hook's path); nullptr: argv[0], looked up in search_path.
  const char* executable;
  uid_t uid;
  gid_t gid;
  const gid_t* additional_gids;
  int additional_gid_count;
  int umask_value;  // -1: leave
  bool has_capabilities;
  uint64_t cap_bounding;
  uint64_t cap_effective;
  uint64_t cap_permitted;
  uint64_t cap_inheritable;
  uint64_t cap_ambient;
  int cap_last;
  bool no_new_privileges;
  int personality_domain;  // -1: leave
  bool terminal;
  unsigned console_rows;  // 0 with console_columns 0: leave the pty's size
  unsigned console_columns;
  int console_socket_fd;
  int exec_fifo_fd;  // O_PATH fd of the exec fifo, or -1
  // The container process's fds: the runtime's fd stdio_fds[i] becomes its fd i (0..2), and
  // extra_fds[i] its fd 3 + i. Any fds of the runtime: one may be listed twice, or be the
  // target number of another entry.
  int stdio_fds[3];
  int* extra_fds;
  int extra_fd_count;

  // linux.seccomp, compiled in the parent (addon/seccomp.cc): struct sock_filter[] or nullptr.
  // Loaded with the raw seccomp(2) syscall; see RunStage2 for when.
  const void* seccomp_filter;
  unsigned short seccomp_instructions;
  unsigned seccomp_flags;  // SECCOMP_FILTER_FLAG_* (NEW_LISTENER included when it notifies)
  bool seccomp_notify;     // load before InitReady and send the listener fd to the parent
};

// Entry point of the stage-1 child; never returns. `plan` is the child's own copy (see Plan).
[[noreturn]] void RunStage1(Plan& plan, int sync_fd);

}  // namespace tsrunc
