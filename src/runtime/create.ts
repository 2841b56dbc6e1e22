// `create`: validate, plan, clone the init, drive the handshake, save the state. The init is
// left blocked on the exec fifo until `start`. A create that fails at any step removes all it
// made: the init and stage-1 processes, fds, the state dir.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { native } from '../native';
import { type BuiltPlan, buildPlan, inheritedStdio, resolveRootfs } from '../plan/build';
import { cgroupsForNewContainer, type CgroupManager } from '../cgroups';
import { lastCapability, readMountInfo } from '../plan/host';
import type { Spec } from '../spec/types';
import { loadConfig, validateConfig } from '../spec/validate';
import {
  type ContainerRecord,
  EXEC_FIFO,
  OCI_SPEC_VERSION,
  processStartTime,
  removeContainerDir,
  reserveContainer,
  stateDir,
  validateContainerId,
  writeRecord,
} from '../state/store';
import { writeFileAtomic } from '../util/fs';
import { logger } from '../util/log';
import { configError, RuntimeError } from './errors';
import { hookState, runHooks } from './hooks';
import type { CreateOptions } from './options';
import { openNamespaceJoins } from './namespaces';
import { runCreateHandshake } from './protocol';
import { SpawnAttempt } from './spawn-attempt';
import { connectConsoleSocket } from './console';
import { sendSeccompListener } from './seccomp-listener';
import { mountIdsAtOrBelow, unmountContainerMounts } from './shared-mounts';

export interface CreatedContainer {
  record: ContainerRecord;
  spec: Spec;
}

export async function create(opts: CreateOptions): Promise<void> {
  await createContainer(opts);
}

export async function createContainer(opts: CreateOptions): Promise<CreatedContainer> {
  validateContainerId(opts.id);
  const bundle = path.resolve(opts.bundle);
  const loaded = loadConfig(bundle);
  const { spec, warnings } = validateConfig(loaded, { requireProcess: true });
  for (const warning of warnings) logger().warn(warning);
  checkTerminalOptions(spec, opts);
  checkPreservedFds(opts.preserveFds);
  const rootfs = resolveRootfs(spec, bundle);

  const attempt = new CreateAttempt(opts, bundle, rootfs, spec);
  reserveContainer(opts.root, attempt.record);
  faultPoint('reserved');
  try {
    await attempt.run();
    return { record: attempt.record, spec };
  } catch (error) {
    attempt.abandon();
    throw error;
  }
}

function checkTerminalOptions(spec: Spec, opts: CreateOptions): void {
  const terminal = spec.process?.terminal === true;
  if (terminal && !opts.consoleSocket) {
    throw configError('process.terminal', 'a terminal needs --console-socket to send the pty master to');
  }
  if (!terminal && opts.consoleSocket) {
    throw new RuntimeError('--console-socket is only for a container with process.terminal set');
  }
}

// Preserved fds are passed by our caller at 3..3+N-1. Node opens its own fds at startup (its
// epoll instance first, then pipes and eventfds) at the lowest free numbers, so every fd the
// caller passed lies below Node's epoll fd. An fd at or above it is Node's, and must not reach
// the container. (FD_CLOEXEC cannot tell: Node sets it on fds 0-15 at startup.)
function checkPreservedFds(count: number): void {
  if (!Number.isInteger(count) || count < 0) throw new RuntimeError(`--preserve-fds: invalid count ${count}`);
  if (count === 0) return;
  let firstOwnFd = Infinity;
  for (const name of fs.readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd < firstOwnFd && readLinkOrNull(`/proc/self/fd/${name}`) === 'anon_inode:[eventpoll]')
      firstOwnFd = fd;
  }
  for (let fd = 3; fd < 3 + count; fd++) {
    if (readLinkOrNull(`/proc/self/fd/${fd}`) === null)
      throw new RuntimeError(`--preserve-fds: fd ${fd} is not open`);
    if (fd >= firstOwnFd) throw new RuntimeError(`--preserve-fds: fd ${fd} was not passed to tsrunc`);
  }
}

function readLinkOrNull(link: string): string | null {
  try {
    return fs.readlinkSync(link);
  } catch {
    return null;
  }
}

function nowRfc3339Nano(): string {
  const iso = new Date().toISOString(); // 2026-11-22T06:35:16.388Z
  const extraNanos = String(process.hrtime.bigint() % 1_000_000n).padStart(6, '0');
  return `${iso.slice(0, 23)}${extraNanos}Z`;
}

/** One create, with everything it has acquired so far, so that `abandon` can undo it. */
class CreateAttempt extends SpawnAttempt {
  record: ContainerRecord;
  private readonly dir: string;
  private cgroups: CgroupManager | null = null;

  constructor(
    private readonly opts: CreateOptions,
    bundle: string,
    rootfs: string,
    private readonly spec: Spec,
  ) {
    super();
    this.dir = stateDir(opts.root, opts.id);
    this.record = {
      ociVersion: OCI_SPEC_VERSION,
      id: opts.id,
      initPid: 0,
      initStartTime: '',
      bundle,
      rootfs,
      created: nowRfc3339Nano(),
      owner: '',
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
      phase: 'creating',
      creatorPid: process.pid,
      creatorStartTime: processStartTime(process.pid) ?? '',
      config: spec,
      noPivot: opts.noPivot,
    };
  }

  async run(): Promise<void> {
    const n = native();
    const hostMounts = readMountInfo();
    const cgroups = cgroupsForNewContainer(
      this.spec.linux?.cgroupsPath,
      this.opts.id,
      this.opts.systemdCgroup,
      hostMounts,
    );
    // A limit this host has no controller for fails the create before anything is made.
    cgroups.manager.requireControllers(this.spec.linux?.resources, { update: false });
    // Recorded before the directories exist, so `delete --force` finds them after a crash.
    this.record.cgroups = cgroups.manager.record;
    if (!(this.spec.linux?.namespaces ?? []).some((ns) => ns.type === 'mount')) {
      this.record.mountsBeforeCreate = mountIdsAtOrBelow(this.record.rootfs, hostMounts);
    }
    writeRecord(this.opts.root, this.record);
    this.cgroups = cgroups.manager;
    cgroups.manager.create();
    faultPoint('cgroups');
    const fifoPath = path.join(this.dir, EXEC_FIFO);
    n.mkfifo(fifoPath, 0o600);
    const rootUid = hostIdOfRoot(this.spec.linux?.uidMappings);
    const rootGid = hostIdOfRoot(this.spec.linux?.gidMappings);
    // The init opens the fifo as the container's user, in its user namespace.
    fs.chownSync(fifoPath, rootUid, rootGid);
    fs.chmodSync(fifoPath, 0o622);
    faultPoint('fifo');
    // An O_PATH fd of the fifo itself, not of the state dir: until `start` the init holds it,
    // and through /proc/<init>/fd a process that may ptrace the init would reach only the fifo.
    const execFifoFd = this.keep(n.openPath(fifoPath, false));
    const consoleSocketFd = this.opts.consoleSocket
      ? this.keep(connectConsoleSocket(this.opts.consoleSocket))
      : -1;
    const joins = openNamespaceJoins(this.spec.linux?.namespaces ?? [], (fd) => this.keep(fd));

    const built = buildPlan(this.spec, {
      id: this.opts.id,
      bundle: this.record.bundle,
      noPivot: this.opts.noPivot,
      noNewKeyring: this.opts.noNewKeyring,
      stdio: inheritedStdio(this.opts.preserveFds),
      consoleSocketFd,
      execFifoFd,
      joins,
      lastCap: lastCapability(),
      hostMounts,
      cgroups: cgroups.paths,
      warn: (message) => logger().warn(message),
    });

    const syncFd = this.spawned(n.spawnInit(built.plan));
    faultPoint('spawned');
    // The children hold their own copies now.
    for (const join of joins) this.release(join.fd);
    if (consoleSocketFd >= 0) this.release(consoleSocketFd);

    await runCreateHandshake(n, syncFd, built, {
      onIntermediateReady: (pid) => {
        // Before stage 1 unshares the cgroup namespace and clones the init, which inherits it.
        cgroups.manager.join(pid);
        this.writeIdMappings(pid, built);
        faultPoint('idmaps');
      },
      onInitPid: (pid) => this.adoptInit(pid),
      onRunCreateHooks: () => this.runCreateHooks(),
      onSeccompListener: (fd) =>
        sendSeccompListener(this.spec.linux?.seccomp ?? {}, fd, this.record, 'creating', this.childPid),
    });
    faultPoint('ready');

    // Limits apply once the rootfs is built (device nodes made) and before the process runs.
    cgroups.manager.apply(this.spec.linux?.resources, { update: false });
    this.record.phase = 'created';
    writeRecord(this.opts.root, this.record);
    faultPoint('saved');
    if (this.opts.pidFile) writePidFile(path.resolve(this.opts.pidFile), this.childPid);
    this.release(syncFd);
    this.release(execFifoFd);
  }

  /** Undo everything: kill the children, close fds, remove the state dir. */
  abandon(): void {
    this.abandonProcesses();
    for (const failure of unmountContainerMounts(this.record)) {
      logger().warn(`cleanup after a failed create: unmount ${failure}`);
    }
    try {
      this.cgroups?.destroy();
    } catch (error) {
      logger().warn(`cleanup after a failed create: ${(error as Error).message}`);
    }
    removeContainerDir(this.opts.root, this.opts.id);
  }

  private writeIdMappings(pid: number, built: BuiltPlan): void {
    if (!built.plan.newUserNamespace) return;
    try {
      fs.writeFileSync(`/proc/${pid}/uid_map`, built.uidMappings);
    } catch (error) {
      throw configError('linux.uidMappings', `cannot write uid_map: ${(error as Error).message}`);
    }
    try {
      fs.writeFileSync(`/proc/${pid}/gid_map`, built.gidMappings);
    } catch (error) {
      throw configError('linux.gidMappings', `cannot write gid_map: ${(error as Error).message}`);
    }
  }

  private adoptInit(pid: number): void {
    this.adoptChild(pid);
    this.record.initPid = pid;
    this.record.initStartTime = processStartTime(pid) ?? '';
    // Saved now so that a create killed from here on leaves a record `delete --force` can use.
    writeRecord(this.opts.root, this.record);
    faultPoint('initpid');
  }

  private async runCreateHooks(): Promise<void> {
    const hooks = this.spec.hooks ?? {};
    faultPoint('hooks');
    const state = hookState(this.record, 'creating', this.childPid);
    // prestart (deprecated) runs at the same point as createRuntime, as runc does.
    await runHooks('prestart', hooks.prestart, state, {});
    await runHooks('createRuntime', hooks.createRuntime, state, {});
    await runHooks('createContainer', hooks.createContainer, state, { enterPid: this.childPid });
  }
}

function hostIdOfRoot(mappings: { containerID: number; hostID: number; size: number }[] | undefined): number {
  const mapping = mappings?.find((m) => m.containerID === 0);
  return mapping ? mapping.hostID : 0;
}

/**
 * The steps of `create` a test can stop at, in order: the state dir reserved, the cgroups made,
 * the exec fifo made, stage 1 spawned, the id maps written (and stage 1 in the cgroups), the init
 * pid recorded, the create hooks point (before the hooks run), InitReady received (state not yet
 * `created`), state `created` saved (pid file not yet written).
 */
type FaultStep =
  'reserved' | 'cgroups' | 'fifo' | 'spawned' | 'idmaps' | 'initpid' | 'hooks' | 'ready' | 'saved';

/**
 * Fault injection, for tests only: with TSRUNC_FAULT_STOP=<step> in the environment, create
 * stops itself (SIGSTOP) right after that step, so a test can look at the half-made container
 * and SIGKILL it there (or SIGCONT it to let it go on). Unset, it does nothing: one environment
 * lookup per step, in the create path only.
 */
function faultPoint(step: FaultStep): void {
  if (process.env.TSRUNC_FAULT_STOP === step) process.kill(process.pid, 'SIGSTOP');
}

function writePidFile(file: string, pid: number): void {
  try {
    writeFileAtomic(file, String(pid));
  } catch (error) {
    throw new RuntimeError(
      `--pid-file: cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
}
