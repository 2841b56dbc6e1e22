// Root filesystem (root.path, root.readonly, rootfsPropagation, --no-pivot) and config mounts
// (proc, sysfs, tmpfs, devpts, mqueue, cgroup, bind/rbind and their options, order, missing
// destinations), plus symlink escape attempts on mount destinations. Checked from inside
// (/proc/self/mountinfo, writes, exec) and from the host (bundle untouched, no mount left).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  containerId,
  makeBundle,
  tempDir,
  removeTree,
  withUserNamespace,
  type Bundle,
  type Config,
} from '../helpers/bundle';
import {
  errLines,
  hostMount,
  hostMountsUnder,
  hostUnmountAll,
  listNames,
  mountAt,
  mustMountAt,
  parseMountInfo,
  propagationOf,
  runKeepBundle,
  sections,
  type KeptRun,
  type MountInfo,
} from '../helpers/mountinfo';
import { runContainer, stateRoot, tsrunc, type RunOptions } from '../helpers/tsrunc';

// Host dirs and mounts a test made: removed after each test (mounts first).
const fixtures: string[] = [];

afterEach(async () => {
  for (const dir of fixtures.splice(0).reverse()) {
    hostUnmountAll(dir);
    await removeTree(dir);
  }
});

/** A host dir (under the run's temp base) removed after the test, mounts in it included. */
function hostDir(prefix: string, files: Record<string, string> = {}): string {
  const dir = tempDir(prefix);
  fixtures.push(dir);
  fs.chmodSync(dir, 0o755);
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

/** Makes `dir` a mount point of its own in a shared peer group; returns the group id. */
function makeSharedMount(dir: string): number {
  hostMount(['--bind', dir, dir]);
  hostMount(['--make-shared', dir]);
  const m = mustMountAt(parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')), dir);
  const group = propagationOf(m).shared;
  if (group === null) throw new Error(`${dir} is not shared: ${m.optional.join(' ')}`);
  return group;
}

/**
 * Runs `script` in a fresh bundle, checks that the container's state dir and every mount under
 * the bundle are gone, and hands the result to `inspect` before the bundle is removed.
 */
async function runScript(
  script: string,
  mutate?: (c: Config, b: Bundle) => void,
  opts: RunOptions = {},
): Promise<KeptRun & { mounts: MountInfo[]; out: Record<string, string> }> {
  const r = await runKeepBundle((c, b) => {
    c.process.args = ['sh', '-c', script];
    mutate?.(c, b);
  }, opts);
  fixtures.push(r.bundle.dir);
  expect(r.leftoverMounts, 'mounts left under the bundle after delete').toEqual([]);
  expect(fs.existsSync(path.join(stateRoot(), r.id)), 'state dir left').toBe(false);
  const out = sections(r.stdout);
  return { ...r, out, mounts: out.mi ? parseMountInfo(out.mi) : [] };
}

/** Expects a clean failure: exit 1, exactly one stderr line, nothing left; returns the line. */
function expectCleanFailure(r: KeptRun): string {
  expect(r.code, r.stdout).toBe(1);
  const lines = errLines(r.stderr);
  expect(lines).toHaveLength(1);
  expect(r.leftoverMounts).toEqual([]);
  expect(r.stateLeft).toBe(false);
  return lines[0];
}

const MI = 'echo ==mi; cat /proc/self/mountinfo';

function addMount(
  c: Config,
  m: { destination: string; type?: string; source?: string; options?: string[] },
): number {
  c.mounts.push(m);
  return c.mounts.length - 1;
}

// ---------------------------------------------------------------------------------------------

describe('root filesystem', () => {
  it('root.path relative to the bundle (not to the cwd of the runtime), with another name', async () => {
    const r = await runScript(
      'echo ==ls; ls -A /; echo ==marker; cat /marker',
      (c, b) => {
        fs.renameSync(b.rootfs, path.join(b.dir, 'other-root'));
        fs.writeFileSync(path.join(b.dir, 'other-root', 'marker'), 'relative-root\n');
        c.root.path = 'other-root';
      },
      { cwd: '/' },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.marker).toBe('relative-root\n');
    expect(r.out.ls.trimEnd().split('\n').sort()).toEqual(listNames(path.join(r.bundle.dir, 'other-root')));
  });

  it('root.path absolute', async () => {
    const r = await runScript('cat /marker', (c, b) => {
      fs.writeFileSync(path.join(b.rootfs, 'marker'), 'absolute-root\n');
      c.root.path = b.rootfs;
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('absolute-root\n');
  });

  it('root.readonly: writes to / fail with EROFS, a tmpfs mount and /dev/shm stay writable', async () => {
    const r = await runScript(
      `${MI}; echo ==out; touch /x 2>&1; echo rc=$?; touch /tmp/y && echo tmp-ok; touch /dev/shm/z && echo shm-ok`,
      (c) => {
        c.root.readonly = true;
        addMount(c, { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.out).toBe('touch: /x: Read-only file system\nrc=1\ntmp-ok\nshm-ok\n');
    expect(mustMountAt(r.mounts, '/').options[0]).toBe('ro');
    expect(mustMountAt(r.mounts, '/tmp').options[0]).toBe('rw');
    expect(fs.existsSync(path.join(r.bundle.rootfs, 'x'))).toBe(false);
  });

  it('root.readonly false: a write to / lands in the bundle rootfs', async () => {
    const r = await runScript(`${MI}; echo ==out; echo data > /written && echo ok`, (c) => {
      c.root.readonly = false;
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.out).toBe('ok\n');
    expect(mustMountAt(r.mounts, '/').options[0]).toBe('rw');
    expect(fs.readFileSync(path.join(r.bundle.rootfs, 'written'), 'utf8')).toBe('data\n');
  });

  it('a missing rootfs: one line naming root.path, nothing left', async () => {
    const r = await runScript('true', (c) => {
      c.root.path = 'no-such-rootfs';
    });
    const line = expectCleanFailure(r);
    expect(line).toBe(
      `config.json: root.path: rootfs ${path.join(r.bundle.dir, 'no-such-rootfs')} does not exist`,
    );
  });

  it('--no-pivot: runs, and the container sees its rootfs as /', async () => {
    const r = await runScript(
      `echo ==ls; ls -A /; echo ==marker; cat /marker; echo ==mi; cat /proc/self/mountinfo`,
      (c, b) => {
        fs.writeFileSync(path.join(b.rootfs, 'marker'), 'no-pivot\n');
      },
      { runArgs: ['--no-pivot'] },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.marker).toBe('no-pivot\n');
    expect(r.out.ls.trimEnd().split('\n').sort()).toEqual(listNames(r.bundle.rootfs));
    expect(mustMountAt(r.mounts, '/proc').fstype).toBe('proc');
  });

  it('--no-pivot: no full proc or sysfs of the host stays in the mount namespace, so a user namespace inside cannot mount one', async () => {
    // The kernel lets a user namespace mount proc (sysfs) only where a full one, with nothing
    // locked over it, is already in its mount namespace: after MS_MOVE + chroot the host's
    // would still be there, out of sight (runc 1.1 removes them too).
    const res = await runContainer(
      (c) => {
        // Mapping uid 0 into a new user namespace needs CAP_SETFCAP.
        for (const set of ['bounding', 'effective', 'permitted'])
          c.process.capabilities[set].push('CAP_SETFCAP');
        c.process.args = [
          'sh',
          '-c',
          'unshare -mrpf sh -c "mount -t proc none /proc && echo proc-mounted"; ' +
            'unshare -mrnf sh -c "mount -t sysfs none /sys && echo sysfs-mounted"; echo done',
        ];
      },
      { runArgs: ['--no-pivot'] },
    );
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('done\n');
    expect(res.stderr).toBe('mount: permission denied (are you root?)\n'.repeat(2));
  });

  it('--no-pivot in a user namespace: the locked host proc and sysfs are covered, no new one can be mounted', async () => {
    const res = await runContainer(
      (c, b) => {
        withUserNamespace(c, b);
        for (const set of ['bounding', 'effective', 'permitted'])
          c.process.capabilities[set].push('CAP_SETFCAP');
        c.process.args = [
          'sh',
          '-c',
          'unshare -mrpf sh -c "mount -t proc none /proc && echo proc-mounted"; ' +
            'unshare -mrnf sh -c "mount -t sysfs none /sys && echo sysfs-mounted"; echo done',
        ];
      },
      { runArgs: ['--no-pivot'] },
    );
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('done\n');
    expect(res.stderr).toBe('mount: permission denied (are you root?)\n'.repeat(2));
  });

  it('create --no-pivot + start: runs and writes into a bind-mounted host dir', async () => {
    const out = hostDir('nopivot-out');
    const id = containerId();
    const bundle = await makeBundle((c, b) => {
      fs.writeFileSync(path.join(b.rootfs, 'marker'), 'created-no-pivot\n');
      c.process.args = ['sh', '-c', 'cat /marker > /out/result'];
      addMount(c, { destination: '/out', type: 'bind', source: out, options: ['rbind'] });
    });
    fixtures.push(bundle.dir);
    try {
      const created = await tsrunc(['create', '--no-pivot', '--bundle', bundle.dir, id]);
      expect(created.code, created.stderr).toBe(0);
      const started = await tsrunc(['start', id]);
      expect(started.code, started.stderr).toBe(0);
      await waitFor(
        () =>
          fs.existsSync(path.join(out, 'result')) && fs.readFileSync(path.join(out, 'result'), 'utf8') !== '',
      );
      expect(fs.readFileSync(path.join(out, 'result'), 'utf8')).toBe('created-no-pivot\n');
    } finally {
      await tsrunc(['delete', '--force', id]);
    }
    expect(hostMountsUnder(bundle.dir)).toEqual([]);
  });

  it('40 concurrent runs of a container with no config mounts all succeed', async () => {
    // A fast init (nothing to mount) races stage 1's InitPid report on the shared sync socket.
    const bundle = await makeBundle((c) => {
      c.process.args = ['true'];
      c.mounts = [];
      c.linux.maskedPaths = [];
      c.linux.readonlyPaths = [];
    });
    fixtures.push(bundle.dir);
    const ids = Array.from({ length: 40 }, () => containerId());
    const results = await Promise.all(
      ids.map((id) => tsrunc(['run', '--bundle', bundle.dir, id], { timeoutMs: 60_000 })),
    );
    for (const id of ids) {
      if (fs.existsSync(path.join(stateRoot(), id))) await tsrunc(['delete', '--force', id]);
    }
    const failures = results.filter((r) => r.code !== 0).map((r) => r.stderr.trim());
    expect(failures).toEqual([]);
  });

  describe('linux.rootfsPropagation (host rootfs is a shared mount)', () => {
    async function rootMount(
      propagation: string | undefined,
    ): Promise<{ root: MountInfo; hostGroup: number }> {
      let hostGroup = -1;
      const r = await runScript(MI, (c, b) => {
        fixtures.push(b.rootfs); // unmount the shared bind before the bundle goes
        hostGroup = makeSharedMount(b.rootfs);
        if (propagation === undefined) delete c.linux.rootfsPropagation;
        else c.linux.rootfsPropagation = propagation;
      });
      expect(r.code, r.stderr).toBe(0);
      return { root: mustMountAt(r.mounts, '/'), hostGroup };
    }

    it('rprivate: the container root mount has no shared: or master: tag', async () => {
      const { root } = await rootMount('rprivate');
      expect(root.optional).toEqual([]);
    });

    it('private: the container root mount has no shared: or master: tag', async () => {
      const { root } = await rootMount('private');
      expect(root.optional).toEqual([]);
    });

    it('rslave: the container root is a slave of the host peer group (master:N)', async () => {
      const { root, hostGroup } = await rootMount('rslave');
      expect(propagationOf(root)).toEqual({ shared: null, master: hostGroup });
    });

    it('default (unset) is rslave: master:N of the host peer group', async () => {
      const { root, hostGroup } = await rootMount(undefined);
      expect(propagationOf(root)).toEqual({ shared: null, master: hostGroup });
    });

    it('rshared: the container root is shared (shared:N), in a peer group of its own', async () => {
      const { root, hostGroup } = await rootMount('rshared');
      const p = propagationOf(root);
      expect(p.shared).not.toBeNull();
      expect(p.shared).not.toBe(hostGroup);
    });

    it('unbindable: "/" inside is unbindable (bound onto itself as a slave first, then changed)', async () => {
      const r = await runScript(MI, (c) => (c.linux.rootfsPropagation = 'unbindable'));
      expect(r.code, r.stderr).toBe(0);
      expect(mustMountAt(r.mounts, '/').optional).toEqual(['unbindable']);
      // Not recursive: the mounts below "/" keep their own propagation.
      expect(mustMountAt(r.mounts, '/proc').optional).toEqual([]);
    });

    it('runbindable: "/" and every mount below it are unbindable, masks and read-only paths made', async () => {
      const r = await runScript(MI, (c) => (c.linux.rootfsPropagation = 'runbindable'));
      expect(r.code, r.stderr).toBe(0);
      for (const point of ['/', '/proc', '/dev', '/proc/sys', '/proc/acpi']) {
        expect(mustMountAt(r.mounts, point).optional, point).toEqual(['unbindable']);
      }
    });

    it('shared: the container root is shared (shared:N), in a peer group of its own', async () => {
      const { root, hostGroup } = await rootMount('shared');
      const p = propagationOf(root);
      expect(p.shared).not.toBeNull();
      expect(p.shared).not.toBe(hostGroup);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('mounts: filesystem types from the default spec', () => {
  it('proc on /proc (rw), sysfs on /sys read-only', async () => {
    const r = await runScript(`${MI}; echo ==out; touch /sys/x 2>&1; cat /proc/1/comm; true`);
    expect(r.code, r.stderr).toBe(0);
    const proc = mustMountAt(r.mounts, '/proc');
    expect([proc.fstype, proc.source, proc.options[0]]).toEqual(['proc', 'proc', 'rw']);
    const sys = mustMountAt(r.mounts, '/sys');
    expect([sys.fstype, sys.options[0]]).toEqual(['sysfs', 'ro']);
    expect(sys.options).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
    expect(r.out.out).toBe('touch: /sys/x: Read-only file system\nsh\n');
  });

  it('tmpfs with mode and size: exact mode, size in mountinfo and df', async () => {
    const r = await runScript(
      `${MI}; echo ==mode; stat -c %a /scratch; echo ==df; df -k /scratch | tail -n 1`,
      (c) => {
        addMount(c, {
          destination: '/scratch',
          type: 'tmpfs',
          source: 'tmpfs',
          options: ['nosuid', 'mode=1770', 'size=2m'],
        });
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.mode).toBe('1770\n');
    const m = mustMountAt(r.mounts, '/scratch');
    expect(m.fstype).toBe('tmpfs');
    expect(m.superOptions).toEqual(expect.arrayContaining(['size=2048k', 'mode=1770']));
    expect(r.out.df.trim().split(/\s+/)[1]).toBe('2048');
  });

  it('devpts: a new instance with gid=5, mode=620, ptmxmode=666', async () => {
    const hostPts = mustMountAt(parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')), '/dev/pts');
    const r = await runScript(`${MI}; echo ==ls; ls -A /dev/pts; echo ==ptmx; stat -c '%a' /dev/pts/ptmx`);
    expect(r.code, r.stderr).toBe(0);
    const pts = mustMountAt(r.mounts, '/dev/pts');
    expect(pts.fstype).toBe('devpts');
    expect(pts.superOptions).toEqual(expect.arrayContaining(['gid=5', 'mode=620', 'ptmxmode=666']));
    expect(pts.options).toEqual(expect.arrayContaining(['nosuid', 'noexec']));
    expect(pts.dev).not.toBe(hostPts.dev); // newinstance
    expect(r.out.ls).toBe('ptmx\n');
    expect(r.out.ptmx).toBe('666\n');
  });

  it('mqueue on /dev/mqueue', async () => {
    const r = await runScript(MI);
    expect(r.code, r.stderr).toBe(0);
    const mq = mustMountAt(r.mounts, '/dev/mqueue');
    expect(mq.fstype).toBe('mqueue');
    expect(mq.options).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
  });

  it('cgroup: /sys/fs/cgroup holds every host hierarchy as a read-only bind', async () => {
    const hostHierarchies = parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))
      .filter(
        (m) =>
          (m.fstype === 'cgroup' || m.fstype === 'cgroup2') && m.mountPoint.startsWith('/sys/fs/cgroup/'),
      )
      .map((m) => path.basename(m.mountPoint))
      .sort();
    expect(hostHierarchies.length).toBeGreaterThan(0);
    const r = await runScript(
      `${MI}; echo ==ls; ls /sys/fs/cgroup; echo ==mkdir; mkdir /sys/fs/cgroup/pids/x 2>&1; mkdir /sys/fs/cgroup/y 2>&1; true`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.ls.trimEnd().split('\n').sort()).toEqual(hostHierarchies);
    const top = mustMountAt(r.mounts, '/sys/fs/cgroup');
    expect([top.fstype, top.options[0]]).toEqual(['tmpfs', 'ro']);
    for (const name of hostHierarchies) {
      const m = mustMountAt(r.mounts, `/sys/fs/cgroup/${name}`);
      expect(m.fstype, name).toMatch(/^cgroup2?$/);
      expect(m.options[0], name).toBe('ro');
      expect(m.parent, name).toBe(top.id);
    }
    expect(r.out.mkdir).toBe(
      "mkdir: can't create directory '/sys/fs/cgroup/pids/x': Read-only file system\n" +
        "mkdir: can't create directory '/sys/fs/cgroup/y': Read-only file system\n",
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('mounts: a read-only /dev or tmpfs (made read-write, read-only at the end, as runc)', () => {
  it('/dev with ro: devices, devpts, shm, mqueue and the /dev links are made; then /dev is ro', async () => {
    const r = await runScript(
      `${MI}; echo ==ls; ls /dev; echo ==null; echo x > /dev/null && echo null-ok; ` +
        'echo ==touch; touch /dev/x 2>&1; touch /dev/shm/y && echo shm-ok; true',
      (c) => {
        c.mounts.find((m: { destination: string }) => m.destination === '/dev').options.push('ro');
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const dev = mustMountAt(r.mounts, '/dev');
    expect([dev.fstype, dev.options[0]]).toEqual(['tmpfs', 'ro']);
    // The rest of /dev's own options stay (strictatime: no atime flag at all).
    expect(dev.options.slice(1)).toEqual(['nosuid']);
    for (const sub of ['/dev/pts', '/dev/shm', '/dev/mqueue']) {
      expect(mustMountAt(r.mounts, sub).parent, sub).toBe(dev.id);
    }
    expect(r.out.ls.trimEnd().split('\n')).toEqual(
      expect.arrayContaining([
        'full',
        'null',
        'ptmx',
        'pts',
        'random',
        'shm',
        'tty',
        'urandom',
        'zero',
        'fd',
      ]),
    );
    expect(r.out.null).toBe('null-ok\n');
    expect(r.out.touch).toBe('touch: /dev/x: Read-only file system\nshm-ok\n');
  });

  it('a ro tmpfs with a bind below it: the mount point is made, then the tmpfs is ro', async () => {
    const src = hostDir('under-ro', { 'f.txt': 'under\n' });
    const r = await runScript(`${MI}; echo ==out; cat /t/sub/f.txt; touch /t/x 2>&1; true`, (c) => {
      addMount(c, {
        destination: '/t',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['ro', 'nodev', 'mode=755'],
      });
      addMount(c, { destination: '/t/sub', type: 'bind', source: src, options: ['bind'] });
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.out).toBe('under\ntouch: /t/x: Read-only file system\n');
    expect(mustMountAt(r.mounts, '/t').options.slice(0, 2)).toEqual(['ro', 'nodev']);
    expect(mustMountAt(r.mounts, '/t/sub').options[0]).toBe('rw');
  });
});

describe('mounts: bind mounts and options', () => {
  it('bind shows the content but not a submount; rbind carries the submount', async () => {
    const src = hostDir('bindsrc', { 'a.txt': 'top\n', 'sub/under.txt': 'hidden-by-submount\n' });
    hostMount(['-t', 'tmpfs', 'tmpfs', path.join(src, 'sub')]);
    fs.writeFileSync(path.join(src, 'sub', 'inner.txt'), 'in-submount\n');
    const r = await runScript(
      `${MI}; echo ==b; cat /b/a.txt; ls /b/sub; echo ==rb; cat /rb/a.txt; ls /rb/sub`,
      (c) => {
        addMount(c, { destination: '/b', type: 'bind', source: src, options: ['bind'] });
        addMount(c, { destination: '/rb', type: 'bind', source: src, options: ['rbind'] });
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.b).toBe('top\nunder.txt\n');
    expect(r.out.rb).toBe('top\ninner.txt\n');
    expect(mountAt(r.mounts, '/b/sub')).toBeUndefined();
    expect(mustMountAt(r.mounts, '/rb/sub').fstype).toBe('tmpfs');
    // The host side is as it was.
    expect(listNames(src)).toEqual(['a.txt', 'sub']);
  });

  it('rbind + ro: every submount is read-only too (mount_setattr; runc 1.1.5 leaves them rw)', async () => {
    const src = hostDir('rbindro', { 'a.txt': 'top\n' });
    fs.mkdirSync(path.join(src, 'sub'));
    hostMount(['-t', 'tmpfs', 'tmpfs', path.join(src, 'sub')]);
    const r = await runScript(`${MI}; echo ==w; touch /ro/sub/x 2>&1; touch /ro/y 2>&1; true`, (c) => {
      addMount(c, { destination: '/ro', type: 'bind', source: src, options: ['rbind', 'ro'] });
    });
    expect(r.code, r.stderr).toBe(0);
    expect(mustMountAt(r.mounts, '/ro').options[0]).toBe('ro');
    expect(mustMountAt(r.mounts, '/ro/sub').options[0]).toBe('ro');
    expect(r.out.w).toBe('touch: /ro/sub/x: Read-only file system\ntouch: /ro/y: Read-only file system\n');
    expect(listNames(path.join(src, 'sub'))).toEqual([]);
  });

  it('the recursive options (runtime-spec 1.1) reach every submount of an rbind', async () => {
    const src = hostDir('recursive', { 'a.txt': 'top\n' });
    fs.mkdirSync(path.join(src, 'sub'));
    // The host's submount has every flag the clearing options take away.
    hostMount([
      '-t',
      'tmpfs',
      '-o',
      'ro,nosuid,nodev,noexec,nosymfollow,noatime,nodiratime',
      'tmpfs',
      path.join(src, 'sub'),
    ]);
    const r = await runScript(MI, (c) => {
      const bind = (destination: string, ...options: string[]) =>
        addMount(c, { destination, type: 'bind', source: src, options: ['rbind', ...options] });
      bind('/set', 'rro', 'rnosuid', 'rnodev', 'rnoexec', 'rnosymfollow', 'rstrictatime', 'rnodiratime');
      bind('/clear', 'rrw', 'rsuid', 'rdev', 'rexec', 'rsymfollow', 'rdiratime', 'rrelatime');
      bind('/noatime', 'rnoatime');
      bind('/atime', 'ratime');
      bind('/norelatime', 'rnostrictatime', 'rnorelatime');
      // A later option about the same attribute wins.
      bind('/rw-last', 'rro', 'rrw');
    });
    expect(r.code, r.stderr).toBe(0);
    const opts = (p: string) => mustMountAt(r.mounts, p).options.sort();
    for (const top of ['/set', '/set/sub']) {
      expect(opts(top), top).toEqual(['nodev', 'nodiratime', 'noexec', 'nosuid', 'nosymfollow', 'ro']);
    }
    expect(opts('/clear')).toEqual(['relatime', 'rw']);
    expect(opts('/clear/sub')).toEqual(['relatime', 'rw']);
    // The "not that atime mode" options put the mode back to relatime, and only the mode.
    for (const sub of ['/atime/sub', '/norelatime/sub']) {
      expect(opts(sub), sub).toEqual([
        'nodev',
        'nodiratime',
        'noexec',
        'nosuid',
        'nosymfollow',
        'relatime',
        'ro',
      ]);
    }
    expect(opts('/noatime')).toContain('noatime');
    expect(opts('/noatime/sub')).toContain('noatime');
    expect(opts('/rw-last/sub')).toContain('rw');
    expect(opts('/rw-last/sub')).not.toContain('ro');
  });

  it('a recursive option on a tmpfs: rro makes it read-only, and it is no tmpfs data', async () => {
    const r = await runScript(`${MI}; echo ==w; touch /t/x 2>&1; true`, (c) => {
      addMount(c, {
        destination: '/t',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['rro', 'rnoexec', 'size=1m'],
      });
    });
    expect(r.code, r.stderr).toBe(0);
    const t = mustMountAt(r.mounts, '/t');
    expect(t.options.slice(0, 1)).toEqual(['ro']);
    expect(t.options).toContain('noexec');
    expect(t.superOptions).toContain('size=1024k');
    expect(r.out.w).toBe('touch: /t/x: Read-only file system\n');
  });

  it('a ro bind: writes fail with EROFS, the host dir is unchanged', async () => {
    const src = hostDir('robind', { 'f.txt': 'ro\n' });
    const r = await runScript(
      `${MI}; echo ==out; cat /ro/f.txt; touch /ro/new 2>&1; { echo x >> /ro/f.txt; } 2>&1; true`,
      (c) => {
        addMount(c, { destination: '/ro', type: 'bind', source: src, options: ['rbind', 'ro'] });
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.out).toBe(
      "ro\ntouch: /ro/new: Read-only file system\nsh: can't create /ro/f.txt: Read-only file system\n",
    );
    expect(mustMountAt(r.mounts, '/ro').options[0]).toBe('ro');
    expect(listNames(src)).toEqual(['f.txt']);
    expect(fs.readFileSync(path.join(src, 'f.txt'), 'utf8')).toBe('ro\n');
  });

  it('nosuid, nodev, noexec on tmpfs and on binds show in mountinfo; plain mounts lack them', async () => {
    const src = hostDir('flags', { 'f.txt': 'x' });
    const r = await runScript(MI, (c) => {
      addMount(c, {
        destination: '/t-flags',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'noexec'],
      });
      addMount(c, { destination: '/t-plain', type: 'tmpfs', source: 'tmpfs', options: [] });
      addMount(c, {
        destination: '/b-flags',
        type: 'bind',
        source: src,
        options: ['rbind', 'nosuid', 'nodev', 'noexec'],
      });
      addMount(c, { destination: '/b-plain', type: 'bind', source: src, options: ['rbind'] });
    });
    expect(r.code, r.stderr).toBe(0);
    for (const mp of ['/t-flags', '/b-flags']) {
      expect(mustMountAt(r.mounts, mp).options, mp).toEqual(
        expect.arrayContaining(['rw', 'nosuid', 'nodev', 'noexec']),
      );
    }
    for (const mp of ['/t-plain', '/b-plain']) {
      const opts = mustMountAt(r.mounts, mp).options;
      for (const flag of ['nosuid', 'nodev', 'noexec']) expect(opts, `${mp} ${flag}`).not.toContain(flag);
    }
  });

  it('noexec: a binary copied into a noexec tmpfs or bind cannot run (permission denied)', async () => {
    const src = hostDir('noexec');
    fs.copyFileSync('/bin/busybox', path.join(src, 'busybox'));
    fs.chmodSync(path.join(src, 'busybox'), 0o755);
    // Named "busybox": busybox picks the applet from argv[0].
    const r = await runScript(
      [
        'cp /bin/busybox /nx/busybox; /nx/busybox true; echo tmpfs-noexec=$?',
        'cp /bin/busybox /ex/busybox; /ex/busybox true; echo tmpfs-exec=$?',
        '/bnx/busybox true; echo bind-noexec=$?',
        '/bex/busybox true; echo bind-exec=$?',
      ].join('; '),
      (c) => {
        addMount(c, { destination: '/nx', type: 'tmpfs', source: 'tmpfs', options: ['noexec'] });
        addMount(c, { destination: '/ex', type: 'tmpfs', source: 'tmpfs', options: [] });
        addMount(c, { destination: '/bnx', type: 'bind', source: src, options: ['rbind', 'noexec'] });
        addMount(c, { destination: '/bex', type: 'bind', source: src, options: ['rbind'] });
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('tmpfs-noexec=126\ntmpfs-exec=0\nbind-noexec=126\nbind-exec=0\n');
    expect(r.stderr).toBe('sh: /nx/busybox: Permission denied\nsh: /bnx/busybox: Permission denied\n');
  });

  it('nodev: a device node in a nodev bind cannot be opened; without nodev it can', async () => {
    const src = hostDir('nodev');
    execFileSync('mknod', ['-m', '666', path.join(src, 'nullnode'), 'c', '1', '3']);
    const r = await runScript(
      'echo x > /nd/nullnode; echo nodev=$?; echo x > /d/nullnode; echo dev=$?',
      (c) => {
        addMount(c, { destination: '/nd', type: 'bind', source: src, options: ['rbind', 'nodev'] });
        addMount(c, { destination: '/d', type: 'bind', source: src, options: ['rbind'] });
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('nodev=1\ndev=0\n');
    expect(r.stderr).toBe("sh: can't create /nd/nullnode: Permission denied\n");
  });

  it('atime options: relatime, strictatime, noatime, nodiratime (tmpfs and bind)', async () => {
    const src = hostDir('atime', { 'f.txt': 'x' });
    const r = await runScript(MI, (c) => {
      addMount(c, { destination: '/a-rel', type: 'tmpfs', source: 'tmpfs', options: ['relatime'] });
      addMount(c, { destination: '/a-strict', type: 'tmpfs', source: 'tmpfs', options: ['strictatime'] });
      addMount(c, {
        destination: '/a-no',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['noatime', 'nodiratime'],
      });
      addMount(c, { destination: '/b-no', type: 'bind', source: src, options: ['rbind', 'noatime'] });
      addMount(c, { destination: '/b-strict', type: 'bind', source: src, options: ['rbind', 'strictatime'] });
    });
    expect(r.code, r.stderr).toBe(0);
    const atime = (mp: string) =>
      mustMountAt(r.mounts, mp).options.filter((o) => ['relatime', 'noatime', 'nodiratime'].includes(o));
    expect(atime('/a-rel')).toEqual(['relatime']);
    expect(atime('/a-strict')).toEqual([]);
    expect(atime('/a-no')).toEqual(['noatime', 'nodiratime']);
    expect(atime('/b-no')).toEqual(['noatime']);
    expect(atime('/b-strict')).toEqual([]);
  });

  describe('propagation flags of a bind whose host source is a shared mount', () => {
    it('rslave: master:N of the host group; rprivate: none; rshared: shared:M of its own', async () => {
      const src = hostDir('propsrc', { 'f.txt': 'x' });
      const hostGroup = makeSharedMount(src);
      const r = await runScript(MI, (c) => {
        addMount(c, { destination: '/p-slave', type: 'bind', source: src, options: ['rbind', 'rslave'] });
        addMount(c, { destination: '/p-private', type: 'bind', source: src, options: ['rbind', 'rprivate'] });
        addMount(c, { destination: '/p-shared', type: 'bind', source: src, options: ['rbind', 'rshared'] });
      });
      expect(r.code, r.stderr).toBe(0);
      expect(propagationOf(mustMountAt(r.mounts, '/p-slave'))).toEqual({ shared: null, master: hostGroup });
      expect(mustMountAt(r.mounts, '/p-private').optional).toEqual([]);
      const shared = propagationOf(mustMountAt(r.mounts, '/p-shared')).shared;
      expect(shared).not.toBeNull();
      expect(shared).not.toBe(hostGroup);
    });

    it('rslave: a mount made on the host after start shows up inside; rprivate: it does not', async () => {
      const src = hostDir('propsrc', { 'sub/.keep': '' });
      makeSharedMount(src);
      const out = hostDir('propout');
      const id = containerId();
      const bundle = await makeBundle((c) => {
        c.process.args = [
          'sh',
          '-c',
          'i=0; while [ ! -e /p-slave/sub/flag ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; ' +
            'cat /p-slave/sub/flag > /out/slave 2>&1; cat /p-private/sub/flag > /out/private 2>&1; echo done > /out/done',
        ];
        addMount(c, { destination: '/p-slave', type: 'bind', source: src, options: ['rbind', 'rslave'] });
        addMount(c, { destination: '/p-private', type: 'bind', source: src, options: ['rbind', 'rprivate'] });
        addMount(c, { destination: '/out', type: 'bind', source: out, options: ['rbind'] });
      });
      fixtures.push(bundle.dir);
      try {
        const created = await tsrunc(['create', '--bundle', bundle.dir, id]);
        expect(created.code, created.stderr).toBe(0);
        const started = await tsrunc(['start', id]);
        expect(started.code, started.stderr).toBe(0);
        hostMount(['-t', 'tmpfs', 'tmpfs', path.join(src, 'sub')]);
        fs.writeFileSync(path.join(src, 'sub', 'flag'), 'propagated\n');
        await waitFor(() => fs.existsSync(path.join(out, 'done')), 10_000);
        expect(fs.readFileSync(path.join(out, 'slave'), 'utf8')).toBe('propagated\n');
        expect(fs.readFileSync(path.join(out, 'private'), 'utf8')).toBe(
          "cat: can't open '/p-private/sub/flag': No such file or directory\n",
        );
      } finally {
        await tsrunc(['delete', '--force', id]);
      }
    });
  });

  describe("in a user namespace: sources the container's root cannot reach are opened by the runtime", () => {
    /** <dir>/data (a dir, 0755) and <dir>/file.txt below <dir>, mode 0700 of the host's root. */
    function privateSources(): { data: string; file: string } {
      const dir = hostDir('private', { 'data/hello.txt': 'hello\n', 'file.txt': 'file\n' });
      fs.chmodSync(dir, 0o700);
      return { data: path.join(dir, 'data'), file: path.join(dir, 'file.txt') };
    }

    it('run: a dir (rbind, ro) and a file below a 0700 dir of root are mounted and read-only', async () => {
      const src = privateSources();
      const r = await runScript('cat /data/hello.txt /file.txt; touch /data/new 2>&1; id -u', (c, b) => {
        withUserNamespace(c, b);
        addMount(c, { destination: '/data', type: 'bind', source: src.data, options: ['rbind', 'ro'] });
        addMount(c, { destination: '/file.txt', type: 'bind', source: src.file, options: ['bind'] });
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('hello\nfile\ntouch: /data/new: Read-only file system\n0\n');
      expect(fs.readdirSync(src.data)).toEqual(['hello.txt']);
    });

    it('exec into the running container stats and reads files under the mount', async () => {
      const src = privateSources();
      const id = containerId();
      const bundle = await makeBundle((c, b) => {
        withUserNamespace(c, b);
        c.process.args = ['sleep', '1000'];
        addMount(c, { destination: '/data', type: 'bind', source: src.data, options: ['rbind'] });
      });
      fixtures.push(bundle.dir);
      try {
        const created = await tsrunc(['create', '--bundle', bundle.dir, id]);
        expect(created.code, created.stderr).toBe(0);
        expect((await tsrunc(['start', id])).code).toBe(0);
        const res = await tsrunc([
          'exec',
          id,
          'sh',
          '-c',
          'stat -c "%n %s" /data/hello.txt; cat /data/hello.txt',
        ]);
        expect(res).toMatchObject({ code: 0, stderr: '', stdout: '/data/hello.txt 6\nhello\n' });
      } finally {
        await tsrunc(['delete', '--force', id]);
      }
    });

    it('the copy never propagates back: a shared host source is master:N inside (rslave "/"), rshared its own group', async () => {
      const src = hostDir('propsrc', { 'f.txt': 'x' });
      const hostGroup = makeSharedMount(src);
      const r = await runScript(MI, (c, b) => {
        withUserNamespace(c, b);
        addMount(c, { destination: '/p-default', type: 'bind', source: src, options: ['rbind'] });
        addMount(c, { destination: '/p-shared', type: 'bind', source: src, options: ['rbind', 'rshared'] });
      });
      expect(r.code, r.stderr).toBe(0);
      expect(propagationOf(mustMountAt(r.mounts, '/p-default'))).toEqual({ shared: null, master: hostGroup });
      const shared = propagationOf(mustMountAt(r.mounts, '/p-shared')).shared;
      expect(shared).not.toBeNull();
      expect(shared).not.toBe(hostGroup);
    });
  });

  it('bind of a single file onto a missing destination: the file is created, content visible', async () => {
    const src = hostDir('filebind', { 'hosts.txt': 'file-bind\n' });
    const r = await runScript(`${MI}; echo ==out; cat /etc/bound/hosts.txt`, (c) => {
      addMount(c, {
        destination: '/etc/bound/hosts.txt',
        type: 'bind',
        source: path.join(src, 'hosts.txt'),
        options: ['bind', 'ro'],
      });
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.out).toBe('file-bind\n');
    const m = mustMountAt(r.mounts, '/etc/bound/hosts.txt');
    expect(m.options[0]).toBe('ro');
    // Created inside the rootfs as an empty regular file (the mount point).
    const created = fs.lstatSync(path.join(r.bundle.rootfs, 'etc', 'bound', 'hosts.txt'));
    expect(created.isFile()).toBe(true);
    expect(created.size).toBe(0);
    expect(fs.readFileSync(path.join(src, 'hosts.txt'), 'utf8')).toBe('file-bind\n');
  });

  it('mounts apply in order: a later mount sits on a subdir of an earlier one', async () => {
    const src = hostDir('order', { 'data.txt': 'stacked\n' });
    const r = await runScript(`${MI}; echo ==out; cat /stack/inner/data/data.txt`, (c) => {
      addMount(c, { destination: '/stack', type: 'tmpfs', source: 'tmpfs', options: ['mode=755'] });
      addMount(c, { destination: '/stack/inner', type: 'tmpfs', source: 'tmpfs', options: ['mode=700'] });
      addMount(c, { destination: '/stack/inner/data', type: 'bind', source: src, options: ['rbind'] });
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.out).toBe('stacked\n');
    const stack = mustMountAt(r.mounts, '/stack');
    const inner = mustMountAt(r.mounts, '/stack/inner');
    const data = mustMountAt(r.mounts, '/stack/inner/data');
    expect(inner.parent).toBe(stack.id);
    expect(data.parent).toBe(inner.id);
    // The mount points were made inside the tmpfs mounts, not in the rootfs.
    expect(fs.existsSync(path.join(r.bundle.rootfs, 'stack', 'inner'))).toBe(false);
  });

  it('a missing destination directory is created (mkdir -p) inside the rootfs', async () => {
    const src = hostDir('mkdirp', { 'f.txt': 'deep\n' });
    const r = await runScript('cat /new/deep/dir/f.txt', (c) => {
      addMount(c, { destination: '/new/deep/dir', type: 'bind', source: src, options: ['rbind'] });
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('deep\n');
    expect(fs.statSync(path.join(r.bundle.rootfs, 'new', 'deep', 'dir')).isDirectory()).toBe(true);
    expect(listNames(path.join(r.bundle.rootfs, 'new', 'deep', 'dir'))).toEqual([]);
  });

  it('a bind source that does not exist: one line naming mounts[N].source, nothing left', async () => {
    let index = -1;
    const missing = `/tmp/tsrunc-no-such-source-${process.pid}`;
    const r = await runScript('true', (c) => {
      index = addMount(c, { destination: '/data', type: 'bind', source: missing, options: ['rbind'] });
    });
    const line = expectCleanFailure(r);
    expect(line).toBe(`config.json: mounts[${index}].source: bind source ${missing} does not exist`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('mounts: symlink escapes are resolved inside the rootfs', () => {
  /** A host dir outside the rootfs that the symlinks point at; must stay empty. */
  function escapeTarget(): string {
    return hostDir('escape');
  }

  const absolute = (target: string) => target;
  const relative = (target: string) => `../../../../../../../..${target}`;

  for (const [kind, link] of [
    ['absolute', absolute],
    ['relative', relative],
  ] as const) {
    // The symlink's target also exists inside the rootfs: the mount must go there.
    it(`tmpfs on /evil/sub, /evil -> ${kind} symlink to a host dir (target exists in the rootfs too)`, async () => {
      const target = escapeTarget();
      const r = await runScript(`${MI}; echo ==out; touch /evil/sub/written && echo ok`, (c, b) => {
        fs.mkdirSync(path.join(b.rootfs, target), { recursive: true });
        fs.symlinkSync(link(target), path.join(b.rootfs, 'evil'));
        addMount(c, { destination: '/evil/sub', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
      });
      // The host dir is untouched: no new entry, no mount.
      expect(listNames(target)).toEqual([]);
      expect(hostMountsUnder(target)).toEqual([]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.out.out).toBe('ok\n');
      // Inside, the mount sits at the symlink's target as seen from the container root, and
      // its mount point was made inside the rootfs.
      expect(mustMountAt(r.mounts, `${target}/sub`).fstype).toBe('tmpfs');
      expect(listNames(path.join(r.bundle.rootfs, target))).toEqual(['sub']);
    });

    it(`bind on /evil/sub, /evil -> ${kind} symlink to a host dir (target exists in the rootfs too)`, async () => {
      const target = escapeTarget();
      const src = hostDir('escsrc', { 'f.txt': 'bound\n' });
      const r = await runScript(`${MI}; echo ==out; cat /evil/sub/f.txt`, (c, b) => {
        fs.mkdirSync(path.join(b.rootfs, target), { recursive: true });
        fs.symlinkSync(link(target), path.join(b.rootfs, 'evil'));
        addMount(c, { destination: '/evil/sub', type: 'bind', source: src, options: ['rbind'] });
      });
      expect(listNames(target)).toEqual([]);
      expect(hostMountsUnder(target)).toEqual([]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.out.out).toBe('bound\n');
      expect(mountAt(r.mounts, `${target}/sub`)).toBeDefined();
      expect(listNames(path.join(r.bundle.rootfs, target))).toEqual(['sub']);
    });

    // The symlink dangles inside the rootfs: mkdir -p must follow it inside the rootfs
    // (securejoin-style), creating the target there, never on the host.
    it(`tmpfs on /evil/new/deeper, /evil -> dangling ${kind} symlink: directories made inside the rootfs`, async () => {
      const target = escapeTarget();
      const r = await runScript(`${MI}; echo ==out; touch /evil/new/deeper/f && echo ok`, (c, b) => {
        fs.symlinkSync(link(target), path.join(b.rootfs, 'evil'));
        addMount(c, { destination: '/evil/new/deeper', type: 'tmpfs', source: 'tmpfs', options: [] });
      });
      expect(listNames(target)).toEqual([]);
      expect(hostMountsUnder(target)).toEqual([]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.out.out).toBe('ok\n');
      expect(mustMountAt(r.mounts, `${target}/new/deeper`).fstype).toBe('tmpfs');
      expect(fs.statSync(path.join(r.bundle.rootfs, target, 'new', 'deeper')).isDirectory()).toBe(true);
    });
  }

  it('a mount destination that is itself a symlink to a host path is followed inside the rootfs', async () => {
    const target = escapeTarget();
    const r = await runScript(`${MI}; echo ==out; touch /link-dest/f && echo ok`, (c, b) => {
      fs.mkdirSync(path.join(b.rootfs, target), { recursive: true });
      fs.symlinkSync(target, path.join(b.rootfs, 'link-dest'));
      addMount(c, { destination: '/link-dest', type: 'tmpfs', source: 'tmpfs', options: [] });
    });
    expect(listNames(target)).toEqual([]);
    expect(hostMountsUnder(target)).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.out).toBe('ok\n');
    expect(mustMountAt(r.mounts, target).fstype).toBe('tmpfs');
  });

  it('a file bind onto a symlink to a host file (target exists in the rootfs too): lands inside', async () => {
    const hostFiles = hostDir('escfile', { 'victim.txt': 'host-original\n' });
    const victim = path.join(hostFiles, 'victim.txt');
    const src = hostDir('escfilesrc', { 'payload.txt': 'payload\n' });
    const r = await runScript(`${MI}; echo ==out; cat /etc/linked.txt`, (c, b) => {
      fs.mkdirSync(path.join(b.rootfs, hostFiles), { recursive: true });
      fs.writeFileSync(path.join(b.rootfs, victim), 'rootfs-copy\n');
      fs.symlinkSync(victim, path.join(b.rootfs, 'etc', 'linked.txt'));
      addMount(c, {
        destination: '/etc/linked.txt',
        type: 'bind',
        source: path.join(src, 'payload.txt'),
        options: ['bind'],
      });
    });
    expect(fs.readFileSync(victim, 'utf8')).toBe('host-original\n');
    expect(hostMountsUnder(hostFiles)).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.out).toBe('payload\n');
    expect(mustMountAt(r.mounts, victim).root).toBe(path.join(src, 'payload.txt'));
    expect(fs.readFileSync(path.join(r.bundle.rootfs, victim), 'utf8')).toBe('rootfs-copy\n');
  });

  it('a file bind onto a dangling symlink to a host file: the file is created inside the rootfs', async () => {
    const hostFiles = hostDir('escfile', { 'victim.txt': 'host-original\n' });
    const victim = path.join(hostFiles, 'victim.txt');
    const src = hostDir('escfilesrc', { 'payload.txt': 'payload\n' });
    const r = await runScript('cat /etc/linked.txt', (c, b) => {
      fs.symlinkSync(victim, path.join(b.rootfs, 'etc', 'linked.txt'));
      addMount(c, {
        destination: '/etc/linked.txt',
        type: 'bind',
        source: path.join(src, 'payload.txt'),
        options: ['bind'],
      });
    });
    expect(fs.readFileSync(victim, 'utf8')).toBe('host-original\n');
    expect(hostMountsUnder(hostFiles)).toEqual([]);
    expect(listNames(hostFiles)).toEqual(['victim.txt']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('payload\n');
    // The missing target of the symlink was created inside the rootfs.
    expect(fs.lstatSync(path.join(r.bundle.rootfs, victim)).isFile()).toBe(true);
  });

  it('devices through a /dev symlink to a host dir are created inside the rootfs', async () => {
    const target = escapeTarget();
    const r = await runScript("stat -c '%n %t:%T' /dev/null /dev/fuse", (c, b) => {
      // No /dev tmpfs: the rootfs's own /dev, made a symlink to a host path. The symlink's
      // target exists inside the rootfs so that the devices have somewhere to go.
      c.mounts = c.mounts.filter((m: { destination: string }) => !m.destination.startsWith('/dev'));
      fs.rmSync(path.join(b.rootfs, 'dev'), { recursive: true });
      fs.symlinkSync(target, path.join(b.rootfs, 'dev'));
      fs.mkdirSync(path.join(b.rootfs, target), { recursive: true });
      c.linux.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o600 }];
      c.linux.maskedPaths = []; // the mask source check refuses a /dev/null behind a symlink
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('/dev/null 1:3\n/dev/fuse a:e5\n');
    expect(listNames(target)).toEqual([]);
    expect(listNames(path.join(r.bundle.rootfs, target))).toEqual([
      'full',
      'fuse',
      'null',
      'random',
      'tty',
      'urandom',
      'zero',
    ]);
  });

  it('a dangling /dev symlink to a host dir: the host dir stays untouched', async () => {
    const target = path.join(escapeTarget(), 'not-there');
    const r = await runKeepBundle((c, b) => {
      c.process.args = ['true'];
      c.mounts = c.mounts.filter((m: { destination: string }) => !m.destination.startsWith('/dev'));
      fs.rmSync(path.join(b.rootfs, 'dev'), { recursive: true });
      fs.symlinkSync(target, path.join(b.rootfs, 'dev'));
    });
    fixtures.push(r.bundle.dir);
    expect(fs.existsSync(target)).toBe(false);
    expect(listNames(path.dirname(target))).toEqual([]);
    expect(r.leftoverMounts).toEqual([]);
    expect(r.stateLeft).toBe(false);
    // Either the devices went inside the rootfs, or create failed with one line.
    if (r.code === 0) {
      expect(listNames(path.join(r.bundle.rootfs, target))).toContain('null');
    } else {
      expect(errLines(r.stderr)).toHaveLength(1);
    }
  });

  // runc's words: filesystem "proc" must be mounted on ordinary directory. Nothing is made on
  // the way (a dangling link's target is not created).
  const ORDINARY = (index: number, type: string, dest: string) =>
    `unable to start container process: mounts[${index}] (${type} on ${dest}): filesystem "${type}" must be mounted on ordinary directory`;

  it.each([
    ['a symlink to a dir', '/tmp/x'],
    ['a dangling symlink', '/tmp/missing'],
    ['a relative symlink', 'tmp/x'],
    ['a regular file', null],
  ])('proc onto a /proc that is %s is refused in runc words: one line, nothing left', async (_, link) => {
    const r = await runKeepBundle((c, b) => {
      c.process.args = ['true'];
      fs.rmdirSync(path.join(b.rootfs, 'proc'));
      fs.mkdirSync(path.join(b.rootfs, 'tmp', 'x'));
      if (link === null) fs.writeFileSync(path.join(b.rootfs, 'proc'), '');
      else fs.symlinkSync(link, path.join(b.rootfs, 'proc'));
    });
    fixtures.push(r.bundle.dir);
    expect(expectCleanFailure(r)).toBe(ORDINARY(0, 'proc', '/proc'));
    expect(listNames(path.join(r.bundle.rootfs, 'tmp'))).toEqual(['x']);
    expect(listNames(path.join(r.bundle.rootfs, 'tmp', 'x'))).toEqual([]);
  });

  it('sysfs onto a /sys that is a symlink is refused in runc words: one line, nothing left', async () => {
    const r = await runKeepBundle((c, b) => {
      c.process.args = ['true'];
      fs.rmdirSync(path.join(b.rootfs, 'sys'));
      fs.mkdirSync(path.join(b.rootfs, 'tmp', 'x'));
      fs.symlinkSync('../tmp/x', path.join(b.rootfs, 'sys'));
    });
    fixtures.push(r.bundle.dir);
    const index = r.bundle.config.mounts.findIndex((m: { type: string }) => m.type === 'sysfs');
    expect(expectCleanFailure(r)).toBe(ORDINARY(index, 'sysfs', '/sys'));
    expect(listNames(path.join(r.bundle.rootfs, 'tmp', 'x'))).toEqual([]);
  });

  it('proc below a symlinked dir (/p/proc, /p -> /tmp/x) is refused too', async () => {
    const r = await runKeepBundle((c, b) => {
      c.process.args = ['true'];
      fs.mkdirSync(path.join(b.rootfs, 'tmp', 'x', 'proc'), { recursive: true });
      fs.symlinkSync('/tmp/x', path.join(b.rootfs, 'p'));
      c.mounts.push({ destination: '/p/proc', type: 'proc', source: 'proc' });
    });
    fixtures.push(r.bundle.dir);
    expect(expectCleanFailure(r)).toBe(ORDINARY(r.bundle.config.mounts.length - 1, 'proc', '/p/proc'));
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
