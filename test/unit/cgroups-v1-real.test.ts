// cgroup v1 controllers against the real kernel of this (hybrid, root) machine: cgroups made
// under /sys/fs/cgroup/<controller>/tsrunc-unit-<pid>, written, read back and removed in a
// finally, so nothing is left behind even when an assertion fails. Needs root: fails (does not
// skip) without it, so a run that cannot check the kernel does not look green. Only the swap
// test is skipped, visibly and by name, on a kernel without swap accounting.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { writeCgroupFile } from '../../src/cgroups/fs';
import {
  freeze,
  freezerState,
  initCpusetDir,
  memoryController,
  pidsController,
  thaw,
} from '../../src/cgroups/v1';

const ROOT = '/sys/fs/cgroup';
const CREATE = { update: false };
const UPDATE = { update: true };
/** Swap accounting (memory.memsw.*) exists only with the kernel's swap accounting turned on. */
const SWAP_ACCOUNTING = fs.existsSync(path.join(ROOT, 'memory', 'memory.memsw.limit_in_bytes'));

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'cgroups-v1-real.test.ts needs root: it creates cgroups under /sys/fs/cgroup (run as root)',
    );
  }
}

/** A hierarchy's mount point, with a clear failure when this host does not have it as v1. */
function hierarchy(controller: string, probe: string): string {
  const mount = path.join(ROOT, controller);
  if (!fs.existsSync(path.join(mount, probe)) && !fs.existsSync(path.join(mount, 'cgroup.procs'))) {
    throw new Error(`no cgroup v1 ${controller} hierarchy at ${mount}`);
  }
  return mount;
}

/** mkdir the cgroups, run `body`, and rmdir them (deepest first) whatever happens. */
async function withCgroups(dirs: string[], body: () => void | Promise<void>): Promise<void> {
  const made: string[] = [];
  try {
    for (const dir of dirs) {
      fs.mkdirSync(dir);
      made.push(dir);
    }
    await body();
  } finally {
    for (const dir of made.reverse()) fs.rmdirSync(dir);
    for (const dir of dirs) expect(fs.existsSync(dir)).toBe(false);
  }
}

function read(dir: string, file: string): string {
  return fs.readFileSync(path.join(dir, file), 'utf8').trim();
}

describe('cgroup v1 on the real kernel', () => {
  it('applies a pids limit of 10 and a memory limit of 64M', async () => {
    requireRoot();
    const name = `tsrunc-unit-${process.pid}`;
    const pids = path.join(hierarchy('pids', 'cgroup.procs'), name);
    const memory = path.join(hierarchy('memory', 'memory.limit_in_bytes'), name);
    await withCgroups([pids, memory], () => {
      pidsController.apply(pids, { pids: { limit: 10 } }, CREATE);
      expect(read(pids, 'pids.max')).toBe('10');
      pidsController.apply(pids, { pids: { limit: -1 } }, UPDATE);
      expect(read(pids, 'pids.max')).toBe('max');

      memoryController.apply(memory, { memory: { limit: 64 * 1024 * 1024 } }, CREATE);
      expect(read(memory, 'memory.limit_in_bytes')).toBe(String(64 * 1024 * 1024));
    });
  });

  it('a file the hierarchy lacks is reported missing (an O_CREAT open would get EACCES)', async () => {
    requireRoot();
    const pids = path.join(hierarchy('pids', 'cgroup.procs'), `tsrunc-unit-${process.pid}`);
    await withCgroups([pids], () => {
      expect(() => writeCgroupFile(pids, 'net_cls.classid', 1)).toThrow(
        `linux.resources.network.classID: cgroup: write "1" to ${path.join(pids, 'net_cls.classid')}: no such file or directory`,
      );
    });
  });

  it.skipIf(!SWAP_ACCOUNTING)(
    'orders memory and swap limits both ways (skipped without swap accounting: no memory.memsw files)',
    async () => {
      requireRoot();
      const memory = path.join(
        hierarchy('memory', 'memory.memsw.limit_in_bytes'),
        `tsrunc-unit-${process.pid}`,
      );
      await withCgroups([memory], () => {
        // The kernel refuses limit > memsw at any moment: these only pass in the right order.
        const mib = (n: number) => n * 1024 * 1024;
        memoryController.apply(memory, { memory: { limit: mib(64), swap: mib(128) } }, CREATE);
        memoryController.apply(memory, { memory: { limit: mib(16), swap: mib(32) } }, UPDATE); // shrink
        expect(read(memory, 'memory.limit_in_bytes')).toBe(String(mib(16)));
        expect(read(memory, 'memory.memsw.limit_in_bytes')).toBe(String(mib(32)));
        memoryController.apply(memory, { memory: { limit: mib(256), swap: mib(512) } }, UPDATE); // grow
        expect(read(memory, 'memory.limit_in_bytes')).toBe(String(mib(256)));
        expect(read(memory, 'memory.memsw.limit_in_bytes')).toBe(String(mib(512)));
        // A swap below the limit is the kernel's to refuse, named by file and value.
        expect(() => memoryController.apply(memory, { memory: { swap: mib(8) } }, UPDATE)).toThrow(
          `cgroup: write "${mib(8)}" to ${path.join(memory, 'memory.memsw.limit_in_bytes')}: invalid argument`,
        );
      });
    },
  );

  it('fills a new cpuset cgroup from its parent and freezes/thaws a freezer cgroup', async () => {
    requireRoot();
    const name = `tsrunc-unit-${process.pid}`;
    const cpusetRoot = hierarchy('cpuset', 'cpuset.cpus');
    const parent = path.join(cpusetRoot, name);
    const child = path.join(parent, 'child');
    const freezer = path.join(hierarchy('freezer', 'cgroup.procs'), name);
    await withCgroups([parent, child, freezer], async () => {
      expect(read(child, 'cpuset.cpus')).toBe('');
      initCpusetDir(child);
      expect(read(parent, 'cpuset.cpus')).toBe(read(cpusetRoot, 'cpuset.cpus'));
      expect(read(child, 'cpuset.cpus')).toBe(read(cpusetRoot, 'cpuset.cpus'));
      expect(read(child, 'cpuset.mems')).toBe(read(cpusetRoot, 'cpuset.mems'));

      await freeze(freezer);
      expect(await freezerState(freezer)).toBe('FROZEN');
      await thaw(freezer);
      expect(await freezerState(freezer)).toBe('THAWED');
    });
  });
});
