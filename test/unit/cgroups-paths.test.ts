import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { detectCgroups } from '../../src/cgroups/layout';
import { cgroupsOf } from '../../src/cgroups';
import { resourceFieldOf } from '../../src/cgroups/fields';
import { planCgroups } from '../../src/cgroups/manager';
import { cgroupTarget, expandSlice } from '../../src/cgroups/paths';
import { parseSubCgroups, withSubCgroups } from '../../src/cgroups/sub-cgroups';
import type { HostMount } from '../../src/plan/host';

let nextMountId = 100;
const mount = (mountPoint: string, fstype: string, superOptions: string, root = '/'): HostMount => ({
  id: nextMountId++,
  mountPoint,
  fstype,
  superOptions,
  root,
  shared: false,
});

// This machine's layout: v1 controllers plus cgroup2 at /sys/fs/cgroup/unified.
const HYBRID = [
  mount('/', 'ext4', 'rw'),
  mount('/sys/fs/cgroup', 'tmpfs', 'rw,mode=755'),
  mount('/sys/fs/cgroup/cpu', 'cgroup', 'rw,cpu'),
  mount('/sys/fs/cgroup/memory', 'cgroup', 'rw,memory'),
  mount('/sys/fs/cgroup/systemd', 'cgroup', 'rw,xattr,release_agent=/x,name=systemd'),
  mount('/sys/fs/cgroup/unified', 'cgroup2', 'rw'),
];

describe('detectCgroups', () => {
  it('recognises hybrid, pure v1 and pure v2 hosts', () => {
    expect(detectCgroups(HYBRID, () => ['hugetlb']).layout).toBe('hybrid');
    expect(detectCgroups(HYBRID.slice(0, 5), () => []).layout).toBe('v1');
    expect(detectCgroups([mount('/sys/fs/cgroup', 'cgroup2', 'rw')], () => ['cpu', 'memory']).layout).toBe(
      'v2',
    );
  });

  it('names v1 hierarchies by their controllers as /proc/self/cgroup does', () => {
    const keys = detectCgroups(HYBRID, () => ['hugetlb']).hierarchies.map((h) => h.procKey);
    expect(keys).toEqual(['cpu', 'memory', 'name=systemd', '']);
  });

  it('reads the v2 controllers from cgroup.controllers', () => {
    const v2 = detectCgroups(HYBRID, () => ['hugetlb']).hierarchies.find((h) => h.version === 2);
    expect(v2?.controllers).toEqual(['hugetlb']);
  });

  it('fails without any cgroup mount', () => {
    expect(() => detectCgroups([mount('/', 'ext4', 'rw')], () => [])).toThrow(/no cgroup hierarchy/);
  });
});

describe('cgroupTarget', () => {
  it('defaults to the container id below the runtime cgroup', () => {
    expect(cgroupTarget(undefined, 'c1', false)).toEqual({ path: 'c1', relative: true });
  });
  it('takes absolute and relative paths', () => {
    expect(cgroupTarget('/docker/abc', 'c1', false)).toEqual({ path: '/docker/abc', relative: false });
    expect(cgroupTarget('pods/abc', 'c1', false)).toEqual({ path: 'pods/abc', relative: true });
  });
  it('refuses ..', () => {
    expect(() => cgroupTarget('/a/../../b', 'c1', false)).toThrow(
      'config.json: linux.cgroupsPath: must not contain ".."',
    );
  });
  it('maps systemd slice:prefix:name to the cgroupfs path systemd uses', () => {
    expect(cgroupTarget('system.slice:docker:abc', 'c1', true).path).toBe('/system.slice/docker-abc.scope');
    expect(cgroupTarget('kubepods-besteffort-pod12.slice:cri-containerd:abc', 'c1', true).path).toBe(
      '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope',
    );
    expect(cgroupTarget(':tsrunc:c1', 'c1', true).path).toBe('/system.slice/tsrunc-c1.scope');
    expect(cgroupTarget(undefined, 'c1', true).path).toBe('/system.slice/tsrunc-c1.scope');
  });
  it('refuses a systemd path of another shape', () => {
    expect(() => cgroupTarget('/a/b', 'c1', true)).toThrow(/must be "slice:prefix:name"/);
  });
});

describe('expandSlice', () => {
  it('nests dash-separated slices', () => {
    expect(expandSlice('-.slice')).toBe('/');
    expect(expandSlice('a.slice')).toBe('/a.slice');
    expect(expandSlice('a-b-c.slice')).toBe('/a.slice/a-b.slice/a-b-c.slice');
  });
  it('refuses invalid names', () => {
    expect(() => expandSlice('a--b.slice')).toThrow(/invalid slice/);
    expect(() => expandSlice('foo.scope')).toThrow(/not a slice/);
  });
});

describe('planCgroups', () => {
  const host = detectCgroups(HYBRID, () => ['hugetlb']);
  const own = new Map([
    ['cpu', '/'],
    ['memory', '/process_api/abc'],
    ['name=systemd', '/'],
    ['', '/'],
  ]);

  it('puts a relative path below the runtime cgroup of each hierarchy', () => {
    expect(planCgroups(host, { path: 'c1', relative: true }, own).dirs).toEqual({
      cpu: '/sys/fs/cgroup/cpu/c1',
      memory: '/sys/fs/cgroup/memory/process_api/abc/c1',
      'name=systemd': '/sys/fs/cgroup/systemd/c1',
      '': '/sys/fs/cgroup/unified/c1',
    });
  });

  it('puts an absolute path at the same place in every hierarchy', () => {
    const dirs = planCgroups(host, { path: '/docker/abc', relative: false }, own).dirs;
    expect(Object.values(dirs)).toEqual([
      '/sys/fs/cgroup/cpu/docker/abc',
      '/sys/fs/cgroup/memory/docker/abc',
      '/sys/fs/cgroup/systemd/docker/abc',
      '/sys/fs/cgroup/unified/docker/abc',
    ]);
  });

  it('strips the mount root of a hierarchy mounted inside a cgroup namespace', () => {
    const nested = detectCgroups([mount('/sys/fs/cgroup/memory', 'cgroup', 'rw,memory', '/outer')], () => []);
    expect(
      planCgroups(nested, { path: 'c1', relative: true }, new Map([['memory', '/outer/inner']])).dirs,
    ).toEqual({
      memory: '/sys/fs/cgroup/memory/inner/c1',
    });
  });
});

describe('a record whose dirs were never made (a create killed right after recording them)', () => {
  it.each(['v1', 'hybrid', 'v2'] as const)('%s: not frozen, no pids, destroy is a no-op', async (layout) => {
    const dir = `/nonexistent-tsrunc-${process.pid}/c1`;
    const dirs: Record<string, string> =
      layout === 'v2' ? { '': dir } : { freezer: dir, pids: dir, memory: dir };
    const manager = cgroupsOf({ cgroups: { layout, dirs } })!;
    expect(await manager.isFrozen()).toBe(false);
    expect(manager.pids()).toEqual([]);
    await expect(manager.destroy()).resolves.toBeUndefined();
  });
});

describe('resourceFieldOf', () => {
  it.each([
    ['memory.limit_in_bytes', 'linux.resources.memory.limit'],
    ['memory.max', 'linux.resources.memory.limit'],
    ['cpu.rt_runtime_us', 'linux.resources.cpu.realtimeRuntime'],
    ['cpuset.cpus', 'linux.resources.cpu.cpus'],
    ['hugetlb.2MB.limit_in_bytes', 'linux.resources.hugepageLimits'],
    ['hugetlb.1GB.rsvd.max', 'linux.resources.hugepageLimits'],
    ['blkio.throttle.read_bps_device', 'linux.resources.blockIO.throttleReadBpsDevice'],
    ['cgroup.procs', null],
  ])('%s -> %s', (file, field) => {
    expect(resourceFieldOf(file)).toBe(field);
  });
});

describe('destroy removes the parents its create made, once empty', () => {
  it.each(['v1', 'v2'] as const)('%s', async (layout) => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-cg-'));
    try {
      const key = layout === 'v1' ? 'pids' : '';
      const leaf = (name: string) => path.join(base, 'parent', 'mid', name);
      const first = cgroupsOf({ cgroups: { layout, dirs: { [key]: leaf('c1') } } })!;
      first.create();
      expect(first.record.made).toEqual({ [key]: path.join(base, 'parent') });
      // A second container below the same parents made none of them.
      const second = cgroupsOf({ cgroups: { layout, dirs: { [key]: leaf('c2') } } })!;
      second.create();
      expect(second.record.made).toBeUndefined();
      await first.destroy();
      expect(fs.readdirSync(path.join(base, 'parent', 'mid'))).toEqual(['c2']);
      // The second made no parent, so it removes none (its leaf only).
      await second.destroy();
      expect(fs.readdirSync(path.join(base, 'parent', 'mid'))).toEqual([]);
      // Destroying the maker again, now that they are empty, removes them.
      await first.destroy();
      expect(fs.readdirSync(base)).toEqual([]);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('exec --cgroup', () => {
  it("parses runc's forms and refuses what runc refuses", () => {
    expect(parseSubCgroups(['sub'])).toEqual({ all: 'sub', byController: new Map() });
    expect(parseSubCgroups(['memory:a', 'cpu,cpuacct:b'])).toEqual({
      byController: new Map([
        ['memory', 'a'],
        ['cpu', 'b'],
        ['cpuacct', 'b'],
      ]),
    });
    expect(() => parseSubCgroups(['a:b:c'])).toThrow('invalid --cgroup argument: a:b:c');
    expect(() => parseSubCgroups(['sub', 'memory:x'])).toThrow(
      'invalid --cgroup argument: sub (missing <controller>: prefix)',
    );
    expect(() => parseSubCgroups([':sub'])).toThrow(
      'invalid --cgroup argument: :sub (empty <controller> prefix)',
    );
  });

  it('puts the sub-cgroup in place of the container dirs it names, below them only', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-sub-'));
    try {
      const dirs: Record<string, string> = {};
      for (const key of ['cpu,cpuacct', 'memory', '']) {
        dirs[key] = path.join(base, key || 'unified', 'c1');
        fs.mkdirSync(path.join(dirs[key], 'sub'), { recursive: true });
        fs.writeFileSync(path.join(dirs[key], 'sub', 'cgroup.procs'), '');
      }
      const record = { layout: 'hybrid' as const, dirs };
      const sub = (key: string) => path.join(dirs[key], 'sub');
      expect(withSubCgroups(record, parseSubCgroups(['sub'])).dirs).toEqual({
        'cpu,cpuacct': sub('cpu,cpuacct'),
        memory: sub('memory'),
        '': sub(''),
      });
      expect(withSubCgroups(record, parseSubCgroups(['cpuacct:sub/.'])).dirs).toEqual({
        ...dirs,
        'cpu,cpuacct': sub('cpu,cpuacct'),
      });
      expect(() => withSubCgroups(record, parseSubCgroups(['memory:../c2']))).toThrow(
        '--cgroup: ../c2 is not a sub cgroup path',
      );
      expect(() => withSubCgroups(record, parseSubCgroups(['cpu:sub', 'cpuacct:other']))).toThrow(
        /cpu and cpuacct share a hierarchy/,
      );
      expect(() => withSubCgroups(record, parseSubCgroups(['pids:sub']))).toThrow(
        'unknown controller pids in --cgroup',
      );
      expect(() => withSubCgroups(record, parseSubCgroups(['memory:nope']))).toThrow(/nope: no such cgroup/);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
