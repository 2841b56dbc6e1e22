// The container's mount namespace when it is not a new one: joined by path (the rootfs is still
// built from config.json and pivoted into, inside the joined namespace), or absent (runtime-spec:
// the container inherits the runtime's mount namespace; tsrunc builds the rootfs there, chroots
// into it, leaves "/" alone and unmounts what the container mounted on delete). Checked from
// inside (ls /, mountinfo, /proc/self/ns/mnt) and from the host (mountinfo, no mount left).
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Bundle, type Config, containerId, makeBundle } from '../helpers/bundle';
import { killChild, waitFor } from '../helpers/lifecycle-helpers';
import {
  errLines,
  hostMount,
  hostMountsUnder,
  hostNs,
  hostUnmountAll,
  listNames,
  mustMountAt,
  parseMountInfo,
  runKeepBundle,
  sections,
} from '../helpers/mountinfo';
import { stateRoot, tsrunc } from '../helpers/tsrunc';

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function hostMountInfo() {
  return parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** The host's "/" line as propagation sees it: optional fields (shared:N, master:N). */
function hostRootPropagation(): string[] {
  return mustMountAt(hostMountInfo(), '/').optional;
}

/** A process in a mount namespace of its own (`unshare --mount`), killed after the test. */
async function mountNamespaceHolder(): Promise<{ pid: number; ns: string; child: ChildProcess }> {
  const child = spawn('unshare', ['--mount', '/bin/sleep', '1000'], { stdio: 'ignore' });
  cleanups.push(() => killChild(child));
  const hostMnt = hostNs('mnt');
  const pid = child.pid!;
  let ns = '';
  // unshare execs sleep in the same process once the namespace is made.
  await waitFor('the unshared mount namespace', () => {
    try {
      ns = fs.readlinkSync(`/proc/${pid}/ns/mnt`);
      return ns !== hostMnt && fs.readlinkSync(`/proc/${pid}/exe`) === '/usr/bin/sleep';
    } catch {
      return false;
    }
  });
  return { pid, ns, child };
}

/** Config without a mount namespace: nothing that would change the runtime's own mounts. */
function withoutMountNamespace(c: Config): void {
  c.linux.namespaces = c.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'mount');
  delete c.linux.maskedPaths;
  delete c.linux.readonlyPaths;
  delete c.linux.rootfsPropagation;
  c.root.readonly = false;
}

describe('mount namespace joined by path', () => {
  it('the rootfs, mounts, /dev, masks and read-only paths of config.json are made and pivoted into', async () => {
    const holder = await mountNamespaceHolder();
    const r = await runKeepBundle((c) => {
      c.linux.namespaces = c.linux.namespaces.map((ns: { type: string }) =>
        ns.type === 'mount' ? { type: 'mount', path: `/proc/${holder.pid}/ns/mnt` } : ns,
      );
      c.process.args = [
        'sh',
        '-c',
        'echo ==ls; ls /; echo ==ns; readlink /proc/self/ns/mnt; echo ==dev; ls /dev; ' +
          'echo ==mi; cat /proc/self/mountinfo',
      ];
    });
    cleanups.push(() => r.bundle.cleanup());
    expect(r.code, r.stderr).toBe(0);
    const out = sections(r.stdout);
    // The container's own root, not the host's "/" (which has /work, /usr, ...).
    expect(out.ls.trimEnd().split('\n').sort()).toEqual(listNames(r.bundle.rootfs));
    expect(out.ns.trim()).toBe(holder.ns);
    expect(out.dev.split('\n')).toEqual(expect.arrayContaining(['null', 'zero', 'pts', 'shm', 'urandom']));
    const mounts = parseMountInfo(out.mi);
    expect(mustMountAt(mounts, '/').root).toBe(r.bundle.rootfs);
    expect(mustMountAt(mounts, '/proc').fstype).toBe('proc');
    expect(mustMountAt(mounts, '/proc/acpi').fstype).toBe('tmpfs'); // maskedPaths
    expect(mustMountAt(mounts, '/proc/sys').options).toContain('ro'); // readonlyPaths
    // Nothing of it reached the host's mount namespace.
    expect(r.leftoverMounts).toEqual([]);
    expect(hostMountsUnder(r.bundle.dir)).toEqual([]);
  });
});

describe('no mount namespace', () => {
  it('runs chrooted into its rootfs in the runtime\'s mount namespace; "/" is left alone', async () => {
    const rootBefore = hostRootPropagation();
    const r = await runKeepBundle((c) => {
      withoutMountNamespace(c);
      c.process.args = [
        'sh',
        '-c',
        'echo ==ls; ls /; echo ==ns; readlink /proc/self/ns/mnt; echo ==dev; ls /dev; echo ==pwd; pwd',
      ];
    });
    cleanups.push(() => r.bundle.cleanup());
    expect(r.code, r.stderr).toBe(0);
    const out = sections(r.stdout);
    expect(out.ls.trimEnd().split('\n').sort()).toEqual(listNames(r.bundle.rootfs));
    expect(out.ns.trim()).toBe(hostNs('mnt'));
    expect(out.dev.split('\n')).toEqual(expect.arrayContaining(['null', 'zero', 'pts', 'shm']));
    expect(out.pwd.trim()).toBe('/');
    expect(hostRootPropagation()).toEqual(rootBefore);
    // `run` deletes the container: every mount it made below its rootfs is gone.
    expect(r.leftoverMounts).toEqual([]);
  });

  it("the host sees the config's mounts below the rootfs while it runs; delete removes them, and only them", async () => {
    const id = containerId();
    const bundle: Bundle = await makeBundle((c) => {
      withoutMountNamespace(c);
      c.process.args = ['sleep', '1000'];
      c.mounts.push({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
    });
    cleanups.push(async () => {
      if (fs.existsSync(path.join(stateRoot(), id))) await tsrunc(['delete', '--force', id]);
      hostUnmountAll(bundle.dir);
      await bundle.cleanup();
    });
    // The bundle's own mounts (as containerd's overlay on the rootfs): the rootfs is a mount,
    // with a submount in it. They were there before and must stay.
    hostMount(['--bind', bundle.rootfs, bundle.rootfs]);
    fs.mkdirSync(path.join(bundle.rootfs, 'pre'), { recursive: true });
    hostMount(['-t', 'tmpfs', 'tmpfs', path.join(bundle.rootfs, 'pre')]);
    const before = hostMountsUnder(bundle.dir);

    const created = await tsrunc(['create', '--bundle', bundle.dir, id]);
    expect(created.code, created.stderr).toBe(0);
    const started = await tsrunc(['start', id]);
    expect(started.code, started.stderr).toBe(0);
    const whileRunning = hostMountsUnder(bundle.dir);
    for (const sub of ['proc', 'dev', 'dev/pts', 'sys', 'data']) {
      expect(whileRunning).toContain(path.join(bundle.rootfs, sub));
    }
    // exec is chrooted into the same rootfs.
    const execed = await tsrunc(['exec', id, 'ls', '/']);
    expect(execed.code, execed.stderr).toBe(0);
    expect(execed.stdout.trimEnd().split('\n').sort()).toEqual(listNames(bundle.rootfs));

    const deleted = await tsrunc(['delete', '--force', id]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(hostMountsUnder(bundle.dir)).toEqual(before);
  });

  it('a create that fails inside the init unmounts the mounts it had made', async () => {
    const r = await runKeepBundle((c) => {
      withoutMountNamespace(c);
      c.mounts.push({ destination: '/later', type: 'no-such-fs', source: 'x' });
    });
    cleanups.push(() => r.bundle.cleanup());
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual([
      expect.stringMatching(
        /^unable to start container process: mounts\[\d+\] \(no-such-fs on \/later\): mount: /,
      ),
    ]);
    expect(r.stateLeft).toBe(false);
    expect(r.leftoverMounts).toEqual([]);
  });

  it('maskedPaths without a mount namespace: one line naming the field, nothing made', async () => {
    const r = await runKeepBundle((c) => {
      withoutMountNamespace(c);
      c.linux.maskedPaths = ['/proc/kcore'];
    });
    cleanups.push(() => r.bundle.cleanup());
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual([
      "config.json: linux.maskedPaths: needs a mount namespace (without one the container shares the runtime's)",
    ]);
    expect(r.stateLeft).toBe(false);
    expect(r.leftoverMounts).toEqual([]);
  });
});
