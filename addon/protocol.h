// The parent/child sync protocol: the one source of its message types and failure steps.
// scripts/build-protocol.js reads the two enums below (each enumerator `kName = number,` on a
// line of its own) and generates src/plan/generated/protocol.ts from them, so the TypeScript side
// (src/runtime/protocol.ts) names the same numbers and must describe every step. The message
// order is drawn at the top of addon/child.cc.
#pragma once

#include <stdint.h>

namespace tsrunc {

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

enum SyncType : int32_t {
  kIntermediateReady = 1,  // stage 1 -> parent: namespaces joined/unshared; id maps, cgroups now
  kIntermediateGo = 2,     // parent -> stage 1: maps written, go on
  kInitPid = 3,            // stage 1 -> parent: the init was cloned; `pid` is its host pid
  kRunCreateHooks = 4,     // init -> parent: rootfs built, before pivot_root: create hooks
  kCreateHooksDone = 5,    // parent -> init: hooks done, go on
  kInitReady = 6,          // init -> parent: ready; it now blocks on the exec fifo until `start`
  kError = 7,              // child -> parent: failure {stage, step, error, index}; then _exit(1)
  kSeccompNotifyFd = 8,    // init -> parent: the seccomp listener fd attached (SCM_RIGHTS)
  kSeccompNotifyDone = 9,  // parent -> init: the listener has the fd, go on
};

// What a child was doing when it failed (SyncRecord.step of an kError record).
enum Step : int32_t {
  // stage 1
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
  kStepStdio = 11,  // index: the container's fd, or -1 moving the runtime's own fds

  // stage 2
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
  kStepSeccomp = 53,
  kStepSeccompNotifyFd = 54,
  kStepSeccompCapset = 55,
  kStepChroot = 56,
  kStepMountNotDirectory = 57,  // proc or sysfs onto a symlink or a non-directory
  kStepMountReadonlyLate = 58,  // the late read-only remount of a tmpfs or /dev
  kStepMountSetattr = 59,       // mount_setattr(AT_RECURSIVE) of the recursive options

  kStepSysctlProcfs = 60,
  kStepExecFifoProcfs = 61,
  kStepHooksCwd = 62,     // chdir into the rootfs, the cwd of the createContainer hooks
  kStepNoPivotHide = 63,  // --no-pivot: unmount (or cover) the host's full proc and sysfs
};

}  // namespace tsrunc
