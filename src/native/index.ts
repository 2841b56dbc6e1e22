// The only module that loads the .node file. Everything native goes through `NativeBinding`, so
// unit tests can install a fake with `setNativeForTesting`.
import * as path from 'node:path';
import type { SeccompCompileInput, SeccompCompiled } from '../plan/seccomp';
import type { NativePlan, SyncRecord } from '../plan/types';

export interface SpawnResult {
  /** Host pid of the stage-1 (intermediate) process; the parent reaps it. */
  intermediatePid: number;
  /** Parent end of the SOCK_SEQPACKET sync socket (O_CLOEXEC). */
  syncFd: number;
}

/** A libuv poll watch of one fd (watchReadable). */
export interface FdWatch {
  /** Stop watching and free the handle; onEvent never runs after this. Idempotent. */
  stop(): void;
  /** Keep the event loop alive while the watch is on (the default). */
  ref(): void;
  /** Let the process exit even though the watch is on. */
  unref(): void;
}

/** Every function checks its arguments before it does anything: a missing or extra argument, a
 *  wrong type, a string with a NUL byte where a path or name goes, or a number that is not an
 *  integer in range (fds 0..2^31-1, pids and flags int32, ids and modes uint32) throws a
 *  TypeError naming the function and what it takes ("closeFd(fd: int32 >= 0)"). */
export interface NativeBinding {
  /** Clone the stage-1 process that builds the namespaces and clones the init. A plan the
   *  decoder refuses (a field of the wrong type; a uid, gid, additional gid or device id that is
   *  not 0..4294967294) throws a TypeError before anything is cloned or opened. */
  spawnInit(plan: NativePlan): SpawnResult;
  /** Wait up to timeoutMs (-1: forever) for one sync record; null on timeout or EOF. An fd sent
   *  with it (SCM_RIGHTS) is in `fd` (else -1) and belongs to the caller. */
  syncRecv(fd: number, timeoutMs: number): SyncRecord | null;
  /** syncRecv that never waits: null when nothing is queued yet, 'eof' when every peer end is
   *  closed, else the record (the same checks and fd passing). For a socket watched with
   *  watchReadable. */
  syncTryRecv(fd: number): SyncRecord | 'eof' | null;
  syncSend(fd: number, type: number): void;
  /** One sendmsg(2) of payload with fds attached (SCM_RIGHTS) on a connected socket. */
  sendFds(socketFd: number, payload: string, fds: number[]): void;
  /** pipe2(O_CLOEXEC): [read end, write end]. */
  pipe(): [number, number];
  /** A SOCK_SEQPACKET socketpair (O_CLOEXEC) like the sync socket; for tests. */
  seqpacketPair(): [number, number];
  /** waitpid(pid, WNOHANG when !block): {pid, status} where status is the exit code or
   *  128+signal; pid 0 when still running. */
  waitPid(pid: number, block: boolean): { pid: number; exitCode: number };
  /** The CLONE_NEW* type of a namespace file (ioctl NS_GET_NSTYPE), throws on a non-ns fd. */
  namespaceType(fd: number): number;
  /** connect(2) a unix stream socket by path; returns an O_CLOEXEC fd. */
  connectUnix(socketPath: string): number;
  /** An O_PATH|O_CLOEXEC fd of a directory (O_DIRECTORY), or with `directory` false of any
   *  file, not following a last symlink. */
  openPath(filePath: string, directory?: boolean): number;
  /** A regular file opened read-only (close-on-exec) with `filePath` resolved inside `root` as if
   *  it were "/" (openat2 RESOLVE_IN_ROOT): no symlink leads out. Anything else throws. */
  openInRoot(root: string, filePath: string): number;
  /** open_tree(OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC, AT_RECURSIVE with `recursive`): a detached
   *  copy of the mount at sourcePath (a bind source), made MS_SLAVE or MS_PRIVATE
   *  (`propagation`) so it never propagates back; for move_mount by a container's init. */
  openTreeClone(sourcePath: string, recursive: boolean, propagation: number): number;
  closeFd(fd: number): void;
  /** renameat2(RENAME_NOREPLACE): throws an error with code EEXIST when `to` exists. */
  renameNoReplace(from: string, to: string): void;
  /** Set or clear PR_SET_CHILD_SUBREAPER on the calling process. */
  setChildSubreaper(on: boolean): void;
  /** Mirror of mount(2)/umount2(2) for tests and cleanup. */
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount(target: string, flags: number): void;
  /** A listening unix stream socket (O_CLOEXEC) bound to socketPath. */
  listenUnix(socketPath: string): number;
  /** Accept one connection and receive the fd it sends with SCM_RIGHTS (a console socket).
   *  Blocks up to timeoutMs. */
  receiveFd(listenFd: number, timeoutMs: number): number;
  /** accept4(2) without waiting: a connection (O_CLOEXEC|O_NONBLOCK), or -1 when none is
   *  pending. */
  acceptUnix(listenFd: number): number;
  /** One recvmsg(2) without waiting on an accepted console connection: the fd it carries
   *  (SCM_RIGHTS, O_CLOEXEC), or null when nothing has arrived yet. A peer that closed first or
   *  sent no fd throws an error with code EPROTO. */
  tryReceiveFd(connFd: number): number | null;
  /** TIOCSWINSZ on a terminal fd. */
  setWindowSize(fd: number, rows: number, columns: number): void;
  /** mkfifo(3); Node has no binding for it. */
  mkfifo(fifoPath: string, mode: number): void;
  strerror(errno: number): string;
  // For a long-lived caller that must never block (addon/async.cc). Failed system calls throw an
  // Error with `code` (the errno name) and `errno`.
  /** pidfd_open(2) (close-on-exec). A pid with no process throws with code ESRCH. */
  pidfdOpen(pid: number): number;
  /** waitid(P_PIDFD, WEXITED|WNOHANG): null while the process runs; once it has exited it is
   *  reaped and exitCode is its exit status, or 128+signal when a signal killed it (`signal` is
   *  then that signal, else 0). A process that is not our child throws with code ECHILD. */
  pidfdReap(pidfd: number): { exitCode: number; signal: number } | null;
  /** pidfd_send_signal(2); signo 0 only checks. Throws with code ESRCH once it has exited (and
   *  been reaped). */
  pidfdSignal(pidfd: number, signo: number): void;
  /** Watch fd with libuv (level triggered) on this thread's event loop: onEvent(0) runs on the
   *  JS thread each loop iteration while fd is readable or hung up (a pidfd: its process has
   *  exited), or once with a negative libuv error, after which the watch is dead (still call
   *  stop). Read, or stop, in onEvent, or it runs again at once. What onEvent throws is an
   *  uncaught exception. libuv makes fd's open file description O_NONBLOCK. Stop before closing
   *  fd. A regular file throws with code EPERM; an fd this loop already polls, EEXIST. */
  watchReadable(fd: number, onEvent: (status: number) => void): FdWatch;
  /** flock(2) LOCK_EX or LOCK_SH with LOCK_NB: true when taken, false when another open file
   *  description holds a conflicting lock (two opens of one file conflict, dup'd fds do not). */
  tryFlock(fd: number, exclusive: boolean): boolean;
  /** flock(2) LOCK_UN. Closing the last fd of the open file description releases it too. */
  unflock(fd: number): void;
  // eBPF device filter (addon/bpf.cc), for the cgroup v2 devices controller.
  /** Open a directory O_RDONLY|O_DIRECTORY|O_CLOEXEC: a real fd (bpf(2) refuses O_PATH fds). */
  openDirectory(dirPath: string): number;
  /** bpf(BPF_PROG_LOAD) of a BPF_PROG_TYPE_CGROUP_DEVICE program (8-byte struct bpf_insn each,
   *  license "GPL"); returns its O_CLOEXEC fd. A verifier refusal throws with the verifier log. */
  loadDeviceProgram(insns: Uint8Array): number;
  /** BPF_PROG_ATTACH (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI) to a cgroup directory fd; with
   *  replaceProgId, BPF_F_REPLACE swaps that attached program for this one atomically. */
  attachDeviceProgram(cgroupFd: number, progFd: number, replaceProgId?: number): void;
  /** BPF_PROG_DETACH of the attached program with this id. */
  detachDeviceProgram(cgroupFd: number, progId: number): void;
  /** BPF_PROG_QUERY: ids of the device programs attached to this cgroup itself. */
  queryDevicePrograms(cgroupFd: number): number[];
  // seccomp (addon/seccomp.cc).
  /** Compile a seccomp filter with libseccomp into a classic BPF program; rules naming a
   *  syscall libseccomp does not know are skipped and listed in `unknown`. Throws on a problem
   *  ("seccomp: unknown architecture ..."). */
  compileSeccomp(input: SeccompCompileInput): SeccompCompiled;
}

let binding: NativeBinding | null = null;

export function native(): NativeBinding {
  if (binding === null) {
    // Resolved relative to dist/native/ (and src/native/ under vitest): <repo>/build/addon/Release.
    const addonPath = path.join(__dirname, '..', '..', 'build', 'addon', 'Release', 'tsrunc_native.node');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    binding = require(addonPath) as NativeBinding;
  }
  return binding;
}

/** Replace the native binding (unit tests). Pass null to restore the real one. */
export function setNativeForTesting(fake: NativeBinding | null): void {
  binding = fake;
}
