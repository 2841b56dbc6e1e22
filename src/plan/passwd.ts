// HOME for the container process when process.env has none: the home directory of its uid in
// the container's /etc/passwd, or "/" (what runc and crun do). The file is read with its path
// resolved inside the container's root (openat2 RESOLVE_IN_ROOT): an image whose /etc/passwd is
// a symlink to a host file gets nothing from the host.
import * as fs from 'node:fs';

import type { NativeBinding } from '../native';

const MAX_PASSWD_BYTES = 1 << 20;

/** The home directory of `uid` in `<root>/etc/passwd`, or "/" when there is none. */
export function homeOf(
  native: Pick<NativeBinding, 'openInRoot' | 'closeFd'>,
  root: string,
  uid: number,
): string {
  let fd: number;
  try {
    fd = native.openInRoot(root, '/etc/passwd');
  } catch {
    return '/';
  }
  let text: string;
  try {
    const buffer = Buffer.alloc(MAX_PASSWD_BYTES);
    const length = fs.readSync(fd, buffer, 0, buffer.length, 0);
    text = buffer.subarray(0, length).toString('utf8');
  } catch {
    return '/';
  } finally {
    native.closeFd(fd);
  }
  return homeInPasswd(text, uid) ?? '/';
}

/** name:password:uid:gid:gecos:home:shell; the first line of `uid` with a home wins. */
export function homeInPasswd(text: string, uid: number): string | null {
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 7 || !/^[0-9]+$/.test(fields[2]) || Number(fields[2]) !== uid) continue;
    return fields[5] !== '' ? fields[5] : null;
  }
  return null;
}

/** env with HOME=<home of uid> added when it has no HOME entry. */
export function withHome(env: string[], home: () => string): string[] {
  return env.some((entry) => entry.startsWith('HOME=')) ? env : [...env, `HOME=${home()}`];
}
