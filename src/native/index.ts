// The only module that loads the .node file. Everything native goes through `NativeBinding`, so
// unit tests can install a fake with `setNativeForTesting`.
import * as path from 'node:path';
import type { SeccompCompileInput, SeccompCompiled } from '../plan/seccomp';
import type { NativePlan, SyncRecord } from '../plan/types';

/** A libuv poll of an fd on the event loop (addon: uv_poll_t). */
export interface FdWatch {
  /** Stop watching and free the handle; idempotent. The callback never runs after it. */
  stop(): void;
  /** Keep the event loop alive while watching (the default). */
  ref(): void;
  /** Do not keep the event loop alive for this watch. */
  unref(): void;
}

export interface SpawnResult {
  /** Host pid of the stage-1 (intermediate) process; the parent reaps it. */
  intermediatePid: number;
  /** Parent end of the SOCK_SEQPACKET sync socket (O_CLOEXEC). */
  syncFd: number;
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
  syncSend(fd: number, type: number): void;
  /** One sendmsg(2) of payload with fds attached (SCM_RIGHTS) on a connected socket. */
  sendFds(socketFd: number, payload: string, fds: number[]): void;
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
  /** Accept one connection and receive the fd it sends with SCM_RIGHTS (a console socket). */
  receiveFd(listenFd: number, timeoutMs: number): number;
  /** TIOCSWINSZ on a terminal fd. */
  setWindowSize(fd: number, rows: number, columns: number): void;
  /** mkfifo(3); Node has no binding for it. */
  mkfifo(fifoPath: string, mode: number): void;
  strerror(errno: number): string;
  // Asynchronous waits (addon/async.cc): nothing here blocks.
  /** pidfd_open(pid, 0): a close-on-exec fd naming that process; throws (code ESRCH) when gone. */
  pidfdOpen(pid: number): number;
  /** waitid(P_PIDFD, WEXITED|WNOHANG): null while it runs; once reaped, its exit code (128+N for
   *  signal N) and the signal (0 when it exited). Throws (code ECHILD) for a non-child. */
  pidfdReap(pidfd: number): { exitCode: number; signal: number } | null;
  /** pidfd_send_signal; throws (code ESRCH) once the process has exited. */
  pidfdSignal(pidfd: number, signo: number): void;
  /** Call onEvent on the event loop each time fd is readable or hung up (level triggered). */
  watchReadable(fd: number, onEvent: (status: number) => void): FdWatch;
  /** flock(LOCK_EX or LOCK_SH | LOCK_NB): false when another open file description holds it. */
  tryFlock(fd: number, exclusive: boolean): boolean;
  unflock(fd: number): void;
  /** One sync record if queued, 'eof' when every peer end is closed, null when none yet. */
  syncTryRecv(fd: number): SyncRecord | 'eof' | null;
  /** accept4 without waiting: a connected fd, or -1 when no connection is pending. */
  acceptUnix(listenFd: number): number;
  /** One fd sent with SCM_RIGHTS on a connection, null when nothing arrived yet; throws when
   *  the peer closed without sending one. */
  tryReceiveFd(connFd: number): number | null;
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
