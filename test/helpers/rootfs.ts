// A minimal root filesystem from the host's static busybox (Debian package busybox-static).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const HOST_BUSYBOX = '/bin/busybox';

export const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'u1000:x:1000:1000:u1000:/home/u1000:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');

export const GROUP = ['root:x:0:', 'u1000:x:1000:', 'nogroup:x:65534:', ''].join('\n');

/**
 * Build a busybox rootfs in `dir` (created if missing): /bin/busybox plus a symlink per applet
 * in /bin, the usual empty mount points, /etc/passwd and /etc/group with root (0),
 * u1000 (1000) and nobody (65534). Needs root (chroot).
 */
export function buildBusyboxRootfs(dir: string): void {
  if (!fs.existsSync(HOST_BUSYBOX)) {
    throw new Error(`${HOST_BUSYBOX} not found: install busybox-static (bash scripts/setup.sh)`);
  }
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(HOST_BUSYBOX, path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  execFileSync('chroot', [dir, '/bin/busybox', '--install', '-s', '/bin'], { stdio: 'pipe' });
  for (const d of ['proc', 'sys', 'dev', 'etc', 'root', 'tmp', 'home/u1000']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.chmodSync(path.join(dir, 'root'), 0o700);
  fs.chownSync(path.join(dir, 'home/u1000'), 1000, 1000);
  fs.writeFileSync(path.join(dir, 'etc', 'passwd'), PASSWD);
  fs.writeFileSync(path.join(dir, 'etc', 'group'), GROUP);
  if (!fs.existsSync(path.join(dir, 'bin', 'sh'))) {
    throw new Error(`busybox --install did not create ${dir}/bin/sh`);
  }
}
