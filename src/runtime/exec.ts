// `exec`: run another process in a running container. Stage 1 joins every namespace of the
// container's init (the user namespace first; not dumpable before the first join), the parent
// moves it into the container's cgroups, and the process is cloned into the joined pid
// namespace, with the process's user, capabilities, rlimits, no_new_privs and the container's
// seccomp filter, as the init got them. The process is our child: without --detach we pass our
// stdio, forward signals and return its exit code.
import { type CgroupManager, cgroupsOf } from '../cgroups';
import { managerFor } from '../cgroups/manager';
import { parseSubCgroups, withSubCgroups } from '../cgroups/sub-cgroups';
import { warmCgroupMigration } from '../cgroups/migration-warmup';
import { buildPlan } from '../plan/build';
import { lastCapability } from '../plan/host';
import { NAMESPACES } from '../plan/linux';
import { parseIdFlag } from '../spec/ids';
import type { Process, Spec } from '../spec/types';
import { validateConfig } from '../spec/validate';
import { type ContainerRecord, processAlive, readRecord, validateContainerId } from '../state/store';
import { CONTAINER_NOT_RUNNING, RuntimeError } from '../errors';
import { checkConsoleSocketFd, consoleSocketForPlan } from './console';
import { requireAbsolute, type RuntimeContext } from './context';
import { withContainerLock } from './lifecycle';
import { openNamespaceJoins } from './namespaces';
import { runCreateHandshake } from './protocol';
import type { ChildWatch } from './reaper';
import { sendSeccompListener } from './seccomp-listener';
import { SpawnAttempt } from './spawn-attempt';
import { containerStatus } from './status';
import { homeOf } from '../plan/passwd';
import { openStdio, type StdioMap } from './stdio';

export interface ExecOptions {
  id: string;
  /** A whole runtime-spec Process (runc's --process); otherwise built from the container's. */
  process?: Process;
  /** The command and its arguments (ignored with `process`). */
  args: string[];
  tty?: boolean;
  /** Absolute path of a unix socket that gets the pty master (with a terminal). */
  consoleSocket?: string;
  /** Instead of consoleSocket: a connected unix socket of the caller (an fd of this process)
   *  that gets the pty master. It stays the caller's: the library never closes it. */
  consoleSocketFd?: number;
  cwd?: string;
  /** KEY=VALUE entries added to (or replacing those of) the container's environment. */
  env?: string[];
  /** uid[:gid], numbers only. */
  user?: string;
  additionalGids?: number[];
  /** Capabilities added to the bounding, effective and permitted sets (never inheritable). */
  caps?: string[];
  noNewPrivs?: boolean;
  processLabel?: string;
  apparmor?: string;
  /** Exec into a paused container too. */
  ignorePaused?: boolean;
  /** runc's --cgroup: sub-cgroups of the container's to run in, "[<controller>[,...]:]<path>". */
  cgroup?: string[];
  /** The process's stdio and extra fds (fds of this process); /dev/null where not given. */
  stdio?: StdioMap;
}

export interface ExecProcess {
  pid: number;
  /** The process is a child of this process: its exit, whenever it comes. */
  exit: ChildWatch;
}

/** Start a process in a running container; it runs once this resolves. */
export async function exec(ctx: RuntimeContext, opts: ExecOptions): Promise<ExecProcess> {
  validateContainerId(opts.id);
  if (opts.consoleSocket !== undefined) requireAbsolute('--console-socket', opts.consoleSocket);
  checkConsoleSocketFd(opts);
  warmCgroupMigration();
  // Locked for the set-up only: the container must not be deleted or paused under it.
  return withContainerLock(ctx, opts.id, async () => {
    const rec = readRecord(ctx.root, opts.id);
    const status = await containerStatus(ctx, rec, { lockHeld: true });
    if (status === 'stopped' || status === 'creating')
      throw new RuntimeError('cannot exec in a stopped container');
    if (status === 'paused' && !opts.ignorePaused)
      throw new RuntimeError('cannot exec in a paused container');
    await ctx.turns.take();
    return spawnExec(ctx, rec, opts);
  });
}

/** The cgroups the process joins: the container's in every hierarchy, or the sub-cgroups of
 *  them that --cgroup names. */
function execCgroups(rec: ContainerRecord, subCgroups: string[]): CgroupManager | null {
  const own = cgroupsOf(rec);
  if (subCgroups.length === 0) return own;
  const sub = parseSubCgroups(subCgroups);
  if (own === null) throw new RuntimeError(`--cgroup: container ${rec.id} has no cgroups`);
  return managerFor(withSubCgroups(own.record, sub));
}

export interface SpawnExecOptions {
  /** The file to execute, absolute in the container, instead of looking args[0] up. */
  executable?: string;
  /** The container status in the state sent to linux.seccomp.listenerPath (default running). */
  seccompStatus?: string;
  /** The environment exactly as given: no HOME added from /etc/passwd (a hook's `env`). */
  exactEnv?: boolean;
}

/**
 * `exec` for a caller that holds the container's lock and has checked its status (`start` runs
 * its startContainer hooks this way: as the container process would run, in the container).
 */
export async function spawnExec(
  ctx: RuntimeContext,
  rec: ContainerRecord,
  opts: ExecOptions,
  spawnOpts: SpawnExecOptions = {},
): Promise<ExecProcess> {
  const cgroups = execCgroups(rec, opts.cgroup ?? []);
  const process = execProcess(rec, opts);
  const spec = execSpec(ctx, rec, process);
  checkTerminal(process, opts);
  const attempt = new ExecAttempt(ctx);
  try {
    const exit = await attempt.run(rec, spec, opts, cgroups, spawnOpts);
    return { pid: exit.pid, exit };
  } catch (error) {
    await attempt.abandon();
    throw error;
  }
}

/** The process to run: --process as given, or the container's process with the flags applied. */
function execProcess(rec: ContainerRecord, opts: ExecOptions): Process {
  if (opts.process) return structuredClone(opts.process);
  const base: Process = structuredClone((rec.config as Spec).process ?? { cwd: '/' });
  if (opts.args.length === 0) throw new RuntimeError('exec: no command given (args or --process)');
  const process: Process = { ...base, args: opts.args, terminal: opts.tty === true };
  delete process.commandLine;
  if (opts.cwd !== undefined) process.cwd = opts.cwd;
  if (opts.env && opts.env.length > 0) process.env = mergeEnv(base.env ?? [], opts.env);
  if (opts.user !== undefined) {
    const { uid, gid } = parseUser(opts.user);
    process.user = { ...(base.user ?? { uid: 0, gid: 0 }), uid, ...(gid !== undefined ? { gid } : {}) };
  }
  if (opts.additionalGids && opts.additionalGids.length > 0) {
    process.user = { ...(process.user ?? { uid: 0, gid: 0 }), additionalGids: opts.additionalGids };
  }
  const addedCaps = opts.caps ?? [];
  if (addedCaps.length > 0) {
    // CVE-2022-29162: never the inheritable set (nor, without it, the ambient one).
    const caps = { ...(base.capabilities ?? {}) };
    for (const set of ['bounding', 'effective', 'permitted'] as const) {
      caps[set] = [...new Set([...(caps[set] ?? []), ...addedCaps])];
    }
    process.capabilities = caps;
  }
  if (opts.noNewPrivs) process.noNewPrivileges = true;
  if (opts.apparmor !== undefined) process.apparmorProfile = opts.apparmor;
  if (opts.processLabel !== undefined) process.selinuxLabel = opts.processLabel;
  return process;
}

function mergeEnv(base: string[], extra: string[]): string[] {
  const key = (entry: string) => entry.split('=', 1)[0];
  const replaced = new Set(extra.map(key));
  return [...base.filter((entry) => !replaced.has(key(entry))), ...extra];
}

/** `uid[:gid]`, decimal ids only: a name is never looked up (CVE-2016-3697). */
function parseUser(user: string): { uid: number; gid?: number } {
  const match = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!match) throw new RuntimeError(`--user: ${JSON.stringify(user)} is not uid[:gid] (numbers)`);
  const uid = parseIdFlag('--user', 'user', match[1]);
  return { uid, ...(match[2] !== undefined ? { gid: parseIdFlag('--user', 'group', match[2]) } : {}) };
}

/**
 * The container's config with the exec process, every namespace joined through the init's
 * /proc/<pid>/ns files, and nothing that belongs to making the container (sysctls, hostname,
 * time offsets, hooks): validated like a config, errors naming the process field.
 */
function execSpec(ctx: RuntimeContext, rec: ContainerRecord, process: Process): Spec {
  const config = rec.config as Spec;
  const linux = config.linux ?? {};
  const candidate: Spec = {
    ...config,
    process,
    hooks: undefined,
    hostname: undefined,
    domainname: undefined,
    linux: {
      ...linux,
      sysctl: undefined,
      timeOffsets: undefined,
      // The user namespace is joined, with the maps the init's has.
      uidMappings: undefined,
      gidMappings: undefined,
      namespaces: (linux.namespaces ?? []).map((ns) => ({
        type: ns.type,
        path: ns.path ?? `/proc/${rec.initPid}/ns/${NAMESPACES[ns.type].procName}`,
      })),
    },
  };
  try {
    const { spec, warnings } = validateConfig(JSON.parse(JSON.stringify(candidate)), {
      requireProcess: true,
    });
    for (const warning of warnings) ctx.logger.warn(warning.replace(/^config\.json: /, 'exec: '));
    return spec;
  } catch (error) {
    if (error instanceof RuntimeError)
      throw new RuntimeError(error.message.replace(/^config\.json: /, 'exec: '));
    throw error;
  }
}

function checkTerminal(process: Process, opts: ExecOptions): void {
  if (process.terminal === true && !opts.consoleSocket && opts.consoleSocketFd === undefined) {
    throw new RuntimeError('exec: a process with a terminal needs --console-socket');
  }
  if (process.terminal !== true && opts.consoleSocket) {
    throw new RuntimeError('--console-socket is only for a process with a terminal (--tty)');
  }
  if (process.terminal !== true && opts.consoleSocketFd !== undefined) {
    throw new RuntimeError('consoleSocketFd is only for a process with a terminal (--tty)');
  }
}

/** One exec, with what it has acquired so far, so that `abandon` can undo it. */
class ExecAttempt extends SpawnAttempt {
  async run(
    rec: ContainerRecord,
    spec: Spec,
    opts: ExecOptions,
    cgroups: CgroupManager | null,
    spawnOpts: SpawnExecOptions,
  ): Promise<ChildWatch> {
    const n = this.ctx.native;
    const joins = openNamespaceJoins(n, spec.linux?.namespaces ?? [], (fd) => this.keep(fd));
    // The namespace files are the init's only while it is alive: a recycled pid would hand us
    // another process's namespaces.
    if (!processAlive(rec.initPid, rec.initStartTime)) throw new RuntimeError(CONTAINER_NOT_RUNNING);
    const consoleSocketFd = consoleSocketForPlan(n, opts, (fd) => this.keep(fd));
    const stdio = openStdio(opts.stdio, (fd) => this.keep(fd));
    const built = buildPlan(spec, {
      id: rec.id,
      bundle: rec.bundle,
      noPivot: false,
      noNewKeyring: false,
      stdio,
      consoleSocketFd,
      execFifoFd: -1,
      joins,
      lastCap: lastCapability(),
      hostMounts: [],
      cgroups: new Map(),
      warn: (message) => this.ctx.logger.warn(message),
      debug: (message) => this.ctx.logger.debug(message),
      // The container's own view of its files: its root as the init sees it.
      homeOf: spawnOpts.exactEnv ? undefined : (uid) => homeOf(n, `/proc/${rec.initPid}/root`, uid),
      execMode: true,
      executable: spawnOpts.executable,
    });
    const spawned = n.spawnInit(built.plan);
    this.closeAll();
    const syncFd = this.spawned(spawned);
    await runCreateHandshake(n, syncFd, built, {
      onIntermediateReady: (pid) => cgroups?.join(pid),
      onInitPid: async (pid) => {
        this.adoptChild(pid);
        await this.intermediateGone();
      },
      onRunCreateHooks: async () => {},
      onSeccompListener: (fd) =>
        sendSeccompListener(
          n,
          spec.linux?.seccomp ?? {},
          fd,
          rec,
          spawnOpts.seccompStatus ?? 'running',
          this.childPid,
        ),
    });
    this.closeAll();
    this.ctx.logger.debug(`exec ${rec.id}: ${spec.process?.args?.[0] ?? ''} runs as pid ${this.childPid}`);
    return this.child!;
  }

  abandon(): Promise<void> {
    return this.abandonProcesses();
  }
}
