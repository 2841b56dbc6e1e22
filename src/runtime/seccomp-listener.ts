// linux.seccomp.listenerPath: the runtime connects to that unix socket and sends the filter's
// listener fd (SCM_RIGHTS) with the container process state, as the runtime spec describes:
//   {"ociVersion", "fds": ["seccompFd"], "pid", "metadata"?, "state": {<container state>}}
// The index of a name in `fds` is the index of the fd in the SCM_RIGHTS array.
import type { NativeBinding } from '../native';
import type { LinuxSeccomp } from '../spec/types';

type SeccompListener = Pick<LinuxSeccomp, 'listenerPath' | 'listenerMetadata'>;
import type { ContainerRecord } from '../state/store';
import { configError } from '../errors';
import { hookState } from './hooks';

export function containerProcessState(
  seccomp: SeccompListener,
  record: ContainerRecord,
  status: string,
  pid: number,
): string {
  return JSON.stringify({
    ociVersion: record.ociVersion,
    fds: ['seccompFd'],
    pid,
    ...(seccomp.listenerMetadata ? { metadata: seccomp.listenerMetadata } : {}),
    state: hookState(record, status, pid),
  });
}

/** Pass the listener fd of `pid`'s filter to linux.seccomp.listenerPath; the caller closes it. */
export function sendSeccompListener(
  n: Pick<NativeBinding, 'connectUnix' | 'sendFds' | 'closeFd'>,
  seccomp: SeccompListener,
  listenerFd: number,
  record: ContainerRecord,
  status: string,
  pid: number,
): void {
  const listenerPath = seccomp.listenerPath ?? '';
  let socketFd: number;
  try {
    socketFd = n.connectUnix(listenerPath);
  } catch (error) {
    // runc's words: callers (and people) match on "failed to connect with seccomp agent".
    const reason = (error as Error).message.replace(
      /: (.*)$/,
      (_, text: string) => `: ${text.toLowerCase()}`,
    );
    throw configError(
      'linux.seccomp.listenerPath',
      `failed to connect with seccomp agent specified in the seccomp profile: dial unix ${listenerPath}: ${reason}`,
    );
  }
  try {
    n.sendFds(socketFd, containerProcessState(seccomp, record, status, pid), [listenerFd]);
  } catch (error) {
    throw configError(
      'linux.seccomp.listenerPath',
      `cannot send to ${listenerPath}: ${(error as Error).message}`,
    );
  } finally {
    n.closeFd(socketFd);
  }
}
