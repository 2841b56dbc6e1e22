// The library's front door: one Runtime per state root, for a program that runs containers
// in-process (a shim, a test, a script). Every method is one operation of the CLI, without its
// side effects on this process: no signal handlers, no exit, no chdir, no rlimit or umask
// change, no use of this process's stdio for the container (stdio is an explicit fd map).
import { cgroupsOf } from '../cgroups';
import { detectCgroups } from '../cgroups/layout';
import type { Stats } from '../cgroups/types';
import { RuntimeError } from '../errors';
import { readMountInfo } from '../plan/host';
import type { LinuxResources } from '../spec/types';
import type { ContainerRecord, OciState } from '../state/store';
import { createRuntimeContext, type RuntimeContext, type RuntimeContextOptions } from './context';
import { type CreatedContainer, createContainer, type CreateOptions } from './create';
import { exec, type ExecOptions, type ExecProcess } from './exec';
import { deleteContainer, kill, list, state } from './lifecycle';
import type { ChildWatch, ExitStatus } from './reaper';
import { type ContainerEvent, oomCounter, pause, ps, resume, stats, update, watchEvents } from './resources';
import { run } from './run';
import { start } from './start';

export interface RuntimeOptions extends RuntimeContextOptions {
  /**
   * Make this process a child subreaper (PR_SET_CHILD_SUBREAPER, process-wide, so only when
   * asked): processes of a container without its own pid namespace that lose their parent come
   * to us, and the reaper reaps them, found through the container's cgroup (reaper.ts).
   */
  subreaper?: boolean;
}

export interface ContainerHandle {
  id: string;
  /** Host pid of the container's init. */
  pid: number;
}

export class Runtime {
  readonly context: RuntimeContext;
  private readonly inits = new Map<string, { watch: ChildWatch; record: ContainerRecord }>();
  private readonly subreaper: boolean;
  private stopExitWatch: (() => void) | null = null;
  private orphanScan: NodeJS.Timeout | null = null;
  private readonly onChildSignal = (): void => this.scheduleOrphanScan();

  constructor(opts: RuntimeOptions) {
    if (opts.subreaper === true && opts.autoReap === false) {
      throw new RuntimeError('subreaper needs autoReap: orphans are reaped as they exit');
    }
    this.context = createRuntimeContext(opts);
    this.subreaper = opts.subreaper === true;
    if (this.subreaper) {
      this.context.native.setChildSubreaper(true);
      // An orphan that comes to us and exits is a zombie of ours: SIGCHLD says one (or a
      // process of ours) ended, and so may an exit the reaper took (its children lost a parent).
      process.on('SIGCHLD', this.onChildSignal);
      this.stopExitWatch = this.context.reaper.onExit(() => this.scheduleOrphanScan());
    }
  }

  async create(opts: CreateOptions): Promise<ContainerHandle> {
    return this.track(await createContainer(this.context, opts));
  }

  start(id: string): Promise<void> {
    return start(this.context, id);
  }

  /** create + start; the container is deleted again if start fails. */
  async run(opts: CreateOptions): Promise<ContainerHandle> {
    return this.track(await run(this.context, opts));
  }

  /** The exit of the init of a container this Runtime created (it is our child). */
  async wait(id: string): Promise<ExitStatus> {
    const init = this.inits.get(id);
    if (!init) throw new RuntimeError(`container ${id} was not created by this runtime: cannot wait for it`);
    return init.watch.wait();
  }

  exec(id: string, opts: Omit<ExecOptions, 'id'>): Promise<ExecProcess> {
    return exec(this.context, { ...opts, id });
  }

  kill(id: string, signal: string | number = 'SIGTERM', opts: { all?: boolean } = {}): Promise<void> {
    return kill(this.context, id, signal, opts.all === true);
  }

  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    const init = this.inits.get(id);
    // Orphans still running are adopted before the kill, the zombies the kill makes after it.
    if (init) this.reapOrphans([init.record]);
    await deleteContainer(this.context, id, opts.force === true);
    if (init) {
      this.reapOrphans([init.record]);
      this.inits.delete(id);
    }
  }

  state(id: string): Promise<OciState> {
    return state(this.context, id);
  }

  list(): Promise<OciState[]> {
    return list(this.context);
  }

  pause(id: string): Promise<void> {
    return pause(this.context, id);
  }

  resume(id: string): Promise<void> {
    return resume(this.context, id);
  }

  update(id: string, resources: LinuxResources): Promise<void> {
    return update(this.context, id, resources);
  }

  /** Host pids of the container's processes. */
  ps(id: string): Promise<number[]> {
    return ps(this.context, id);
  }

  async stats(id: string): Promise<Stats> {
    return (await stats(this.context, id)).data;
  }

  /** How many of the container's processes were OOM-killed so far (see resources.ts). */
  oomCounter(id: string): () => number {
    return oomCounter(this.context, id);
  }

  /** Stats every intervalMs and OOM events until the container stops. */
  events(id: string, intervalMs: number, emit: (event: ContainerEvent) => void): Promise<void> {
    return watchEvents(this.context, id, intervalMs, emit);
  }

  /** Stop watching every process (pending waits reject) and stop being a subreaper; containers
   *  keep running. */
  close(): void {
    if (this.subreaper) {
      process.off('SIGCHLD', this.onChildSignal);
      this.stopExitWatch?.();
      if (this.orphanScan) clearTimeout(this.orphanScan);
      this.orphanScan = null;
      this.context.native.setChildSubreaper(false);
    }
    this.context.reaper.close();
    this.inits.clear();
  }

  private track(created: CreatedContainer): ContainerHandle {
    this.inits.set(created.record.id, { watch: created.init, record: created.record });
    return { id: created.record.id, pid: created.record.initPid };
  }

  /** One pass over /proc for every container's orphans, at most every ORPHAN_SCAN_MS. */
  private scheduleOrphanScan(): void {
    if (this.orphanScan) return;
    this.orphanScan = setTimeout(() => {
      this.orphanScan = null;
      try {
        this.reapOrphans([...this.inits.values()].map((init) => init.record));
      } catch (error) {
        this.context.logger.error(`reaping orphans: ${(error as Error).message}`);
      }
    }, ORPHAN_SCAN_MS);
    this.orphanScan.unref();
  }

  private reapOrphans(records: ContainerRecord[]): void {
    if (!this.subreaper || records.length === 0) return;
    const hierarchies = detectCgroups(readMountInfo()).hierarchies;
    const owners = new Map<string, string>();
    for (const record of records) {
      const cgroups = cgroupsOf(record);
      if (!cgroups) continue;
      for (const [key, dir] of Object.entries(cgroups.record.dirs)) {
        const mountPoint = hierarchies.find((h) => h.procKey === key)?.mountPoint;
        if (mountPoint && dir.startsWith(`${mountPoint}/`))
          owners.set(dir.slice(mountPoint.length), record.id);
      }
    }
    this.context.reaper.reapOrphans(owners);
  }
}

/** How soon after a SIGCHLD the orphans are looked for (several exits make one pass). */
const ORPHAN_SCAN_MS = 20;
