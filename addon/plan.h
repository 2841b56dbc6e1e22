// The launch plan as plain C data. binding.cc decodes the JavaScript plan into this before
// clone(); the child only reads it. Nothing here may allocate once the child runs.
#pragma once

#include <stdint.h>
#include <sys/types.h>

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

struct Plan {
  // stage 1
  const NamespaceJoin* joins;
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
  const char* rootfs_parent_mount;
  bool setup_rootfs;
  unsigned long root_propagation;
  bool root_readonly;
  bool no_pivot;
  const MountRecord* mounts;
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
  int preserve_fds;

  // linux.seccomp, compiled in the parent (addon/seccomp.cc): struct sock_filter[] or nullptr.
  // Loaded with the raw seccomp(2) syscall; see RunStage2 for when.
  const void* seccomp_filter;
  unsigned short seccomp_instructions;
  unsigned seccomp_flags;  // SECCOMP_FILTER_FLAG_* (NEW_LISTENER included when it notifies)
  bool seccomp_notify;     // load before InitReady and send the listener fd to the parent
};

// One record on the sync socket, both directions. Fixed size: the receiver rejects any
// datagram of another length (no length-prefixed payloads to overflow).
struct SyncRecord {
  int32_t type;
  int32_t stage;
  int32_t step;
  int32_t error;  // errno
  int32_t index;
  int32_t pid;
};

// Keep in sync with SyncMessage in src/plan/types.ts.
enum SyncType : int32_t {
  kIntermediateReady = 1,
  kIntermediateGo = 2,
  kInitPid = 3,
  kRunCreateHooks = 4,
  kCreateHooksDone = 5,
  kInitReady = 6,
  kError = 7,
  kSeccompNotifyFd = 8,    // init -> parent, the listener fd attached (SCM_RIGHTS)
  kSeccompNotifyDone = 9,  // parent -> init
};

// Keep in sync with FAILURE_STEPS in src/runtime/protocol.ts.
enum Step : int32_t {
  kStepSync = 1,
  kStepDumpable = 2,
  kStepOomScoreAdj = 3,
  kStepRlimit = 4,
  kStepSetns = 5,
  kStepUnshareUser = 6,
  kStepBecomeRoot = 7,
  kStepUnshare = 8,
  kStepTimeOffsets = 9,
  kStepCloneInit = 10,

  kStepSetsid = 20,
  kStepRootPropagation = 21,
  kStepRootfsParentPrivate = 22,
  kStepRootfsBind = 23,
  kStepOpenRootfs = 24,
  kStepMountTarget = 25,
  kStepMount = 26,
  kStepMountRemount = 27,
  kStepMountPropagation = 28,
  kStepDevice = 29,
  kStepSymlink = 30,
  kStepCwdCreate = 31,
  kStepPivotRoot = 32,
  kStepConsole = 33,
  kStepMaskPath = 34,
  kStepReadonlyPath = 35,
  kStepRootReadonly = 36,
  kStepSysctl = 37,
  kStepHostname = 38,
  kStepDomainname = 39,
  kStepKeyring = 40,
  kStepPersonality = 41,
  kStepSetgroups = 42,
  kStepSetgid = 43,
  kStepSetuid = 44,
  kStepCapBounding = 45,
  kStepCapset = 46,
  kStepCapAmbient = 47,
  kStepNoNewPrivileges = 48,
  kStepChdir = 49,
  kStepCwdUnreachable = 50,
  kStepExecLookup = 51,
  kStepPreserveFds = 52,
  kStepSeccomp = 53,
  kStepSeccompNotifyFd = 54,
  kStepSeccompCapset = 55,

  kStepSysctlProcfs = 60,
  kStepExecFifoProcfs = 61,
};

// Entry point of the stage-1 child; never returns.
[[noreturn]] void RunStage1(const Plan& plan, int sync_fd);

}  // namespace tsrunc
