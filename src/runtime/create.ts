// `create`: validate, plan, clone the init, drive the handshake, save the state. The init is
// left blocked on the exec fifo until `start`.
//
// Plan before acquire: everything that can fail for a reason the user can fix (the config, the
// rootfs, cgroup controllers, namespace paths, the console socket, seccomp, capabilities, bind
// sources) is checked and the whole launch plan built before the id is reserved or anything is
// made, so a bad config leaves no trace by construction. From the reservation on, the create
// holds the container's lock; a failure after it removes all it made: the init and stage-1
// processes, fds, cgroups, mounts, the state dir.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type BuiltPlan, buildPlan, resolveRootfs } from '../plan/build';
import { cgroupsForNewContainer, type CgroupManager, type NewContainerCgroups } from '../cgroups';
import { warmCgroupMigration } from '../cgroups/migration-warmup';
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
import { CONTAINER_EXISTS, configError, RuntimeError } from '../errors';
import { type CreateStep, requireAbsolute, type RuntimeContext } from './context';
import { hookState, runHooks } from './hooks';
import type { ContainerLock } from './locks';
import { openNamespaceJoins } from './namespaces';
import { runCreateHandshake } from './protocol';
import type { ChildWatch } from './reaper';
import { bounded, SpawnAttempt } from './spawn-attempt';

/** How long a killed straggler may take to be reaped (a frozen cgroup holds SIGKILL). */
const STRAGGLER_REAP_MS = 10_000;
import { checkConsoleSocketFd, consoleSocketForPlan } from './console';
import { sendSeccompListener } from './seccomp-listener';
import { mountIdsAtOrBelow, unmountContainerMounts } from './shared-mounts';
import { homeOf } from '../plan/passwd';
import { openStdio, type StdioMap } from './stdio';

export interface CreateOptions {
  id: string;
  /** Absolute path of the bundle. */
  bundle: string;
  /** Absolute path of a unix socket that gets the pty master (process.terminal). */
  consoleSocket?: string;
  /** Instead of consoleSocket: a connected unix socket of the caller (an fd of this process)
   *  that gets the pty master. It stays the caller's: the library never closes it. */
  consoleSocketFd?: number;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  /** The init's stdio and extra fds (fds of this process); /dev/null where not given. A
   *  function is called once the config is validated (the CLI checks --preserve-fds there, in
   *  runc's order). */
  stdio?: StdioMap | (() => StdioMap);
}

export interface CreatedContainer {
  record: ContainerRecord;
  spec: Spec;
  /** The init, a child of this process: its exit, whenever it comes. */
  init: ChildWatch;
}

export async function createContainer(ctx: RuntimeContext, opts: CreateOptions): Promise<CreatedContainer> {
  validateContainerId(opts.id);
  requireAbsolute('bundle', opts.bundle);
  if (opts.consoleSocket !== undefined) requireAbsolute('--console-socket', opts.consoleSocket);
  checkConsoleSocketFd(opts);
  const bundle = path.normalize(opts.bundle);
  warmCgroupMigration();
  await ctx.turns.take();
  const loaded = loadConfig(bundle);
  const { spec, warnings } = validateConfig(loaded, { requireProcess: true });
  for (const warning of warnings) ctx.logger.warn(warning);
  checkTerminalOptions(spec, opts);
  const stdio = typeof opts.stdio === 'function' ? opts.stdio() : opts.stdio;
  const rootfs = resolveRootfs(spec, bundle);
  ctx.logger.debug(
    `create ${opts.id}: config ${path.join(bundle, 'config.json')} is valid, rootfs ${rootfs}`,
  );

  const attempt = new CreateAttempt(ctx, { ...opts, stdio }, bundle, rootfs, spec);
  try {
    attempt.prepare();
    await attempt.run();
    return { record: attempt.record, spec, init: attempt.init() };
  } catch (error) {
    await attempt.abandon();
    throw error;
  } finally {
    attempt.releaseLock();
  }
}

function checkTerminalOptions(spec: Spec, opts: CreateOptions): void {
  const terminal = spec.process?.terminal === true;
  if (terminal && !opts.consoleSocket && opts.consoleSocketFd === undefined) {
    throw configError('process.terminal', 'a terminal needs --console-socket to send the pty master to');
  }
  if (!terminal && opts.consoleSocket) {
    throw new RuntimeError('--console-socket is only for a container with process.terminal set');
  }
  if (!terminal && opts.consoleSocketFd !== undefined) {
    throw new RuntimeError('consoleSocketFd is only for a container with process.terminal set');
  }
}

function nowRfc3339Nano(now: Date): string {
  const iso = now.toISOString(); // 2026-11-22T06:35:16.388Z
  const extraNanos = String(process.hrtime.bigint() % 1_000_000n).padStart(6, '0');
  return `${iso.slice(0, 23)}${extraNanos}Z`;
}

/** One create, with everything it has acquired so far, so that `abandon` can undo it. */
class CreateAttempt extends SpawnAttempt {
  record: ContainerRecord;
  private readonly dir: string;
  private cgroups: NewContainerCgroups | null = null;
  /** Processes found in the container's cgroup before create (runc warns of them). */
  private cgroupOccupants = 0;
  private madeCgroups: CgroupManager | null = null;
  private built: BuiltPlan | null = null;
  private lock: ContainerLock | null = null;
  private reserved = false;

  constructor(
    ctx: RuntimeContext,
    private readonly opts: CreateOptions,
    bundle: string,
    rootfs: string,
    private readonly spec: Spec,
  ) {
    super(ctx);
    this.dir = stateDir(ctx.root, opts.id);
    this.record = {
      ociVersion: OCI_SPEC_VERSION,
      id: opts.id,
      initPid: 0,
      initStartTime: '',
      bundle,
      rootfs,
      created: nowRfc3339Nano(ctx.clock.now()),
      owner: '',
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
      phase: 'creating',
      config: spec,
      noPivot: opts.noPivot === true,
    };
  }

  /** Everything that can fail for a reason the user can fix; nothing made yet but fds. */
  prepare(): void {
    // Before the checks of the cgroup that is already there: a second create of an id would
    // otherwise hear of the first one's cgroup (busy, or paused) instead. The reservation
    // stays the check that counts.
    if (fs.existsSync(this.dir)) throw new RuntimeError(CONTAINER_EXISTS);
    const hostMounts = readMountInfo();
    const cgroups = cgroupsForNewContainer(
      this.spec.linux?.cgroupsPath,
      this.opts.id,
      this.ctx.systemdCgroup,
      hostMounts,
    );
    // A limit this host has no controller for fails the create before anything is made.
    cgroups.manager.requireControllers(this.spec.linux?.resources, { update: false });
    // runc's checks, and words, for a cgroup that is already there: stage 1 and the init would
    // freeze the moment they joined a frozen one; processes of others are only worth a warning.
    cgroups.manager.checkNotFrozen();
    // Said once the id is ours (run()): a create that loses the id to a concurrent one finds the
    // winner's init in the cgroup, and must say only that the container exists.
    this.cgroupOccupants = cgroups.manager.occupants().length;
    this.cgroups = cgroups;
    // Recorded before the directories exist, so `delete --force` finds them after a crash.
    this.record.cgroups = cgroups.manager.record;
    if (!(this.spec.linux?.namespaces ?? []).some((ns) => ns.type === 'mount')) {
      this.record.mountsBeforeCreate = mountIdsAtOrBelow(this.record.rootfs, hostMounts);
    }
    const joins = openNamespaceJoins(this.ctx.native, this.spec.linux?.namespaces ?? [], (fd) =>
      this.keep(fd),
    );
    const stdio = openStdio(this.opts.stdio as StdioMap | undefined, (fd) => this.keep(fd));
    this.built = buildPlan(this.spec, {
      id: this.opts.id,
      bundle: this.record.bundle,
      noPivot: this.opts.noPivot === true,
      noNewKeyring: this.opts.noNewKeyring === true,
      stdio,
      // The console socket is connected and the exec fifo made once the id is reserved (a
      // create that loses the id must not touch the caller's console socket, as with runc);
      // their fds go into the plan then.
      consoleSocketFd: -1,
      execFifoFd: -1,
      joins,
      // Bind sources of a container in a user namespace: copies made here, where the
      // container's root might not reach them; the init attaches them (NativeMount.sourceFd).
      openBindSource: (source, recursive, propagation) =>
        this.keep(this.ctx.native.openTreeClone(source, recursive, propagation)),
      lastCap: lastCapability(),
      hostMounts,
      cgroups: cgroups.paths,
      warn: (message) => this.ctx.logger.warn(message),
      debug: (message) => this.ctx.logger.debug(message),
      homeOf: (uid) => homeOf(this.ctx.native, this.record.rootfs, uid),
    });
  }

  async run(): Promise<void> {
    const n = this.ctx.native;
    const built = this.built!;
    const cgroups = this.cgroups!.manager;
    this.lock = await reserveContainer(this.ctx.root, this.record, n, (dir) =>
      this.ctx.locks.lockNewDir(dir, this.opts.id),
    );
    this.reserved = true;
    this.debug(`reserved ${this.dir}`);
    if (this.cgroupOccupants > 0)
      this.ctx.logger.warn(`container's cgroup is not empty: ${this.cgroupOccupants} process(es) found`);
    await this.step('reserved');
    this.madeCgroups = cgroups;
    // cgroup dirs, the fifo and the clone: the heaviest synchronous stretch of a create.
    await this.ctx.turns.take();
    cgroups.create();
    this.debug(`cgroups made in ${Object.keys(cgroups.record.dirs).length} hierarchies`);
    await this.step('cgroups');
    const fifoPath = path.join(this.dir, EXEC_FIFO);
    n.mkfifo(fifoPath, 0o600);
    const rootUid = hostIdOfRoot(this.spec.linux?.uidMappings);
    const rootGid = hostIdOfRoot(this.spec.linux?.gidMappings);
    // The init opens the fifo as the container's user, in its user namespace.
    fs.chownSync(fifoPath, rootUid, rootGid);
    fs.chmodSync(fifoPath, 0o622);
    await this.step('fifo');
    // An O_PATH fd of the fifo itself, not of the state dir: until `start` the init holds it,
    // and through /proc/<init>/fd a process that may ptrace the init would reach only the fifo.
    const execFifoFd = this.keep(n.openPath(fifoPath, false));
    built.plan.execFifoFd = execFifoFd;
    built.plan.consoleSocketFd = consoleSocketForPlan(n, this.opts, (fd) => this.keep(fd));

    // Checked again right before stage 1 comes to join them: a dir may have been frozen since
    // prepare (or made below a parent frozen since).
    cgroups.checkNotFrozen();
    const spawned = n.spawnInit(built.plan);
    // Stage 1 holds its own copies of the fds the plan hands over: ours go.
    this.closeAll();
    const syncFd = this.spawned(spawned);
    this.debug(`stage 1 is pid ${spawned.intermediatePid}`);
    await this.step('spawned');

    await runCreateHandshake(n, syncFd, built, {
      onIntermediateReady: async (pid) => {
        // Before stage 1 unshares the cgroup namespace and clones the init, which inherits it.
        cgroups.join(pid);
        this.writeIdMappings(pid, built);
        await this.step('idmaps');
      },
      onInitPid: (pid) => this.adoptInit(pid),
      onRunCreateHooks: () => this.runCreateHooks(),
      onSeccompListener: (fd) =>
        sendSeccompListener(n, this.spec.linux?.seccomp ?? {}, fd, this.record, 'creating', this.childPid),
      debug: (message) => this.debug(message),
    });
    await this.step('ready');

    // Limits apply once the rootfs is built (device nodes made) and before the process runs.
    cgroups.apply(this.spec.linux?.resources, { update: false, warn: (m) => this.ctx.logger.warn(m) });
    this.record.phase = 'created';
    await writeRecord(this.ctx.root, this.record);
    this.debug(`created: the init (pid ${this.record.initPid}) waits on the exec fifo`);
    await this.step('saved');
    this.closeAll();
  }

  init(): ChildWatch {
    return this.child!;
  }

  /** Undo everything: kill the children, close fds, unmount, remove cgroups and the state dir. */
  async abandon(): Promise<void> {
    // A process frozen with its cgroup (frozen after the check) dies of SIGKILL once thawed.
    await this.abandonProcesses(() => this.madeCgroups?.thawForKill());
    if (!this.reserved) return;
    // An init stage 1 cloned just before we gave up (its pid never reached us) is in the
    // container's cgroups, and our child (CLONE_PARENT): kill it and reap it.
    await this.killStragglers();
    for (const failure of unmountContainerMounts(this.ctx.native, this.record)) {
      this.ctx.logger.warn(`cleanup after a failed create: unmount ${failure}`);
    }
    try {
      await this.madeCgroups?.destroy();
    } catch (error) {
      this.ctx.logger.warn(`cleanup after a failed create: ${(error as Error).message}`);
    }
    removeContainerDir(this.ctx.root, this.opts.id);
  }

  private async killStragglers(): Promise<void> {
    const cgroups = this.madeCgroups;
    if (!cgroups) return;
    const ours = [];
    for (const pid of cgroups.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        continue; // gone
      }
      const watch = this.ctx.reaper.adoptIfChild(pid);
      if (watch) ours.push(bounded(watch.wait(), STRAGGLER_REAP_MS));
    }
    await Promise.all(ours);
  }

  releaseLock(): void {
    this.lock?.release();
    this.lock = null;
  }

  private debug(message: string): void {
    this.ctx.logger.debug(`create ${this.opts.id}: ${message}`);
  }

  private step(step: CreateStep): Promise<void> | void {
    return this.ctx.onCreateStep?.(step, this.opts.id, this.record.initPid);
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

  private async adoptInit(pid: number): Promise<void> {
    this.adoptChild(pid);
    // Stage 1 exits right after sending the pid (the init waits for that): reap it now.
    await this.intermediateGone();
    this.record.initPid = pid;
    this.record.initStartTime = processStartTime(pid) ?? '';
    // Saved now so that a create killed from here on leaves a record `delete --force` can use.
    await writeRecord(this.ctx.root, this.record);
    await this.step('initpid');
  }

  private async runCreateHooks(): Promise<void> {
    const hooks = this.spec.hooks ?? {};
    await this.step('hooks');
    const state = hookState(this.record, 'creating', this.childPid);
    const kinds = ['prestart', 'createRuntime', 'createContainer'] as const;
    const total = kinds.reduce((n, kind) => n + (hooks[kind]?.length ?? 0), 0);
    this.debug(`rootfs built, before pivot_root: ${total} prestart, createRuntime and createContainer hooks`);
    // prestart (deprecated) runs at the same point as createRuntime, as runc does.
    await runHooks('prestart', hooks.prestart, state, {});
    await runHooks('createRuntime', hooks.createRuntime, state, {});
    await runHooks('createContainer', hooks.createContainer, state, {
      enterPid: this.childPid,
      enterCwd: true,
    });
  }
}

function hostIdOfRoot(mappings: { containerID: number; hostID: number; size: number }[] | undefined): number {
  const mapping = mappings?.find((m) => m.containerID === 0);
  return mapping ? mapping.hostID : 0;
}
