// containerd shim v2 runtimes for the end-to-end shim tests (test/e2e/shim.test.ts): which
// runtime they run ($TSRUNC_SHIM_RUNTIME), what differs between runtimes (state dirs, messages),
// how containerd finds tsrunc's shim binary, and host-side views of shims: their processes and
// their sockets.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { tempDir } from './bundle';
import { testEnv } from './env';

/** tsrunc's runtime name: containerd runs `containerd-shim-tsrunc-v1` for it. */
export const TSRUNC_SHIM_RUNTIME = 'io.containerd.tsrunc.v1';

export interface ShimRuntime {
  /** The runtime name given to `ctr run --runtime`. */
  name: string;
  /** The shim binary containerd looks up on its PATH: `containerd-shim-<a>-<b>` for `….<a>.<b>`. */
  binary: string;
  /** The runtime's state root of the shim: a container's state is `<stateRoot>/<namespace>/<id>`. */
  stateRoot: string;
  /** Where the shim listens: `<socketDir>/<sha256 of socketKey(...)>`. */
  socketDir: string;
  /** What the socket's name is the sha256 of. */
  socketKey(address: string, namespace: string, group: string): string;
  /** The OCI annotation whose value puts containers into one shim (default: one per container). */
  groupAnnotation: string;
  /** What ctr's stderr says when the process's executable `cmd` (an absolute path) is missing. */
  execNotFound(cmd: string): RegExp;
  /**
   * The shim closes a connection whose first bytes, read as a ttrpc header, announce more than
   * 4 MiB and which then ends. Go's ttrpc 1.1 does not: the discard of the announced bytes fails
   * at the end, which it logs, and the connection stays open (until the shim exits).
   */
  closesBadHeaderConnection: boolean;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What differs between the shims the tests know. */
const RUNTIMES: Record<string, Omit<ShimRuntime, 'name' | 'binary'>> = {
  // containerd's Go shim running runc: the reference the tests were checked against.
  'io.containerd.runc.v2': {
    stateRoot: '/run/containerd/runc',
    socketDir: '/run/containerd/s',
    socketKey: (address, namespace, group) => path.join(address, namespace, group),
    groupAnnotation: 'io.containerd.runc.v2.group',
    execNotFound: (cmd) =>
      new RegExp(
        `runc create failed: unable to start container process: exec: "${escape(cmd)}": ` +
          `stat ${escape(cmd)}: no such file or directory`,
      ),
    closesBadHeaderConnection: false,
  },
  [TSRUNC_SHIM_RUNTIME]: {
    stateRoot: '/run/containerd/tsrunc',
    socketDir: '/run/containerd/s',
    // "tsrunc" in the key: a Go shim of the same group never answers for tsrunc's.
    socketKey: (address, namespace, group) => path.join(address, namespace, 'tsrunc', group),
    groupAnnotation: 'io.containerd.runc.v2.group',
    execNotFound: (cmd) =>
      new RegExp(`unable to start container process: exec: "${escape(cmd)}": no such file or directory`),
    closesBadHeaderConnection: true,
  },
};

/** The runtime the shim tests run: $TSRUNC_SHIM_RUNTIME, default tsrunc's. */
export function shimRuntime(): ShimRuntime {
  const name = process.env.TSRUNC_SHIM_RUNTIME || TSRUNC_SHIM_RUNTIME;
  const known = RUNTIMES[name];
  if (!known) {
    throw new Error(
      `TSRUNC_SHIM_RUNTIME=${name} is not a runtime the shim tests know (${Object.keys(RUNTIMES).join(', ')})`,
    );
  }
  const parts = name.split('.');
  return { name, binary: `containerd-shim-${parts.slice(-2).join('-')}`, ...known };
}

/**
 * The directories to put before containerd's PATH so it finds the shim of `runtime`: for tsrunc,
 * a fresh dir holding `containerd-shim-tsrunc-v1` -> <repo>/bin/containerd-shim-tsrunc-v1; none
 * for shims installed on the host. The caller removes the dirs.
 */
export function shimPathDirs(runtime: ShimRuntime): string[] {
  if (runtime.name !== TSRUNC_SHIM_RUNTIME) return [];
  const target = path.join(testEnv().repo, 'bin', runtime.binary);
  if (!fs.existsSync(target)) {
    throw new Error(
      `${target} does not exist: no tsrunc shim to test ` +
        "(TSRUNC_SHIM_RUNTIME=io.containerd.runc.v2 runs these tests against containerd's shim)",
    );
  }
  const dir = tempDir('e2e-shim-bin');
  fs.symlinkSync(target, path.join(dir, runtime.binary));
  return [dir];
}

/** The socket a shim of containerd `address` serves `group` (a container id by default) on. */
export function shimSocketPath(
  runtime: ShimRuntime,
  address: string,
  namespace: string,
  group: string,
): string {
  const key = runtime.socketKey(address, namespace, group);
  return path.join(runtime.socketDir, createHash('sha256').update(key).digest('hex'));
}

/** Something listens on the unix socket `file`. */
export function socketAccepts(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.createConnection({ path: file });
    conn.once('connect', () => {
      conn.destroy();
      resolve(true);
    });
    conn.once('error', () => resolve(false));
  });
}

export interface ShimProcess {
  pid: number;
  ppid: number;
  /** Field 22 of /proc/<pid>/stat: tells a pid's reuse apart. */
  startTime: string;
  argv: string[];
  /** `start` or `delete` for the short-lived invocations containerd runs, null for a server. */
  action: 'start' | 'delete' | null;
}

function stat(pid: number): { state: string; ppid: number; startTime: string } | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: f[0], ppid: Number(f[1]), startTime: f[19] };
  } catch {
    return null;
  }
}

/** The parent of `pid`, or null when it is gone. */
export function parentOf(pid: number): number | null {
  return stat(pid)?.ppid ?? null;
}

/**
 * Live shim processes of the containerd listening on `address`: a `containerd-shim-*` binary (or
 * script, then argv[1]) whose argv holds that address. Other engines' shims never match.
 */
export function shimProcesses(address: string): ShimProcess[] {
  const out: ShimProcess[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv[argv.length - 1] === '') argv.pop();
    // The binary, or the script after the interpreter and its flags (node --flag script ...).
    const program = [argv[0], argv.slice(1).find((a) => !a.startsWith('-'))];
    if (!program.some((a) => a !== undefined && path.basename(a).startsWith('containerd-shim-'))) continue;
    if (!argv.includes(address)) continue;
    const st = stat(pid);
    if (!st || st.state === 'Z' || st.state === 'X') continue;
    // A child the runtime library clones in the shim has the shim's argv until it execs; its
    // name says what it is (tsrunc:[1:NS], tsrunc:[2:INIT]).
    if (comm(pid).startsWith('tsrunc:')) continue;
    const last = argv[argv.length - 1];
    const action = last === 'start' || last === 'delete' ? last : null;
    out.push({ pid, ppid: st.ppid, startTime: st.startTime, argv, action });
  }
  // A child of a shim is not a shim: a process the runtime library just cloned has the shim's
  // argv (and, for an instant, its name) until it execs.
  const pids = new Set(out.map((p) => p.pid));
  return out.filter((p) => !pids.has(p.ppid));
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The long-lived shim servers of containerd `address` (not its start/delete invocations). */
export function shimServers(address: string): ShimProcess[] {
  return shimProcesses(address).filter((p) => p.action === null);
}

/** `pid` still runs (not a zombie) and is the process that had `startTime`. */
export function sameProcessAlive(pid: number, startTime: string): boolean {
  const st = stat(pid);
  return st !== null && st.state !== 'Z' && st.state !== 'X' && st.startTime === startTime;
}

/** One line of `ctr events`: the topic and the event as JSON (containerd's Go field names). */
export interface CtrEvent {
  topic: string;
  event: Record<string, unknown>;
}

/**
 * `ctr events` of a containerd as a child process, its lines parsed as they come. ctr prints
 * `<timestamp> <namespace> <topic> <event JSON>` per event.
 */
export class CtrEvents {
  readonly events: CtrEvent[] = [];
  private readonly exited: Promise<void>;
  private partial = '';

  private constructor(
    private readonly child: ChildProcess,
    namespace: string,
  ) {
    const line = new RegExp(`^.*? ${namespace.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (/\\S+)(?: (.*))?$`);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (this.partial + chunk).split('\n');
      this.partial = lines.pop()!;
      for (const text of lines) {
        const m = line.exec(text);
        if (!m) continue;
        let event: Record<string, unknown> = {};
        try {
          event = m[2] ? (JSON.parse(m[2]) as Record<string, unknown>) : {};
        } catch {
          event = { unparsed: m[2] };
        }
        this.events.push({ topic: m[1], event });
      }
    });
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
  }

  /**
   * Starts `argv` (a `ctr ... events` command) and returns once it receives events: `poke(n)`
   * makes containerd publish a /namespaces/update event (n counts the tries), repeated until one
   * arrives, since ctr says nothing when its subscription is in place.
   */
  static async start(
    argv: string[],
    namespace: string,
    poke: (n: number) => Promise<unknown>,
    timeoutMs: number,
  ): Promise<CtrEvents> {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    const stream = new CtrEvents(child, namespace);
    try {
      const deadline = Date.now() + timeoutMs;
      for (let n = 1; !stream.events.some((e) => e.topic === '/namespaces/update'); n++) {
        if (Date.now() > deadline) throw new Error('ctr events shows no events');
        await poke(n);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } catch (error) {
      await stream.stop();
      throw error;
    }
    return stream;
  }

  /** The /tasks/* events of container `id`, in arrival order. */
  ofContainer(id: string): CtrEvent[] {
    return this.events.filter((e) => e.topic.startsWith('/tasks/') && e.event.container_id === id);
  }

  /** Polls until `cond` holds for the events so far; throws naming `what` after `timeoutMs`. */
  async waitFor(what: string, cond: (events: CtrEvent[]) => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond(this.events)) {
      if (Date.now() > deadline) {
        const seen = this.events.map((e) => `${e.topic} ${JSON.stringify(e.event)}`).join('\n  ');
        throw new Error(`ctr events: no ${what} after ${timeoutMs} ms; seen:\n  ${seen}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Kills ctr and waits for it to be reaped. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
