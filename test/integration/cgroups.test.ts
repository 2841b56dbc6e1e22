// Cgroups on this machine's hybrid layout: limits seen from the host's cgroup files and from
// inside the container, enforcement (pids, memory/OOM, devices), pause/resume, update, ps,
// kill --all, delete, and the v2 manager for real on the unified hierarchy.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { managerFor } from '../../src/cgroups/manager';
import { type Config, containerId, makeBundle } from '../helpers/bundle';
import {
  type Created,
  cgroupDirsNamed,
  createContainer,
  expectOneLineError,
  killChild,
  procAlive,
  procState,
  stateOf,
  waitFor,
  waitForStatus,
} from '../helpers/lifecycle-helpers';
import { tsruncBackground } from '../helpers/process';
import { runContainer, stateRoot, tsrunc } from '../helpers/tsrunc';

const MiB = 1024 * 1024;

/** The container's directory in a v1 hierarchy, from the init's /proc/<pid>/cgroup. */
function hostCgroupDir(pid: number, hierarchy: string): string {
  const line = fs
    .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find(
      (l) =>
        l.split(':')[1]?.split(',').includes(hierarchy) || (hierarchy === 'unified' && l.startsWith('0::')),
    );
  if (!line) throw new Error(`no ${hierarchy} cgroup for ${pid}`);
  return path.join('/sys/fs/cgroup', hierarchy, line.split(':')[2]);
}

const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), 'utf8').trim();

describe('limits', () => {
  it('memory, cpu and pids limits show in the host cgroup files and inside; delete removes the cgroups', async () => {
    const c = await createContainer((cfg) => {
      cfg.linux.resources = {
        ...cfg.linux.resources,
        memory: { limit: 64 * MiB, reservation: 32 * MiB },
        cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0' },
        pids: { limit: 32 },
      };
      cfg.process.args = [
        'sh',
        '-c',
        'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares',
      ];
    });
    const dirs = ['memory', 'cpu', 'pids', 'cpuset', 'freezer', 'devices', 'blkio'].map((h) =>
      hostCgroupDir(c.pid, h),
    );
    try {
      const [memory, cpu, pids, cpuset] = dirs;
      expect(path.basename(memory)).toBe(c.id);
      expect(read(memory, 'memory.limit_in_bytes')).toBe(String(64 * MiB));
      expect(read(memory, 'memory.soft_limit_in_bytes')).toBe(String(32 * MiB));
      expect(read(cpu, 'cpu.shares')).toBe('512');
      expect(read(cpu, 'cpu.cfs_quota_us')).toBe('50000');
      expect(read(cpu, 'cpu.cfs_period_us')).toBe('100000');
      expect(read(cpuset, 'cpuset.cpus')).toBe('0');
      expect(read(pids, 'pids.max')).toBe('32');
      expect(read(pids, 'cgroup.procs')).toBe(String(c.pid));
      const unified = hostCgroupDir(c.pid, 'unified');
      expect(read(unified, 'cgroup.procs')).toBe(String(c.pid));
      // Inside, /sys/fs/cgroup shows the container's own cgroups.
      const started = await tsrunc(['start', c.id]);
      expect(started.code, started.stderr).toBe(0);
      await waitForStatus(c.id, 'stopped');
    } finally {
      await c.cleanup();
    }
    for (const dir of dirs) expect(fs.existsSync(dir), dir).toBe(false);
  });

  it('the container reads its limits from its own /sys/fs/cgroup', async () => {
    const res = await runContainer((cfg) => {
      cfg.linux.resources = { ...cfg.linux.resources, memory: { limit: 48 * MiB }, pids: { limit: 21 } };
      cfg.process.args = [
        'sh',
        '-c',
        'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max',
      ];
    });
    expect(res).toMatchObject({ code: 0, stdout: `${48 * MiB}\n21\n` });
  });

  it('a pids limit stops fork inside the container', async () => {
    const res = await runContainer((cfg) => {
      cfg.linux.resources = { ...cfg.linux.resources, pids: { limit: 4 } };
      cfg.process.args = ['sh', '-c', 'for i in 1 2 3 4 5 6; do sleep 2 & done 2>&1; echo done'];
    });
    expect(res.stdout + res.stderr).toMatch(/can't fork/);
  });

  it('a value the kernel rejects names the file and the value, and create leaves nothing', async () => {
    const id = containerId();
    const res = await runContainer(
      (cfg) => {
        cfg.linux.resources = { ...cfg.linux.resources, cpu: { cpus: '999' } };
      },
      { id },
    );
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(
      /^linux\.resources\.cpu\.cpus: cgroup: write "999" to \/sys\/fs\/cgroup\/cpuset\/.*\/cpuset\.cpus: result too large$/m,
    );
    expect(fs.readdirSync(stateRoot()).filter((e) => e === id)).toEqual([]);
  });

  it('hugepage limits go to the unified hierarchy on a hybrid host (no v1 hugetlb here)', async () => {
    const c = await createContainer((cfg) => {
      cfg.linux.resources = {
        ...cfg.linux.resources,
        hugepageLimits: [{ pageSize: '2MB', limit: 4 * 2 * MiB }],
      };
      cfg.process.args = ['true'];
    });
    try {
      const unified = hostCgroupDir(c.pid, 'unified');
      expect(read(unified, 'hugetlb.2MB.max')).toBe(String(8 * MiB));
    } finally {
      await c.cleanup();
    }
  });

  it('devices: the default deny-all plus allow list; other devices cannot be opened', async () => {
    const res = await runContainer((cfg) => {
      cfg.linux.devices = [{ path: '/dev/loop-test', type: 'b', major: 7, minor: 0, fileMode: 0o600 }];
      cfg.process.args = [
        'sh',
        '-c',
        'head -c1 /dev/zero | wc -c; head -c1 /dev/loop-test 2>&1 | grep -o "Operation not permitted"; cat /sys/fs/cgroup/devices/devices.list | head -3',
      ];
    });
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toBe('1');
    expect(lines[1]).toBe('Operation not permitted');
    expect(lines.slice(2)).toEqual(['c *:* m', 'b *:* m', 'c 1:3 rwm']);
  });
});

describe('resources this host cannot enforce', () => {
  const NET_CLS_MISSING =
    'linux.resources.network.classID: controller "net_cls" is not available on this host';

  /** The v1 controllers mounted here, from mountinfo (net_cls is not among them). */
  function mountedV1Controllers(): string[] {
    return fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((line) => / - cgroup cgroup /.test(line))
      .flatMap((line) => line.split(' ').pop()!.split(','));
  }

  it('create refuses network.classID (no net_cls here) before the init runs, leaving nothing', async () => {
    expect(mountedV1Controllers()).not.toContain('net_cls');
    const id = containerId();
    const c = await createContainer(
      (cfg, bundle) => {
        cfg.linux.resources = { ...cfg.linux.resources, network: { classID: 0x100001 } };
        // Runs once the init is spawned: the marker shows whether create got that far.
        cfg.hooks = {
          createRuntime: [{ path: '/bin/touch', args: ['touch', path.join(bundle.dir, 'ran')] }],
        };
      },
      { id, allowFail: true },
    );
    try {
      expect(expectOneLineError(c.result)).toBe(NET_CLS_MISSING);
      expect(fs.existsSync(path.join(c.bundle.dir, 'ran'))).toBe(false);
      expect(fs.existsSync(path.join(stateRoot(), id))).toBe(false);
      expect(cgroupDirsNamed(id)).toEqual([]);
    } finally {
      await c.cleanup();
    }
  });

  it('empty sub-objects ask for nothing; update refuses network.classID and changes nothing', async () => {
    const c = await createContainer((cfg) => {
      // What engines send when no such limit is set.
      cfg.linux.resources = {
        ...cfg.linux.resources,
        network: { classID: 0, priorities: [] },
        rdma: {},
        hugepageLimits: [],
        blockIO: { weight: 0 },
      };
      cfg.process.args = ['sleep', '100'];
    });
    try {
      const res = await tsrunc(['update', '--resources', '-', c.id], {
        input: '{"network":{"classID":1048577},"pids":{"limit":30}}',
      });
      expect(expectOneLineError(res)).toBe(NET_CLS_MISSING);
      // Refused as a whole: the pids limit that came with it was not written either.
      expect(read(hostCgroupDir(c.pid, 'pids'), 'pids.max')).toBe('max');
      expect((await stateOf(c.id)).status).toBe('created');
      const empty = await tsrunc(['update', '--resources', '-', c.id], {
        input: '{"network":{},"rdma":{},"pids":{"limit":30}}',
      });
      expect(empty.code, empty.stderr).toBe(0);
      expect(read(hostCgroupDir(c.pid, 'pids'), 'pids.max')).toBe('30');
    } finally {
      await c.cleanup();
    }
  });

  it("linux.resources.unified on this hybrid host: refused in runc's words unless its keys are files of the unified hierarchy", async () => {
    const id = containerId();
    const res = await runContainer(
      (cfg) => {
        cfg.linux.resources = { ...cfg.linux.resources, unified: { 'memory.max': String(64 * MiB) } };
      },
      { id },
    );
    expect(expectOneLineError(res)).toBe(
      'invalid configuration: linux.resources.unified: cannot use unified on cgroup v1 ("memory.max" is not a file of the cgroup v2 hierarchy at /sys/fs/cgroup/unified)',
    );
    expect(fs.existsSync(path.join(stateRoot(), id))).toBe(false);
    expect(cgroupDirsNamed(id)).toEqual([]);

    // hugetlb is the unified hierarchy's controller here; cgroup.* files every cgroup has.
    const c = await createContainer((cfg) => {
      cfg.linux.resources = {
        ...cfg.linux.resources,
        unified: { 'hugetlb.2MB.max': String(4 * MiB), 'cgroup.max.descendants': '3' },
      };
      cfg.process.args = ['true'];
    });
    try {
      const unified = hostCgroupDir(c.pid, 'unified');
      expect(read(unified, 'hugetlb.2MB.max')).toBe(String(4 * MiB));
      expect(read(unified, 'cgroup.max.descendants')).toBe('3');
    } finally {
      await c.cleanup();
    }
  });

  it('a resource file this kernel lacks is reported missing, not as permission denied', async () => {
    // CFQ, and with it blkio.leaf_weight, is gone since Linux 5.0.
    expect(fs.existsSync('/sys/fs/cgroup/blkio/blkio.leaf_weight')).toBe(false);
    const id = containerId();
    const res = await runContainer(
      (cfg) => {
        cfg.linux.resources = { ...cfg.linux.resources, blockIO: { leafWeight: 500 } };
      },
      { id },
    );
    expect(expectOneLineError(res)).toMatch(
      /^linux\.resources\.blockIO\.leafWeight: cgroup: write "500" to \/sys\/fs\/cgroup\/blkio\/\S+\/blkio\.leaf_weight: no such file or directory$/,
    );
    expect(fs.existsSync(path.join(stateRoot(), id))).toBe(false);
    expect(cgroupDirsNamed(id)).toEqual([]);
  });
});

describe('commands', () => {
  it('pause and resume freeze and thaw the container; state says paused', async () => {
    const c = await createContainer((cfg) => {
      cfg.process.args = ['sleep', '100'];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const freezer = hostCgroupDir(c.pid, 'freezer');
      const paused = await tsrunc(['pause', c.id]);
      expect(paused.code, paused.stderr).toBe(0);
      expect(read(freezer, 'freezer.state')).toBe('FROZEN');
      expect((await stateOf(c.id)).status).toBe('paused');
      expect((await tsrunc(['pause', c.id])).code).toBe(1);
      const resumed = await tsrunc(['resume', c.id]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(read(freezer, 'freezer.state')).toBe('THAWED');
      expect((await stateOf(c.id)).status).toBe('running');
      const again = await tsrunc(['resume', c.id]);
      expect(again).toMatchObject({ code: 1, stderr: 'container not paused\n' });
    } finally {
      await c.cleanup();
    }
  });

  it('delete --force of a paused container kills it and removes its cgroups', async () => {
    const c = await createContainer((cfg) => {
      cfg.process.args = ['sleep', '100'];
    });
    const freezer = hostCgroupDir(c.pid, 'freezer');
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      expect((await tsrunc(['pause', c.id])).code).toBe(0);
      const del = await tsrunc(['delete', '--force', c.id]);
      expect(del.code, del.stderr).toBe(0);
      expect(fs.existsSync(freezer)).toBe(false);
      expect(fs.existsSync(`/proc/${c.pid}`) && !read(`/proc/${c.pid}`, 'stat').includes(') Z')).toBe(false);
    } finally {
      await c.cleanup();
    }
  });

  it('update changes live values (flags and --resources on stdin)', async () => {
    const c = await createContainer((cfg) => {
      cfg.linux.resources = { ...cfg.linux.resources, memory: { limit: 64 * MiB }, pids: { limit: 10 } };
      cfg.process.args = ['sleep', '100'];
    });
    try {
      const memory = hostCgroupDir(c.pid, 'memory');
      const pids = hostCgroupDir(c.pid, 'pids');
      const cpu = hostCgroupDir(c.pid, 'cpu');
      const byFlags = await tsrunc(['update', '--memory', '128m', '--pids-limit', '50', c.id]);
      expect(byFlags.code, byFlags.stderr).toBe(0);
      expect(read(memory, 'memory.limit_in_bytes')).toBe(String(128 * MiB));
      expect(read(pids, 'pids.max')).toBe('50');
      const byJson = await tsrunc(['update', '--resources', '-', c.id], {
        input: '{"cpu":{"shares":256},"pids":{"limit":60}}',
      });
      expect(byJson.code, byJson.stderr).toBe(0);
      expect(read(cpu, 'cpu.shares')).toBe('256');
      expect(read(pids, 'pids.max')).toBe('60');
      const bad = await tsrunc(['update', '--memory', 'lots', c.id]);
      expect(bad).toMatchObject({ code: 1, stderr: '--memory: invalid value "lots"\n' });
    } finally {
      await c.cleanup();
    }
  });

  it("update takes runc's flags, every combination read back from the cgroup files", async () => {
    const c = await createContainer((cfg) => {
      cfg.process.args = ['sleep', '100'];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const UNLIMITED = '9223372036854771712';
      const weight = fs.existsSync(path.join(hostCgroupDir(c.pid, 'blkio'), 'blkio.weight'))
        ? 'blkio.weight'
        : 'blkio.bfq.weight';
      const steps: [string[], Record<string, string>][] = [
        [['--cpu-share', '512'], { 'cpu/cpu.shares': '512' }],
        [['--cpu-shares', '256'], { 'cpu/cpu.shares': '256' }],
        [
          ['--cpu-quota', '20000', '--cpu-period', '50000'],
          { 'cpu/cpu.cfs_quota_us': '20000', 'cpu/cpu.cfs_period_us': '50000' },
        ],
        // Back to no quota; the period stays.
        [['--cpu-quota', '-1'], { 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '50000' }],
        [
          ['--cpu-rt-period', '900000', '--cpu-rt-runtime', '0'],
          { 'cpu/cpu.rt_period_us': '900000', 'cpu/cpu.rt_runtime_us': '0' },
        ],
        [
          ['--cpuset-cpus', '0', '--cpuset-mems', '0'],
          { 'cpuset/cpuset.cpus': '0', 'cpuset/cpuset.mems': '0' },
        ],
        [
          ['--memory', '64m', '--memory-swap', '128m', '--memory-reservation', '32m'],
          {
            'memory/memory.limit_in_bytes': String(64 * MiB),
            'memory/memory.memsw.limit_in_bytes': String(128 * MiB),
            'memory/memory.soft_limit_in_bytes': String(32 * MiB),
          },
        ],
        [
          ['--memory', '1.5g', '--memory-swap', '-1'],
          {
            'memory/memory.limit_in_bytes': String(1536 * MiB),
            'memory/memory.memsw.limit_in_bytes': UNLIMITED,
          },
        ],
        // Unlimited memory takes swap along (runc); the reservation stays.
        [
          ['--memory', '-1'],
          {
            'memory/memory.limit_in_bytes': UNLIMITED,
            'memory/memory.memsw.limit_in_bytes': UNLIMITED,
            'memory/memory.soft_limit_in_bytes': String(32 * MiB),
          },
        ],
        [['--kernel-memory', '16m', '--kernel-memory-tcp', '16m'], {}],
        [['--pids-limit', '20'], { 'pids/pids.max': '20' }],
        // 0 is runc's "leave it".
        [['--pids-limit', '0', '--memory', '0', '--cpu-quota', '0'], { 'pids/pids.max': '20' }],
        [['--pids-limit', '-1'], { 'pids/pids.max': 'max' }],
        [['--blkio-weight', '500'], { [`blkio/${weight}`]: '500' }],
      ];
      for (const [flags, expected] of steps) {
        const res = await tsrunc(['update', ...flags, c.id]);
        expect(res, flags.join(' ')).toMatchObject({ code: 0, stderr: '' });
        for (const [file, value] of Object.entries(expected)) {
          const dir = hostCgroupDir(c.pid, path.dirname(file));
          expect(read(dir, path.basename(file)), `${flags.join(' ')}: ${file}`).toBe(value);
        }
      }
      const rdt = await tsrunc(['update', '--l3-cache-schema', 'L3:0=f', c.id]);
      expect(expectOneLineError(rdt)).toBe('Intel RDT/CAT: l3 cache schema is not enabled');
      // As runc: with --resources the flags are ignored.
      const both = await tsrunc(['update', '--resources', '-', '--pids-limit', '5', c.id], {
        input: '{"pids":{"limit":7}}',
      });
      expect(both.code, both.stderr).toBe(0);
      expect(both.stderr).toContain('--pids-limit ignored: --resources is given');
      expect(read(hostCgroupDir(c.pid, 'pids'), 'pids.max')).toBe('7');
    } finally {
      await c.cleanup();
    }
  });

  it("device rules: runc's access strings; an update writes only the transitions (works with sub-cgroups)", async () => {
    const c = await createContainer((cfg) => {
      cfg.linux.resources = {
        ...cfg.linux.resources,
        devices: [
          ...cfg.linux.resources.devices,
          { allow: true, type: 'b', major: 7, minor: 0, access: 'mwr' },
          { allow: true, type: 'b', major: 7, minor: 1, access: 'rrrw' },
        ],
      };
      cfg.process.args = ['sleep', '100'];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const devices = hostCgroupDir(c.pid, 'devices');
      const list = () => read(devices, 'devices.list').split('\n');
      expect(list()).toEqual(expect.arrayContaining(['b 7:0 rwm', 'b 7:1 rw']));
      // With a sub-cgroup the kernel refuses a write of "a": only the changes can be written.
      fs.mkdirSync(path.join(devices, 'sub'));
      const res = await tsrunc(['update', '--resources', '-', c.id], {
        input: JSON.stringify({
          devices: [
            { allow: false, access: 'rwm' },
            { allow: true, type: 'b', major: 7, minor: 0, access: 'r' },
            { allow: true, type: 'b', major: 7, minor: 2, access: 'wr' },
          ],
        }),
      });
      expect(res).toMatchObject({ code: 0, stderr: '' });
      const after = list();
      expect(after).toEqual(expect.arrayContaining(['b 7:0 r', 'b 7:2 rw', 'c 1:3 rwm', 'c 136:* rwm']));
      expect(after.filter((l) => l.startsWith('b 7:'))).toHaveLength(2);
      // The container still opens what the rules keep.
      const exec = await tsrunc(['exec', c.id, 'sh', '-c', 'head -c1 /dev/zero | wc -c']);
      expect(exec).toMatchObject({ code: 0, stdout: '1\n' });
    } finally {
      await c.cleanup();
    }
  });

  it('an update that names no device rules keeps the container ones', async () => {
    const c = await createContainer((cfg) => {
      cfg.linux.resources = {
        ...cfg.linux.resources,
        devices: [
          ...cfg.linux.resources.devices,
          { allow: true, type: 'b', major: 7, minor: 0, access: 'rwm' },
        ],
      };
      cfg.process.args = ['sleep', '100'];
    });
    try {
      const devices = hostCgroupDir(c.pid, 'devices');
      expect(read(devices, 'devices.list')).toContain('b 7:0 rwm');
      const res = await tsrunc(['update', '--memory', '128m', c.id]);
      expect(res.code, res.stderr).toBe(0);
      expect(read(devices, 'devices.list')).toContain('b 7:0 rwm');
    } finally {
      await c.cleanup();
    }
  });

  it('ps lists exactly the container processes', async () => {
    const c = await createContainer((cfg) => {
      cfg.process.args = ['sh', '-c', 'sleep 100 & sleep 100 & wait'];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      let pids: number[] = [];
      await waitFor('three processes', () => {
        pids = read(hostCgroupDir(c.pid, 'pids'), 'cgroup.procs').split('\n').map(Number);
        return pids.length === 3;
      });
      const json = await tsrunc(['ps', '--format', 'json', c.id]);
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual([...pids].sort((a, b) => a - b));
      expect(JSON.parse(json.stdout)).toContain(c.pid);
      const table = await tsrunc(['ps', c.id]);
      const rows = table.stdout.trim().split('\n');
      expect(rows[0]).toMatch(/\bPID\b/);
      expect(rows.slice(1)).toHaveLength(3);
    } finally {
      await c.cleanup();
    }
  });

  it('events --stats prints cpu, memory and pids numbers', async () => {
    const c = await createContainer((cfg) => {
      cfg.linux.resources = { ...cfg.linux.resources, memory: { limit: 64 * MiB }, pids: { limit: 10 } };
      cfg.process.args = ['sleep', '100'];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const res = await tsrunc(['events', '--stats', c.id]);
      expect(res.code, res.stderr).toBe(0);
      const event = JSON.parse(res.stdout);
      expect(event).toMatchObject({ type: 'stats', id: c.id });
      expect(event.data.memory.usage.limit).toBe(64 * MiB);
      expect(event.data.memory.usage.usage).toBeGreaterThan(0);
      expect(event.data.pids).toMatchObject({ current: 1, limit: 10 });
      expect(event.data.cpu.usage.total).toBeGreaterThan(0);
    } finally {
      await c.cleanup();
    }
  });

  it('a process past the memory limit is OOM-killed and events reports it', async () => {
    const c = await createContainer((cfg) => {
      cfg.linux.resources = { ...cfg.linux.resources, memory: { limit: 16 * MiB, swap: 16 * MiB } };
      cfg.process.args = ['sh', '-c', 'sleep 0.5; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 0.5'];
    });
    try {
      const events = spawnEvents(c.id);
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const output = await events;
      const lines = output
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.some((e) => e.type === 'oom' && e.id === c.id)).toBe(true);
      expect(lines.some((e) => e.type === 'stats')).toBe(true);
    } finally {
      await c.cleanup();
    }
  });

  it('kill --all reaches every process; without a pid namespace, delete kills the rest', async () => {
    const c = await createContainer((cfg) => {
      cfg.linux.namespaces = cfg.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'pid');
      cfg.process.args = ['sh', '-c', 'sleep 100 & sleep 100 & wait'];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const pidsDir = hostCgroupDir(c.pid, 'pids');
      await waitFor('three processes', () => read(pidsDir, 'cgroup.procs').split('\n').length === 3);
      const members = read(pidsDir, 'cgroup.procs').split('\n').map(Number);
      const del = await tsrunc(['delete', '--force', c.id]);
      expect(del.code, del.stderr).toBe(0);
      for (const pid of members)
        expect(fs.existsSync(`/proc/${pid}/cmdline`) && read(`/proc/${pid}`, 'cmdline') !== '').toBe(false);
      expect(fs.existsSync(pidsDir)).toBe(false);
    } finally {
      await c.cleanup();
    }
  });

  it.each([
    ['its own pid namespace', true],
    ["the host's pid namespace", false],
  ])(
    'delete --force kills what the container put in sub-cgroups it made (one frozen) and removes them in every hierarchy (%s)',
    async (_, ownPidNs) => {
      // The container makes sub/deeper in each hierarchy through a writable /sys/fs/cgroup, moves
      // a sleep there, and freezes sub: that sleep only dies of SIGKILL once sub is thawed.
      const hierarchies = ['memory', 'pids', 'freezer', 'cpu', 'devices', 'systemd', 'unified'];
      const script = [
        `for h in ${hierarchies.join(' ')}; do mkdir -p /sys/fs/cgroup/$h/sub/deeper || exit 1; done`,
        'sleep 100 & p=$!',
        `for h in ${hierarchies.join(' ')}; do echo $p > /sys/fs/cgroup/$h/sub/deeper/cgroup.procs || exit 1; done`,
        'echo FROZEN > /sys/fs/cgroup/freezer/sub/freezer.state',
        'wait',
      ].join('\n');
      const c = await createContainer((cfg) => {
        const mount = cfg.mounts.find((m: { type: string }) => m.type === 'cgroup');
        mount.options = mount.options.filter((o: string) => o !== 'ro').concat('rw');
        if (!ownPidNs) {
          cfg.linux.namespaces = cfg.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'pid');
        }
        cfg.process.args = ['sh', '-c', script];
      });
      try {
        const freezer = hostCgroupDir(c.pid, 'freezer');
        expect((await tsrunc(['start', c.id])).code).toBe(0);
        await waitFor('the frozen sub-cgroup', () => {
          const state = fs.existsSync(path.join(freezer, 'sub'))
            ? read(path.join(freezer, 'sub'), 'freezer.state')
            : '';
          return state === 'FROZEN' && read(path.join(freezer, 'sub/deeper'), 'cgroup.procs') !== '';
        });
        const sleeper = Number(read(path.join(freezer, 'sub/deeper'), 'cgroup.procs'));
        const dirs = cgroupDirsNamed(c.id);
        // The container's own dir in each hierarchy, each with sub and sub/deeper (cpu and
        // cpuacct are separate hierarchies here: one more of each).
        for (const h of hierarchies) {
          const own = dirs.find((d) => d.startsWith(`/sys/fs/cgroup/${h}/`))!;
          expect(read(path.join(own, 'sub/deeper'), 'cgroup.procs'), h).toBe(String(sleeper));
        }
        const del = await tsrunc(['delete', '--force', c.id]);
        expect(del).toMatchObject({ code: 0, stderr: '' });
        expect(procAlive(sleeper)).toBe(false);
        expect(procAlive(c.pid)).toBe(false);
        expect(cgroupDirsNamed(c.id)).toEqual([]);
      } finally {
        await c.cleanup();
      }
    },
  );

  it('kill --all KILL stops a container', async () => {
    const c = await createContainer((cfg) => {
      cfg.process.args = ['sh', '-c', 'sleep 100 & sleep 100 & wait'];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const res = await tsrunc(['kill', '--all', c.id, 'KILL']);
      expect(res.code, res.stderr).toBe(0);
      await waitForStatus(c.id, 'stopped');
    } finally {
      await c.cleanup();
    }
  });
});

describe('exec and cgroups', () => {
  /** /proc/<pid>/cgroup as "hierarchy:path" lines (hierarchy ids dropped), sorted. */
  const cgroupLines = (text: string) =>
    text
      .trim()
      .split('\n')
      .map((l) => l.replace(/^\d+:/, ''))
      .sort();

  it('exec joins the container cgroup of every hierarchy, and --cgroup a sub-cgroup of it', async () => {
    const c = await createContainer((cfg) => {
      cfg.process.args = ['sleep', '100'];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const own = cgroupLines(fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8'));
      // Every v1 hierarchy and the unified one (0::).
      expect(own.length).toBeGreaterThan(8);
      expect(own.filter((l) => l.startsWith(':/'))).toHaveLength(1);
      const plain = await tsrunc(['exec', c.id, 'cat', '/proc/self/cgroup']);
      expect(plain.code, plain.stderr).toBe(0);
      expect(cgroupLines(plain.stdout)).toEqual(own);

      // A sub-cgroup "sub" of the container's in every hierarchy, made from the host.
      for (const dir of cgroupDirsNamed(c.id)) {
        fs.mkdirSync(path.join(dir, 'sub'));
        for (const file of ['cpuset.cpus', 'cpuset.mems']) {
          if (fs.existsSync(path.join(dir, file)))
            fs.writeFileSync(path.join(dir, 'sub', file), read(dir, file));
        }
      }
      const inSub = (line: string, hierarchies?: string[]) =>
        hierarchies === undefined || hierarchies.includes(line.split(':')[0]) ? `${line}/sub` : line;
      const all = await tsrunc(['exec', '--cgroup', 'sub', c.id, 'cat', '/proc/self/cgroup']);
      expect(all.code, all.stderr).toBe(0);
      expect(cgroupLines(all.stdout)).toEqual(own.map((l) => inSub(l)));
      const some = await tsrunc([
        'exec',
        '--cgroup',
        'memory:sub',
        '--cgroup',
        'pids,freezer:/sub',
        c.id,
        'cat',
        '/proc/self/cgroup',
      ]);
      expect(some.code, some.stderr).toBe(0);
      expect(cgroupLines(some.stdout)).toEqual(own.map((l) => inSub(l, ['memory', 'pids', 'freezer'])));

      for (const [arg, sub] of [
        ['..', '..'],
        ['memory:../x', '../x'],
        ['sub/../..', 'sub/../..'],
      ]) {
        const res = await tsrunc(['exec', '--cgroup', arg, c.id, 'true']);
        expect(expectOneLineError(res, 255)).toBe(`--cgroup: ${sub} is not a sub cgroup path`);
      }
      const unknown = await tsrunc(['exec', '--cgroup', 'nosuch:sub', c.id, 'true']);
      expect(expectOneLineError(unknown, 255)).toBe('unknown controller nosuch in --cgroup');
    } finally {
      await c.cleanup();
    }
    expect(cgroupDirsNamed(c.id)).toEqual([]);
  });
});

describe('cgroupsPath', () => {
  // Parents a test made in every hierarchy: removed (when empty) after it, deepest first.
  function removeParents(relative: string[]): void {
    for (const hierarchy of fs.readdirSync('/sys/fs/cgroup')) {
      for (const dir of relative) {
        try {
          fs.rmdirSync(path.join('/sys/fs/cgroup', hierarchy, dir));
        } catch {
          // not there in this hierarchy
        }
      }
    }
  }

  it('an absolute path is used from the root of every hierarchy', async () => {
    const id = containerId();
    try {
      const c = await createContainer(
        (cfg) => {
          cfg.linux.cgroupsPath = `/tsrunc-abs/${id}`;
          cfg.process.args = ['true'];
        },
        { id },
      );
      const memory = `/sys/fs/cgroup/memory/tsrunc-abs/${id}`;
      try {
        expect(read(memory, 'cgroup.procs')).toBe(String(c.pid));
        expect(read(`/sys/fs/cgroup/unified/tsrunc-abs/${id}`, 'cgroup.procs')).toBe(String(c.pid));
      } finally {
        await c.cleanup();
      }
      expect(fs.existsSync(memory)).toBe(false);
    } finally {
      removeParents(['tsrunc-abs']);
    }
  });

  it('--systemd-cgroup maps slice:prefix:name onto the cgroupfs path systemd uses', async () => {
    const id = containerId();
    const c = await createContainer(
      (cfg) => {
        cfg.linux.cgroupsPath = `tsrunctest-a.slice:pre:${id}`;
        cfg.process.args = ['true'];
      },
      { id, globalArgs: ['--systemd-cgroup'] },
    );
    const scope = `/sys/fs/cgroup/memory/tsrunctest.slice/tsrunctest-a.slice/pre-${id}.scope`;
    try {
      expect(read(scope, 'cgroup.procs')).toBe(String(c.pid));
    } finally {
      await c.cleanup();
      removeParents(['tsrunctest.slice/tsrunctest-a.slice', 'tsrunctest.slice']);
    }
    expect(fs.existsSync(scope)).toBe(false);
  });
});

describe('a cgroup that is already there', () => {
  const FROZEN = "container's cgroup unexpectedly frozen";
  const HIERARCHIES = () =>
    fs
      .readdirSync('/sys/fs/cgroup')
      .filter((h) => !fs.lstatSync(path.join('/sys/fs/cgroup', h)).isSymbolicLink());

  /** Thaw and remove (deepest first) what a test made by hand; what is gone is fine. */
  function removeByHand(dirs: string[]): void {
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
      if (!fs.existsSync(dir)) continue;
      for (const [file, value] of [
        ['freezer.state', 'THAWED'],
        ['cgroup.freeze', '0'],
      ]) {
        if (fs.existsSync(path.join(dir, file))) fs.writeFileSync(path.join(dir, file), value);
      }
      fs.rmdirSync(dir);
    }
  }

  it.each([
    ['v1: freezer.state FROZEN', 'freezer', 'freezer.state', 'FROZEN'],
    ['v2 (the unified hierarchy): cgroup.freeze 1', 'unified', 'cgroup.freeze', '1'],
  ])(
    "%s: run refuses at once with runc's words and leaves the cgroup as it was",
    async (_, h, file, value) => {
      const id = containerId();
      const name = containerId('tsrunc-frozen');
      const dir = `/sys/fs/cgroup/${h}/${name}`;
      fs.mkdirSync(dir);
      try {
        fs.writeFileSync(path.join(dir, file), value);
        const res = await runContainer(
          (cfg) => {
            cfg.linux.cgroupsPath = `/${name}`;
            cfg.process.args = ['true'];
          },
          { id },
        );
        expect(expectOneLineError(res)).toBe(FROZEN);
        expect(fs.existsSync(path.join(stateRoot(), id))).toBe(false);
        // Not removed (it was there before), still frozen, and nothing made in the other hierarchies.
        expect(read(dir, file)).toBe(value);
        expect(cgroupDirsNamed(name)).toEqual([dir]);
      } finally {
        removeByHand([dir]);
      }
    },
  );

  it('a parent frozen: refused before anything is made below it', async () => {
    const id = containerId();
    const name = containerId('tsrunc-frozen');
    const parent = `/sys/fs/cgroup/freezer/${name}`;
    fs.mkdirSync(parent);
    try {
      fs.writeFileSync(path.join(parent, 'freezer.state'), 'FROZEN');
      const res = await runContainer(
        (cfg) => {
          cfg.linux.cgroupsPath = `/${name}/${id}`;
          cfg.process.args = ['true'];
        },
        { id },
      );
      expect(expectOneLineError(res)).toBe(`${FROZEN} (a parent cgroup is frozen)`);
      expect(fs.existsSync(path.join(stateRoot(), id))).toBe(false);
      expect(cgroupDirsNamed(id)).toEqual([]);
      expect(cgroupDirsNamed(name)).toEqual([parent]);
    } finally {
      removeByHand([parent]);
    }
  });

  it('frozen after create made the dirs, before stage 1 joins: refused, and only what create made is removed', async () => {
    const id = containerId();
    const name = containerId('tsrunc-frozen');
    // There before create in the freezer hierarchy only; create makes the others.
    const freezer = `/sys/fs/cgroup/freezer/${name}`;
    fs.mkdirSync(freezer);
    const bundle = await makeBundle((cfg) => {
      cfg.linux.cgroupsPath = `/${name}`;
      cfg.process.args = ['true'];
    });
    const bg = tsruncBackground(['create', '--bundle', bundle.dir, id], {
      env: { TSRUNC_FAULT_STOP: 'cgroups' },
    });
    try {
      await waitFor(
        'create to stop after making the cgroups',
        () => procState(bg.child.pid!) === 'T',
        15_000,
      );
      const made = cgroupDirsNamed(name);
      expect(made.length).toBeGreaterThan(2);
      fs.writeFileSync(path.join(freezer, 'freezer.state'), 'FROZEN');
      bg.child.kill('SIGCONT');
      const res = await bg.done;
      expect(expectOneLineError(res)).toBe(FROZEN);
      expect(fs.existsSync(path.join(stateRoot(), id))).toBe(false);
      expect(cgroupDirsNamed(name)).toEqual([freezer]);
      expect(read(freezer, 'freezer.state')).toBe('FROZEN');
    } finally {
      await killChild(bg.child);
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      removeByHand(HIERARCHIES().map((h) => `/sys/fs/cgroup/${h}/${name}`));
    }
  });

  it('two containers in one cgroup: the second warns as runc does and runs; deleting it leaves the first', async () => {
    const name = containerId('tsrunc-shared');
    const setup = (cfg: Config) => {
      cfg.linux.cgroupsPath = `/${name}`;
      cfg.process.args = ['sleep', '100'];
    };
    const first = await createContainer(setup);
    let second: Created | null = null;
    try {
      expect(first.result.stderr).toBe('');
      second = await createContainer(setup);
      expect(second.result.stderr).toMatch(
        /^time="[^"]+" level=warning msg="container's cgroup is not empty: 1 process\(es\) found"\n$/,
      );
      expect((await tsrunc(['start', second.id])).code).toBe(0);
      const procs = read(`/sys/fs/cgroup/pids/${name}`, 'cgroup.procs').split('\n').map(Number);
      expect(procs.sort()).toEqual([first.pid, second.pid].sort());
      const del = await tsrunc(['delete', '--force', second.id]);
      expect(del).toMatchObject({ code: 0, stderr: '' });
      // Its own processes went; the first container and the cgroup it made stay.
      expect(procAlive(second.pid)).toBe(false);
      expect((await stateOf(first.id)).status).toBe('created');
      expect(read(`/sys/fs/cgroup/pids/${name}`, 'cgroup.procs')).toBe(String(first.pid));
      await first.cleanup();
      expect(cgroupDirsNamed(name)).toEqual([]);
    } finally {
      await second?.cleanup();
      await first.cleanup();
      removeByHand(HIERARCHIES().map((h) => `/sys/fs/cgroup/${h}/${name}`));
    }
  });
});

// `events` until the container stops; resolves with its stdout.
function spawnEvents(id: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        path.resolve(__dirname, '../../bin/tsrunc'),
        '--root',
        stateRoot(),
        'events',
        '--interval',
        '200ms',
        id,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', () => resolve(out));
  });
}

describe('v2 manager, for real on the unified hierarchy', () => {
  it('creates, joins, freezes, thaws, lists and removes a cgroup', async () => {
    const dir = `/sys/fs/cgroup/unified/tsrunc-v2-${process.pid}`;
    const manager = managerFor({ layout: 'v2', dirs: { '': dir } });
    const sleeper = spawn('sleep', ['100'], { stdio: 'ignore' });
    const exited = new Promise((r) => sleeper.once('exit', r));
    try {
      manager.create();
      manager.join(sleeper.pid!);
      expect(manager.pids()).toEqual([sleeper.pid]);
      await manager.freeze();
      expect(await manager.isFrozen()).toBe(true);
      expect(read(dir, 'cgroup.events')).toMatch(/frozen 1/);
      await manager.thaw();
      expect(await manager.isFrozen()).toBe(false);
      // kill --all: every process the cgroup lists.
      for (const pid of manager.pids()) process.kill(pid, 'SIGKILL');
      await exited;
      await waitFor('empty cgroup', () => manager.pids().length === 0);
    } finally {
      sleeper.kill('SIGKILL');
      await exited;
      await waitFor('empty cgroup', () => manager.pids().length === 0);
      await manager.destroy();
    }
    expect(fs.existsSync(dir)).toBe(false);
  });
});
