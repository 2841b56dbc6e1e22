// Joining a process to a cgroup (a write to cgroup.procs) takes the kernel's cgroup threadgroup
// rwsem for writing. When no writer took it within the last RCU grace period, that write first
// waits for a grace period: 5 to 20 ms here, measured for runc as for tsrunc, and the largest
// single cost of `create` and `exec`. A writer that comes while another holds it, or just after,
// waits only for what is left of that period.
//
// So create and exec start a grace period early: right at their start, on libuv's thread pool,
// this process writes its own pid into the cgroup it is already in (a move to where it is, which
// changes nothing but takes the lock), while the main thread reads, validates and plans. By the
// time the child joins the container's cgroups, most of the wait has passed.
import * as fs from 'node:fs';

/** The cgroup.procs file of this process's own cgroup, or null if none is found. */
function ownCgroupProcsFile(): string | null {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    // "N:controllers:/path": a v1 hierarchy named after its controllers, or "0::/path" for the
    // unified one. pids is in nearly every v1 set-up; else the unified hierarchy.
    const [, controllers, cgroupPath] = line.split(':');
    if (controllers === 'pids') return `/sys/fs/cgroup/pids${cgroupPath}/cgroup.procs`;
  }
  const unified = text.split('\n').find((line) => line.startsWith('0::'));
  if (!unified) return null;
  const base = fs.existsSync('/sys/fs/cgroup/cgroup.controllers')
    ? '/sys/fs/cgroup'
    : '/sys/fs/cgroup/unified';
  return `${base}${unified.slice(3)}/cgroup.procs`;
}

/** When this process last started a warm-up: the CLI starts one as soon as it knows the command,
 *  and create/exec in the library would start a second one just after. */
let lastWarmup = 0;
const WARMUP_REUSE_MS = 100;

/** Start the kernel's wait for a cgroup writer in the background (see above). Never fails: at
 *  worst the later join waits as it would have. */
export function warmCgroupMigration(): void {
  const now = Date.now();
  if (now - lastWarmup < WARMUP_REUSE_MS) return;
  lastWarmup = now;
  const file = ownCgroupProcsFile();
  if (file === null) return;
  fs.writeFile(file, String(process.pid), () => {
    // A cgroup we may not write to, or one that is gone: nothing was warmed, nothing is wrong.
  });
}
