// Parent side of the create handshake with the container's stage-1 and init processes.
// The message set and the diagram live at the top of addon/child.cc; this file is the one
// dispatcher that enforces their order: any record other than the next expected one (or an
// Error record) aborts the create.
//
//   expected order:  IntermediateReady -> InitPid -> RunCreateHooks -> [SeccompNotifyFd] ->
//                    InitReady (SeccompNotifyFd only when the seccomp filter notifies;
//                    no RunCreateHooks for `exec`, which joins a container that has its rootfs)
//   replies:         IntermediateGo after IntermediateReady, CreateHooksDone after RunCreateHooks,
//                    SeccompNotifyDone after SeccompNotifyFd
import type { NativeBinding } from '../native';
import type { BuiltPlan } from '../plan/build';
import { SyncMessage, type SyncRecord } from '../plan/types';
import { RuntimeError } from './errors';

export interface HandshakeHandlers {
  /** Stage 1 has its user namespace: write id maps (and join cgroups, later). */
  onIntermediateReady(intermediatePid: number): void;
  /** The init exists; its host pid. */
  onInitPid(initPid: number): void;
  /** Mounts are done, pivot_root is next: createRuntime and createContainer hooks. */
  onRunCreateHooks(): Promise<void>;
  /** The init loaded a notifying seccomp filter: its listener fd, to pass on (then closed). */
  onSeccompListener(listenerFd: number): void;
}

// How long the child may take for one step of its own (hooks run on our side, untimed here).
const STEP_TIMEOUT_MS = 60_000;

export async function runCreateHandshake(
  native: NativeBinding,
  syncFd: number,
  built: BuiltPlan,
  handlers: HandshakeHandlers,
): Promise<void> {
  const order = [
    SyncMessage.IntermediateReady,
    SyncMessage.InitPid,
    ...(built.plan.execMode ? [] : [SyncMessage.RunCreateHooks]),
    ...(built.plan.seccomp?.notify ? [SyncMessage.SeccompNotifyFd] : []),
    SyncMessage.InitReady,
  ];
  for (const expected of order) {
    const record = native.syncRecv(syncFd, STEP_TIMEOUT_MS);
    // Only an expected SeccompNotifyFd carries an fd; one on any other record is closed unread.
    const fdExpected = expected === SyncMessage.SeccompNotifyFd && record?.type === expected;
    if (record !== null && record.fd >= 0 && !fdExpected) {
      native.closeFd(record.fd);
    }
    if (record === null) {
      throw new RuntimeError(
        'unable to start container process: container init exited or timed out during setup',
      );
    }
    if (record.type === SyncMessage.Error) throw new RuntimeError(describeFailure(record, built, native));
    if (record.type !== expected) {
      throw new RuntimeError(
        `unable to start container process: unexpected sync message ${record.type}, wanted ${expected}`,
      );
    }
    switch (record.type) {
      case SyncMessage.IntermediateReady:
        handlers.onIntermediateReady(record.pid);
        native.syncSend(syncFd, SyncMessage.IntermediateGo);
        break;
      case SyncMessage.InitPid:
        handlers.onInitPid(record.pid);
        break;
      case SyncMessage.RunCreateHooks:
        await handlers.onRunCreateHooks();
        native.syncSend(syncFd, SyncMessage.CreateHooksDone);
        break;
      case SyncMessage.SeccompNotifyFd:
        if (record.fd < 0)
          throw new RuntimeError('unable to start container process: no seccomp listener fd');
        try {
          handlers.onSeccompListener(record.fd);
        } finally {
          native.closeFd(record.fd);
        }
        native.syncSend(syncFd, SyncMessage.SeccompNotifyDone);
        break;
      case SyncMessage.InitReady:
        break;
    }
  }
}

type Describe = (record: SyncRecord, built: BuiltPlan) => string;

const at = (list: readonly string[], index: number): string => list[index] ?? `#${index}`;

// Keep in sync with enum Step in addon/plan.h.
export const FAILURE_STEPS: Record<number, Describe> = {
  1: () => 'sync with the runtime',
  2: () => 'set the process not dumpable',
  3: (_, b) => `process.oomScoreAdj: write ${b.plan.oomScoreAdj} to oom_score_adj`,
  4: (r) => `process.rlimits[${r.index}]: setrlimit`,
  5: (r) => `linux.namespaces: join namespace #${r.index}`,
  6: () => 'linux.namespaces: create the user namespace',
  7: () => 'linux.namespaces: become root in the user namespace',
  8: () => 'linux.namespaces: create namespaces',
  9: () => 'linux.timeOffsets: write timens_offsets',
  10: () => 'clone the container init',
  20: () => 'setsid',
  21: () => 'linux.rootfsPropagation: set propagation of /',
  22: (_, b) => `make the mount ${b.plan.rootfsParentMount} private`,
  23: (_, b) => `root.path: bind ${b.plan.rootfs} onto itself`,
  24: () => 'root.path: open the rootfs',
  25: (r, b) => `${at(b.labels.mounts, r.index)}: prepare the mount destination`,
  26: (r, b) => `${at(b.labels.mounts, r.index)}: mount`,
  27: (r, b) => `${at(b.labels.mounts, r.index)}: remount with the mount options`,
  28: (r, b) => `${at(b.labels.mounts, r.index)}: set mount propagation`,
  29: (r, b) => `${at(b.labels.devices, r.index)}: create the device`,
  30: (r, b) => `/dev symlink ${at(b.labels.symlinks, r.index)}`,
  31: (_, b) => `process.cwd: create ${b.plan.cwd}`,
  32: (_, b) => (b.plan.noPivot ? 'chroot into the rootfs' : 'pivot_root into the rootfs'),
  33: (r) => `process.terminal: set up the console (step ${r.index})`,
  34: (r, b) => `linux.maskedPaths[${r.index}] (${at(b.plan.maskedPaths, r.index)}): mask`,
  35: (r, b) => `linux.readonlyPaths[${r.index}] (${at(b.plan.readonlyPaths, r.index)}): make read-only`,
  36: () => 'root.readonly: remount the rootfs read-only',
  37: (r, b) => `linux.sysctl: write ${b.plan.sysctl[r.index]?.path.replace(/\//g, '.') ?? r.index}`,
  38: () => 'hostname: sethostname',
  39: () => 'domainname: setdomainname',
  40: () => 'join a new session keyring',
  41: () => 'linux.personality: personality',
  42: () => 'process.user.additionalGids: setgroups',
  43: (_, b) => `process.user.gid: setgid ${b.plan.gid}`,
  44: (_, b) => `process.user.uid: setuid ${b.plan.uid}`,
  45: (r) => `process.capabilities.bounding: drop capability ${r.index}`,
  46: () => 'process.capabilities: capset',
  47: (r) => `process.capabilities.ambient: raise capability ${r.index}`,
  48: () => 'process.noNewPrivileges: prctl',
  49: (_, b) => `process.cwd: chdir to ${b.plan.cwd}`,
  50: (_, b) => `process.cwd: ${b.plan.cwd} is outside the container root`,
  52: (r) => `--preserve-fds: fd ${r.index}`,
  53: () => 'linux.seccomp: load the filter',
  54: () => 'linux.seccomp: send the listener fd to the runtime',
  55: () => 'process.capabilities: capset after loading the seccomp filter',
  60: (r) => `linux.sysctl: open a private procfs (step ${r.index})`,
  61: () => 'open a procfs for the exec fifo (no private procfs could be made and /proc is not procfs)',
};

export function describeFailure(
  record: SyncRecord,
  built: BuiltPlan,
  native: Pick<NativeBinding, 'strerror'>,
): string {
  const reason = native.strerror(record.errno).toLowerCase();
  // runc's wording for a missing binary; callers and users know it.
  if (record.step === 51) {
    const name = built.plan.args[0];
    const what =
      record.errno === 2
        ? name.includes('/')
          ? 'no such file or directory'
          : 'executable file not found in $PATH'
        : reason;
    return `unable to start container process: exec: "${name}": ${what}`;
  }
  const describe = FAILURE_STEPS[record.step];
  const step = describe ? describe(record, built) : `step ${record.step}`;
  return `unable to start container process: ${step}: ${reason}`;
}
