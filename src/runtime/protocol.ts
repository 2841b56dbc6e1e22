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
import { MESSAGE_NAMES, STEP_NAMES, type StepName } from '../plan/generated/protocol';
import { SyncMessage, type SyncRecord } from '../plan/types';
import { RuntimeError } from '../errors';
import { readWhenReady } from './fd-wait';

export interface HandshakeHandlers {
  /** Stage 1 has its user namespace: write id maps (and join cgroups, later). */
  onIntermediateReady(intermediatePid: number): Promise<void> | void;
  /** The init exists; its host pid. */
  onInitPid(initPid: number): Promise<void> | void;
  /** Mounts are done, pivot_root is next: createRuntime and createContainer hooks. */
  onRunCreateHooks(): Promise<void>;
  /** The init loaded a notifying seccomp filter: its listener fd, to pass on (then closed). */
  onSeccompListener(listenerFd: number): Promise<void> | void;
  /** A debug line per message of the handshake (--debug). */
  debug?(message: string): void;
}

// How long the child may take for one step of its own (hooks run on our side, untimed here).
const STEP_TIMEOUT_MS = 60_000;

export async function runCreateHandshake(
  native: NativeBinding,
  syncFd: number,
  built: BuiltPlan,
  handlers: HandshakeHandlers,
  stepTimeoutMs = STEP_TIMEOUT_MS,
): Promise<void> {
  const order = [
    SyncMessage.IntermediateReady,
    SyncMessage.InitPid,
    ...(built.plan.execMode ? [] : [SyncMessage.RunCreateHooks]),
    ...(built.plan.seccomp?.notify ? [SyncMessage.SeccompNotifyFd] : []),
    SyncMessage.InitReady,
  ];
  for (const expected of order) {
    // Waited for on the event loop: other containers' operations go on meanwhile.
    const received = await readWhenReady(native, syncFd, stepTimeoutMs, () => native.syncTryRecv(syncFd));
    const record = received === 'eof' ? null : received;
    // Only an expected SeccompNotifyFd carries an fd; one on any other record is closed unread.
    const fdExpected = expected === SyncMessage.SeccompNotifyFd && record?.type === expected;
    if (record !== null && record.fd >= 0 && !fdExpected) {
      native.closeFd(record.fd);
    }
    if (received === null) {
      throw new RuntimeError(
        `unable to start container process: timed out after ${stepTimeoutMs / 1000} s waiting for ${messageName(expected)}`,
      );
    }
    if (record === null) {
      throw new RuntimeError('unable to start container process: container init exited during setup');
    }
    if (record.type === SyncMessage.Error) throw new RuntimeError(describeFailure(record, built, native));
    if (record.type !== expected) {
      throw new RuntimeError(
        `unable to start container process: unexpected sync message ${messageName(record.type)}, wanted ${messageName(expected)}`,
      );
    }
    const carriesPid = record.type === SyncMessage.IntermediateReady || record.type === SyncMessage.InitPid;
    handlers.debug?.(`child sent ${messageName(record.type)}${carriesPid ? ` (pid ${record.pid})` : ''}`);
    switch (record.type) {
      case SyncMessage.IntermediateReady:
        await handlers.onIntermediateReady(record.pid);
        native.syncSend(syncFd, SyncMessage.IntermediateGo);
        break;
      case SyncMessage.InitPid:
        await handlers.onInitPid(record.pid);
        break;
      case SyncMessage.RunCreateHooks:
        await handlers.onRunCreateHooks();
        native.syncSend(syncFd, SyncMessage.CreateHooksDone);
        break;
      case SyncMessage.SeccompNotifyFd:
        if (record.fd < 0)
          throw new RuntimeError('unable to start container process: no seccomp listener fd');
        try {
          await handlers.onSeccompListener(record.fd);
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

const messageName = (type: number): string => MESSAGE_NAMES[type] ?? `#${type}`;

type Describe = (record: SyncRecord, built: BuiltPlan) => string;

const at = (list: readonly string[], index: number): string => list[index] ?? `#${index}`;

// Every step of addon/protocol.h, by name: a step added there and not described here does not
// compile.
export const FAILURE_STEPS: Record<Exclude<StepName, 'ExecLookup'>, Describe> = {
  Sync: () => 'sync with the runtime',
  Dumpable: () => 'set the process not dumpable',
  OomScoreAdj: (_, b) => `process.oomScoreAdj: write ${b.plan.oomScoreAdj} to oom_score_adj`,
  Rlimit: (r) => `process.rlimits[${r.index}]: setrlimit`,
  Setns: (r) => `linux.namespaces: join namespace #${r.index}`,
  UnshareUser: () => 'linux.namespaces: create the user namespace',
  BecomeRoot: () => 'linux.namespaces: become root in the user namespace',
  Unshare: () => 'linux.namespaces: create namespaces',
  TimeOffsets: () => 'linux.timeOffsets: write timens_offsets',
  CloneInit: () => 'clone the container init',
  Stdio: (r) =>
    r.index >= 0 ? `stdio: fd ${r.index}` : "stdio: move the runtime's own fds above the container's",
  Setsid: () => 'setsid',
  RootPropagation: () => 'linux.rootfsPropagation: set propagation of /',
  RootfsParentPrivate: (r) =>
    r.index === 1
      ? "root.path: no mount holds the rootfs in the container's mount namespace"
      : 'make the mount holding the rootfs private',
  RootfsBind: (_, b) => `root.path: bind ${b.plan.rootfs} onto itself`,
  OpenRootfs: () => 'root.path: open the rootfs',
  MountTarget: (r, b) => `${at(b.labels.mounts, r.index)}: prepare the mount destination`,
  // runc's words (no errno follows: see WHOLE_STEPS).
  MountNotDirectory: (r, b) =>
    `${at(b.labels.mounts, r.index)}: filesystem "${b.plan.mounts[r.index]?.fstype ?? ''}" must be mounted on ordinary directory`,
  Mount: (r, b) => `${at(b.labels.mounts, r.index)}: mount`,
  MountRemount: (r, b) => `${at(b.labels.mounts, r.index)}: remount with the mount options`,
  MountReadonlyLate: (r, b) => `${at(b.labels.mounts, r.index)}: remount read-only`,
  MountSetattr: (r, b) => `${at(b.labels.mounts, r.index)}: set the recursive mount options (mount_setattr)`,
  MountPropagation: (r, b) => `${at(b.labels.mounts, r.index)}: set mount propagation`,
  Device: (r, b) => `${at(b.labels.devices, r.index)}: create the device`,
  Symlink: (r, b) => `/dev symlink ${at(b.labels.symlinks, r.index)}`,
  CwdCreate: (_, b) => `process.cwd: create ${b.plan.cwd}`,
  PivotRoot: (_, b) => (b.plan.noPivot ? 'chroot into the rootfs' : 'pivot_root into the rootfs'),
  Console: (r) => `process.terminal: set up the console (step ${r.index})`,
  MaskPath: (r, b) => `linux.maskedPaths[${r.index}] (${at(b.plan.maskedPaths, r.index)}): mask`,
  ReadonlyPath: (r, b) =>
    `linux.readonlyPaths[${r.index}] (${at(b.plan.readonlyPaths, r.index)}): make read-only`,
  RootReadonly: () => 'root.readonly: remount the rootfs read-only',
  Sysctl: (r, b) => `linux.sysctl: write ${b.plan.sysctl[r.index]?.path.replace(/\//g, '.') ?? r.index}`,
  Hostname: () => 'hostname: sethostname',
  Domainname: () => 'domainname: setdomainname',
  Keyring: () => 'join a new session keyring',
  Personality: () => 'linux.personality: personality',
  Setgroups: () => 'process.user.additionalGids: setgroups',
  Setgid: (_, b) => `process.user.gid: setgid ${b.plan.gid}`,
  Setuid: (_, b) => `process.user.uid: setuid ${b.plan.uid}`,
  CapBounding: (r) => `process.capabilities.bounding: drop capability ${r.index}`,
  Capset: () => 'process.capabilities: capset',
  CapAmbient: (r) => `process.capabilities.ambient: raise capability ${r.index}`,
  NoNewPrivileges: () => 'process.noNewPrivileges: prctl',
  Chdir: (_, b) => `process.cwd: chdir to ${b.plan.cwd}`,
  CwdUnreachable: (_, b) => `process.cwd: ${b.plan.cwd} is outside the container root`,
  Seccomp: () => 'linux.seccomp: load the filter',
  SeccompNotifyFd: () => 'linux.seccomp: send the listener fd to the runtime',
  SeccompCapset: () => 'process.capabilities: capset after loading the seccomp filter',
  Chroot: (_, b) => `root.path: chroot into ${b.plan.rootfs}`,
  SysctlProcfs: (r) => `linux.sysctl: open a private procfs (step ${r.index})`,
  HooksCwd: (_, b) => `root.path: chdir into ${b.plan.rootfs} for the createContainer hooks`,
  NoPivotHide: (r) => `--no-pivot: unmount the host's proc and sysfs mounts (step ${r.index})`,
  ExecFifoProcfs: () =>
    'open a procfs for the exec fifo (no private procfs could be made and /proc is not procfs)',
};

/** Steps whose description says it all: the errno behind them would only repeat it. */
const WHOLE_STEPS: ReadonlySet<StepName> = new Set<StepName>(['MountNotDirectory']);

export function describeFailure(
  record: SyncRecord,
  built: BuiltPlan,
  native: Pick<NativeBinding, 'strerror'>,
): string {
  const reason = native.strerror(record.errno).toLowerCase();
  const stepName = STEP_NAMES[record.step];
  // runc's wording for a missing binary; callers and users know it.
  if (stepName === 'ExecLookup') {
    const name = built.plan.executable ?? built.plan.args[0];
    const what =
      record.errno === 2
        ? name.includes('/')
          ? 'no such file or directory'
          : 'executable file not found in $PATH'
        : reason;
    return `unable to start container process: exec: "${name}": ${what}`;
  }
  const describe = stepName === undefined ? undefined : FAILURE_STEPS[stepName];
  const step = describe ? describe(record, built) : `step ${record.step}`;
  if (stepName !== undefined && WHOLE_STEPS.has(stepName))
    return `unable to start container process: ${step}`;
  return `unable to start container process: ${step}: ${reason}`;
}
