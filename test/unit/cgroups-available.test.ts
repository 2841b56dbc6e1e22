// Resources whose controller the host lacks are refused, on every layout, before anything is
// written (create and update alike); fields that ask for nothing (absent, empty objects and
// lists, 0 and the "no limit" values) pass, so engines' configs with empty sub-objects keep
// working. Fake cgroup trees in a temp dir: a v1 hierarchy is a directory named after its
// controllers, a v2 tree carries cgroup.controllers files.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { type CgroupRecord, managerFor } from '../../src/cgroups/manager';
import type { LinuxResources } from '../../src/spec/types';

const CREATE = { update: false };
const UPDATE = { update: true };

// This machine's v1 hierarchies (no net_cls, net_prio, rdma or hugetlb among them).
const HOST_V1 = ['cpuset', 'cpu', 'cpuacct', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'name=systemd'];

let base: string;

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-cgavail-'));
});

afterEach(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

/** Every file below `base` (to check that a refusal wrote nothing). */
function filesBelow(dir = base): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesBelow(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** A v1 record with the container's dir made in each of `keys`' hierarchies. */
function v1Record(keys: string[]): CgroupRecord {
  const dirs: Record<string, string> = {};
  for (const key of keys) {
    dirs[key] = path.join(base, key, 'c1');
    fs.mkdirSync(dirs[key], { recursive: true });
  }
  return { layout: 'v1', dirs };
}

/** Write `file` (empty) into the container's dir of hierarchy `key`. */
function touch(record: CgroupRecord, key: string, file: string): void {
  fs.writeFileSync(path.join(record.dirs[key], file), '');
}

/** A v2 tree whose root offers `offered`, with the container's parent made but nothing enabled
 *  in it yet; the container's dir (parent/c1) is not made yet, as before create. */
function v2Record(offered: string): CgroupRecord {
  fs.writeFileSync(path.join(base, 'cgroup.controllers'), `${offered}\n`);
  fs.mkdirSync(path.join(base, 'parent'));
  fs.writeFileSync(path.join(base, 'parent', 'cgroup.controllers'), '');
  return { layout: 'v2', dirs: { '': path.join(base, 'parent', 'c1') } };
}

describe('cgroup v1: a field whose hierarchy is not mounted is refused', () => {
  it.each<[string, string[], LinuxResources, string]>([
    [
      'network.classID (this host)',
      HOST_V1,
      { network: { classID: 0x100001 } },
      'linux.resources.network.classID: controller "net_cls" is not available on this host',
    ],
    [
      'network.priorities (this host)',
      HOST_V1,
      { network: { priorities: [{ name: 'lo', priority: 1 }] } },
      'linux.resources.network.priorities: controller "net_prio" is not available on this host',
    ],
    [
      'rdma (this host)',
      HOST_V1,
      { rdma: { mlx5_0: { hcaHandles: 3 } } },
      'linux.resources.rdma: controller "rdma" is not available on this host',
    ],
    [
      'hugepageLimits without a hugetlb hierarchy',
      HOST_V1,
      { hugepageLimits: [{ pageSize: '2MB', limit: 0 }] },
      'linux.resources.hugepageLimits: controller "hugetlb" is not available on this host',
    ],
    [
      'unified without any cgroup2',
      HOST_V1,
      { unified: { 'memory.high': '1000000' } },
      'invalid configuration: linux.resources.unified: cannot use unified on cgroup v1',
    ],
    [
      'memory.limit',
      ['devices', 'pids'],
      { memory: { limit: 1 << 26 } },
      'linux.resources.memory.limit: controller "memory" is not available on this host',
    ],
    [
      'memory.disableOOMKiller',
      ['devices', 'pids'],
      { memory: { disableOOMKiller: true } },
      'linux.resources.memory.disableOOMKiller: controller "memory" is not available on this host',
    ],
    [
      'cpu.shares',
      ['devices', 'cpuset'],
      { cpu: { shares: 512 } },
      'linux.resources.cpu.shares: controller "cpu" is not available on this host',
    ],
    [
      'cpu.cpus',
      ['devices', 'cpu,cpuacct'],
      { cpu: { cpus: '0' } },
      'linux.resources.cpu.cpus: controller "cpuset" is not available on this host',
    ],
    [
      'pids.limit',
      ['devices', 'memory'],
      { pids: { limit: 10 } },
      'linux.resources.pids.limit: controller "pids" is not available on this host',
    ],
    [
      'blockIO.throttleReadBpsDevice',
      ['devices', 'memory'],
      { blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }] } },
      'linux.resources.blockIO.throttleReadBpsDevice: controller "blkio" is not available on this host',
    ],
    [
      // The default device rules are always written at create: without the hierarchy, every
      // device would be open to the container.
      'devices, even with no rules in the config',
      ['memory', 'pids'],
      {},
      'linux.resources.devices: controller "devices" is not available on this host',
    ],
  ])('%s', (_what, keys, resources, message) => {
    const manager = managerFor(v1Record(keys));
    expect(() => manager.apply(resources, CREATE)).toThrow(message);
    expect(filesBelow()).toEqual([]);
  });

  it('an update is refused the same way', () => {
    const manager = managerFor(v1Record(HOST_V1));
    expect(() => manager.apply({ network: { classID: 0x100001 } }, UPDATE)).toThrow(
      'linux.resources.network.classID: controller "net_cls" is not available on this host',
    );
    expect(filesBelow()).toEqual([]);
  });

  it('engine-style empty sub-objects, 0 and "no limit" values ask for nothing and pass', () => {
    const record = v1Record(HOST_V1);
    touch(record, 'devices', 'devices.allow');
    touch(record, 'devices', 'devices.deny');
    touch(record, 'pids', 'pids.max');
    const manager = managerFor(record);
    // What Docker, containerd and podman send when no limit is set, and the zeros of
    // `tsrunc update`'s unset flags.
    const resources: LinuxResources = {
      devices: [{ allow: false, access: 'rwm' }],
      memory: { limit: 0, reservation: 0, swap: 0, kernel: 0, kernelTCP: 0, disableOOMKiller: false },
      cpu: { shares: 0, quota: 0, period: 0, realtimeRuntime: 0, realtimePeriod: 0, cpus: '', mems: '' },
      pids: { limit: 0 },
      blockIO: { weight: 0, weightDevice: [], throttleReadBpsDevice: [], throttleWriteIOPSDevice: [] },
      hugepageLimits: [],
      network: { classID: 0, priorities: [] },
      rdma: {},
      unified: {},
    };
    expect(() => manager.apply(resources, CREATE)).not.toThrow();
    expect(() => manager.apply({ network: {}, rdma: { mlx5_0: {} } }, UPDATE)).not.toThrow();
    // "No limit" is what a container gets without the controller.
    const noPidsNoMemory = managerFor(v1Record(['devices']));
    touch(noPidsNoMemory.record, 'devices', 'devices.allow');
    touch(noPidsNoMemory.record, 'devices', 'devices.deny');
    expect(() =>
      noPidsNoMemory.apply({ pids: { limit: -1 }, memory: { limit: -1, swap: -1 } }, CREATE),
    ).not.toThrow();
  });
});

// Create enables every controller the root offers down the path, so the root's
// cgroup.controllers is what the parent lists once the path is made.
describe('cgroup v2: a controller the hierarchy does not offer is refused', () => {
  it.each<[string, LinuxResources, string]>([
    ['cpu.shares', { cpu: { shares: 512 } }, 'linux.resources.cpu.shares: controller "cpu"'],
    ['cpu.cpus', { cpu: { cpus: '0' } }, 'linux.resources.cpu.cpus: controller "cpuset"'],
    ['blockIO.weight', { blockIO: { weight: 500 } }, 'linux.resources.blockIO.weight: controller "io"'],
    [
      'hugepageLimits',
      { hugepageLimits: [{ pageSize: '2MB', limit: 0 }] },
      'linux.resources.hugepageLimits: controller "hugetlb"',
    ],
    ['rdma', { rdma: { mlx5_0: { hcaObjects: 10 } } }, 'linux.resources.rdma: controller "rdma"'],
  ])('%s', (_what, resources, prefix) => {
    const manager = managerFor(v2Record('memory pids'));
    expect(() => manager.apply(resources, UPDATE)).toThrow(`${prefix} is not available on this host`);
    expect(() => manager.apply(resources, CREATE)).toThrow(`${prefix} is not available on this host`);
    expect(fs.existsSync(manager.record.dirs[''])).toBe(false);
  });

  it.each<[string, LinuxResources, string]>([
    ['network.classID', { network: { classID: 1 } }, 'net_cls'],
    ['network.priorities', { network: { priorities: [{ name: 'lo', priority: 1 }] } }, 'net_prio'],
  ])('%s: cgroup v2 has no such controller at all', (field, resources, controller) => {
    const manager = managerFor(v2Record('cpuset cpu io memory hugetlb pids rdma'));
    expect(() => manager.apply(resources, UPDATE)).toThrow(
      `linux.resources.${field}: not supported on cgroup v2 (no ${controller} controller)`,
    );
  });

  it('a controller the root offers passes though the parent has not enabled it yet', () => {
    const manager = managerFor(v2Record('cpu memory pids'));
    expect(() =>
      manager.requireControllers({ cpu: { shares: 512 }, pids: { limit: 5 } }, CREATE),
    ).not.toThrow();
  });

  it('before create made the path (no parent yet), the root decides too', () => {
    fs.writeFileSync(path.join(base, 'cgroup.controllers'), 'memory pids\n');
    const manager = managerFor({ layout: 'v2', dirs: { '': path.join(base, 'a', 'b', 'c1') } });
    expect(() => manager.apply({ cpu: { quota: 50000 } }, UPDATE)).toThrow(
      'linux.resources.cpu.quota: controller "cpu" is not available on this host',
    );
    expect(filesBelow()).toEqual([path.join(base, 'cgroup.controllers')]);
  });

  it('fields v2 ignores or does without a controller, and empty ones, pass', () => {
    const manager = managerFor(v2Record('pids'));
    const resources: LinuxResources = {
      memory: { kernel: 1 << 20, kernelTCP: 1 << 20, swappiness: 10, useHierarchy: true },
      blockIO: { leafWeight: 100, weightDevice: [] },
      network: {},
      hugepageLimits: [],
      rdma: {},
      unified: {},
    };
    expect(() => manager.apply(resources, UPDATE)).not.toThrow();
  });
});

describe('hybrid: the v1 hierarchies and the unified one together', () => {
  function hybridRecord(): CgroupRecord {
    const record = v1Record(HOST_V1);
    fs.mkdirSync(path.join(base, 'unified'));
    fs.writeFileSync(path.join(base, 'unified', 'cgroup.controllers'), 'hugetlb\n');
    return { layout: 'hybrid', dirs: { ...record.dirs, '': path.join(base, 'unified', 'c1') } };
  }

  it.each<[string, LinuxResources, string]>([
    ['network.classID', { network: { classID: 0x100001 } }, 'net_cls'],
    ['network.priorities', { network: { priorities: [{ name: 'eth0', priority: 5 }] } }, 'net_prio'],
    ['rdma', { rdma: { mlx5_0: { hcaHandles: 1 } } }, 'rdma'],
  ])('%s is refused, naming the v1 controller', (field, resources, controller) => {
    const manager = managerFor(hybridRecord());
    expect(() => manager.apply(resources, UPDATE)).toThrow(
      `linux.resources.${field}: controller "${controller}" is not available on this host`,
    );
  });

  it("unified: refused in runc's words unless every key is a file of the unified hierarchy", () => {
    const manager = managerFor(hybridRecord());
    fs.writeFileSync(path.join(base, 'unified', 'cpu.pressure'), '');
    expect(() => manager.requireControllers({ unified: { 'memory.max': '1000000' } }, CREATE)).toThrow(
      `invalid configuration: linux.resources.unified: cannot use unified on cgroup v1 ("memory.max" is not a file of the cgroup v2 hierarchy at ${path.join(base, 'unified')})`,
    );
    for (const unified of <Record<string, string>[]>[
      { 'hugetlb.2MB.max': '0' },
      { 'cgroup.max.descendants': '5' },
      { 'cpu.pressure': 'some 150000 1000000' },
    ]) {
      expect(() => manager.requireControllers({ unified }, CREATE)).not.toThrow();
    }
  });

  it('hugepageLimits pass: the unified hierarchy offers hugetlb', () => {
    const manager = managerFor(hybridRecord());
    expect(() =>
      manager.requireControllers({ hugepageLimits: [{ pageSize: '2MB', limit: 0 }] }, CREATE),
    ).not.toThrow();
  });
});
