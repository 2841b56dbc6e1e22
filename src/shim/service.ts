// The Task service (containerd.task.v2.Task) for every container of this shim process. Each
// container is created, started and deleted through the runtime library in-process; its init
// and exec'd processes are children of this process and their exits come from the library's
// reaper. One container's failure is an error reply for that request only.
//
// Per process the order of events is the runtime v2 contract: TaskCreate, TaskStart (or
// TaskExecAdded, TaskExecStarted), TaskExit, TaskDelete. A process's TaskExit waits for its own
// start to be published, and an init's waits for the exits of its container's exec'd processes
// (containerd#9719: docker exec hangs otherwise). Wait resolves only after the process's IO is
// drained and closed.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { CONTAINER_NOT_EXIST } from '../errors';
import type { NativeBinding } from '../native';
import type { ExitStatus } from '../runtime/reaper';
import { bounded } from '../runtime/spawn-attempt';
import { Runtime } from '../runtime/runtime';
import type { LinuxResources, Process, Spec } from '../spec/types';
import type { Logger } from '../util/log';
import type { EventPublisher } from './events';
import type { containerd } from './generated/task';
import { type IoSpec, ProcessIo } from './io';
import { metricsAny } from './metrics';
import { DEFAULT_ROOT, type ShimConfig, shimOptionsFrom } from './options';
import { events, GO_ZERO_TIME, processTypes, runcOptions, task, timestampOf, wellKnown } from './proto';
import { mountRootfs, unmountRootfs } from './rootfs';
import { Code, type Handler, TtrpcError, unary } from './ttrpc/server';

type V2 = typeof containerd.task.v2;
type ProcState = 'created' | 'running' | 'stopped';

/** Files the shim keeps in a bundle for its `delete` command, which runs in a fresh process. */
export const BUNDLE_OPTIONS_FILE = 'options.json';
export const BUNDLE_PID_FILE = 'init.pid';
export interface BundleOptions {
  root: string;
  systemdCgroup: boolean;
}

const EXEC_SPEC_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
/** How often the containers' OOM-kill counters are read (cgroup v1 has no cheap notification
 *  without an eventfd per container). */
const OOM_POLL_MS = 1_000;
/** How long Delete of a never-started container waits for its killed init's exit. */
const INIT_EXIT_AFTER_KILL_MS = 10_000;
/** How long an init's TaskExit waits for the exits of its exec'd processes. */
const EXEC_EXITS_BEFORE_INIT_MS = 2_000;

class ShimProcess {
  pid = 0;
  state: ProcState = 'created';
  io: ProcessIo | null = null;
  exit: { status: number; at: Date } | null = null;
  /** Resolves once its start (and the start event) is done or failed: TaskExit waits for it. */
  started: Promise<void> = Promise.resolve();
  readonly exited: Promise<void>;
  private settle!: () => void;

  constructor(
    /** The container id for the init, the exec id for an exec'd process. */
    readonly id: string,
    readonly execId: string,
    readonly ioSpec: IoSpec,
    readonly spec: Process | null,
  ) {
    this.exited = new Promise((resolve) => (this.settle = resolve));
  }

  markExited(status: number, at: Date): void {
    if (this.exit) return;
    this.exit = { status, at };
    this.state = 'stopped';
    this.settle();
  }
}

class ShimContainer {
  readonly execs = new Map<string, ShimProcess>();
  paused = false;
  /** OOM kills already published as TaskOOM. */
  oomsSeen = 0;
  ooms: () => number = () => 0;
  /** Requests that change the container run one at a time (Delete never overlaps a Start). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly id: string,
    readonly bundle: string,
    readonly runtime: Runtime,
    readonly init: ShimProcess,
    readonly rootfsMounted: boolean,
    /** Without its own pid namespace, the init's exit does not end the other processes. */
    readonly ownPidNamespace: boolean,
  ) {}

  serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

export interface TaskServiceOptions {
  namespace: string;
  logger: Logger;
  native: NativeBinding;
  publisher: EventPublisher;
  /** Called by Shutdown when no container is left (the server then decides to exit). */
  onIdle: () => void;
  /** A container came (after its create) or went (after its delete). */
  onContainer?: (id: string, bundle: string, added: boolean) => void;
  /** The cgroup v2 unified hierarchy is the only one (Stats sends v2 metrics). */
  unifiedCgroups: boolean;
}

export class TaskService {
  private readonly containers = new Map<string, ShimContainer>();
  /** Creates in progress: the shim must not exit under them. */
  private creating = new Set<string>();
  private readonly runtimes = new Map<string, Runtime>();
  private oomTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: TaskServiceOptions) {}

  /** Containers this shim serves (or is creating). */
  get size(): number {
    return this.containers.size + this.creating.size;
  }

  handlers(): Record<string, Handler> {
    const t = task as V2;
    const empty = wellKnown.Empty;
    return {
      State: unary(t.StateRequest, t.StateResponse, (r) => this.state(r)),
      Create: unary(t.CreateTaskRequest, t.CreateTaskResponse, (r) => this.create(r)),
      Start: unary(t.StartRequest, t.StartResponse, (r) => this.start(r)),
      Delete: unary(t.DeleteRequest, t.DeleteResponse, (r) => this.delete(r)),
      Pids: unary(t.PidsRequest, t.PidsResponse, (r) => this.pids(r)),
      Pause: unary(t.PauseRequest, empty, (r) => this.pause(r)),
      Resume: unary(t.ResumeRequest, empty, (r) => this.resume(r)),
      Checkpoint: unary(t.CheckpointTaskRequest, empty, async () => {
        throw new TtrpcError(
          Code.Unimplemented,
          'checkpoint is not supported by tsrunc: it has no CRIU support (and CRIU does not work on this kernel)',
        );
      }),
      Kill: unary(t.KillRequest, empty, (r) => this.kill(r)),
      Exec: unary(t.ExecProcessRequest, empty, (r) => this.exec(r)),
      ResizePty: unary(t.ResizePtyRequest, empty, (r) => this.resizePty(r)),
      CloseIO: unary(t.CloseIORequest, empty, (r) => this.closeIo(r)),
      Update: unary(t.UpdateTaskRequest, empty, (r) => this.update(r)),
      Wait: unary(t.WaitRequest, t.WaitResponse, (r) => this.wait(r)),
      Stats: unary(t.StatsRequest, t.StatsResponse, (r) => this.stats(r)),
      Connect: unary(t.ConnectRequest, t.ConnectResponse, (r) => this.connect(r)),
      Shutdown: unary(t.ShutdownRequest, empty, (r) => this.shutdown(r)),
    };
  }

  // --- lifecycle -------------------------------------------------------------------------

  private async create(
    req: containerd.task.v2.ICreateTaskRequest,
  ): Promise<containerd.task.v2.ICreateTaskResponse> {
    const id = req.id ?? '';
    const bundle = req.bundle ?? '';
    if (id === '') throw new TtrpcError(Code.InvalidArgument, 'create: id is empty');
    if (!path.isAbsolute(bundle))
      throw new TtrpcError(Code.InvalidArgument, `create: bundle ${JSON.stringify(bundle)} is not absolute`);
    if (this.containers.has(id) || this.creating.has(id))
      throw new TtrpcError(Code.AlreadyExists, `container ${id}: already exists`);
    this.creating.add(id);
    const { logger, namespace, native } = this.opts;
    let config: ShimConfig;
    try {
      config = await shimOptionsFrom(req.options, (msg) => logger.warn(`${id}: ${msg}`));
    } catch (error) {
      this.creating.delete(id);
      throw new TtrpcError(Code.InvalidArgument, (error as Error).message);
    }
    const root = path.join(config.root ?? DEFAULT_ROOT, namespace);
    const systemdCgroup = config.systemdCgroup === true;
    const rootfs = path.join(bundle, 'rootfs');
    const mounts = (req.rootfs ?? []).map((m) => ({
      type: m.type ?? '',
      source: m.source ?? '',
      target: m.target ?? undefined,
      options: m.options ?? [],
    }));
    const ioSpec: IoSpec = {
      stdin: req.stdin ?? '',
      stdout: req.stdout ?? '',
      stderr: req.stderr ?? '',
      terminal: req.terminal === true,
    };
    let mounted = false;
    let io: ProcessIo | null = null;
    let created = false;
    const runtime = this.runtimeFor(root, systemdCgroup);
    try {
      const saved: BundleOptions = { root, systemdCgroup };
      fs.writeFileSync(path.join(bundle, BUNDLE_OPTIONS_FILE), JSON.stringify(saved));
      const spec = readSpec(bundle);
      if (mounts.length > 0) {
        mountRootfs(native, mounts, rootfs);
        mounted = true;
      }
      io = await ProcessIo.open(ioSpec, { id, namespace, logger, native });
      const handle = await runtime.create({
        id,
        bundle,
        stdio: io.stdio,
        consoleSocketFd: io.consoleSocketFd,
        noPivot: config.noPivotRoot === true,
        noNewKeyring: config.noNewKeyring === true,
      });
      created = true;
      await io.afterSpawn();
      fs.writeFileSync(path.join(bundle, BUNDLE_PID_FILE), String(handle.pid));
      const init = new ShimProcess(id, '', ioSpec, null);
      init.pid = handle.pid;
      init.io = io;
      const ownPid = (spec.linux?.namespaces ?? []).some((ns) => ns.type === 'pid' && !ns.path);
      const container = new ShimContainer(id, bundle, runtime, init, mounted, ownPid);
      try {
        container.ooms = runtime.oomCounter(id);
        container.oomsSeen = container.ooms();
      } catch (error) {
        logger.warn(`${id}: no OOM events: ${(error as Error).message}`);
      }
      this.containers.set(id, container);
      this.watchOoms();
      this.opts.onContainer?.(id, bundle, true);
      runtime.wait(id).then(
        (status) => this.onExit(container, init, status),
        (error) => logger.error(`${id}: waiting for the init: ${(error as Error).message}`),
      );
      this.publish(
        '/tasks/create',
        'TaskCreate',
        events.TaskCreate.encode({
          containerId: id,
          bundle,
          rootfs: req.rootfs ?? [],
          io: {
            stdin: ioSpec.stdin,
            stdout: ioSpec.stdout,
            stderr: ioSpec.stderr,
            terminal: ioSpec.terminal,
          },
          checkpoint: req.checkpoint ?? '',
          pid: handle.pid,
        }).finish(),
      );
      return { pid: handle.pid };
    } catch (error) {
      logger.error(`${id}: create failed: ${(error as Error).message}`);
      io?.destroy();
      if (created) await runtime.delete(id, { force: true }).catch(() => undefined);
      if (mounted) safely(logger, () => unmountRootfs(native, rootfs));
      if (error instanceof TtrpcError) throw error;
      throw new TtrpcError(Code.Unknown, `OCI runtime create failed: ${(error as Error).message}`);
    } finally {
      this.creating.delete(id);
    }
  }

  private async start(req: containerd.task.v2.IStartRequest): Promise<containerd.task.v2.IStartResponse> {
    const c = this.container(req.id);
    const p = this.process(c, req.execId);
    return c.serial(async () => {
      if (p.state !== 'created')
        throw new TtrpcError(Code.FailedPrecondition, `process ${p.id} is ${p.state}: cannot start it`);
      let done!: () => void;
      p.started = new Promise((resolve) => (done = resolve));
      try {
        if (p.execId === '') {
          await c.runtime.start(c.id);
          p.state = 'running';
          this.publish(
            '/tasks/start',
            'TaskStart',
            events.TaskStart.encode({ containerId: c.id, pid: p.pid }).finish(),
          );
        } else {
          await this.startExec(c, p);
        }
        return { pid: p.pid };
      } finally {
        done();
      }
    });
  }

  private async startExec(c: ShimContainer, p: ShimProcess): Promise<void> {
    if (c.init.state === 'stopped')
      throw new TtrpcError(
        Code.FailedPrecondition,
        `container ${c.id} is stopped: cannot start exec ${p.id}`,
      );
    const { logger, namespace, native } = this.opts;
    let io: ProcessIo | null = null;
    try {
      io = await ProcessIo.open(p.ioSpec, { id: c.id, namespace, logger, native });
      const spawned = await c.runtime.exec(c.id, {
        process: p.spec ?? undefined,
        args: [],
        stdio: io.stdio,
        consoleSocketFd: io.consoleSocketFd,
      });
      p.pid = spawned.pid;
      p.io = io;
      p.state = 'running';
      spawned.exit.exited.then(
        (status) => this.onExit(c, p, status),
        (error) => logger.error(`${c.id}: waiting for exec ${p.id}: ${(error as Error).message}`),
      );
      await io.afterSpawn();
    } catch (error) {
      if (p.state === 'created') {
        io?.destroy();
        // Nothing will ever exit: a Wait already sent must still get an answer.
        p.markExited(255, new Date());
      }
      throw error instanceof TtrpcError
        ? error
        : new TtrpcError(Code.Unknown, `OCI runtime exec failed: ${(error as Error).message}`);
    }
    this.publish(
      '/tasks/exec-started',
      'TaskExecStarted',
      events.TaskExecStarted.encode({ containerId: c.id, execId: p.id, pid: p.pid }).finish(),
    );
  }

  /** A process ended: its IO drained, then Wait answered and TaskExit published. */
  private async onExit(c: ShimContainer, p: ShimProcess, status: ExitStatus): Promise<void> {
    const { logger } = this.opts;
    try {
      await p.started;
      // The kill that ended it may be the OOM killer's: TaskOOM comes before TaskExit.
      this.publishOoms(c);
      if (p.execId === '') {
        if (!c.ownPidNamespace) {
          await c.runtime
            .kill(c.id, 'SIGKILL', { all: true })
            .catch((error: Error) =>
              logger.debug(`${c.id}: kill --all after the init's exit: ${error.message}`),
            );
        }
        const running = [...c.execs.values()].filter((e) => e.state === 'running').map((e) => e.exited);
        if (running.length > 0) await bounded(Promise.all(running), EXEC_EXITS_BEFORE_INIT_MS);
      }
      await p.io
        ?.drainAndClose()
        .catch((error: Error) => logger.warn(`${c.id}: closing the IO of ${p.id}: ${error.message}`));
    } catch (error) {
      logger.error(`${c.id}: after the exit of ${p.id}: ${(error as Error).message}`);
    }
    this.publish(
      '/tasks/exit',
      'TaskExit',
      events.TaskExit.encode({
        containerId: c.id,
        id: p.id,
        pid: p.pid,
        exitStatus: status.exitCode,
        exitedAt: timestampOf(status.exitedAt),
      }).finish(),
    );
    p.markExited(status.exitCode, status.exitedAt);
  }

  private async delete(req: containerd.task.v2.IDeleteRequest): Promise<containerd.task.v2.IDeleteResponse> {
    const c = this.containers.get(req.id ?? '');
    if (!c) throw new TtrpcError(Code.NotFound, 'container not created');
    const p = this.process(c, req.execId);
    return c.serial(async () => {
      if (p.state === 'running')
        throw new TtrpcError(Code.FailedPrecondition, 'cannot delete a running process');
      if (p.execId !== '') {
        if (p.state === 'created') p.markExited(0, new Date());
        c.execs.delete(p.execId);
        return this.exitReply(p);
      }
      const { logger, native } = this.opts;
      if (p.state === 'created') {
        // Never started: the init waits in the exec fifo; a forced delete kills it.
        await c.runtime.delete(c.id, { force: true }).catch((error: Error) => notGone(error));
        // Its exit comes from the reaper; bounded all the same (a lost watch must not hang Delete).
        await bounded(p.exited, INIT_EXIT_AFTER_KILL_MS);
      } else {
        await c.runtime.delete(c.id, { force: true }).catch((error: Error) => notGone(error));
      }
      for (const e of c.execs.values()) e.io?.destroy();
      c.execs.clear();
      if (c.rootfsMounted) safely(logger, () => unmountRootfs(native, path.join(c.bundle, 'rootfs')));
      this.containers.delete(c.id);
      this.opts.onContainer?.(c.id, c.bundle, false);
      const reply = this.exitReply(p);
      this.publish(
        '/tasks/delete',
        'TaskDelete',
        events.TaskDelete.encode({
          containerId: c.id,
          pid: p.pid,
          exitStatus: reply.exitStatus,
          exitedAt: reply.exitedAt,
        }).finish(),
      );
      return reply;
    });
  }

  private async exec(req: containerd.task.v2.IExecProcessRequest): Promise<object> {
    const c = this.container(req.id);
    const execId = req.execId ?? '';
    if (execId === '') throw new TtrpcError(Code.InvalidArgument, 'exec: exec_id is empty');
    if (c.execs.has(execId)) throw new TtrpcError(Code.AlreadyExists, `id ${execId}: already exists`);
    if (c.init.state === 'stopped')
      throw new TtrpcError(Code.FailedPrecondition, `container ${c.id} is stopped`);
    const spec = req.spec;
    const typeUrl = spec?.type_url ?? '';
    if (typeUrl.replace(/^.*?types\.containerd\.io\//, 'types.containerd.io/') !== EXEC_SPEC_TYPE)
      throw new TtrpcError(
        Code.InvalidArgument,
        `exec: spec type ${JSON.stringify(typeUrl)} is not an OCI Process`,
      );
    let process: Process;
    try {
      process = JSON.parse(Buffer.from(spec?.value ?? new Uint8Array()).toString('utf8')) as Process;
    } catch (error) {
      throw new TtrpcError(Code.InvalidArgument, `exec: spec is not JSON: ${(error as Error).message}`);
    }
    const ioSpec: IoSpec = {
      stdin: req.stdin ?? '',
      stdout: req.stdout ?? '',
      stderr: req.stderr ?? '',
      terminal: req.terminal === true,
    };
    c.execs.set(execId, new ShimProcess(execId, execId, ioSpec, process));
    this.publish(
      '/tasks/exec-added',
      'TaskExecAdded',
      events.TaskExecAdded.encode({ containerId: c.id, execId }).finish(),
    );
    return {};
  }

  private async kill(req: containerd.task.v2.IKillRequest): Promise<object> {
    const c = this.container(req.id);
    const p = this.process(c, req.execId);
    const signal = req.signal ?? 0;
    if (p.state === 'stopped') throw new TtrpcError(Code.NotFound, 'process already finished');
    if (p.execId === '') {
      try {
        await c.runtime.kill(c.id, signal, { all: req.all === true });
      } catch (error) {
        if ((p.state as ProcState) === 'stopped' || /not running|stopped/.test((error as Error).message))
          throw new TtrpcError(Code.NotFound, 'process already finished');
        throw error;
      }
      return {};
    }
    if (p.state === 'created') throw new TtrpcError(Code.FailedPrecondition, `process ${p.id} not started`);
    try {
      process.kill(p.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH')
        throw new TtrpcError(Code.NotFound, 'process already finished');
      throw error;
    }
    return {};
  }

  private async wait(req: containerd.task.v2.IWaitRequest): Promise<containerd.task.v2.IWaitResponse> {
    const c = this.container(req.id);
    const p = this.process(c, req.execId);
    await p.exited;
    const reply = this.exitReply(p);
    return { exitStatus: reply.exitStatus, exitedAt: reply.exitedAt };
  }

  private async state(req: containerd.task.v2.IStateRequest): Promise<containerd.task.v2.IStateResponse> {
    const c = this.container(req.id);
    const p = this.process(c, req.execId);
    const S = processTypes.Status;
    let status: number = S.UNKNOWN;
    if (p.state === 'stopped') status = S.STOPPED;
    else if (p.state === 'created') status = S.CREATED;
    else status = c.paused ? S.PAUSED : S.RUNNING;
    const exit = this.exitReply(p);
    return {
      id: p.id,
      bundle: c.bundle,
      pid: p.pid,
      status,
      stdin: p.ioSpec.stdin,
      stdout: p.ioSpec.stdout,
      stderr: p.ioSpec.stderr,
      terminal: p.ioSpec.terminal,
      exitStatus: exit.exitStatus,
      exitedAt: exit.exitedAt,
      execId: p.execId,
    };
  }

  private async pids(req: containerd.task.v2.IPidsRequest): Promise<containerd.task.v2.IPidsResponse> {
    const c = this.container(req.id);
    const pids = await c.runtime.ps(c.id);
    const execOf = new Map([...c.execs.values()].filter((e) => e.pid > 0).map((e) => [e.pid, e.id]));
    return {
      processes: pids.map((pid) => {
        const execId = execOf.get(pid);
        if (execId === undefined) return { pid };
        return {
          pid,
          info: {
            typeUrl: 'containerd.runc.v1.ProcessDetails',
            value: runcOptions.ProcessDetails.encode({ execId }).finish(),
          },
        };
      }),
    };
  }

  private async pause(req: containerd.task.v2.IPauseRequest): Promise<object> {
    const c = this.container(req.id);
    return c.serial(async () => {
      await c.runtime.pause(c.id);
      c.paused = true;
      this.publish('/tasks/paused', 'TaskPaused', events.TaskPaused.encode({ containerId: c.id }).finish());
      return {};
    });
  }

  private async resume(req: containerd.task.v2.IResumeRequest): Promise<object> {
    const c = this.container(req.id);
    return c.serial(async () => {
      await c.runtime.resume(c.id);
      c.paused = false;
      this.publish(
        '/tasks/resumed',
        'TaskResumed',
        events.TaskResumed.encode({ containerId: c.id }).finish(),
      );
      return {};
    });
  }

  private async resizePty(req: containerd.task.v2.IResizePtyRequest): Promise<object> {
    const c = this.container(req.id);
    const p = this.process(c, req.execId);
    if (p.state === 'stopped') throw new TtrpcError(Code.Unknown, 'cannot resize a stopped container');
    p.io?.resize(req.width ?? 0, req.height ?? 0);
    return {};
  }

  private async closeIo(req: containerd.task.v2.ICloseIORequest): Promise<object> {
    const c = this.container(req.id);
    const p = this.process(c, req.execId);
    if (req.stdin) p.io?.closeStdin();
    return {};
  }

  private async update(req: containerd.task.v2.IUpdateTaskRequest): Promise<object> {
    const c = this.container(req.id);
    let resources: LinuxResources;
    try {
      resources = JSON.parse(
        Buffer.from(req.resources?.value ?? new Uint8Array()).toString('utf8') || '{}',
      ) as LinuxResources;
    } catch (error) {
      throw new TtrpcError(
        Code.InvalidArgument,
        `update: resources are not JSON: ${(error as Error).message}`,
      );
    }
    await c.runtime.update(c.id, resources);
    return {};
  }

  private async stats(req: containerd.task.v2.IStatsRequest): Promise<containerd.task.v2.IStatsResponse> {
    const c = this.container(req.id);
    const metrics = metricsAny(await c.runtime.stats(c.id), this.opts.unifiedCgroups);
    return { stats: { type_url: metrics.typeUrl, value: metrics.value } };
  }

  private async connect(
    req: containerd.task.v2.IConnectRequest,
  ): Promise<containerd.task.v2.IConnectResponse> {
    const c = this.containers.get(req.id ?? '');
    return { shimPid: process.pid, taskPid: c?.init.pid ?? 0 };
  }

  private async shutdown(_req: containerd.task.v2.IShutdownRequest): Promise<object> {
    if (this.size === 0) this.opts.onIdle();
    return {};
  }

  /** Stop watching (the process is about to exit); containers keep running. */
  close(): void {
    if (this.oomTimer) clearInterval(this.oomTimer);
    for (const runtime of this.runtimes.values()) runtime.close();
  }

  // --- OOM events ------------------------------------------------------------------------

  /** One timer for every container: each second, new OOM kills become TaskOOM events. */
  private watchOoms(): void {
    if (this.oomTimer) return;
    this.oomTimer = setInterval(() => {
      for (const c of this.containers.values()) if (c.init.state !== 'stopped') this.publishOoms(c);
      if (this.containers.size === 0 && this.oomTimer) {
        clearInterval(this.oomTimer);
        this.oomTimer = null;
      }
    }, OOM_POLL_MS);
    this.oomTimer.unref();
  }

  private publishOoms(c: ShimContainer): void {
    for (const now = c.ooms(); c.oomsSeen < now; c.oomsSeen++) {
      this.publish('/tasks/oom', 'TaskOOM', events.TaskOOM.encode({ containerId: c.id }).finish());
    }
  }

  // --- helpers ---------------------------------------------------------------------------

  private runtimeFor(root: string, systemdCgroup: boolean): Runtime {
    const key = `${root}\0${systemdCgroup}`;
    let runtime = this.runtimes.get(key);
    if (!runtime) {
      runtime = new Runtime({
        root,
        systemdCgroup,
        logger: this.opts.logger,
        native: this.opts.native,
        subreaper: true,
      });
      this.runtimes.set(key, runtime);
    }
    return runtime;
  }

  private container(id: string | null | undefined): ShimContainer {
    const c = this.containers.get(id ?? '');
    if (!c) throw new TtrpcError(Code.NotFound, 'container not created');
    return c;
  }

  private process(c: ShimContainer, execId: string | null | undefined): ShimProcess {
    if (!execId) return c.init;
    const p = c.execs.get(execId);
    if (!p) throw new TtrpcError(Code.NotFound, `process ${execId} not found`);
    return p;
  }

  private exitReply(p: ShimProcess): {
    pid: number;
    exitStatus: number;
    exitedAt: { seconds: number; nanos: number };
  } {
    return {
      pid: p.pid,
      exitStatus: p.exit?.status ?? 0,
      exitedAt: p.exit ? timestampOf(p.exit.at) : GO_ZERO_TIME,
    };
  }

  private publish(topic: string, name: string, value: Uint8Array): void {
    this.opts.publisher.publish(topic, `containerd.events.${name}`, value);
  }
}

function readSpec(bundle: string): Spec {
  const file = path.join(bundle, 'config.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Spec;
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
}

/** A delete of a container that is already gone is not an error. */
function notGone(error: Error): void {
  if (!error.message.includes(CONTAINER_NOT_EXIST)) throw error;
}

function safely(logger: Logger, fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    logger.error((error as Error).message);
  }
}
