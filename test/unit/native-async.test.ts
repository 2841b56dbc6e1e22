// The addon's calls for a long-lived caller that must never block its event loop (addon/async.cc
// and the non-blocking sync/console calls in addon/binding.cc): pidfds, fd watches on the libuv
// loop, flock without waiting, sync records and console fds without waiting. On the real addon;
// the watches' lifetime (ref/unref, teardown, exceptions) in child node processes of their own.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';

import { native } from '../../src/native';
import { SyncMessage } from '../../src/plan/types';

const ADDON = path.resolve(__dirname, '..', '..', 'build', 'addon', 'Release', 'tsrunc_native.node');
const SIGTERM = 15;

let dir = '';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-native-async-'));
  // Orphans started below become our children, as a container's init is the shim's.
  native().setChildSubreaper(true);
});

afterAll(() => {
  native().setChildSubreaper(false);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A few turns of the event loop, each with a poll phase. */
async function loopTurns(count = 3): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** The status of the next event on fd; the watch is stopped in its first callback. */
function nextEvent(fd: number): Promise<number> {
  return new Promise((resolve) => {
    const watch = native().watchReadable(fd, (status) => {
      watch.stop();
      resolve(status);
    });
  });
}

function errorOf(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
  throw new Error('expected a throw');
}

interface Orphan {
  pid: number;
  /** Our end of its socket: closing it makes the process exit with status 7. */
  release: () => void;
}

/**
 * A child of this process that libuv knows nothing of (its waitpid would race ours): a shell
 * starts it in the background and exits, and as subreaper we inherit it. It waits for EOF on a
 * socket whose other end we hold, then exits 7. Killed and reaped when the test ends.
 */
async function orphan(): Promise<Orphan> {
  const [ours, theirs] = native().seqpacketPair();
  const sh = spawn(
    '/bin/sh',
    ['-c', 'exec 3<&0; (read x <&3; exit 7) </dev/null >/dev/null 2>&1 & echo $!'],
    {
      stdio: [theirs, 'pipe', 'inherit'],
    },
  );
  let out = '';
  sh.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => sh.on('close', resolve));
  native().closeFd(theirs);
  expect(code).toBe(0);
  const pid = Number(out.trim());
  let open = true;
  const release = () => {
    if (open) native().closeFd(ours);
    open = false;
  };
  // Also when the test fails or times out half way. By a pidfd of its own: once the test has
  // reaped it, its pid may be another process's.
  const own = native().pidfdOpen(pid);
  onTestFinished(() => {
    release();
    try {
      native().pidfdSignal(own, 9);
      native().waitPid(pid, true);
    } catch {
      // reaped by the test
    }
    native().closeFd(own);
  });
  return { pid, release };
}

/** Runs a node script that loads the addon (as `n`), synchronously. */
function runNode(script: string, args: string[] = []) {
  return spawnSync(
    process.execPath,
    [...args, '-e', `const n = require(${JSON.stringify(ADDON)});\n${script}`],
    {
      encoding: 'utf8',
      // Bounds a hang (a watch that keeps the loop alive when it should not): then signal is set.
      timeout: 20_000,
    },
  );
}

describe('pidfds', () => {
  it('a child that exits: null while it runs, then its exit status, and the watch fires when it exits', async () => {
    const child = await orphan();
    let pidfd = -1;
    try {
      pidfd = native().pidfdOpen(child.pid);
      expect(native().pidfdReap(pidfd)).toBeNull();
      native().pidfdSignal(pidfd, 0);
      expect(fs.readlinkSync(`/proc/self/fd/${pidfd}`)).toBe('anon_inode:[pidfd]');
      const exited = nextEvent(pidfd);
      child.release();
      expect(await exited).toBe(0);
      expect(native().pidfdReap(pidfd)).toEqual({ exitCode: 7, signal: 0 });
      // Reaped: gone for good.
      expect(errorOf(() => native().pidfdSignal(pidfd, 0)).code).toBe('ESRCH');
      const open = errorOf(() => native().pidfdOpen(child.pid));
      expect(open.code).toBe('ESRCH');
      expect(open.message).toMatch(new RegExp(`^pidfd_open ${child.pid}: no such process$`, 'i'));
    } finally {
      if (pidfd >= 0) native().closeFd(pidfd);
    }
  });

  it('a child killed by a signal: exitCode 128+signal and the signal', async () => {
    const child = await orphan();
    const pidfd = native().pidfdOpen(child.pid);
    try {
      const exited = nextEvent(pidfd);
      native().pidfdSignal(pidfd, SIGTERM);
      expect(await exited).toBe(0);
      expect(native().pidfdReap(pidfd)).toEqual({ exitCode: 128 + SIGTERM, signal: SIGTERM });
    } finally {
      native().closeFd(pidfd);
    }
  });

  it('a process that is not our child cannot be reaped: ECHILD', () => {
    const pidfd = native().pidfdOpen(1);
    try {
      const error = errorOf(() => native().pidfdReap(pidfd));
      expect(error.code).toBe('ECHILD');
      expect(error.errno).toBe(os.constants.errno.ECHILD);
    } finally {
      native().closeFd(pidfd);
    }
  });
});

describe('watchReadable', () => {
  it('fires when a socket gets data, not before; never after stop', async () => {
    const [a, b] = native().seqpacketPair();
    const events: number[] = [];
    let firstEvent!: () => void;
    const fired = new Promise<void>((resolve) => (firstEvent = resolve));
    const watch = native().watchReadable(a, (status) => {
      events.push(status);
      firstEvent();
    });
    try {
      await loopTurns();
      expect(events).toEqual([]);
      native().syncSend(b, SyncMessage.IntermediateGo);
      await fired;
      expect(events).toEqual([0]);
      watch.stop();
      // Still readable (the record is unread) and more to come: a running watch fires each turn.
      native().syncSend(b, SyncMessage.IntermediateGo);
      await loopTurns();
      expect(events).toEqual([0]);
      // Idempotent; ref and unref of a stopped watch do nothing.
      watch.stop();
      watch.ref();
      watch.unref();
    } finally {
      watch.stop();
      native().closeFd(a);
      native().closeFd(b);
    }
  });

  it('level triggered: fires every turn while readable, until read', async () => {
    const [a, b] = native().seqpacketPair();
    let count = 0;
    const watch = native().watchReadable(a, () => count++);
    try {
      native().syncSend(b, SyncMessage.IntermediateGo);
      await loopTurns(4);
      expect(count).toBeGreaterThanOrEqual(2);
      expect(native().syncTryRecv(a)).toMatchObject({ type: SyncMessage.IntermediateGo });
      await loopTurns();
      const afterRead = count;
      await loopTurns();
      expect(count).toBe(afterRead);
    } finally {
      watch.stop();
      native().closeFd(a);
      native().closeFd(b);
    }
  });

  it('a fifo: fires for data, then for the hang-up when the writer closes', async () => {
    const fifo = path.join(dir, 'fifo');
    native().mkfifo(fifo, 0o600);
    const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const writer = fs.openSync(fifo, fs.constants.O_WRONLY);
    try {
      const data = nextEvent(reader);
      fs.writeSync(writer, 'hello');
      expect(await data).toBe(0);
      const buffer = Buffer.alloc(16);
      expect(buffer.toString('utf8', 0, fs.readSync(reader, buffer))).toBe('hello');
      const hangup = nextEvent(reader);
      fs.closeSync(writer);
      expect(await hangup).toBe(0);
      expect(fs.readSync(reader, buffer)).toBe(0);
    } finally {
      fs.closeSync(reader);
      try {
        fs.closeSync(writer);
      } catch {
        // closed above
      }
      fs.rmSync(fifo);
    }
  });

  it('a regular file cannot be polled (EPERM), nor an fd this loop polls already (EEXIST)', () => {
    const file = path.join(dir, 'regular');
    fs.writeFileSync(file, 'x');
    const fd = fs.openSync(file, 'r');
    const [a, b] = native().seqpacketPair();
    const watch = native().watchReadable(a, () => {});
    try {
      const regular = errorOf(() => native().watchReadable(fd, () => {}));
      expect(regular.code).toBe('EPERM');
      expect(regular.message).toMatch(new RegExp(`^watchReadable: fd ${fd}: operation not permitted$`, 'i'));
      expect(errorOf(() => native().watchReadable(a, () => {})).code).toBe('EEXIST');
    } finally {
      watch.stop();
      fs.closeSync(fd);
      native().closeFd(a);
      native().closeFd(b);
      fs.rmSync(file);
    }
  });

  it('stop() alone, apart from its object, still stops the watch; the methods check their arguments', async () => {
    const [a, b] = native().seqpacketPair();
    let count = 0;
    const { stop, unref } = native().watchReadable(a, () => count++);
    try {
      expect(() => (unref as (x: number) => void)(1)).toThrow(new TypeError('FdWatch.unref()'));
      stop();
      native().syncSend(b, SyncMessage.IntermediateGo);
      await loopTurns();
      expect(count).toBe(0);
    } finally {
      stop();
      native().closeFd(a);
      native().closeFd(b);
    }
  });

  it('an unref-ed watch does not keep the process alive', () => {
    const run = runNode(`
      const [a, b] = n.seqpacketPair();
      const watch = n.watchReadable(a, () => console.log('event'));
      watch.unref();
      console.log('ready');
    `);
    expect({ signal: run.signal, status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({
      signal: null,
      status: 0,
      stdout: 'ready\n',
      stderr: '',
    });
  });

  it.each([
    ['a watch', ''],
    ['a watch unref-ed then ref-ed again', 'watch.unref(); watch.ref();'],
  ])('%s keeps the process alive until it is stopped', async (_, refCalls) => {
    // The child watches its stdin (a pipe from us) and stops at the first event: it only gets
    // there if the watch kept it running until we write.
    const script = `
      const n = require(${JSON.stringify(ADDON)});
      const watch = n.watchReadable(0, (status) => {
        console.log('event ' + status);
        watch.stop();
        console.log('stopped');
      });
      ${refCalls}
      console.log('ready');
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    // Also when the test times out (a watch that never fires or never stops): no orphan left.
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.startsWith('ready\n')) ready();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<[number | null, string | null]>((resolve) =>
      child.on('close', (code, signal) => resolve([code, signal])),
    );
    await Promise.race([isReady, exited]);
    child.stdin.write('x');
    expect(await exited).toEqual([0, null]);
    expect({ stdout, stderr }).toEqual({ stdout: 'ready\nevent 0\nstopped\n', stderr: '' });
  });

  it('what onEvent throws is an uncaught exception: printed, exit status 1, no abort', () => {
    const run = runNode(`
      const [a, b] = n.seqpacketPair();
      const watch = n.watchReadable(a, () => {
        watch.stop();
        throw new Error('thrown by onEvent');
      });
      n.syncSend(b, 2);
    `);
    expect({ signal: run.signal, status: run.status }).toEqual({ signal: null, status: 1 });
    expect(run.stderr).toContain('Error: thrown by onEvent');
  });

  it("what onEvent throws reaches process.on('uncaughtException'), and the process goes on", () => {
    const run = runNode(`
      process.on('uncaughtException', (error) => console.log('caught: ' + error.message));
      const [a, b] = n.seqpacketPair();
      const watch = n.watchReadable(a, () => {
        watch.stop();
        setImmediate(() => console.log('still running'));
        throw new Error('thrown by onEvent');
      });
      n.syncSend(b, 2);
    `);
    expect({ signal: run.signal, status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({
      signal: null,
      status: 0,
      stdout: 'caught: thrown by onEvent\nstill running\n',
      stderr: '',
    });
  });

  it('watches never stopped do not break the teardown of a worker (process.exit, terminate)', () => {
    // A handle left open at a worker's end aborts the whole process (its loop must close).
    const run = runNode(`
      const { Worker } = require('node:worker_threads');
      const body = (end) => \`
        const n = require(\${JSON.stringify(${JSON.stringify(ADDON)})});
        const { parentPort } = require('node:worker_threads');
        const [a, b] = n.seqpacketPair();
        n.watchReadable(a, () => {});
        n.watchReadable(b, () => {}).unref();
        const [c, d] = n.seqpacketPair();
        n.watchReadable(c, () => {});
        n.syncSend(d, 2);
        \${end}
      \`;
      const exitCode = (worker) => new Promise((resolve) => worker.on('exit', resolve));
      (async () => {
        const exiting = new Worker(body("setImmediate(() => process.exit(3));"), { eval: true });
        console.log('process.exit: ' + (await exitCode(exiting)));
        const terminated = new Worker(body("parentPort.postMessage('ready');"), { eval: true });
        await new Promise((resolve) => terminated.once('message', resolve));
        await terminated.terminate();
        console.log('terminate: done');
      })();
    `);
    expect({ signal: run.signal, status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({
      signal: null,
      status: 0,
      stdout: 'process.exit: 3\nterminate: done\n',
      stderr: '',
    });
  });
});

describe('tryFlock', () => {
  it('two opens of one directory conflict (flock is per open file description); close releases', () => {
    const first = native().openDirectory(dir);
    const second = native().openDirectory(dir);
    let secondOpen = true;
    try {
      expect(native().tryFlock(first, true)).toBe(true);
      expect(native().tryFlock(second, true)).toBe(false);
      expect(native().tryFlock(second, false)).toBe(false);
      native().unflock(first);
      expect(native().tryFlock(second, false)).toBe(true);
      expect(native().tryFlock(first, false)).toBe(true); // shared with shared
      expect(native().tryFlock(first, true)).toBe(false);
      native().unflock(first);
      native().closeFd(second);
      secondOpen = false;
      expect(native().tryFlock(first, true)).toBe(true);
    } finally {
      native().closeFd(first);
      if (secondOpen) native().closeFd(second);
    }
  });

  it('any other failure throws with the errno name', () => {
    const error = errorOf(() => native().tryFlock(2 ** 30, true));
    expect(error.code).toBe('EBADF');
    expect(error.message).toMatch(/^flock\(LOCK_EX\): bad file descriptor$/i);
    expect(errorOf(() => native().unflock(2 ** 30)).code).toBe('EBADF');
  });
});

describe('syncTryRecv', () => {
  it("null while nothing is queued, then the record (with an fd sent along), 'eof' once the peer is closed", () => {
    const [a, b] = native().seqpacketPair();
    let bOpen = true;
    try {
      expect(native().syncTryRecv(a)).toBeNull();
      native().syncSend(b, SyncMessage.InitReady);
      expect(native().syncTryRecv(a)).toEqual({
        type: SyncMessage.InitReady,
        stage: 0,
        step: 0,
        errno: 0,
        index: 0,
        pid: 0,
        fd: -1,
      });
      expect(native().syncTryRecv(a)).toBeNull();
      // A wrong size is refused as syncRecv refuses it.
      native().sendFds(b, 'short', [a]);
      expect(() => native().syncTryRecv(a)).toThrow(/sync record of unexpected size/);
      native().closeFd(b);
      bOpen = false;
      expect(native().syncTryRecv(a)).toBe('eof');
    } finally {
      native().closeFd(a);
      if (bOpen) native().closeFd(b);
    }
  });
});

/** The flags field of /proc/self/fdinfo/<fd> (octal). */
function fdFlags(fd: number): number {
  const match = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  return parseInt(match![1], 8);
}

describe('acceptUnix and tryReceiveFd', () => {
  it('accept nothing until a peer connects; the fd it sends arrives close-on-exec', () => {
    const socketPath = path.join(dir, 'console.sock');
    const listener = native().listenUnix(socketPath);
    const fds: number[] = [];
    try {
      expect(native().acceptUnix(listener)).toBe(-1);
      const client = native().connectUnix(socketPath);
      fds.push(client);
      const conn = native().acceptUnix(listener);
      expect(conn).toBeGreaterThanOrEqual(0);
      fds.push(conn);
      expect(fdFlags(conn) & (fs.constants.O_NONBLOCK | 0o2000000)).toBe(fs.constants.O_NONBLOCK | 0o2000000);
      expect(native().acceptUnix(listener)).toBe(-1);
      expect(native().tryReceiveFd(conn)).toBeNull();
      const sent = fs.openSync(socketPath.replace('console.sock', 'sent'), 'w');
      fds.push(sent);
      native().sendFds(client, '/dev/pts/9', [sent]);
      const received = native().tryReceiveFd(conn);
      expect(received).not.toBeNull();
      fds.push(received!);
      const [a, b] = [fs.fstatSync(sent), fs.fstatSync(received!)];
      expect([b.dev, b.ino]).toEqual([a.dev, a.ino]);
      expect(fdFlags(received!) & 0o2000000).toBe(0o2000000);
    } finally {
      for (const fd of fds) native().closeFd(fd);
      native().closeFd(listener);
      fs.rmSync(socketPath, { force: true });
      fs.rmSync(path.join(dir, 'sent'), { force: true });
    }
  });

  it('a peer that closes first, or sends no fd: EPROTO', () => {
    const socketPath = path.join(dir, 'console2.sock');
    const listener = native().listenUnix(socketPath);
    const fds: number[] = [];
    try {
      const quiet = native().connectUnix(socketPath);
      const quietConn = native().acceptUnix(listener);
      fds.push(quietConn);
      native().closeFd(quiet);
      const closed = errorOf(() => native().tryReceiveFd(quietConn));
      expect(closed.code).toBe('EPROTO');
      expect(closed.message).toBe('console socket: closed by the peer before it sent an fd');

      const talker = native().connectUnix(socketPath);
      fds.push(talker);
      const talkerConn = native().acceptUnix(listener);
      fds.push(talkerConn);
      fs.writeSync(talker, '/dev/pts/1');
      const noFd = errorOf(() => native().tryReceiveFd(talkerConn));
      expect(noFd.code).toBe('EPROTO');
      expect(noFd.message).toBe('console socket: a message without an fd');
    } finally {
      for (const fd of fds) native().closeFd(fd);
      native().closeFd(listener);
      fs.rmSync(socketPath, { force: true });
    }
  });

  it('receiveFd still waits for a connection on the (now non-blocking) listening socket', () => {
    const socketPath = path.join(dir, 'console3.sock');
    const listener = native().listenUnix(socketPath);
    const client = native().connectUnix(socketPath);
    const sent = native().openPath('/');
    try {
      native().sendFds(client, '/dev/pts/2', [sent]);
      const received = native().receiveFd(listener, 5_000);
      expect(fs.readlinkSync(`/proc/self/fd/${received}`)).toBe('/');
      native().closeFd(received);
    } finally {
      native().closeFd(sent);
      native().closeFd(client);
      native().closeFd(listener);
      fs.rmSync(socketPath, { force: true });
    }
  });
});
