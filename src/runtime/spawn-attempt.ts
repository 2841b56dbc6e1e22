// What a `create` or an `exec` has acquired so far while it spawns a container process: fds,
// the stage-1 process and the process it cloned. `abandonProcesses` undoes them after a failure.
import { native } from '../native';

export class SpawnAttempt {
  /** Host pid of the process stage 1 cloned (the init, or the exec'd process); 0 before. */
  protected childPid = 0;
  private fds: number[] = [];
  private intermediatePid = 0;
  private intermediateReaped = false;

  /** Records a freshly spawned stage 1 and takes its sync socket; returns the socket fd. */
  protected spawned(spawned: { intermediatePid: number; syncFd: number }): number {
    this.intermediatePid = spawned.intermediatePid;
    return this.keep(spawned.syncFd);
  }

  /** Stage 1 cloned `pid` and exits: reap it and remember the child. */
  protected adoptChild(pid: number): void {
    this.childPid = pid;
    native().waitPid(this.intermediatePid, true);
    this.intermediateReaped = true;
  }

  /** SIGKILL and reap the processes, close the fds. */
  protected abandonProcesses(): void {
    const n = native();
    for (const pid of [this.childPid, this.intermediateReaped ? 0 : this.intermediatePid]) {
      if (pid <= 0) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      try {
        n.waitPid(pid, true);
      } catch {
        // not our child or already reaped
      }
    }
    for (const fd of this.fds) n.closeFd(fd);
    this.fds = [];
  }

  protected keep(fd: number): number {
    this.fds.push(fd);
    return fd;
  }

  protected release(fd: number): void {
    const index = this.fds.indexOf(fd);
    if (index >= 0) this.fds.splice(index, 1);
    native().closeFd(fd);
  }
}
