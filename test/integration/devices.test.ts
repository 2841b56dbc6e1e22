// /dev: default devices and links, linux.devices (char, block, fifo, overrides), devices in a
// user namespace, maskedPaths (incl. CVE-2025-31133: a fake /dev/null), readonlyPaths.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeTree, type Bundle, type Config } from '../helpers/bundle';
import {
  errLines,
  hostUnmountAll,
  mountAt,
  mustMountAt,
  parseMountInfo,
  runKeepBundle,
  sections,
  type KeptRun,
  type MountInfo,
} from '../helpers/mountinfo';
import { stateRoot } from '../helpers/tsrunc';

const bundles: string[] = [];

afterEach(async () => {
  for (const dir of bundles.splice(0).reverse()) {
    hostUnmountAll(dir);
    await removeTree(dir);
  }
});

async function runScript(
  script: string,
  mutate?: (c: Config, b: Bundle) => void,
): Promise<KeptRun & { mounts: MountInfo[]; out: Record<string, string> }> {
  const r = await runKeepBundle((c, b) => {
    c.process.args = ['sh', '-c', script];
    mutate?.(c, b);
  });
  bundles.push(r.bundle.dir);
  expect(r.leftoverMounts, 'mounts left under the bundle after delete').toEqual([]);
  expect(fs.existsSync(path.join(stateRoot(), r.id)), 'state dir left').toBe(false);
  const out = sections(r.stdout);
  return { ...r, out, mounts: out.mi ? parseMountInfo(out.mi) : [] };
}

function expectCleanFailure(r: KeptRun): string {
  expect(r.code, r.stdout).toBe(1);
  const lines = errLines(r.stderr);
  expect(lines).toHaveLength(1);
  expect(r.leftoverMounts).toEqual([]);
  expect(r.stateLeft).toBe(false);
  return lines[0];
}

const MI = 'echo ==mi; cat /proc/self/mountinfo';
/** name, file type, major:minor (hex, as stat %t:%T), mode, uid:gid */
const STAT = "stat -c '%n|%F|%t:%T|%a|%u:%g'";

const USER_MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];

describe('/dev: defaults', () => {
  it('null, zero, full, random, urandom, tty are char devices 0666 root:root with the right numbers', async () => {
    const r = await runScript(`${STAT} /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      '/dev/null|character special file|1:3|666|0:0',
      '/dev/zero|character special file|1:5|666|0:0',
      '/dev/full|character special file|1:7|666|0:0',
      '/dev/random|character special file|1:8|666|0:0',
      '/dev/urandom|character special file|1:9|666|0:0',
      '/dev/tty|character special file|5:0|666|0:0',
    ]);
  });

  it('the devices work: null swallows, zero gives zeros, full gives ENOSPC, urandom gives bytes', async () => {
    const r = await runScript(
      'echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1; echo x > /dev/full; head -c 16 /dev/urandom | wc -c',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').map((l) => l.trim())).toEqual(['null-ok', '00 00 00 00', '16', '']);
    expect(r.stderr).toBe('sh: write error: No space left on device\n');
  });

  it('/dev holds exactly the default entries; links ptmx, fd, stdin, stdout, stderr', async () => {
    const r = await runScript(
      'echo ==ls; ls -A /dev; echo ==links; for l in ptmx fd stdin stdout stderr; do echo "$l -> $(readlink /dev/$l)"; done; ' +
        `${MI}; echo ==modes; stat -c '%n %a' /dev /dev/shm /dev/mqueue`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.ls.trimEnd().split('\n')).toEqual([
      'fd',
      'full',
      'mqueue',
      'null',
      'ptmx',
      'pts',
      'random',
      'shm',
      'stderr',
      'stdin',
      'stdout',
      'tty',
      'urandom',
      'zero',
    ]);
    expect(r.out.links).toBe(
      'ptmx -> pts/ptmx\nfd -> /proc/self/fd\nstdin -> /proc/self/fd/0\nstdout -> /proc/self/fd/1\nstderr -> /proc/self/fd/2\n',
    );
    const dev = mustMountAt(r.mounts, '/dev');
    expect(dev.fstype).toBe('tmpfs');
    expect(dev.superOptions).toEqual(expect.arrayContaining(['mode=755', 'size=65536k']));
    const shm = mustMountAt(r.mounts, '/dev/shm');
    expect([shm.fstype, shm.source]).toEqual(['tmpfs', 'shm']);
    expect(shm.options).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
    expect(mustMountAt(r.mounts, '/dev/pts').fstype).toBe('devpts');
    expect(mustMountAt(r.mounts, '/dev/mqueue').fstype).toBe('mqueue');
    for (const mp of ['/dev/shm', '/dev/pts', '/dev/mqueue'])
      expect(mustMountAt(r.mounts, mp).parent, mp).toBe(dev.id);
    expect(r.out.modes).toBe('/dev 755\n/dev/shm 1777\n/dev/mqueue 1777\n');
  });

  it('/dev/ptmx opens a pty of the container devpts instance', async () => {
    const r = await runScript('exec 3<>/dev/ptmx && ls /dev/pts');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('0\nptmx\n');
  });
});

describe('/dev: linux.devices', () => {
  it('a char device with exact type, numbers, mode and owner (fuse 10:229 0600 1000:1000)', async () => {
    const r = await runScript(`${STAT} /dev/fuse`, (c) => {
      c.linux.devices = [
        { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o600, uid: 1000, gid: 1000 },
      ];
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('/dev/fuse|character special file|a:e5|600|1000:1000\n');
  });

  it('a block device (loop 7:0), a fifo, and a device in a new subdirectory', async () => {
    const r = await runScript(
      `${STAT} /dev/loop7 /dev/myfifo /dev/sub/dir/zero2; stat -c '%n %a' /dev/sub /dev/sub/dir`,
      (c) => {
        c.linux.devices = [
          { path: '/dev/loop7', type: 'b', major: 7, minor: 7, fileMode: 0o660, uid: 0, gid: 6 },
          { path: '/dev/myfifo', type: 'p', fileMode: 0o620 },
          { path: '/dev/sub/dir/zero2', type: 'c', major: 1, minor: 5 },
        ];
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      '/dev/loop7|block special file|7:7|660|0:6',
      '/dev/myfifo|fifo|0:0|620|0:0',
      // fileMode omitted: 0666 (runc's default).
      '/dev/sub/dir/zero2|character special file|1:5|666|0:0',
      '/dev/sub 755',
      '/dev/sub/dir 755',
    ]);
  });

  it("a config entry overrides a default device's mode and owner (one /dev/null only)", async () => {
    const r = await runScript(`${STAT} /dev/null; ls -A /dev | grep -c '^null$'`, (c) => {
      c.linux.devices = [
        { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o600, uid: 1000, gid: 1000 },
      ];
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('/dev/null|character special file|1:3|600|1000:1000\n1\n');
  });

  it('an unknown device type: one line naming linux.devices[i].type, nothing left', async () => {
    const r = await runKeepBundle((c) => {
      c.process.args = ['true'];
      c.linux.devices = [
        { path: '/dev/fuse', type: 'c', major: 10, minor: 229 },
        { path: '/dev/odd', type: 'x', major: 1, minor: 1 },
      ];
    });
    bundles.push(r.bundle.dir);
    const line = expectCleanFailure(r);
    expect(line).toMatch(/^config\.json: linux\.devices\[1\]\.type: /);
  });
});

describe('/dev: devices inside a user namespace', () => {
  it('default devices are bind mounts of the host nodes (still char 1:3 for /dev/null) and work', async () => {
    const r = await runScript(
      `${MI}; echo ==stat; stat -c '%n|%F|%t:%T' /dev/null /dev/zero /dev/tty; echo ==use; echo x > /dev/null && head -c 2 /dev/zero | wc -c`,
      (c, b) => {
        c.linux.namespaces = ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup', 'user'].map((type) => ({
          type,
        }));
        c.linux.uidMappings = USER_MAP;
        c.linux.gidMappings = USER_MAP;
        execFileSync('chown', ['-R', '-h', '100000:100000', b.rootfs]);
        fs.chmodSync(b.dir, 0o755);
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.stat).toBe(
      '/dev/null|character special file|1:3\n/dev/zero|character special file|1:5\n/dev/tty|character special file|5:0\n',
    );
    expect(r.out.use.trim()).toBe('2');
    const hostDev = mustMountAt(parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')), '/dev');
    for (const name of ['null', 'zero', 'full', 'random', 'urandom', 'tty']) {
      const m = mustMountAt(r.mounts, `/dev/${name}`);
      expect([m.dev, m.root], name).toEqual([hostDev.dev, `/${name}`]);
    }
  });
});

describe('maskedPaths', () => {
  it('a masked file reads empty and is a bind of the container /dev/null', async () => {
    const r = await runScript(`${MI}; echo ==out; wc -c < /proc/timer_list; wc -c < /proc/keys`, (c) => {
      c.linux.maskedPaths = ['/proc/timer_list', '/proc/keys'];
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.out.split('\n').map((l) => l.trim())).toEqual(['0', '0', '']);
    const dev = mustMountAt(r.mounts, '/dev');
    for (const p of ['/proc/timer_list', '/proc/keys']) {
      const m = mustMountAt(r.mounts, p);
      expect([m.dev, m.root, m.fstype], p).toEqual([dev.dev, '/null', 'tmpfs']);
    }
  });

  // The mask is a read-only bind (SECURITY.md). The kernel still lets a device node on a
  // read-only mount be opened for writing, so a write succeeds and goes to the null device.
  it('a masked file is a read-only bind; what is written through it goes nowhere', async () => {
    const r = await runScript(`${MI}; echo ==out; echo x > /proc/keys; wc -c < /proc/keys`, (c) => {
      c.linux.maskedPaths = ['/proc/keys'];
    });
    expect(r.code, r.stderr).toBe(0);
    expect(mustMountAt(r.mounts, '/proc/keys').options[0]).toBe('ro');
    expect(r.out.out.trim()).toBe('0');
  });

  it('a masked directory shows an empty read-only tmpfs (/proc/acpi and a rootfs dir)', async () => {
    const r = await runScript(
      `${MI}; echo ==ls; ls -A /proc/acpi /secret; echo ==touch; touch /secret/x 2>&1; true`,
      (c, b) => {
        fs.mkdirSync(path.join(b.rootfs, 'secret'));
        fs.writeFileSync(path.join(b.rootfs, 'secret', 'key'), 'hidden');
        c.linux.maskedPaths = ['/proc/acpi', '/secret'];
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.ls).toBe('/proc/acpi:\n\n/secret:\n');
    expect(r.out.touch).toBe('touch: /secret/x: Read-only file system\n');
    for (const p of ['/proc/acpi', '/secret']) {
      const m = mustMountAt(r.mounts, p);
      expect([m.fstype, m.options[0]], p).toEqual(['tmpfs', 'ro']);
    }
    expect(fs.readFileSync(path.join(r.bundle.rootfs, 'secret', 'key'), 'utf8')).toBe('hidden');
  });

  it('a masked path that does not exist is skipped', async () => {
    const r = await runScript(`${MI}; echo ==out; ls /proc/no-such-entry 2>&1; true`, (c) => {
      c.linux.maskedPaths = ['/proc/no-such-entry', '/no/such/dir', '/proc/keys'];
    });
    expect(r.code, r.stderr).toBe(0);
    expect(mountAt(r.mounts, '/proc/no-such-entry')).toBeUndefined();
    expect(mountAt(r.mounts, '/no/such/dir')).toBeUndefined();
    expect(mustMountAt(r.mounts, '/proc/keys').root).toBe('/null');
    expect(fs.existsSync(path.join(r.bundle.rootfs, 'no'))).toBe(false);
    expect(r.out.out).toBe('ls: /proc/no-such-entry: No such file or directory\n');
  });

  it('control: with a real null device (char 1:3) in a bind-mounted /dev, masking works', async () => {
    const r = await runScript(`${MI}; echo ==out; wc -c < /proc/keys`, (c, b) => {
      const devDir = path.join(b.dir, 'devdir');
      fs.mkdirSync(devDir);
      execFileSync('mknod', ['-m', '666', path.join(devDir, 'null'), 'c', '1', '3']);
      c.mounts = c.mounts.map((m: { destination: string }) =>
        m.destination === '/dev'
          ? { destination: '/dev', type: 'bind', source: devDir, options: ['rbind'] }
          : m,
      );
      c.linux.maskedPaths = ['/proc/keys'];
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.out.trim()).toBe('0');
    expect(mustMountAt(r.mounts, '/proc/keys').root).toBe(path.join(r.bundle.dir, 'devdir', 'null'));
  });

  // CVE-2025-31133: a /dev whose "null" is not the null device must not be used as the mask.
  for (const [what, makeNull] of [
    ['a regular file', (dev: string) => fs.writeFileSync(path.join(dev, 'null'), '')],
    ['a symlink to a host file', (dev: string) => fs.symlinkSync('/etc/hostname', path.join(dev, 'null'))],
    [
      'the zero device (char 1:5)',
      (dev: string) => execFileSync('mknod', ['-m', '666', path.join(dev, 'null'), 'c', '1', '5']),
    ],
  ] as const) {
    it(`masking with a /dev/null that is ${what} is refused: one line, nothing left`, async () => {
      const r = await runKeepBundle((c, b) => {
        c.process.args = ['true'];
        const devDir = path.join(b.dir, 'devdir');
        fs.mkdirSync(devDir);
        makeNull(devDir);
        // /dev is a bind of a bundle dir: no device nodes of the runtime's own.
        c.mounts = c.mounts.map((m: { destination: string }) =>
          m.destination === '/dev'
            ? { destination: '/dev', type: 'bind', source: devDir, options: ['rbind'] }
            : m,
        );
        c.linux.maskedPaths = ['/proc/keys'];
      });
      bundles.push(r.bundle.dir);
      const line = expectCleanFailure(r);
      expect(line).toMatch(
        /^unable to start container process: linux\.maskedPaths\[0\] \(\/proc\/keys\): mask: /,
      );
      if (what === 'a symlink to a host file') expect(fs.readFileSync('/etc/hostname', 'utf8')).not.toBe('');
    });
  }
});

describe('readonlyPaths', () => {
  it('/proc/sys is read-only while the rest of /proc stays writable', async () => {
    const current = fs.readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim();
    const r = await runScript(
      // Writes the host's current value back: harmless if the read-only bind were missing.
      `${MI}; echo ==out; { echo ${current} > /proc/sys/vm/overcommit_memory; } 2>&1; ` +
        'echo 100 > /proc/self/oom_score_adj && cat /proc/self/oom_score_adj',
      (c) => {
        c.linux.readonlyPaths = ['/proc/sys', '/proc/no-such-path'];
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.out).toBe("sh: can't create /proc/sys/vm/overcommit_memory: Read-only file system\n100\n");
    const sys = mustMountAt(r.mounts, '/proc/sys');
    expect([sys.fstype, sys.root, sys.options[0]]).toEqual(['proc', '/sys', 'ro']);
    expect(mustMountAt(r.mounts, '/proc').options[0]).toBe('rw');
    expect(mountAt(r.mounts, '/proc/no-such-path')).toBeUndefined();
  });

  it('a read-only rootfs dir: writes fail; a mount below it is carried along (recursive bind)', async () => {
    const r = await runScript(
      `${MI}; echo ==out; touch /data/x 2>&1; touch /data/scratch/y && echo scratch-ok`,
      (c, b) => {
        fs.mkdirSync(path.join(b.rootfs, 'data', 'scratch'), { recursive: true });
        c.root.readonly = false;
        c.mounts.push({ destination: '/data/scratch', type: 'tmpfs', source: 'tmpfs', options: [] });
        c.linux.readonlyPaths = ['/data'];
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const data = mustMountAt(r.mounts, '/data');
    expect(data.options[0]).toBe('ro');
    // The tmpfs below is still visible through the read-only bind (MS_BIND|MS_REC); like runc,
    // the read-only remount applies to the bind itself.
    expect(mustMountAt(r.mounts, '/data/scratch').parent).toBe(data.id);
    expect(r.out.out).toBe('touch: /data/x: Read-only file system\nscratch-ok\n');
  });
});
