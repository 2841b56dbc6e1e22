// The shim's rootfs mounts (CreateTaskRequest.rootfs onto <bundle>/rootfs): containerd's overlay
// (two lower dirs, upper, work; a lowerdir list longer than mount(2) takes), the native
// snapshotter's rw and ro binds, the undo of a half-made rootfs, and unmountRootfs. Checked on
// the host's mount table (this process's /proc/self/mountinfo) and with reads and writes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { native } from '../../src/native';
import { MAX_MOUNT_DATA, mountRootfs, unmountRootfs, type RootfsMount } from '../../src/shim/rootfs';
import { removeTree, tempDir } from '../helpers/bundle';
import { hostMountsUnder, hostUnmountAll, mustMountAt, parseMountInfo } from '../helpers/mountinfo';

const dirs: string[] = [];

afterEach(async () => {
  for (const dir of dirs.splice(0).reverse()) {
    hostUnmountAll(dir);
    await removeTree(dir);
  }
});

function workDir(): string {
  const dir = tempDir('shim-rootfs');
  dirs.push(dir);
  return dir;
}

function write(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

function mountInfo() {
  return parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** containerd's overlayfs snapshotter layout: snapshots/<n>/{fs,work} under `base`. */
function snapshots(base: string, lowers: number): { lowerdirs: string[]; upper: string; work: string } {
  const lowerdirs: string[] = [];
  // containerd lists the top layer first; layer 1 is the bottom one.
  for (let n = lowers; n >= 1; n--) {
    const fsDir = path.join(base, 'snapshots', String(n), 'fs');
    fs.mkdirSync(fsDir, { recursive: true });
    lowerdirs.push(fsDir);
  }
  const top = path.join(base, 'snapshots', String(lowers + 1));
  fs.mkdirSync(path.join(top, 'fs'), { recursive: true });
  fs.mkdirSync(path.join(top, 'work'), { recursive: true });
  return { lowerdirs, upper: path.join(top, 'fs'), work: path.join(top, 'work') };
}

function overlayMount(layout: { lowerdirs: string[]; upper: string; work: string }): RootfsMount {
  return {
    type: 'overlay',
    source: 'overlay',
    options: [
      'index=off',
      `workdir=${layout.work}`,
      `upperdir=${layout.upper}`,
      `lowerdir=${layout.lowerdirs.join(':')}`,
    ],
  };
}

describe('mountRootfs', () => {
  it('overlay of two lower dirs: both layers and the upper are seen, the upper layer wins, writes go to the upper dir', () => {
    const work = workDir();
    const layout = snapshots(work, 2);
    const [top, bottom] = layout.lowerdirs;
    write(path.join(bottom, 'bottom.txt'), 'bottom');
    write(path.join(bottom, 'shared.txt'), 'from bottom');
    write(path.join(top, 'top.txt'), 'top');
    write(path.join(top, 'shared.txt'), 'from top');
    write(path.join(layout.upper, 'upper.txt'), 'upper');
    const target = path.join(work, 'bundle', 'rootfs');

    mountRootfs(native(), [overlayMount(layout)], target);

    expect(mustMountAt(mountInfo(), target).fstype).toBe('overlay');
    expect(fs.readdirSync(target).sort()).toEqual(['bottom.txt', 'shared.txt', 'top.txt', 'upper.txt']);
    expect(fs.readFileSync(path.join(target, 'shared.txt'), 'utf8')).toBe('from top');
    fs.writeFileSync(path.join(target, 'new.txt'), 'written');
    fs.writeFileSync(path.join(target, 'bottom.txt'), 'changed');
    expect(fs.readFileSync(path.join(layout.upper, 'new.txt'), 'utf8')).toBe('written');
    expect(fs.readFileSync(path.join(layout.upper, 'bottom.txt'), 'utf8')).toBe('changed');
    // Copy-up: the lower layer is untouched.
    expect(fs.readFileSync(path.join(bottom, 'bottom.txt'), 'utf8')).toBe('bottom');
    expect(fs.existsSync(path.join(top, 'new.txt'))).toBe(false);

    expect(unmountRootfs(native(), target)).toBe(1);
    expect(hostMountsUnder(work)).toEqual([]);
  });

  it('makes the target dir with its parents, mode 0711 (what containerd gives <bundle>/rootfs)', () => {
    const work = workDir();
    const target = path.join(work, 'bundle', 'rootfs');
    mountRootfs(native(), [], target);
    expect(fs.statSync(target).mode & 0o7777).toBe(0o711);
    expect(hostMountsUnder(work)).toEqual([]);
  });

  it('overlay whose lowerdir list is longer than a page: mounted through /proc/self/fd paths of their common parent, no fd left open', () => {
    const work = workDir();
    // A deep snapshot root (as /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs is,
    // only longer): the paths make the data too long, the parts below the root are short.
    const deep = path.join(work, ...Array.from({ length: 8 }, (_, i) => `${'d'.repeat(150)}${i}`));
    const layout = snapshots(deep, 6);
    for (const [i, dir] of layout.lowerdirs.entries()) write(path.join(dir, `layer${i}.txt`), `${i}`);
    const mount = overlayMount(layout);
    expect(mount.options.join(',').length).toBeGreaterThan(MAX_MOUNT_DATA);
    const target = path.join(work, 'rootfs');
    const fdsBefore = fs.readdirSync('/proc/self/fd').length;

    mountRootfs(native(), [mount], target);

    expect(fs.readdirSync(target).sort()).toEqual(layout.lowerdirs.map((_, i) => `layer${i}.txt`));
    const superOptions = mustMountAt(mountInfo(), target).superOptions.join(',');
    expect(superOptions).toMatch(/lowerdir=\/proc\/self\/fd\/\d+\/6\/fs:/);
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fdsBefore);
    expect(unmountRootfs(native(), target)).toBe(1);
    expect(hostMountsUnder(work)).toEqual([]);
  });

  it('a lowerdir list that stays too long is refused with the length, nothing mounted', () => {
    const work = workDir();
    // Long names right below the common parent: nothing to shorten.
    const lowerdirs = Array.from({ length: 20 }, (_, i) => {
      const dir = path.join(work, `${'l'.repeat(240)}${i}`);
      fs.mkdirSync(dir);
      return dir;
    });
    fs.mkdirSync(path.join(work, 'upper'));
    fs.mkdirSync(path.join(work, 'work'));
    const mount = overlayMount({ lowerdirs, upper: path.join(work, 'upper'), work: path.join(work, 'work') });
    const target = path.join(work, 'rootfs');
    const fdsBefore = fs.readdirSync('/proc/self/fd').length;

    expect(() => mountRootfs(native(), [mount], target)).toThrow(
      /^rootfs mount 1 \(type overlay, source overlay\): mount options are \d+ bytes, more than the 4095 mount\(2\) takes$/,
    );
    expect(hostMountsUnder(work)).toEqual([]);
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fdsBefore);
  });

  it('rw bind (native snapshotter): writes reach the source dir', () => {
    const work = workDir();
    const source = path.join(work, 'snapshot');
    write(path.join(source, 'etc', 'hostname'), 'snap');
    const target = path.join(work, 'rootfs');

    mountRootfs(native(), [{ type: 'bind', source, options: ['rbind', 'rw'] }], target);

    expect(mustMountAt(mountInfo(), target).options).toContain('rw');
    expect(fs.readFileSync(path.join(target, 'etc', 'hostname'), 'utf8')).toBe('snap');
    fs.writeFileSync(path.join(target, 'new.txt'), 'x');
    expect(fs.readFileSync(path.join(source, 'new.txt'), 'utf8')).toBe('x');
    expect(unmountRootfs(native(), target)).toBe(1);
    expect(hostMountsUnder(work)).toEqual([]);
  });

  it('ro bind: remounted read-only, a write fails with EROFS, the source stays writable', () => {
    const work = workDir();
    const source = path.join(work, 'snapshot');
    write(path.join(source, 'file.txt'), 'data');
    const target = path.join(work, 'rootfs');

    mountRootfs(native(), [{ type: 'bind', source, options: ['rbind', 'ro'] }], target);

    expect(mustMountAt(mountInfo(), target).options).toContain('ro');
    expect(fs.readFileSync(path.join(target, 'file.txt'), 'utf8')).toBe('data');
    expect(() => fs.writeFileSync(path.join(target, 'new.txt'), 'x')).toThrow(
      expect.objectContaining({ code: 'EROFS' }),
    );
    fs.writeFileSync(path.join(source, 'other.txt'), 'y');
    expect(unmountRootfs(native(), target)).toBe(1);
    expect(hostMountsUnder(work)).toEqual([]);
  });

  it('a failure in the second mount unmounts the first and names the failed mount and the errno', () => {
    const work = workDir();
    const source = path.join(work, 'snapshot');
    write(path.join(source, 'file.txt'), 'data');
    const target = path.join(work, 'rootfs');
    const missing = path.join(work, 'missing');

    let caught: unknown;
    try {
      mountRootfs(
        native(),
        [
          { type: 'bind', source, options: ['rbind', 'ro'] },
          { type: 'bind', source: missing, options: ['rbind', 'rw'] },
        ],
        target,
      );
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).message).toBe(
      `rootfs mount 2 (type bind, source ${missing}): no such file or directory`,
    );
    expect((caught as { code?: string }).code).toBe('ENOENT');
    expect(hostMountsUnder(work)).toEqual([]);
    expect(fs.readdirSync(target)).toEqual([]);
  });

  it('a target inside the rootfs is refused before anything is mounted', () => {
    const work = workDir();
    const source = path.join(work, 'snapshot');
    fs.mkdirSync(source);
    const target = path.join(work, 'rootfs');

    expect(() =>
      mountRootfs(
        native(),
        [
          { type: 'bind', source, options: ['rbind'] },
          { type: 'bind', source, target: '/var', options: ['rbind'] },
        ],
        target,
      ),
    ).toThrow(
      `rootfs mount 2 (type bind, source ${source}): a target inside the rootfs (/var) is not supported`,
    );
    expect(hostMountsUnder(work)).toEqual([]);
  });
});

describe('unmountRootfs', () => {
  it('unmounts stacked mounts and mounts below, one hidden under a later mount, then is a no-op', () => {
    const work = workDir();
    const first = path.join(work, 'first');
    const second = path.join(work, 'second');
    fs.mkdirSync(path.join(first, 'proc'), { recursive: true });
    fs.mkdirSync(path.join(first, 'hidden'), { recursive: true });
    fs.mkdirSync(path.join(second, 'proc'), { recursive: true });
    const target = path.join(work, 'rootfs');
    mountRootfs(native(), [{ type: 'bind', source: first, options: ['rbind', 'rw'] }], target);
    native().mount('tmpfs', path.join(target, 'hidden'), 'tmpfs', 0, 'size=64k');
    // Stacked on the rootfs: `hidden` is now out of reach by path.
    native().mount(second, target, '', 0x1000, '');
    native().mount('tmpfs', path.join(target, 'proc'), 'tmpfs', 0, 'size=64k');
    expect(hostMountsUnder(target)).toHaveLength(4);

    expect(unmountRootfs(native(), target)).toBe(4);

    expect(hostMountsUnder(work)).toEqual([]);
    expect(unmountRootfs(native(), target)).toBe(0);
  });

  it('a target that does not exist, or has nothing mounted, is 0 mounts and no error', () => {
    const work = workDir();
    expect(unmountRootfs(native(), path.join(work, 'nothing-here'))).toBe(0);
    fs.mkdirSync(path.join(work, 'rootfs'));
    expect(unmountRootfs(native(), path.join(work, 'rootfs'))).toBe(0);
  });

  it('a mount next to the target with the target as a name prefix is left alone', () => {
    const work = workDir();
    const target = path.join(work, 'rootfs');
    const sibling = path.join(work, 'rootfs2');
    fs.mkdirSync(target);
    fs.mkdirSync(sibling);
    native().mount('tmpfs', sibling, 'tmpfs', 0, 'size=64k');

    expect(unmountRootfs(native(), target)).toBe(0);
    expect(hostMountsUnder(work)).toEqual([sibling]);
    native().umount(sibling, 0);
  });
});
