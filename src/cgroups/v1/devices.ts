// cgroup v1 devices controller: "a" to devices.deny (deny everything, drop every exception),
// then each rule of deviceRules() in order to devices.allow or devices.deny (formatDeviceRule's
// "c 1:3 rwm"), one write per rule since the kernel takes one rule per write.
//
// On update the same sequence is written again. Known limits of this simple approach (runc
// instead diffs against devices.list with its emulator and writes only the transitions):
//   - for the moment between the deny-all and the last allow, the running container can open
//     no device;
//   - the kernel refuses the "a" write (EINVAL) once the cgroup has child cgroups, so an update
//     of a container that made sub-cgroups fails with that write's error.
import type { LinuxResources } from '../../spec/types';
import { deviceRules, formatDeviceRule } from '../device-rules';
import { writeCgroupFile } from '../fs';
import type { ApplyContext, Controller } from '../types';

/** The (file, line) writes that set the rules of `resources`, in order. */
export function deviceWrites(resources: LinuxResources): [file: string, line: string][] {
  const writes: [string, string][] = [['devices.deny', 'a']];
  for (const rule of deviceRules(resources)) {
    writes.push([rule.allow ? 'devices.allow' : 'devices.deny', formatDeviceRule(rule)]);
  }
  return writes;
}

export const devicesController: Controller = {
  name: 'devices',

  apply(dir: string, resources: LinuxResources, ctx: ApplyContext): void {
    // An update that names no device rules keeps the container's (it carries only the changes).
    if (ctx.update && resources.devices === undefined) return;
    for (const [file, line] of deviceWrites(resources)) writeCgroupFile(dir, file, line);
  },
};
