// OCI lifecycle hooks: each hook is a program run with exactly its own argv and environment and
// the container's state JSON on stdin.
//
// Every hook runs in a new session (spawn `detached`), so its process group contains the hook
// and whatever it starts; when a hook overruns its timeout the whole group is SIGKILLed, not
// only the hook's first process.
//
// createContainer hooks run in the container's namespaces through util-linux nsenter: it joins
// the namespaces of the init that differ from ours and takes its working directory (the rootfs
// then). One known limit: nsenter execs the hook by path, so a hook's args[0] cannot be set as
// its argv0 there; outside the container it is.
//
// startContainer hooks run as the container's process would (runHooksSpawned, with `start`
// exec'ing each into the container: its namespaces, cgroups, root and cwd, the process's user,
// capabilities, no_new_privs and seccomp filter, fds 0-2 only), as runc runs them from the init
// once it has all that.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';

import type { NativeBinding } from '../native';
import type { ContainerRecord } from '../state/store';
import type { Logger } from '../util/log';
import { RuntimeError } from '../errors';
import type { ChildWatch } from './reaper';

export type HookKind =
  'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds. */
  timeout?: number;
}

export interface HookOptions {
  /** Run the hook in this process's namespaces (those that differ from ours). */
  enterPid?: number;
  /** With enterPid: take that process's working directory (the init's is the rootfs while
   *  the createContainer hooks run, as runc gives them). */
  enterCwd?: boolean;
}

export const NSENTER = '/usr/bin/nsenter';

/** The OCI state a hook reads on stdin. */
export function hookState(record: ContainerRecord, status: string, pid: number): object {
  return {
    ociVersion: record.ociVersion,
    id: record.id,
    status,
    pid,
    bundle: record.bundle,
    ...(record.annotations ? { annotations: record.annotations } : {}),
  };
}

/** How much of a failing hook's output goes into the error message. */
const OUTPUT_EXCERPT_BYTES = 300;
/** How much output is kept while a hook runs; the rest is read and dropped. */
const OUTPUT_KEEP_BYTES = 4096;
/** After the hook exits, how long a child that inherited its stdout/stderr may keep them open. */
const OUTPUT_DRAIN_MS = 200;

// /proc/<pid>/ns/<file> -> nsenter flag. user is included: nsenter orders the joins itself.
const NAMESPACE_FLAGS: [string, string][] = [
  ['user', '--user'],
  ['mnt', '--mount'],
  ['uts', '--uts'],
  ['ipc', '--ipc'],
  ['net', '--net'],
  ['pid', '--pid'],
  ['cgroup', '--cgroup'],
  ['time', '--time'],
];

/** Run the hooks in order; the first failure stops the rest and is thrown. */
export async function runHooks(
  kind: HookKind,
  hooks: Hook[] | undefined,
  state: object,
  opts: HookOptions = {},
): Promise<void> {
  if (!hooks || hooks.length === 0) return;
  const input = JSON.stringify(state);
  for (let i = 0; i < hooks.length; i++) {
    await runOneHook(kind, i, hooks[i], input, opts);
  }
}

/**
 * For hooks whose failure must not fail the operation (poststop): every hook runs,
 * and each failure is logged as a warning.
 */
export async function runHooksWarnOnly(
  log: Logger,
  kind: HookKind,
  hooks: Hook[] | undefined,
  state: object,
  opts: HookOptions = {},
): Promise<void> {
  if (!hooks || hooks.length === 0) return;
  const input = JSON.stringify(state);
  for (let i = 0; i < hooks.length; i++) {
    try {
      await runOneHook(kind, i, hooks[i], input, opts);
    } catch (error) {
      log.warn((error as Error).message);
    }
  }
}

/** The hook's stdio: fds of this process (pipes) that become its 0, 1 and 2. */
export interface HookStdio {
  stdin: number;
  stdout: number;
  stderr: number;
}

/** Starts a hook as a process of the container (an exec); it runs once this resolves. Its
 *  process group is its pid (it is a session leader). */
export type HookSpawner = (hook: Hook, stdio: HookStdio) => Promise<{ pid: number; exit: ChildWatch }>;

/**
 * Run the hooks in order as processes the caller starts (`spawnHook`: startContainer hooks are
 * exec'd into the container), with the state on stdin and their output collected as for the
 * other hooks; the first failure stops the rest and is thrown.
 */
export async function runHooksSpawned(
  kind: HookKind,
  hooks: Hook[] | undefined,
  state: object,
  native: Pick<NativeBinding, 'pipe' | 'closeFd'>,
  spawnHook: HookSpawner,
): Promise<void> {
  if (!hooks || hooks.length === 0) return;
  const input = JSON.stringify(state);
  for (let i = 0; i < hooks.length; i++) {
    const outcome = await executeSpawned(native, spawnHook, hooks[i], input);
    const reason = describeFailure(outcome, hooks[i]);
    if (reason) throw new RuntimeError(`error running ${kind} hook #${i}: ${reason}`);
  }
}

async function runOneHook(
  kind: HookKind,
  index: number,
  hook: Hook,
  input: string,
  opts: HookOptions,
): Promise<void> {
  const fail = (reason: string) => new RuntimeError(`error running ${kind} hook #${index}: ${reason}`);
  let command: HookCommand;
  try {
    command = hookCommand(hook, opts);
  } catch (error) {
    throw fail((error as Error).message);
  }
  const outcome = await execute(command, hookEnv(hook.env), input, hook.timeout);
  const reason = describeFailure(outcome, hook);
  if (reason) throw fail(reason);
}

interface HookCommand {
  file: string;
  args: string[];
  argv0: string;
}

function hookCommand(hook: Hook, opts: HookOptions): HookCommand {
  const argv = hook.args && hook.args.length > 0 ? hook.args : [hook.path];
  if (opts.enterPid === undefined) return { file: hook.path, args: argv.slice(1), argv0: argv[0] };
  const nsenterArgs = ['--target', String(opts.enterPid), ...namespaceFlags(opts.enterPid)];
  if (opts.enterCwd) nsenterArgs.push('--wd');
  return { file: NSENTER, args: [...nsenterArgs, '--', hook.path, ...argv.slice(1)], argv0: NSENTER };
}

/** nsenter flags for the namespaces of `pid` that are not already ours. */
function namespaceFlags(pid: number): string[] {
  const flags: string[] = [];
  for (const [file, flag] of NAMESPACE_FLAGS) {
    const theirs = readNamespace(`/proc/${pid}/ns/${file}`);
    if (theirs === null) {
      // time namespaces are missing on old kernels; anything else means the process is gone.
      if (file === 'time') continue;
      throw new Error(`cannot enter the namespaces of process ${pid}: it is gone`);
    }
    if (theirs !== readNamespace(`/proc/self/ns/${file}`)) flags.push(flag);
  }
  return flags;
}

function readNamespace(link: string): string | null {
  try {
    return fs.readlinkSync(link);
  } catch {
    return null;
  }
}

/**
 * A hook with `env` gets exactly that list. A hook without one inherits the runtime's
 * environment, as runc's hooks do (hook writers rely on it for PATH).
 */
function hookEnv(env: string[] | undefined): NodeJS.ProcessEnv {
  if (env === undefined) return { ...process.env };
  const result: NodeJS.ProcessEnv = {};
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0) result[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return result;
}

interface Outcome {
  spawnError?: NodeJS.ErrnoException;
  /** A spawned hook that could not start: the reason, as the exec reported it. */
  startError?: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

function execute(
  command: HookCommand,
  env: NodeJS.ProcessEnv,
  input: string,
  timeoutSeconds: number | undefined,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(command.file, command.args, {
      argv0: command.argv0,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // own session and process group: a timeout kills the group
    });
    const stdout = new OutputCollector();
    const stderr = new OutputCollector();
    child.stdout.on('data', (chunk: Buffer) => stdout.add(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.add(chunk));
    child.stdin.on('error', () => {}); // EPIPE when the hook does not read its stdin
    child.stdin.end(input);

    let timedOut = false;
    const timer =
      timeoutSeconds !== undefined && timeoutSeconds > 0
        ? setTimeout(() => {
            timedOut = true;
            killGroup(child.pid);
          }, timeoutSeconds * 1000)
        : undefined;

    let settled = false;
    const finish = (outcome: Omit<Outcome, 'stdout' | 'stderr' | 'timedOut'>) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      // A child of the hook may hold the pipes open; do not wait for it past a short drain.
      const done = () => {
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({ ...outcome, timedOut, stdout: stdout.text(), stderr: stderr.text() });
      };
      if (outcome.spawnError) return done();
      const drain = setTimeout(done, OUTPUT_DRAIN_MS);
      let open = 2;
      const onClosed = () => {
        if (--open === 0) {
          clearTimeout(drain);
          done();
        }
      };
      closedOrNow(child.stdout, onClosed);
      closedOrNow(child.stderr, onClosed);
    };
    child.on('error', (error: NodeJS.ErrnoException) =>
      finish({ spawnError: error, code: null, signal: null }),
    );
    child.on('exit', (code, signal) => finish({ code, signal }));
  });
}

async function executeSpawned(
  native: Pick<NativeBinding, 'pipe' | 'closeFd'>,
  spawnHook: HookSpawner,
  hook: Hook,
  input: string,
): Promise<Outcome> {
  const pipes: [number, number][] = [];
  let started: { pid: number; exit: ChildWatch };
  try {
    for (let i = 0; i < 3; i++) pipes.push(native.pipe());
    started = await spawnHook(hook, { stdin: pipes[0][0], stdout: pipes[1][1], stderr: pipes[2][1] });
  } catch (error) {
    for (const [r, w] of pipes) [r, w].forEach((fd) => native.closeFd(fd));
    if (pipes.length < 3) throw error;
    return {
      startError: (error as Error).message,
      code: null,
      signal: null,
      timedOut: false,
      stdout: '',
      stderr: '',
    };
  }
  // The hook has its copies: ours of its ends go; our ends are watched by libuv.
  for (const fd of [pipes[0][0], pipes[1][1], pipes[2][1]]) native.closeFd(fd);
  const stdin = new net.Socket({ fd: pipes[0][1], readable: false, writable: true });
  const stdout = new net.Socket({ fd: pipes[1][0], readable: true, writable: false });
  const stderr = new net.Socket({ fd: pipes[2][0], readable: true, writable: false });
  const out = new OutputCollector();
  const err = new OutputCollector();
  stdout.on('data', (chunk: Buffer) => out.add(chunk));
  stderr.on('data', (chunk: Buffer) => err.add(chunk));
  for (const socket of [stdin, stdout, stderr]) socket.on('error', () => {}); // EPIPE: stdin unread
  stdin.end(input);

  let timedOut = false;
  const timer =
    hook.timeout !== undefined && hook.timeout > 0
      ? setTimeout(() => {
          timedOut = true;
          killGroup(started.pid);
        }, hook.timeout * 1000)
      : undefined;
  const status = await started.exit.wait();
  if (timer) clearTimeout(timer);
  // A child of the hook may hold the pipes open; do not wait for it past a short drain.
  await new Promise<void>((resolve) => {
    const drain = setTimeout(resolve, OUTPUT_DRAIN_MS);
    let open = 2;
    const onClosed = () => {
      if (--open === 0) {
        clearTimeout(drain);
        resolve();
      }
    };
    closedOrNow(stdout, onClosed);
    closedOrNow(stderr, onClosed);
  });
  for (const socket of [stdin, stdout, stderr]) socket.destroy();
  const signal = status.signal ? signalName(status.signal) : null;
  return {
    code: signal ? null : status.exitCode,
    signal,
    timedOut,
    stdout: out.text(),
    stderr: err.text(),
  };
}

function signalName(signo: number): NodeJS.Signals {
  const entry = Object.entries(osConstants.signals).find(([, n]) => n === signo);
  return (entry?.[0] ?? `SIG${signo}`) as NodeJS.Signals;
}

function closedOrNow(
  stream: NodeJS.ReadableStream & { readableEnded: boolean; destroyed: boolean },
  onClosed: () => void,
): void {
  if (stream.readableEnded || stream.destroyed) onClosed();
  else stream.once('close', onClosed);
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

class OutputCollector {
  private chunks: Buffer[] = [];
  private size = 0;

  add(chunk: Buffer): void {
    if (this.size >= OUTPUT_KEEP_BYTES) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function describeFailure(outcome: Outcome, hook: Hook): string | null {
  if (outcome.spawnError) return `cannot execute ${hook.path}: ${errnoText(outcome.spawnError)}`;
  if (outcome.startError !== undefined) return outcome.startError;
  if (outcome.timedOut) return `hook ran past specified timeout of ${(hook.timeout ?? 0).toFixed(1)}s`;
  let status: string;
  if (outcome.signal) status = `signal: ${outcome.signal}`;
  else if (outcome.code !== 0) status = `exit status ${outcome.code}`;
  else return null;
  return `${status}, stdout: ${excerpt(outcome.stdout)}, stderr: ${excerpt(outcome.stderr)}`;
}

/** The start of a hook's output, on one line, so the error stays one line. */
function excerpt(text: string): string {
  let out = text.trim();
  if (Buffer.byteLength(out) > OUTPUT_EXCERPT_BYTES) {
    out = `${Buffer.from(out).subarray(0, OUTPUT_EXCERPT_BYTES).toString('utf8')}...`;
  }
  return out.replace(/\r?\n/g, '\\n');
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  ENOEXEC: 'exec format error',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
};

function errnoText(error: NodeJS.ErrnoException): string {
  return (error.code && ERRNO_TEXT[error.code]) ?? error.code ?? error.message;
}
