// What a `create` or an `exec` has acquired so far while it spawns a container process: fds,
// the stage-1 process and the process it cloned. `abandonProcesses` undoes them after a failure.
// Both processes are children of this process (stage 1 by clone, the other by CLONE_PARENT):
// the context's reaper takes their exits.
import type { RuntimeContext } from './context';
import type { ChildWatch } from './reaper';

/** How long a SIGKILLed child of ours may take to be reaped. */
const KILL_REAP_MS = 10_000;
const SIGKILL = 9;

export class SpawnAttempt {
  /** Host pid of the process stage 1 cloned (the init, or the exec'd process); 0 before. */
  protected childPid = 0;
  protected child: ChildWatch | null = null;
  private fds: number[] = [];
  private intermediate: ChildWatch | null = null;

  constructor(protected readonly ctx: RuntimeContext) {}

  /** Records a freshly spawned stage 1 and takes its sync socket; returns the socket fd. */
  protected spawned(spawned: { intermediatePid: number; syncFd: number }): number {
    this.intermediate = this.ctx.reaper.adopt(spawned.intermediatePid);
    return this.keep(spawned.syncFd);
  }

  /** Stage 1 cloned `pid` (and exits now): watch the child. */
  protected adoptChild(pid: number): ChildWatch {
    this.childPid = pid;
    this.child = this.ctx.reaper.adopt(pid);
    return this.child;
  }

  /** Stage 1 has nothing left to do once the child is up: wait until it is reaped, so no
   *  zombie of ours outlives the operation. */
  protected async intermediateGone(): Promise<void> {
    await bounded(this.intermediate?.wait(), KILL_REAP_MS);
  }

  /** SIGKILL the processes, wait until they are reaped, close the fds. `afterKill` runs once
   *  something was signalled, before the wait (a thaw, so that the kill can take effect). */
  protected async abandonProcesses(afterKill?: () => Promise<void> | undefined): Promise<void> {
    const watches = [this.child, this.intermediate].filter((w): w is ChildWatch => w !== null);
    let signalled = false;
    for (const watch of watches) {
      if (watch.status() !== null) continue;
      try {
        process.kill(watch.pid, SIGKILL);
        signalled = true;
      } catch {
        // already gone
      }
    }
    if (signalled && afterKill) {
      try {
        await afterKill();
      } catch {
        // the bounded wait below ends it anyway
      }
    }
    await Promise.all(watches.map((watch) => bounded(watch.wait(), KILL_REAP_MS)));
    this.closeAll();
  }

  protected closeAll(): void {
    for (const fd of this.fds) this.ctx.native.closeFd(fd);
    this.fds = [];
  }

  protected keep(fd: number): number {
    this.fds.push(fd);
    return fd;
  }

  protected release(fd: number): void {
    const index = this.fds.indexOf(fd);
    if (index >= 0) this.fds.splice(index, 1);
    this.ctx.native.closeFd(fd);
  }
}

/** Wait for `promise` at most `ms`; its rejection or the timeout both just end the wait. */
export async function bounded(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!promise) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => {}),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
