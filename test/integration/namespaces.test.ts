// linux.namespaces: new namespaces, user namespace id mappings, time offsets, joining by path
// (a named netns, another container's namespaces) and bad paths. Checked from inside the
// container (/proc/self/ns, ps, /proc/net/dev, uid_map) and from the host (/proc/<pid>/status).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerId, makeBundle, type Bundle, type Config } from '../helpers/bundle';
import { errLines, hostMountsUnder, hostNs } from '../helpers/mountinfo';
import { runContainer, stateRoot, tsrunc } from '../helpers/tsrunc';

/** OCI namespace type -> /proc/<pid>/ns file name. */
const NS_FILE: Record<string, string> = {
  pid: 'pid',
  network: 'net',
  mount: 'mnt',
  ipc: 'ipc',
  uts: 'uts',
  user: 'user',
  cgroup: 'cgroup',
  time: 'time',
};
const ALL_TYPES = Object.keys(NS_FILE);

/** Shell that prints "<file> <readlink /proc/self/ns/<file>>" for every namespace. */
const PRINT_NS = `for n in ${Object.values(NS_FILE).join(' ')}; do echo "$n $(readlink /proc/self/ns/$n)"; done`;

function parseNs(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^(\w+) (\w+:\[\d+\])$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function hostNsAll(): Record<string, string> {
  return Object.fromEntries(Object.values(NS_FILE).map((f) => [f, hostNs(f)]));
}

const USER_MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];

/** A user-namespaced container whose rootfs belongs to the mapped root (host uid 100000). */
function withUserNs(c: Config, b: Bundle): void {
  c.linux.namespaces = ALL_TYPES.map((type) => ({ type }));
  c.linux.uidMappings = USER_MAP;
  c.linux.gidMappings = USER_MAP;
  execFileSync('chown', ['-R', '-h', '100000:100000', b.rootfs]);
  // mkdtemp made the bundle dir 0700: the mapped root (host uid 100000) must reach its rootfs.
  fs.chmodSync(b.dir, 0o755);
}

/** Asserts a failed create/run: exit 1, exactly one stderr line, no state dir, no mounts. */
function expectCleanFailure(
  res: { code: number; stderr: string; id: string },
  bundleDir: string | null,
): string {
  expect(res.code).toBe(1);
  const lines = errLines(res.stderr);
  expect(lines).toHaveLength(1);
  expect(fs.existsSync(path.join(stateRoot(), res.id))).toBe(false);
  if (bundleDir) expect(hostMountsUnder(bundleDir)).toEqual([]);
  return lines[0];
}

async function stateOf(id: string): Promise<{ pid: number; status: string }> {
  const res = await tsrunc(['state', id]);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as { pid: number; status: string };
}

/** create + start of a long-running container; returns its id, bundle and host pid. */
async function startBackground(
  mutate: (c: Config, b: Bundle) => void,
): Promise<{ id: string; bundle: Bundle; pid: number }> {
  const id = containerId();
  const bundle = await makeBundle((c, b) => {
    c.process.args = ['sleep', '1000'];
    mutate(c, b);
  });
  try {
    const created = await tsrunc(['create', '--bundle', bundle.dir, id]);
    expect(created.code, created.stderr).toBe(0);
    const started = await tsrunc(['start', id]);
    expect(started.code, started.stderr).toBe(0);
    const st = await stateOf(id);
    expect(st.status).toBe('running');
    return { id, bundle, pid: st.pid };
  } catch (e) {
    await stopBackground({ id, bundle });
    throw e;
  }
}

async function stopBackground(c: { id: string; bundle: Bundle }): Promise<void> {
  if (fs.existsSync(path.join(stateRoot(), c.id))) await tsrunc(['delete', '--force', c.id]);
  await c.bundle.cleanup();
}

describe('namespaces: created new', () => {
  it('all of pid, mount, uts, ipc, network, cgroup, time are new (inode differs from the host)', async () => {
    const host = hostNsAll();
    const res = await runContainer((c) => {
      c.linux.namespaces = ALL_TYPES.filter((t) => t !== 'user').map((type) => ({ type }));
      c.process.args = ['sh', '-c', PRINT_NS];
    });
    expect(res.code, res.stderr).toBe(0);
    const inside = parseNs(res.stdout);
    for (const file of ['pid', 'net', 'mnt', 'ipc', 'uts', 'cgroup', 'time']) {
      expect(inside[file], file).toMatch(new RegExp(`^${file}:\\[\\d+\\]$`));
      expect(inside[file], file).not.toBe(host[file]);
    }
    // No user namespace asked for: shared with the host.
    expect(inside.user).toBe(host.user);
  });

  // One namespace (plus the required mount namespace) at a time: exactly that one is new,
  // every omitted one is the host's.
  it.each(['pid', 'network', 'ipc', 'uts', 'cgroup', 'time', 'mount'])(
    'only %s (and mount) new: the omitted namespaces are shared with the host',
    async (type) => {
      const host = hostNsAll();
      const res = await runContainer((c) => {
        c.linux.namespaces = type === 'mount' ? [{ type: 'mount' }] : [{ type: 'mount' }, { type }];
        // Without a uts namespace the runtime must not set a hostname (it would be the host's).
        if (type !== 'uts') delete c.hostname;
        c.process.args = ['sh', '-c', PRINT_NS];
      });
      expect(res.code, res.stderr).toBe(0);
      const inside = parseNs(res.stdout);
      expect(Object.keys(inside).sort()).toEqual(Object.values(NS_FILE).sort());
      const newOnes = new Set(['mnt', NS_FILE[type]]);
      for (const file of Object.values(NS_FILE)) {
        if (newOnes.has(file)) expect(inside[file], file).not.toBe(host[file]);
        else expect(inside[file], file).toBe(host[file]);
      }
    },
  );

  it('pid: the container process is pid 1 and ps shows only container processes', async () => {
    const res = await runContainer((c) => {
      // "; true": otherwise sh execs the last command and ps itself would be pid 1.
      c.process.args = ['sh', '-c', 'echo $$; ps -o pid,comm; true'];
    });
    expect(res.code, res.stderr).toBe(0);
    const [pid1, header, ...procs] = res.stdout.trimEnd().split('\n');
    expect(pid1).toBe('1');
    expect(header.trim()).toBe('PID   COMMAND');
    expect(procs.map((p) => p.trim().split(/\s+/))).toEqual([
      ['1', 'sh'],
      [expect.stringMatching(/^\d+$/), 'ps'],
    ]);
  });

  it('network: only the loopback interface, and it is down', async () => {
    const res = await runContainer((c) => {
      c.process.args = [
        'sh',
        '-c',
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; ls /sys/class/net; cat /sys/class/net/lo/flags",
      ];
    });
    expect(res.code, res.stderr).toBe(0);
    // flags 0x8: IFF_LOOPBACK without IFF_UP.
    expect(res.stdout).toBe('lo\nlo\n0x8\n');
  });

  it('uts: the configured hostname inside, the host hostname unchanged', async () => {
    const before = os.hostname();
    const res = await runContainer((c) => {
      c.hostname = 'ns-uts-test';
      c.domainname = 'ns.example';
      c.process.args = ['sh', '-c', 'hostname; cat /proc/sys/kernel/domainname'];
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe('ns-uts-test\nns.example\n');
    expect(os.hostname()).toBe(before);
  });

  it('ipc: a System V message queue of the host is not visible inside', async () => {
    const res = await runContainer((c) => {
      c.process.args = [
        'sh',
        '-c',
        'tail -n +2 /proc/sysvipc/msg | wc -l; tail -n +2 /proc/sysvipc/shm | wc -l',
      ];
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.replace(/ /g, '')).toBe('0\n0\n');
  });

  it('cgroup added to the default list: the container sees its cgroup as the root ("/")', async () => {
    const res = await runContainer((c) => {
      c.linux.namespaces.push({ type: 'cgroup' });
      c.process.args = ['cat', '/proc/self/cgroup'];
    });
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) expect(line).toMatch(/^\d+:[^:]*:\/$/);
  });

  it("the default list (runc's) has no cgroup namespace: /proc/self/cgroup shows the host paths", async () => {
    const id = containerId();
    const res = await runContainer(
      (c) => {
        c.process.args = ['sh', '-c', 'readlink /proc/self/ns/cgroup; cat /proc/self/cgroup'];
      },
      { id },
    );
    expect(res.code, res.stderr).toBe(0);
    const [ns, ...lines] = res.stdout.trimEnd().split('\n');
    expect(ns).toBe(hostNs('cgroup'));
    expect(lines.length).toBeGreaterThan(1);
    // No cgroupsPath: a cgroup named after the id, below the runtime's own, in every hierarchy.
    for (const line of lines) expect(line).toMatch(new RegExp(`^\\d+:[^:]*:/(.+/)?${id}$`));
  });
});

describe('namespaces: user namespace with id mappings', () => {
  it('inside: uid_map/gid_map show the mapping and the process is root', async () => {
    const res = await runContainer((c, b) => {
      withUserNs(c, b);
      c.process.args = [
        'sh',
        '-c',
        'cat /proc/self/uid_map /proc/self/gid_map; id; cat /bin/busybox >/dev/null && echo read-ok; stat -c "%u %g" /bin/busybox',
      ];
    });
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout
      .trimEnd()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines).toEqual(['0 100000 65536', '0 100000 65536', 'uid=0(root) gid=0(root)', 'read-ok', '0 0']);
  });

  it('from the host: the init runs as uid/gid 100000 and its uid_map is the config mapping', async () => {
    const c = await startBackground((cfg, b) => withUserNs(cfg, b));
    try {
      const status = fs.readFileSync(`/proc/${c.pid}/status`, 'utf8');
      expect(/^Uid:\s+(.*)$/m.exec(status)?.[1].split(/\s+/)).toEqual([
        '100000',
        '100000',
        '100000',
        '100000',
      ]);
      expect(/^Gid:\s+(.*)$/m.exec(status)?.[1].split(/\s+/)).toEqual([
        '100000',
        '100000',
        '100000',
        '100000',
      ]);
      const uidMap = fs.readFileSync(`/proc/${c.pid}/uid_map`, 'utf8').trim().split(/\s+/);
      expect(uidMap).toEqual(['0', '100000', '65536']);
      expect(fs.readlinkSync(`/proc/${c.pid}/ns/user`)).not.toBe(hostNs('user'));
    } finally {
      await stopBackground(c);
    }
  });

  it('an unmapped host uid shows as the overflow uid inside (a host-root file is nobody)', async () => {
    const res = await runContainer((c, b) => {
      withUserNs(c, b);
      fs.writeFileSync(path.join(b.rootfs, 'etc', 'host-root-file'), 'x');
      fs.chownSync(path.join(b.rootfs, 'etc', 'host-root-file'), 0, 0);
      c.process.args = ['stat', '-c', '%u %g', '/etc/host-root-file'];
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe('65534 65534\n');
  });
});

describe('namespaces: time namespace offsets', () => {
  it('boottime and monotonic offsets: /proc/uptime is larger by the boottime offset', async () => {
    const BOOT = 10 * 86400;
    const MONO = 3 * 86400;
    const hostBefore = parseFloat(fs.readFileSync('/proc/uptime', 'utf8'));
    const res = await runContainer((c) => {
      c.linux.namespaces.push({ type: 'time' });
      c.linux.timeOffsets = { boottime: { secs: BOOT, nanosecs: 0 }, monotonic: { secs: MONO, nanosecs: 0 } };
      c.process.args = ['sh', '-c', 'cat /proc/uptime; cat /proc/self/timens_offsets'];
    });
    const hostAfter = parseFloat(fs.readFileSync('/proc/uptime', 'utf8'));
    expect(res.code, res.stderr).toBe(0);
    const [uptime, ...offsets] = res.stdout.trimEnd().split('\n');
    const inside = parseFloat(uptime.split(' ')[0]);
    expect(inside).toBeGreaterThanOrEqual(hostBefore + BOOT - 0.01);
    expect(inside).toBeLessThanOrEqual(hostAfter + BOOT + 0.01);
    expect(offsets.map((l) => l.trim().split(/\s+/).join(' ')).sort()).toEqual([
      `boottime ${BOOT} 0`,
      `monotonic ${MONO} 0`,
    ]);
  });
});

describe('namespaces: joined by path', () => {
  it('joins a named network namespace (ip netns add): same inode inside', async () => {
    const name = `tsrunc-test-${process.pid}-${Date.now() % 100000}`;
    const nsPath = `/var/run/netns/${name}`;
    execFileSync('ip', ['netns', 'add', name]);
    try {
      // Something only this netns has: a veth pair.
      execFileSync('ip', [
        'netns',
        'exec',
        name,
        'ip',
        'link',
        'add',
        'tsv0',
        'type',
        'veth',
        'peer',
        'name',
        'tsv1',
      ]);
      const ino = fs.statSync(nsPath).ino;
      const res = await runContainer((c) => {
        c.linux.namespaces = c.linux.namespaces.map((ns: { type: string }) =>
          ns.type === 'network' ? { type: 'network', path: nsPath } : ns,
        );
        c.process.args = ['sh', '-c', 'readlink /proc/self/ns/net; ls /sys/class/net'];
      });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toBe(`net:[${ino}]\nlo\ntsv0\ntsv1\n`);
    } finally {
      execFileSync('ip', ['netns', 'del', name]);
    }
  });

  it("joins another container's pid, ipc, uts and network namespaces", async () => {
    const a = await startBackground((c) => {
      c.hostname = 'ctr-a';
    });
    try {
      const ns = (f: string) => `/proc/${a.pid}/ns/${f}`;
      const aNs = Object.fromEntries(['pid', 'ipc', 'uts', 'net'].map((f) => [f, fs.readlinkSync(ns(f))]));
      const res = await runContainer((c) => {
        delete c.hostname; // must not rename container A
        c.linux.namespaces = [
          { type: 'pid', path: ns('pid') },
          { type: 'ipc', path: ns('ipc') },
          { type: 'uts', path: ns('uts') },
          { type: 'network', path: ns('net') },
          { type: 'mount' },
        ];
        c.process.args = [
          'sh',
          '-c',
          'hostname; for n in pid ipc uts net; do readlink /proc/self/ns/$n; done; ps -o pid,comm; true',
        ];
      });
      expect(res.code, res.stderr).toBe(0);
      const lines = res.stdout.trimEnd().split('\n');
      expect(lines.slice(0, 5)).toEqual(['ctr-a', aNs.pid, aNs.ipc, aNs.uts, aNs.net]);
      const procs = lines.slice(6).map((l) => l.trim().split(/\s+/));
      // A's init is pid 1 of the joined pid namespace; then B's shell and its ps.
      expect(procs).toEqual([
        ['1', 'sleep'],
        [expect.stringMatching(/^\d+$/), 'sh'],
        [expect.stringMatching(/^\d+$/), 'ps'],
      ]);
      // A is untouched: still running, hostname unchanged.
      expect((await stateOf(a.id)).status).toBe('running');
    } finally {
      await stopBackground(a);
    }
  });
});

describe('namespaces: bad paths', () => {
  it('a path that is not a namespace file: one line naming the field, nothing left', async () => {
    const res = await runContainer((c) => {
      delete c.hostname;
      c.linux.namespaces = [{ type: 'pid' }, { type: 'network', path: '/etc/passwd' }, { type: 'mount' }];
    });
    const line = expectCleanFailure(res, null);
    expect(line).toBe('config.json: linux.namespaces[1].path: /etc/passwd is not a namespace file');
  });

  it('a namespace file of the wrong type (net given for ipc): one clear line, nothing left', async () => {
    const netPath = `/proc/${process.pid}/ns/net`;
    const res = await runContainer((c) => {
      delete c.hostname;
      c.linux.namespaces = [{ type: 'mount' }, { type: 'pid' }, { type: 'ipc', path: netPath }];
    });
    const line = expectCleanFailure(res, null);
    expect(line).toMatch(/^config\.json: linux\.namespaces\[2\]\.path: /);
    expect(line).toContain(netPath);
    expect(line).toMatch(/not an? ipc namespace/);
  });

  it('a nonexistent path: one clear line, nothing left', async () => {
    const missing = `/run/tsrunc-no-such-netns-${process.pid}`;
    const res = await runContainer((c) => {
      c.linux.namespaces = [{ type: 'mount' }, { type: 'uts', path: missing }];
      delete c.hostname;
    });
    const line = expectCleanFailure(res, null);
    expect(line).toMatch(/^config\.json: linux\.namespaces\[1\]\.path: /);
    expect(line).toContain(missing);
    expect(line).toMatch(/ENOENT|no such file or directory/i);
  });

  it('create with a bad path leaves no state dir and no process (create, not run)', async () => {
    const id = containerId();
    const bundle = await makeBundle((c) => {
      delete c.hostname;
      c.linux.namespaces = [{ type: 'mount' }, { type: 'pid', path: '/etc/passwd' }];
    });
    try {
      const res = await tsrunc(['create', '--bundle', bundle.dir, id]);
      const line = expectCleanFailure({ ...res, id }, bundle.dir);
      expect(line).toMatch(/^config\.json: linux\.namespaces\[1\]\.path: /);
      const list = await tsrunc(['list', '-q']);
      expect(list.stdout.trim()).toBe('');
    } finally {
      await bundle.cleanup();
    }
  });
});
