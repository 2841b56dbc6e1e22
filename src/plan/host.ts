// Facts about the host the plan depends on, read once per create.
import * as fs from 'node:fs';

export interface HostMount {
  /** Mount id (first field of mountinfo): unique while the mount exists. */
  id: number;
  mountPoint: string;
  fstype: string;
  /** Super options (field after the source): for cgroup v1 they name the controllers. */
  superOptions: string;
  root: string;
  /** In a shared peer group ("shared:N" among the optional fields). */
  shared: boolean;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
function unescapeMountPath(value: string): string {
  return value.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function readMountInfo(pid: number | 'self' = 'self'): HostMount[] {
  const text = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
  const mounts: HostMount[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 0) continue;
    mounts.push({
      id: Number(fields[0]),
      root: unescapeMountPath(fields[3]),
      mountPoint: unescapeMountPath(fields[4]),
      fstype: fields[separator + 1],
      superOptions: fields[separator + 3] ?? '',
      shared: fields.slice(6, separator).some((field) => field.startsWith('shared:')),
    });
  }
  return mounts;
}

/** The mount that holds `target` (longest prefix match, last mount wins). */
export function mountOf(target: string, mounts: HostMount[]): HostMount | undefined {
  let best: HostMount | undefined;
  for (const mount of mounts) {
    const point = mount.mountPoint;
    const inside = target === point || target.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (inside && point.length >= (best?.mountPoint.length ?? 0)) best = mount;
  }
  return best;
}

export function lastCapability(): number {
  try {
    return parseInt(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'), 10);
  } catch {
    return 40;
  }
}
