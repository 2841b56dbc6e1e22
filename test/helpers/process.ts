// Helpers for the process-* integration tests: reading /proc status text, running tsrunc in the
// background (for signals and extra fds), polling, and the python console-socket server.
import { type ChildProcess, spawn, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { constants as osConstants } from 'node:os';
import { testEnv } from './env';
import { stateRoot, tsrunc, type TsruncResult } from './tsrunc';

/** The value of one `Name:\tvalue` line of a /proc/<pid>/status text (throws when missing). */
export function statusField(status: string, name: string): string {
  const line = status.split('\n').find((l) => l.startsWith(`${name}:`));
  if (line === undefined) throw new Error(`no ${name} line in:\n${status}`);
  return line.slice(name.length + 1).trim();
}

/** A capability mask as /proc/self/status prints it (16 hex digits). */
export function capMask(...caps: number[]): string {
  let mask = 0n;
  for (const c of caps) mask |= 1n << BigInt(c);
  return mask.toString(16).padStart(16, '0');
}

/** Capability numbers used by the tests (linux/capability.h). */
export const CAP = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  FOWNER: 3,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  NET_BIND_SERVICE: 10,
  NET_RAW: 13,
  SYS_CHROOT: 18,
  SYS_ADMIN: 21,
  MKNOD: 27,
  AUDIT_WRITE: 29,
} as const;

/** The [soft, hard] columns of one line of a /proc/<pid>/limits text, e.g. "Max open files". */
export function limitOf(limits: string, name: string): [string, string] {
  const line = limits.split('\n').find((l) => l.startsWith(name));
  if (line === undefined) throw new Error(`no "${name}" line in:\n${limits}`);
  const cols = line.slice(name.length).trim().split(/\s+/);
  return [cols[0], cols[1]];
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (returned) or `timeoutMs` passes (throws). */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** The container ids of the state root, by `tsrunc list -q`, and the root dir's entries. */
export async function leftovers(root = stateRoot()): Promise<{ list: string; entries: string[] }> {
  const res = await tsrunc(['list', '-q'], { root });
  const entries = fs.existsSync(root) ? fs.readdirSync(root).filter((e) => !e.startsWith('.')) : [];
  return { list: res.stdout, entries };
}

export interface Background {
  child: ChildProcess;
  /** What arrived on stdout/stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the CLI exited and its pipes closed (never rejects on a non-zero exit). */
  done: Promise<TsruncResult>;
}

export interface BackgroundOptions {
  /** stdio for the CLI; fds 1 and 2 must be 'pipe'. Default ['ignore', 'pipe', 'pipe']. */
  stdio?: StdioOptions;
  env?: Record<string, string | undefined>;
  root?: string;
}

/** `node bin/tsrunc --root <root> ...args` in the background. */
export function tsruncBackground(args: string[], opts: BackgroundOptions = {}): Background {
  const env = testEnv();
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.NODE_OPTIONS;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  const argv = [path.join(env.repo, 'bin', 'tsrunc'), '--root', opts.root ?? stateRoot(), ...args];
  const child = spawn(process.execPath, argv, {
    cwd: env.repo,
    env: childEnv,
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<TsruncResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const signo = signal ? (osConstants.signals[signal] ?? 0) : 0;
      resolve({ code: code ?? 128 + signo, signal, stdout, stderr });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

export interface ConsoleServer {
  socketPath: string;
  /** Resolves when the server exited: what the container printed on its terminal (raw, with
   *  the pty's \r\n), the server's stderr (holds "pty /dev/pts/N") and its exit code. */
  done: Promise<{ output: string; log: string; code: number | null }>;
  kill(): void;
}

const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Starts test/helpers/console-server.py on `socketPath` and waits until it listens. */
export async function startConsoleServer(
  socketPath: string,
  opts: { input?: string; waitFor?: string; timeoutS?: number } = {},
): Promise<ConsoleServer> {
  const args = [socketPath, '--timeout', String(opts.timeoutS ?? 15)];
  if (opts.input !== undefined) args.push('--input', opts.input);
  if (opts.waitFor !== undefined) args.push('--wait-for', opts.waitFor);
  const server = await startListeningHelper('console-server.py', args, 'the console server');
  return { socketPath, done: server.done, kill: server.kill };
}

export interface SeccompAgent {
  socketPath: string;
  /** Resolves when the agent exited: its exit code and its report (see seccomp-agent.py). */
  done: Promise<{ code: number | null; log: string; report: SeccompAgentReport | null }>;
  kill(): void;
}

export interface ContainerProcessState {
  ociVersion: string;
  fds: string[];
  pid: number;
  metadata?: string;
  state: { ociVersion: string; id: string; status: string; pid: number; bundle: string };
}

export interface SeccompAgentReport {
  /** The container process state the runtime sent with the (first) listener fd. */
  state: ContainerProcessState;
  /** Every state received, one per connection, in order. */
  states: ContainerProcessState[];
  /** Fds that came with the first state. */
  fdCount: number;
  /** Every notification answered: host pid of the caller and the syscall number. */
  notifications: { pid: number; nr: number }[];
}

/** Starts test/helpers/seccomp-agent.py: it takes `connections` listener fds (one per
 *  process given a filter of its own: the init, each exec and startContainer hook) and answers
 *  every notified syscall with `errno`. */
export async function startSeccompAgent(
  socketPath: string,
  reportPath: string,
  errno: number,
  connections = 1,
): Promise<SeccompAgent> {
  const server = await startListeningHelper(
    'seccomp-agent.py',
    [socketPath, reportPath, '--errno', String(errno), '--connections', String(connections)],
    'the seccomp agent',
  );
  const done = server.done.then(({ code, log }) => ({
    code,
    log,
    report: fs.existsSync(reportPath)
      ? (JSON.parse(fs.readFileSync(reportPath, 'utf8')) as SeccompAgentReport)
      : null,
  }));
  return { socketPath, done, kill: server.kill };
}

/** Runs a python helper of this directory and waits for it to print "listening" on stderr. */
async function startListeningHelper(
  script: string,
  args: string[],
  what: string,
): Promise<{ done: Promise<{ output: string; log: string; code: number | null }>; kill(): void }> {
  const child = spawn(PYTHON, [path.join(__dirname, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const done = new Promise<{ output: string; log: string; code: number | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ output, log, code }));
  });
  await Promise.race([
    waitFor(`${what} to listen`, () => log.includes('listening\n')),
    done.then((r) => {
      throw new Error(`${what} exited early (${r.code}): ${r.log}`);
    }),
  ]);
  return { done, kill: () => child.kill('SIGKILL') };
}
