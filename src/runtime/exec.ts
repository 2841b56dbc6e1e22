// `exec`: run another process in a running container. Stage 1 joins every namespace of the
// container's init (the user namespace first; not dumpable before the first join), the parent
// moves it into the container's cgroups, and the process is cloned into the joined pid
// namespace, with the process's user, capabilities, rlimits, no_new_privs and the container's
// seccomp filter, as the init got them. The process is our child: without --detach we pass our
// stdio, forward signals and return its exit code.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { cgroupsOf } from '../cgroups';
import { native } from '../native';
import { buildPlan, inheritedStdio } from '../plan/build';
import { lastCapability } from '../plan/host';
import { NAMESPACES } from '../plan/linux';
import { parseIdFlag } from '../spec/ids';
import type { Process, Spec } from '../spec/types';
import { validateConfig } from '../spec/validate';
import {
  type ContainerRecord,
  containerStatus,
  processAlive,
  readRecord,
  validateContainerId,
} from '../state/store';
import { writeFileAtomic } from '../util/fs';
import { logger } from '../util/log';
import { ConsoleSocket, type ConsoleProxy, connectConsoleSocket, proxyConsole } from './console';
import { CONTAINER_NOT_RUNNING, RuntimeError } from './errors';
import { openNamespaceJoins } from './namespaces';
import type { GlobalOptions } from './options';
import { runCreateHandshake } from './protocol';
import { sendSeccompListener } from './seccomp-listener';
import { SpawnAttempt } from './spawn-attempt';
import { waitForExit } from './wait';

export interface ExecOptions extends GlobalOptions {
  id: string;
  /** --process: a JSON runtime-spec Process; otherwise built from the container's process. */
  processFile?: string;
  /** The command and its arguments (ignored with --process). */
  args: string[];
  tty: boolean;
  consoleSocket?: string;
  detach: boolean;
  pidFile?: string;
  cwd?: string;
  /** KEY=VALUE entries added to (or replacing those of) the container's environment. */
  env: string[];
  /** --user uid[:gid], numbers only. */
  user?: string;
  additionalGids: number[];
  /** Capabilities added to the bounding, effective and permitted sets (never inheritable). */
  caps: string[];
  noNewPrivs: boolean;
  preserveFds: number;
  processLabel?: string;
  apparmor?: string;
  /** Exec into a paused container too. */
  ignorePaused: boolean;
}

/** Returns the process's exit code (0 with --detach once it runs). */
export async function exec(opts: ExecOptions): Promise<number> {
  validateContainerId(opts.id);
  const rec = readRecord(opts.root, opts.id);
  const status = containerStatus(opts.root, rec);
  if (status === 'stopped' || status === 'creating')
    throw new RuntimeError('cannot exec in a stopped container');
  if (status === 'paused' && !opts.ignorePaused) throw new RuntimeError('cannot exec in a paused container');
  const process = execProcess(rec, opts);
  const spec = execSpec(rec, process);
  checkTerminal(process, opts);

  // In the foreground without a console socket, a terminal is ours to proxy (as runc does).
  const ownConsole = process.terminal && !opts.consoleSocket && !opts.detach ? new ConsoleSocket() : null;
  const attempt = new ExecAttempt();
  let proxy: ConsoleProxy | null = null;
  let pid: number;
  try {
    pid = await attempt.run(rec, spec, { ...opts, consoleSocket: ownConsole?.path ?? opts.consoleSocket });
    if (ownConsole) proxy = proxyConsole(ownConsole.receiveMaster());
  } catch (error) {
    attempt.abandon();
    throw error;
  } finally {
    ownConsole?.close();
  }
  if (opts.pidFile) writeFileAtomic(path.resolve(opts.pidFile), String(pid));
  if (opts.detach) return 0;
  const exitCode = await waitForExit(pid);
  await proxy?.finish();
  return exitCode;
}

/** The process to run: --process as given, or the container's process with the flags applied. */
function execProcess(rec: ContainerRecord, opts: ExecOptions): Process {
  if (opts.processFile) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(opts.processFile, 'utf8'));
    } catch (error) {
      throw new RuntimeError(`--process: cannot read ${opts.processFile}: ${(error as Error).message}`);
    }
    return parsed as Process;
  }
  const base: Process = structuredClone((rec.config as Spec).process ?? { cwd: '/' });
  if (opts.args.length === 0) throw new RuntimeError('exec: no command given (args or --process)');
  const process: Process = { ...base, args: opts.args, terminal: opts.tty };
  delete process.commandLine;
  if (opts.cwd !== undefined) process.cwd = opts.cwd;
  if (opts.env.length > 0) process.env = mergeEnv(base.env ?? [], opts.env);
  if (opts.user !== undefined) {
    const { uid, gid } = parseUser(opts.user);
    process.user = { ...(base.user ?? { uid: 0, gid: 0 }), uid, ...(gid !== undefined ? { gid } : {}) };
  }
  if (opts.additionalGids.length > 0) {
    process.user = { ...(process.user ?? { uid: 0, gid: 0 }), additionalGids: opts.additionalGids };
  }
  if (opts.caps.length > 0) {
    // CVE-2022-29162: never the inheritable set (nor, without it, the ambient one).
    const caps = { ...(base.capabilities ?? {}) };
    for (const set of ['bounding', 'effective', 'permitted'] as const) {
      caps[set] = [...new Set([...(caps[set] ?? []), ...opts.caps])];
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
function execSpec(rec: ContainerRecord, process: Process): Spec {
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
    for (const warning of warnings) logger().warn(warning.replace(/^config\.json: /, 'exec: '));
    return spec;
  } catch (error) {
    if (error instanceof RuntimeError)
      throw new RuntimeError(error.message.replace(/^config\.json: /, 'exec: '));
    throw error;
  }
}

function checkTerminal(process: Process, opts: ExecOptions): void {
  if (process.terminal === true && opts.detach && !opts.consoleSocket) {
    throw new RuntimeError('exec: a detached process with a terminal needs --console-socket');
  }
  if (process.terminal !== true && opts.consoleSocket) {
    throw new RuntimeError('--console-socket is only for a process with a terminal (--tty)');
  }
}

/** One exec, with what it has acquired so far, so that `abandon` can undo it. */
class ExecAttempt extends SpawnAttempt {
  async run(rec: ContainerRecord, spec: Spec, opts: ExecOptions): Promise<number> {
    const n = native();
    const joins = openNamespaceJoins(spec.linux?.namespaces ?? [], (fd) => this.keep(fd));
    // The namespace files are the init's only while it is alive: a recycled pid would hand us
    // another process's namespaces.
    if (!processAlive(rec.initPid, rec.initStartTime)) throw new RuntimeError(CONTAINER_NOT_RUNNING);
    const consoleSocketFd = opts.consoleSocket ? this.keep(connectConsoleSocket(opts.consoleSocket)) : -1;
    const built = buildPlan(spec, {
      id: rec.id,
      bundle: rec.bundle,
      noPivot: false,
      noNewKeyring: false,
      stdio: inheritedStdio(opts.preserveFds),
      consoleSocketFd,
      execFifoFd: -1,
      joins,
      lastCap: lastCapability(),
      hostMounts: [],
      cgroups: new Map(),
      warn: (message) => logger().warn(message),
      execMode: true,
    });
    const syncFd = this.spawned(n.spawnInit(built.plan));
    for (const join of joins) this.release(join.fd);
    if (consoleSocketFd >= 0) this.release(consoleSocketFd);
    const cgroups = cgroupsOf(rec);
    await runCreateHandshake(n, syncFd, built, {
      onIntermediateReady: (pid) => cgroups?.join(pid),
      onInitPid: (pid) => this.adoptChild(pid),
      onRunCreateHooks: async () => {},
      onSeccompListener: (fd) =>
        sendSeccompListener(spec.linux?.seccomp ?? {}, fd, rec, 'running', this.childPid),
    });
    this.release(syncFd);
    return this.childPid;
  }

  abandon(): void {
    this.abandonProcesses();
  }
}
