// The container process's stdio and extra fds, as the caller hands them over: fds of this
// process that the child dup2()s onto 0, 1, 2 and 3, 4, ... (addon/child.cc). The library never
// takes this process's own 0-2 for the container's; the CLI passes them explicitly.
import * as fs from 'node:fs';

import { RuntimeError } from '../errors';
import type { PlanStdio } from '../plan/build';

export interface StdioMap {
  stdin?: number;
  stdout?: number;
  stderr?: number;
  /** Become fds 3, 4, ... of the process, in order (runc's --preserve-fds). */
  extraFds?: number[];
}

/**
 * Check the map's fds and fill the gaps with /dev/null (opened here, close-on-exec, handed to
 * `keep`, which owns them from then on).
 */
export function openStdio(map: StdioMap | undefined, keep: (fd: number) => number): PlanStdio {
  let devNull = -1;
  const nullFd = (): number => {
    if (devNull < 0) devNull = keep(fs.openSync('/dev/null', 'r+'));
    return devNull;
  };
  const pick = (name: string, fd: number | undefined): number => {
    if (fd === undefined) return nullFd();
    checkOpen(name, fd);
    return fd;
  };
  const extra = map?.extraFds ?? [];
  extra.forEach((fd, i) => checkOpen(`stdio.extraFds[${i}]`, fd));
  return {
    stdin: pick('stdio.stdin', map?.stdin),
    stdout: pick('stdio.stdout', map?.stdout),
    stderr: pick('stdio.stderr', map?.stderr),
    extra: [...extra],
  };
}

function checkOpen(name: string, fd: number): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff)
    throw new RuntimeError(`${name}: ${fd} is not an fd`);
  try {
    fs.fstatSync(fd);
  } catch {
    throw new RuntimeError(`${name}: fd ${fd} is not open`);
  }
}
