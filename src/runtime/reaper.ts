// One reaper per RuntimeContext: the exits of every process the library started (stage 1, the
// init, exec'd processes), each watched through its own pidfd on the event loop.
//
// It never calls waitpid(-1) or wait(2) for "any child": Node's child_process (the hooks) reaps
// its own children by pid, and taking one of their exits would lose it. Only a pidfd the reaper
// opened for a pid the library started is ever reaped (waitid(P_PIDFD)).
//
// Orphans: a process of a container without its own pid namespace that loses its parent is
// reparented to the nearest subreaper. When the caller makes this process a subreaper
// (`subreaper: true`), those orphans become our children, and `reapOrphans` finds them by the
// container's cgroup (a process whose parent is this process and whose /proc/<pid>/cgroup lies in
// the container's cgroup is one of its orphans, zombies included: a zombie keeps its cgroup until
// it is reaped). The runtime calls it whenever one of the container's own processes exits and
// when the container is deleted.
import * as fs from 'node:fs';

import type { FdWatch, NativeBinding } from '../native';
import { RuntimeError } from '../errors';

export interface ExitStatus {
  pid: number;
  /** The exit code, or 128+N when killed by signal N (what a shell reports). */
  exitCode: number;
  /** The signal that ended it, 0 when it exited. */
  signal: number;
  exitedAt: Date;
}

export interface Clock {
  now(): Date;
}

/** A child being watched: its exit, whenever it happens, is kept in `exited`. */
export interface ChildWatch {
  readonly pid: number;
  /** Resolves once the child is reaped. Awaiting it through `wait()` keeps the event loop alive;
   *  the watch alone does not (a CLI process may exit while its container runs). */
  readonly exited: Promise<ExitStatus>;
  /** `exited`, holding the event loop open until it resolves. */
  wait(): Promise<ExitStatus>;
  /** The status once reaped, else null. */
  status(): ExitStatus | null;
}

class Watched implements ChildWatch {
  readonly exited: Promise<ExitStatus>;
  private result: ExitStatus | null = null;
  private watch: FdWatch | null = null;
  private pidfd = -1;
  private waiters = 0;
  private settle!: (status: ExitStatus) => void;
  private fail!: (error: Error) => void;

  constructor(
    readonly pid: number,
    private readonly native: NativeBinding,
    private readonly clock: Clock,
    private readonly onDone: (watched: Watched) => void,
    /** Reap on exit whether or not anyone waits; else only once someone waits (see Reaper). */
    private readonly auto: boolean,
    /** The status of `pid` if this reaper reaped it a moment ago (see Reaper.recentExits). */
    private readonly reapedBefore: (pid: number) => ExitStatus | undefined,
  ) {
    this.exited = new Promise<ExitStatus>((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
    // A rejection nobody awaits (the reaper closed) must not become an unhandled rejection.
    this.exited.catch(() => {});
  }

  start(): void {
    try {
      this.pidfd = this.native.pidfdOpen(this.pid);
    } catch (error) {
      // Gone already. Reaped by this reaper as an orphan (a quick exec'd process that exited
      // before its spawner adopted it): its real status. Else someone else reaped it, which the
      // library never lets happen to its own.
      const before =
        (error as NodeJS.ErrnoException).code === 'ESRCH' ? this.reapedBefore(this.pid) : undefined;
      this.finish(before ?? { pid: this.pid, exitCode: 255, signal: 0, exitedAt: this.clock.now() });
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      return;
    }
    if (this.auto) this.startWatching();
  }

  private startWatching(): void {
    this.watch = this.native.watchReadable(this.pidfd, () => this.poll());
    this.watch.unref();
    this.poll();
  }

  wait(): Promise<ExitStatus> {
    if (this.result !== null) return Promise.resolve(this.result);
    if (this.watch === null && this.pidfd >= 0) this.startWatching();
    if (this.result !== null) return Promise.resolve(this.result);
    if (this.waiters++ === 0) this.watch?.ref();
    return this.exited.finally(() => {
      if (--this.waiters === 0) this.watch?.unref();
    });
  }

  status(): ExitStatus | null {
    return this.result;
  }

  close(): void {
    if (this.result !== null) return;
    this.stopWatching();
    this.fail(new RuntimeError(`stopped watching process ${this.pid}`));
    this.onDone(this);
  }

  private poll(): void {
    if (this.result !== null || this.pidfd < 0) return;
    let reaped: { exitCode: number; signal: number } | null;
    try {
      reaped = this.native.pidfdReap(this.pidfd);
    } catch {
      // ECHILD: not (or no longer) our child to reap; it is gone for us all the same.
      reaped = { exitCode: 255, signal: 0 };
    }
    if (reaped === null) return;
    this.finish({ pid: this.pid, ...reaped, exitedAt: this.clock.now() });
  }

  private finish(status: ExitStatus): void {
    this.result = status;
    this.stopWatching();
    this.settle(status);
    this.onDone(this);
  }

  private stopWatching(): void {
    this.watch?.stop();
    this.watch = null;
    if (this.pidfd >= 0) this.native.closeFd(this.pidfd);
    this.pidfd = -1;
  }
}

/** How many exits the reaper remembers (see Reaper.recentExits). */
const RECENT_EXITS = 256;

export class Reaper {
  private readonly watched = new Map<number, Watched>();
  /**
   * The last exits this reaper took, by pid. The orphan scan adopts any child of ours in a
   * container's cgroup, and so may adopt and reap an exec'd process that exits before the exec
   * that spawned it has learnt its pid; that exec's adopt then finds the pid gone and takes its
   * status from here. A pid found gone is not reused yet (pidfd_open would have opened the new
   * process), so the entry is that process's.
   */
  private readonly recentExits = new Map<number, ExitStatus>();
  private readonly exitListeners = new Set<(status: ExitStatus) => void>();

  constructor(
    private readonly native: () => NativeBinding,
    private readonly clock: Clock,
    /** Where a failing exit listener is reported: it must never take the process down. */
    private readonly onListenerError: (error: unknown) => void = () => {},
    /**
     * true (a long-lived caller, the shim): every child is reaped when it exits, so none stays a
     * zombie. false (the CLI): a child is reaped only once someone waits for it; a process the
     * CLI hands over (`exec --detach`, `run -d`, the init after `create`) is left for whoever
     * inherits it (the engine's subreaper), which must see its exit.
     */
    private readonly autoReap = true,
  ) {}

  /** Watch `pid`, a child of this process (an init cloned with CLONE_PARENT, a stage 1, an exec'd
   *  process). Adopting a pid twice returns the same watch. */
  adopt(pid: number): ChildWatch {
    const known = this.watched.get(pid);
    if (known) return known;
    const watched = new Watched(
      pid,
      this.native(),
      this.clock,
      (done) => {
        if (this.watched.get(done.pid) === done) this.watched.delete(done.pid);
        const status = done.status();
        if (!status) return;
        this.rememberExit(status);
        for (const listener of this.exitListeners) {
          try {
            listener(status);
          } catch (error) {
            this.onListenerError(error);
          }
        }
      },
      this.autoReap,
      (reaped) => this.recentExits.get(reaped),
    );
    this.watched.set(pid, watched);
    watched.start();
    return watched;
  }

  /** Adopt `pid` if it is a child of this process (a process the library started that it never
   *  got to adopt: an init cloned just before a create gave up). */
  adoptIfChild(pid: number): ChildWatch | null {
    if (this.watched.has(pid)) return this.watched.get(pid)!;
    return parentOf(String(pid)) === String(process.pid) ? this.adopt(pid) : null;
  }

  /** The watch of a pid adopted and not yet reaped, if any. */
  get(pid: number): ChildWatch | undefined {
    return this.watched.get(pid);
  }

  /** Called with every exit the reaper takes. Returns a function that removes the listener. */
  onExit(listener: (status: ExitStatus) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /**
   * Adopt the orphans of containers: processes whose parent is this process and whose cgroup is
   * one of the keys of `owners` ("/a/b" as /proc/<pid>/cgroup shows them) or below. One pass over
   * /proc for all containers. Only meaningful when this process is a subreaper (or a
   * container's processes were started by it). Returns each adopted pid with its owner.
   */
  reapOrphans<Owner>(owners: Map<string, Owner>): { pid: number; owner: Owner }[] {
    const adopted: { pid: number; owner: Owner }[] = [];
    if (owners.size === 0) return adopted;
    const self = String(process.pid);
    for (const name of readDirOrEmpty('/proc')) {
      if (!/^[0-9]+$/.test(name) || this.watched.has(Number(name)) || parentOf(name) !== self) continue;
      const owner = ownerByCgroup(name, owners);
      if (owner === undefined) continue;
      this.adopt(Number(name));
      adopted.push({ pid: Number(name), owner });
    }
    return adopted;
  }

  private rememberExit(status: ExitStatus): void {
    this.recentExits.delete(status.pid);
    this.recentExits.set(status.pid, status);
    if (this.recentExits.size > RECENT_EXITS) this.recentExits.delete(this.recentExits.keys().next().value!);
  }

  /** Processes watched and not yet reaped. */
  get size(): number {
    return this.watched.size;
  }

  /** Stop every watch (their `exited` promises reject); nothing is left on the event loop. */
  close(): void {
    for (const watched of [...this.watched.values()]) watched.close();
    this.watched.clear();
    this.exitListeners.clear();
  }
}

function readDirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Field 4 of /proc/<pid>/stat, after the parenthesised comm (which may hold spaces and ')'). */
function parentOf(pid: string): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? null;
  } catch {
    return null;
  }
}

function ownerByCgroup<Owner>(pid: string, owners: Map<string, Owner>): Owner | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    // A zombie whose cgroup was removed since shows it with " (deleted)" after the path.
    let cgroupPath = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1).replace(/ \(deleted\)$/, '');
    // The container's cgroup or one below it: climb to the nearest one that is known.
    while (cgroupPath.length > 1) {
      const owner = owners.get(cgroupPath);
      if (owner !== undefined) return owner;
      cgroupPath = cgroupPath.slice(0, cgroupPath.lastIndexOf('/')) || '/';
    }
  }
  return undefined;
}
