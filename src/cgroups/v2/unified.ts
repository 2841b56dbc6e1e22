// linux.resources.unified: each key is a file of the container's cgroup, its value written as
// is. Applied after every other controller so an explicit key/value wins (runc's setUnified).
import type { LinuxResources } from '../../spec/types';
import { cgroupFileExists, readCgroupFileOrNull, writeCgroupFile } from '../fs';
import type { Controller } from '../types';
import { resourceError } from './common';

/** A key must name a file of the cgroup directory itself: "memory.high", "cgroup.type". */
function checkKey(key: string): void {
  if (key === '' || key === '.' || key === '..' || key.includes('/') || key.includes('\0')) {
    throw resourceError(`unified["${key}"]`, 'must be a file name (no slashes)');
  }
  if (!/^[^.]+\..+$/.test(key)) {
    throw resourceError(`unified["${key}"]`, 'must be in the form CONTROLLER.PARAMETER');
  }
}

export const unifiedV2: Controller = {
  name: 'unified',

  apply(dir: string, resources: LinuxResources): void {
    const entries = Object.entries(resources.unified ?? {});
    for (const [key] of entries) checkKey(key);
    for (const [key, value] of entries) {
      if (!cgroupFileExists(dir, key)) {
        // The interface files of a controller exist only when it is enabled for this cgroup.
        const controller = key.split('.')[0];
        const enabled = (readCgroupFileOrNull(dir, 'cgroup.controllers') ?? '').split(/\s+/);
        const why =
          controller !== 'cgroup' && !enabled.includes(controller)
            ? `controller "${controller}" not available`
            : 'no such file';
        throw resourceError(`unified["${key}"]`, `can't be set: ${why}`);
      }
      writeCgroupFile(dir, key, value);
    }
  },
};
