// The container process's fds come from an explicit map (NativePlan stdio and extraFds: any fds
// of the caller become its 0-2 and 3..), built by the stage-1 child (addon/child.cc MapStdio).
// The library's API for it is not there yet, so these drive native().spawnInit directly with a
// plan made by hand: no namespaces, nothing to build, the exec handshake (IntermediateReady, Go,
// InitPid, InitReady); the sync socket and the init are waited for through watchReadable, as a
// shim would. The identity map of `tsrunc run --preserve-fds` is tested in process-exec.test.ts.
// Every fd of the container is checked from outside (/proc/<pid>/fd) while it waits on stdin,
// and what it writes is read from the fifo the test mapped there.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { native } from '../../src/native';
import { STEP_NAMES } from '../../src/plan/generated/protocol';
import { SyncMessage, type NativePlan, type SyncRecord } from '../../src/plan/types';
import { testEnv } from '../helpers/env';
import { waitFor } from '../helpers/lifecycle-helpers';

let dir = '';
const opened: number[] = [];
/** What each fifo reader has given so far. */
const received = new Map<number, string>();

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(testEnv().tmpBase, 'stdio-map-'));
});

afterEach(() => {
  received.clear();
  for (const fd of opened.splice(0)) fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
});

function keep(fd: number): number {
  opened.push(fd);
  return fd;
}

interface Fifo {
  path: string;
  /** Our end for reading what the container writes (non-blocking). */
  reader: number;
  /** The end to hand to the container. */
  writer: number;
}

function fifo(name: string): Fifo {
  const fifoPath = path.join(dir, name);
  native().mkfifo(fifoPath, 0o600);
  const reader = keep(fs.openSync(fifoPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
  return { path: fifoPath, reader, writer: keep(fs.openSync(fifoPath, fs.constants.O_WRONLY)) };
}

/** Everything the fifo holds by now, appended to what was read before. */
function drain(reader: number): string {
  const buffer = Buffer.alloc(4096);
  for (;;) {
    let n = 0;
    try {
      n = fs.readSync(reader, buffer);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw error;
    }
    if (n === 0) break;
    received.set(reader, (received.get(reader) ?? '') + buffer.toString('utf8', 0, n));
  }
  return received.get(reader) ?? '';
}

/** The plan of a process run in our own namespaces, as root, with the given fd map. */
function plan(args: string[], stdio: [number, number, number], extraFds: number[]): NativePlan {
  return {
    joinNamespaces: [],
    newUserNamespace: false,
    newNamespaceFlags: 0,
    timeOffsets: '',
    oomScoreAdj: null,
    rlimits: [],
    sessionKeyringName: null,
    rootfs: '/',
    buildRootfs: false,
    enterRoot: 'none',
    rootPropagation: 0,
    rootPropagationAfterPivot: 0,
    rootReadonly: false,
    noPivot: false,
    mounts: [],
    devices: [],
    symlinks: [],
    maskedPaths: [],
    readonlyPaths: [],
    sysctl: [],
    hostname: null,
    domainname: null,
    args,
    env: ['PATH=/usr/bin:/bin'],
    searchPath: '/usr/bin:/bin',
    executable: null,
    cwd: '/',
    uid: 0,
    gid: 0,
    additionalGids: [],
    umask: 0o022,
    capabilities: null,
    noNewPrivileges: false,
    personality: -1,
    terminal: false,
    consoleRows: 0,
    consoleColumns: 0,
    execMode: true,
    consoleSocketFd: -1,
    execFifoFd: -1,
    stdio,
    extraFds,
    seccomp: null,
  };
}

/** The next record on the sync socket, without blocking the event loop. */
function nextRecord(syncFd: number): Promise<SyncRecord | 'eof'> {
  return new Promise((resolve, reject) => {
    const watch = native().watchReadable(syncFd, () => {
      try {
        const got = native().syncTryRecv(syncFd);
        if (got === null) return;
        watch.stop();
        resolve(got);
      } catch (error) {
        watch.stop();
        reject(error as Error);
      }
    });
  });
}

async function expectRecord(syncFd: number, type: number): Promise<SyncRecord> {
  const got = await nextRecord(syncFd);
  if (got !== 'eof' && got.type === SyncMessage.Error) {
    throw new Error(`the child failed: ${STEP_NAMES[got.step]} (index ${got.index}): errno ${got.errno}`);
  }
  expect(got).toMatchObject({ type });
  return got as SyncRecord;
}

/** Exit status of our child behind pidfd, once it exits. */
function exitOf(pidfd: number): Promise<number> {
  return new Promise((resolve) => {
    const watch = native().watchReadable(pidfd, () => {
      const reaped = native().pidfdReap(pidfd);
      if (reaped === null) return;
      watch.stop();
      resolve(reaped.exitCode);
    });
  });
}

/**
 * Starts `script` under /bin/sh with the map; `whileRunning` gets its pid once InitReady is in;
 * then the process is let go (a line on stdin) and its exit status returned.
 */
async function runMapped(
  script: string,
  stdio: [number, number, number],
  extraFds: number[],
  letGo: () => void,
  whileRunning: (pid: number) => Promise<void>,
): Promise<number> {
  const spawned = native().spawnInit(plan(['/bin/sh', '-c', script], stdio, extraFds));
  let pidfd = -1;
  let exited: Promise<number> | null = null;
  let intermediateReaped = false;
  let initReaped = false;
  try {
    await expectRecord(spawned.syncFd, SyncMessage.IntermediateReady);
    native().syncSend(spawned.syncFd, SyncMessage.IntermediateGo);
    const init = await expectRecord(spawned.syncFd, SyncMessage.InitPid);
    pidfd = native().pidfdOpen(init.pid);
    exited = exitOf(pidfd);
    native().waitPid(spawned.intermediatePid, true);
    intermediateReaped = true;
    await expectRecord(spawned.syncFd, SyncMessage.InitReady);
    await whileRunning(init.pid);
    letGo();
    const status = await exited;
    initReaped = true;
    return status;
  } finally {
    native().closeFd(spawned.syncFd);
    if (!intermediateReaped) native().waitPid(spawned.intermediatePid, true);
    if (exited !== null && !initReaped) {
      // After a failure above: the process may still run.
      try {
        native().pidfdSignal(pidfd, 9);
      } catch {
        // exited (and reaped by the watch) already
      }
      await exited;
    }
    if (pidfd >= 0) native().closeFd(pidfd);
  }
}

/** fd number -> link target, of another process. */
function fdTable(pid: number): Map<number, string> {
  const table = new Map<number, string>();
  for (const name of fs.readdirSync(`/proc/${pid}/fd`)) {
    table.set(Number(name), fs.readlinkSync(`/proc/${pid}/fd/${name}`));
  }
  return new Map([...table].sort(([a], [b]) => a - b));
}

const ownLink = (fd: number) => fs.readlinkSync(`/proc/self/fd/${fd}`);

describe('stdio map', () => {
  it('any fds of ours become 0, 1, 2 and 3 of the container process, and nothing else does', async () => {
    const input = path.join(dir, 'in');
    native().mkfifo(input, 0o600);
    // Read-write: opening never blocks, and the container's `read` blocks until we write.
    const stdin = keep(fs.openSync(input, fs.constants.O_RDWR));
    const [one, two, three] = [fifo('one'), fifo('two'), fifo('three')];
    const status = await runMapped(
      // Output without a redirection last: once it is there, dash has no fd of its own open.
      'echo two >&2; echo three >&3; echo one; read line',
      [stdin, one.writer, two.writer],
      [three.writer],
      () => fs.writeSync(stdin, 'go\n'),
      async (pid) => {
        await waitFor('the output on fd 1', () => drain(one.reader) !== '');
        expect(fdTable(pid)).toEqual(
          new Map([
            [0, input],
            [1, one.path],
            [2, two.path],
            [3, three.path],
          ]),
        );
      },
    );
    expect(status).toBe(0);
    expect([drain(one.reader), drain(two.reader), drain(three.reader)]).toEqual([
      'one\n',
      'two\n',
      'three\n',
    ]);
  });

  it("sources that are other entries' targets, and one source twice: each fd gets what was asked", async () => {
    const input = path.join(dir, 'in');
    native().mkfifo(input, 0o600);
    const stdin = keep(fs.openSync(input, fs.constants.O_RDWR));
    const [a, b] = [fifo('a'), fifo('b')];
    const devNull = keep(fs.openSync('/dev/null', 'w'));
    // Our fds a and b are targets in the container too: swapped, and a is also the source of 1
    // and 2. Target 3 comes from our fd 0, itself the target of the container's stdin.
    const [fdA, fdB] = [a.writer, b.writer];
    expect(Math.min(fdA, fdB)).toBeGreaterThan(3);
    const extra = Array.from({ length: Math.max(fdA, fdB) - 2 }, () => devNull);
    extra[0] = 0;
    extra[fdA - 3] = fdB;
    extra[fdB - 3] = fdA;
    const expected = new Map<number, string>([
      [0, input],
      [1, a.path],
      [2, a.path],
    ]);
    extra.forEach((source, i) => expected.set(3 + i, source === 0 ? ownLink(0) : ownLink(source)));
    expect(expected.get(fdA)).toBe(b.path);

    const status = await runMapped(
      // dash takes no fd above 9 in a redirection: its /proc/self/fd link reopens the same fifo.
      `echo to-a >/proc/self/fd/${fdA}; echo to-b >/proc/self/fd/${fdB}; echo one; read line`,
      [stdin, fdA, fdA],
      extra,
      () => fs.writeSync(stdin, 'go\n'),
      async (pid) => {
        await waitFor('the output on fd 1', () => drain(a.reader).endsWith('one\n'));
        expect(fdTable(pid)).toEqual(expected);
      },
    );
    expect(status).toBe(0);
    // The container's fd a is our fifo b and its fd b our fifo a.
    expect(drain(a.reader)).toBe('to-b\none\n');
    expect(drain(b.reader)).toBe('to-a\n');
  });
});
