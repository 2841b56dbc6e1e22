// cgroup v2 devices "controller": v2 has no devices files; access to device nodes is decided by
// an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the container's cgroup, compiled
// from deviceRules() (devices-bpf.ts). On update the new program replaces the old one: with
// exactly one program attached, atomically (BPF_F_REPLACE); otherwise the new one is attached
// and then every old one detached (runc's LoadAttachCgroupDeviceFilter does the same), so the
// cgroup is never left without a filter.
import { RuntimeError } from '../../errors';
import { native } from '../../native';
import type { LinuxResources } from '../../spec/types';
import { deviceRules } from '../device-rules';
import type { ApplyContext, Controller } from '../types';
import { deviceFilterProgram } from './devices-bpf';

/** Load `program` and make it the only device filter of the cgroup directory `dir`. */
export function installDeviceFilter(dir: string, program: Buffer): void {
  const n = native();
  let dirFd = -1;
  let progFd = -1;
  try {
    dirFd = n.openDirectory(dir);
    const old = n.queryDevicePrograms(dirFd);
    progFd = n.loadDeviceProgram(program);
    let replaced = false;
    if (old.length === 1) {
      try {
        n.attachDeviceProgram(dirFd, progFd, old[0]);
        replaced = true;
      } catch {
        // Kernel without BPF_F_REPLACE (before 5.6), or the old program went away: attach, detach.
      }
    }
    if (!replaced) {
      n.attachDeviceProgram(dirFd, progFd);
      for (const id of old) n.detachDeviceProgram(dirFd, id);
    }
  } catch (error) {
    throw new RuntimeError(`cgroup: device filter of ${dir}: ${(error as Error).message}`);
  } finally {
    // An attached program stays with the cgroup; our fds are no longer needed.
    if (progFd >= 0) n.closeFd(progFd);
    if (dirFd >= 0) n.closeFd(dirFd);
  }
}

/** Ids of the device filter programs attached to `dir` (for tests and diagnostics). */
export function attachedDeviceFilters(dir: string): number[] {
  const n = native();
  const dirFd = n.openDirectory(dir);
  try {
    return n.queryDevicePrograms(dirFd);
  } finally {
    n.closeFd(dirFd);
  }
}

export const devicesV2: Controller = {
  name: 'devices',

  apply(dir: string, resources: LinuxResources, ctx: ApplyContext): void {
    // An update that names no device rules keeps the container's (it carries only the changes).
    if (ctx.update && resources.devices === undefined) return;
    // Always at create: even without configured rules the default allow list is enforced.
    installDeviceFilter(dir, deviceFilterProgram(deviceRules(resources)));
  },
};
