// The reaper against a fake native boundary: processes are entries in a table the test drives
// (running, exited, reaped), pidfds are numbers, and an exit wakes the pidfd's watch.
import { describe, expect, it } from 'vitest';

import type { NativeBinding } from '../../src/native';
import { Reaper } from '../../src/runtime/reaper';

type ProcState = { state: 'running' } | { state: 'exited'; exitCode: number } | { state: 'reaped' };

function fakeProcesses() {
  const procs = new Map<number, ProcState>();
  const pidfds = new Map<number, number>();
  const watches = new Map<number, () => void>();
  let nextFd = 100;
  const native = {
    pidfdOpen: (pid: number) => {
      const p = procs.get(pid);
      if (!p || p.state === 'reaped') throw Object.assign(new Error('ESRCH'), { code: 'ESRCH' });
      const fd = nextFd++;
      pidfds.set(fd, pid);
      return fd;
    },
    pidfdReap: (fd: number) => {
      const pid = pidfds.get(fd)!;
      const p = procs.get(pid)!;
      if (p.state === 'reaped') throw Object.assign(new Error('ECHILD'), { code: 'ECHILD' });
      if (p.state === 'running') return null;
      procs.set(pid, { state: 'reaped' });
      return { exitCode: p.exitCode, signal: 0 };
    },
    watchReadable: (fd: number, onEvent: () => void) => {
      watches.set(fd, onEvent);
      return { stop: () => watches.delete(fd), ref() {}, unref() {} };
    },
    closeFd: (fd: number) => {
      pidfds.delete(fd);
    },
  } as unknown as NativeBinding;
  return {
    native,
    spawn: (pid: number) => procs.set(pid, { state: 'running' }),
    exit: (pid: number, exitCode: number) => {
      procs.set(pid, { state: 'exited', exitCode });
      for (const [fd, wake] of [...watches]) if (pidfds.get(fd) === pid) wake();
    },
  };
}

const clock = { now: () => new Date(0) };

describe('Reaper', () => {
  it('reports the exit code of an adopted process when it exits', async () => {
    const procs = fakeProcesses();
    const reaper = new Reaper(() => procs.native, clock);
    procs.spawn(10);
    const watch = reaper.adopt(10);
    expect(watch.status()).toBeNull();
    procs.exit(10, 7);
    expect(await watch.exited).toMatchObject({ pid: 10, exitCode: 7, signal: 0 });
    expect(reaper.size).toBe(0);
  });

  it('gives a process reaped as an orphan before its spawner adopted it its real status, not 255', async () => {
    // The exec race: the orphan scan adopts the exec'd child (a child of ours in the
    // container's cgroup), the child exits and is reaped, and only then does the exec learn its
    // pid and adopt it.
    const procs = fakeProcesses();
    const reaper = new Reaper(() => procs.native, clock);
    const seen: number[] = [];
    reaper.onExit((status) => seen.push(status.exitCode));
    procs.spawn(20);
    const asOrphan = reaper.adopt(20);
    procs.exit(20, 7);
    expect(await asOrphan.exited).toMatchObject({ pid: 20, exitCode: 7 });
    const bySpawner = reaper.adopt(20);
    expect(await bySpawner.exited).toMatchObject({ pid: 20, exitCode: 7 });
    expect(seen[0]).toBe(7);
  });

  it('watches a new process that reuses a pid it reaped before, instead of reporting the old exit', async () => {
    const procs = fakeProcesses();
    const reaper = new Reaper(() => procs.native, clock);
    procs.spawn(30);
    const first = reaper.adopt(30);
    procs.exit(30, 1);
    await first.exited;
    procs.spawn(30);
    const second = reaper.adopt(30);
    expect(second.status()).toBeNull();
    procs.exit(30, 2);
    expect(await second.exited).toMatchObject({ exitCode: 2 });
  });

  it('reports 255 for a pid that was never its own and is gone', async () => {
    const procs = fakeProcesses();
    const reaper = new Reaper(() => procs.native, clock);
    expect(await reaper.adopt(40).exited).toMatchObject({ pid: 40, exitCode: 255 });
  });
});
