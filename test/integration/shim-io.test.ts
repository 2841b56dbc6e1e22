// The shim's stdio (src/shim/io.ts) with real containers run through the library's Runtime, as
// the Task service does: ProcessIo.open -> create/exec (its stdio map or consoleSocketFd) ->
// afterSpawn -> start -> exit -> drainAndClose. The test plays containerd's client: it makes the
// FIFOs (mkfifo), opens its read ends non-blocking before open() and its stdin writer after, as
// ctr does, and reads until EOF.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { native } from '../../src/native';
import type { ExitStatus } from '../../src/runtime/reaper';
import { Runtime } from '../../src/runtime/runtime';
import { type IoSpec, ProcessIo } from '../../src/shim/io';
import { createLogger } from '../../src/util/log';
import { type Config, containerId, defaultTestConfig, removeTree, tempDir } from '../helpers/bundle';
import { testEnv } from '../helpers/env';
import { waitFor } from '../helpers/lifecycle-helpers';
import { stateRoot } from '../helpers/tsrunc';

const NAMESPACE = 'shim-io-test';
const MIB = 1024 * 1024;

let work: string | null = null;
let runtime: Runtime | null = null;
const ios: ProcessIo[] = [];
const containers: string[] = [];
const clientFds: number[] = [];
const clientStreams: net.Socket[] = [];

afterEach(async () => {
  for (const stream of clientStreams.splice(0)) stream.destroy();
  for (const fd of clientFds.splice(0)) {
    try {
      fs.closeSync(fd);
    } catch {
      // closed by the test already
    }
  }
  for (const id of containers.splice(0)) {
    // The init is our child: reaped before the runtime stops watching it.
    const exited = runtime?.wait(id).catch(() => {});
    try {
      await runtime?.delete(id, { force: true });
    } catch {
      // deleted by the test already
    }
    await exited;
  }
  for (const io of ios.splice(0)) {
    io.destroy();
    await io.drainAndClose();
  }
  runtime?.close();
  runtime = null;
  if (work) await removeTree(work);
  work = null;
});

function setUp(): Runtime {
  work = tempDir('shim-io');
  runtime = new Runtime({
    root: stateRoot(),
    logger: createLogger({ file: path.join(work, 'runtime.log'), format: 'json', debug: false }),
  });
  return runtime;
}

/** A bundle whose process runs `script` under sh on the shared busybox rootfs, read-only. */
async function bundle(script: string, mutate?: (config: Config) => void): Promise<string> {
  const dir = fs.mkdtempSync(path.join(work!, 'b-'));
  const config = await defaultTestConfig();
  config.root = { path: testEnv().rootfs, readonly: true };
  // The run's tag as $0: a concurrent run's leak check leaves the process alone.
  config.process.args = ['sh', '-c', script, `tsrunc-test-${testEnv().runId}`];
  mutate?.(config);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

function ioOptions(id: string) {
  return { id, namespace: NAMESPACE, logger: runtime!.context.logger, native: native() };
}

async function openIo(id: string, spec: IoSpec): Promise<ProcessIo> {
  const io = await ProcessIo.open(spec, ioOptions(id));
  ios.push(io);
  return io;
}

interface Started {
  id: string;
  pid: number;
  io: ProcessIo;
  exit: Promise<ExitStatus>;
}

/** Create -> afterSpawn -> start, as the Task service's Create and Start do. */
async function startContainer(
  bundleDir: string,
  spec: IoSpec,
  beforeStart?: (io: ProcessIo) => void,
): Promise<Started> {
  const id = containerId('shimio');
  const io = await openIo(id, spec);
  let pid: number;
  try {
    ({ pid } = await runtime!.create({
      id,
      bundle: bundleDir,
      stdio: io.stdio,
      consoleSocketFd: io.consoleSocketFd,
    }));
  } catch (error) {
    io.destroy();
    throw error;
  }
  containers.push(id);
  await io.afterSpawn();
  beforeStart?.(io);
  await runtime!.start(id);
  return { id, pid, io, exit: runtime!.wait(id) };
}

/** The client's read end of a FIFO (made and opened before the shim opens it). */
interface ClientReader {
  path: string;
  text(): string;
  ended(): boolean;
  /** Everything, once EOF came. */
  done: Promise<string>;
}

function fifoPath(name: string): string {
  const file = path.join(work!, name);
  native().mkfifo(file, 0o700);
  return file;
}

function clientReader(name: string): ClientReader {
  const file = fifoPath(name);
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const stream = new net.Socket({ fd, readable: true, writable: false });
  clientStreams.push(stream);
  let text = '';
  let ended = false;
  const done = new Promise<string>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    stream.on('end', () => {
      ended = true;
      resolve(text);
    });
    stream.on('error', reject);
  });
  return { path: file, text: () => text, ended: () => ended, done };
}

/** The client's writer of a stdin FIFO: opened once the shim has its reader (ctr's open waits
 *  for that; a non-blocking open would fail with ENXIO before). */
function clientWriter(file: string): number {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  clientFds.push(fd);
  return fd;
}

function closeClient(fd: number): void {
  fs.closeSync(fd);
  clientFds.splice(clientFds.indexOf(fd), 1);
}

/** The process is blocked in read(2) or write(2) of `fd` (from /proc/<pid>/syscall). */
function blockedIn(pid: number, call: 'read' | 'write', fd: number): boolean {
  const numbers: Record<string, { read: number; write: number }> = {
    x64: { read: 0, write: 1 },
    arm64: { read: 63, write: 64 },
  };
  const nr = numbers[process.arch]?.[call];
  if (nr === undefined) throw new Error(`no syscall numbers for ${process.arch}`);
  try {
    const fields = fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ');
    return Number(fields[0]) === nr && Number(fields[1]) === fd;
  } catch {
    return false;
  }
}

/** wchar of /proc/<pid>/io: the bytes the process has written so far. */
function bytesWritten(pid: number): number {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/^wchar: (\d+)$/m.exec(io)?.[1]);
}

function procState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return null;
  }
}

/** Let the process past its `until [ -e /dev/shm/go ]` loop (written through its root). */
function letGo(pid: number): void {
  fs.writeFileSync(`/proc/${pid}/root/dev/shm/go`, '');
}

const WAIT_FOR_GO = 'until [ -e /dev/shm/go ]; do usleep 10000; done';

function openFds(): string[] {
  return fs
    .readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return `${fd} -> ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
      } catch {
        return ''; // the directory's own fd
      }
    })
    .filter((line) => line !== '')
    .sort();
}

describe('shim stdio: FIFOs without a terminal', () => {
  it('stdout and stderr go straight into the FIFOs (1 MiB intact); EOF comes once the process is gone, without drainAndClose', async () => {
    setUp();
    const out = clientReader('c-stdout');
    const err = clientReader('c-stderr');
    const script = [
      'echo out-1',
      'echo err-1 >&2',
      `head -c ${MIB} /dev/zero | tr '\\0' x`,
      'echo',
      WAIT_FOR_GO,
      'echo err-2 >&2',
      'echo out-2',
      'exit 3',
    ].join('; ');
    const c = await startContainer(await bundle(script), {
      stdin: '',
      stdout: out.path,
      stderr: err.path,
      terminal: false,
    });
    const big = 'x'.repeat(MIB);
    await waitFor('the first MiB', () => out.text().length >= MIB + 7, 20_000);
    // The process holds the FIFOs, blocked in its loop: no EOF yet.
    expect(out.ended()).toBe(false);
    expect(err.ended()).toBe(false);
    letGo(c.pid);
    // EOF once the process has closed its ends: the shim holds none of them any more.
    const [stdout, stderr] = await Promise.all([out.done, err.done]);
    expect(stdout).toBe(`out-1\n${big}\nout-2\n`);
    expect(stderr).toBe('err-1\nerr-2\n');
    expect((await c.exit).exitCode).toBe(3);
    await c.io.drainAndClose();
    await runtime!.delete(c.id);
  }, 60_000);

  it('stdin: the process sees EOF only after the client closed its writer and closeStdin()', async () => {
    setUp();
    const out = clientReader('c-stdout');
    const stdinPath = fifoPath('c-stdin');
    const c = await startContainer(await bundle('exec cat'), {
      stdin: stdinPath,
      stdout: out.path,
      stderr: '',
      terminal: false,
    });
    const writer = clientWriter(stdinPath);
    fs.writeSync(writer, 'hello\n');
    closeClient(writer);
    await waitFor('cat to echo', () => out.text() === 'hello\n');
    // cat read the line and asks for more: a read that would return 0 at EOF blocks instead,
    // since the shim still holds a writer.
    await waitFor('cat blocked reading stdin', () => blockedIn(c.pid, 'read', 0));
    c.io.closeStdin();
    expect((await c.exit).exitCode).toBe(0);
    expect(await out.done).toBe('hello\n');
    await c.io.drainAndClose();
    await runtime!.delete(c.id);
  });
});

describe('shim stdio: file:// and binary://', () => {
  it('file://: both streams of the init and of an exec append to one file, parents made', async () => {
    setUp();
    const logFile = path.join(work!, 'logs', 'deep', 'c.log');
    const uri = `file://${logFile}`;
    const spec = { stdin: '', stdout: uri, stderr: uri, terminal: false };
    const c = await startContainer(
      await bundle('echo init-out; echo init-err >&2; echo init-out-2; exec sleep 1000'),
      spec,
    );
    await waitFor('the init output', () => fs.readFileSync(logFile, 'utf8').includes('init-out-2'));
    const execIo = await openIo(c.id, spec);
    const exec = await runtime!.exec(c.id, {
      args: ['sh', '-c', 'echo exec-out; echo exec-err >&2; exit 4'],
      stdio: execIo.stdio,
    });
    await execIo.afterSpawn();
    expect((await exec.exit.wait()).exitCode).toBe(4);
    await execIo.drainAndClose();
    expect(fs.readFileSync(logFile, 'utf8')).toBe('init-out\ninit-err\ninit-out-2\nexec-out\nexec-err\n');
    expect(fs.statSync(logFile).mode & 0o777).toBe(0o644);
    expect(fs.statSync(path.dirname(logFile)).mode & 0o777).toBe(0o755);
    await runtime!.kill(c.id, 'KILL');
    await c.exit;
    await c.io.drainAndClose();
    await runtime!.delete(c.id);
  });

  it('binary://: the logger gets the query as argv, exactly CONTAINER_ID and CONTAINER_NAMESPACE, stdout on fd 3, stderr on fd 4', async () => {
    setUp();
    const dir = path.join(work!, 'logger');
    fs.mkdirSync(dir);
    const script = path.join(dir, 'logger.sh');
    fs.writeFileSync(
      script,
      [
        '#!/bin/sh',
        `d=${dir}`,
        '/bin/cat /proc/$$/environ > "$d/env"',
        'printf "%s\\n" "$@" > "$d/args"',
        '/bin/cat <&3 > "$d/out" &',
        '/bin/cat <&4 > "$d/err" &',
        'exec 3<&- 4<&-',
        'printf r >&5',
        'exec 5>&-',
        'wait',
        'echo done > "$d/done"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const uri = `binary://${script}?foo=bar&level=a%20b`;
    const c = await startContainer(await bundle('echo out-1; echo err-1 >&2; echo out-2; exit 2'), {
      stdin: '',
      stdout: uri,
      stderr: uri,
      terminal: false,
    });
    expect((await c.exit).exitCode).toBe(2);
    // Waits for the logger to see EOF and exit (bounded, then SIGKILL).
    await c.io.drainAndClose();
    const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');
    expect(read('done')).toBe('done\n');
    expect(read('out')).toBe('out-1\nout-2\n');
    expect(read('err')).toBe('err-1\n');
    expect(read('args')).toBe('foo\nbar\nlevel\na b\n');
    expect(read('env').split('\0').filter(Boolean).sort()).toEqual([
      `CONTAINER_ID=${c.id}`,
      `CONTAINER_NAMESPACE=${NAMESPACE}`,
    ]);
    await runtime!.delete(c.id);
  });
});

describe('shim stdio: terminal', () => {
  const withTerminal = (config: Config) => {
    config.process.terminal = true;
  };

  it('pty output reaches the stdout FIFO, stdin typed reaches the process, resize changes stty size; stderr is ignored', async () => {
    setUp();
    const out = clientReader('c-stdout');
    const stdinPath = fifoPath('c-stdin');
    const script = 'stty size; read a; echo "got:$a"; read b; stty size; exit 5';
    const c = await startContainer(
      await bundle(script, withTerminal),
      {
        stdin: stdinPath,
        stdout: out.path,
        // CRI sends a stderr path with a terminal, which nobody reads: it must not be opened.
        stderr: path.join(work!, 'no-such-dir', 'c-stderr'),
        terminal: true,
      },
      // ctr resizes right after start; before it, the first `stty size` sees the size for sure.
      (io) => io.resize(120, 40),
    );
    expect(c.io.stdio).toBeUndefined();
    const writer = clientWriter(stdinPath);
    await waitFor('the first stty size', () => out.text() === '40 120\r\n');
    fs.writeSync(writer, 'hello\n');
    await waitFor('the line read', () => out.text().includes('got:hello'));
    c.io.resize(90, 20);
    fs.writeSync(writer, 'x\n');
    expect((await c.exit).exitCode).toBe(5);
    await c.io.drainAndClose();
    const text = await out.done;
    // The pty echoes what was typed, then the process answers.
    expect(text).toBe('40 120\r\nhello\r\ngot:hello\r\nx\r\n20 90\r\n');
    await runtime!.delete(c.id);
  });

  it('drainAndClose gets the output a process printed right before it exited', async () => {
    setUp();
    const out = clientReader('c-stdout');
    const c = await startContainer(await bundle(`${WAIT_FOR_GO}; echo last-words; exit 7`, withTerminal), {
      stdin: '',
      stdout: out.path,
      stderr: '',
      terminal: true,
    });
    // The event loop is held here from the go to the drain: the output is still on the master
    // when drainAndClose starts, and only it can copy it.
    letGo(c.pid);
    const hold = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; procState(c.pid) !== 'Z'; i++) {
      if (i > 1000) throw new Error(`pid ${c.pid} did not exit`);
      Atomics.wait(hold, 0, 0, 10);
    }
    await c.io.drainAndClose();
    expect(await out.done).toBe('last-words\r\n');
    expect((await c.exit).exitCode).toBe(7);
    await runtime!.delete(c.id);
  });

  it('closing stdin (client writer and CloseIO) hangs up the terminal, as runc does', async () => {
    setUp();
    const out = clientReader('c-stdout');
    const stdinPath = fifoPath('c-stdin');
    const c = await startContainer(await bundle('echo ready; exec cat', withTerminal), {
      stdin: stdinPath,
      stdout: out.path,
      stderr: '',
      terminal: true,
    });
    const writer = clientWriter(stdinPath);
    await waitFor('ready', () => out.text().includes('ready'));
    closeClient(writer);
    await waitFor('cat blocked reading its terminal', () => blockedIn(c.pid, 'read', 0));
    c.io.closeStdin();
    // SIGHUP from the hang-up ends cat.
    // The pty is gone: cat's read ends (EOF or EIO) or SIGHUP ends cat; nothing else would.
    const status = await c.exit;
    expect(status.signal === 1 || [0, 1].includes(status.exitCode), JSON.stringify(status)).toBe(true);
    await c.io.drainAndClose();
    expect(await out.done).toBe('ready\r\n');
    await runtime!.delete(c.id);
  });
});

describe('shim stdio: errors and a client that does not read', () => {
  it('a bad scheme, a relative path, a missing file or logger: a one-line error and no fd left open', async () => {
    setUp();
    const stdinPath = fifoPath('c-stdin');
    const regular = path.join(work!, 'regular');
    fs.writeFileSync(regular, '');
    const cases: [Partial<IoSpec>, string | RegExp][] = [
      [{ stdout: 'ftp:///x' }, 'stdout: unknown STDIO scheme ftp'],
      [{ stderr: 'fifo:///x' }, 'stderr: unknown STDIO scheme fifo'],
      [{ stdin: 'file:///x' }, 'stdin: unknown STDIO scheme file'],
      [{ stdout: 'relative/out' }, 'stdout: must be an absolute path, got "relative/out"'],
      [{ stdin: 'in' }, 'stdin: must be an absolute path, got "in"'],
      [{ stdout: 'file://host/x' }, 'stdout: "file://host/x" is not file:///absolute/path'],
      [{ stdin: stdinPath, stdout: path.join(work!, 'missing') }, /^stdout: ENOENT: /],
      [{ stdin: regular }, `stdin: ${regular} is not a fifo`],
      [
        { stdin: stdinPath, stdout: 'binary:///nonexistent/logger' },
        /^stdout: cannot start the binary logger \/nonexistent\/logger: .*ENOENT/,
      ],
      [
        { stdout: 'binary:///a', stderr: 'binary:///b' },
        'stderr: a binary:// logger must be the same as stdout',
      ],
    ];
    // A first open and close, so lazily made handles (libuv's signal pipe) are there before.
    (await ProcessIo.open({ stdin: '', stdout: '', stderr: '', terminal: false }, ioOptions('x'))).destroy();
    const before = openFds();
    expect.assertions(cases.length * 2);
    for (const [partial, message] of cases) {
      const spec: IoSpec = { stdin: '', stdout: '', stderr: '', terminal: false, ...partial };
      const error = await ProcessIo.open(spec, ioOptions('x')).then(
        () => new Error('opened'),
        (e: Error) => e,
      );
      if (typeof message === 'string') expect(error.message, JSON.stringify(spec)).toBe(message);
      else expect(error.message, JSON.stringify(spec)).toMatch(message);
      expect(openFds(), JSON.stringify(spec)).toEqual(before);
    }
  });

  it('a client that never reads stdout blocks only its own process, not the event loop', async () => {
    setUp();
    // The clients open their read ends and never read.
    const stuckPlain = fifoPath('stuck-plain');
    const stuckTty = fifoPath('stuck-tty');
    for (const file of [stuckPlain, stuckTty])
      clientFds.push(fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
    const plain = await startContainer(await bundle('exec yes'), {
      stdin: '',
      stdout: stuckPlain,
      stderr: '',
      terminal: false,
    });
    const tty = await startContainer(await bundle('exec yes', (config) => (config.process.terminal = true)), {
      stdin: '',
      stdout: stuckTty,
      stderr: '',
      terminal: true,
    });
    await waitFor('yes blocked on a full FIFO', () => blockedIn(plain.pid, 'write', 1), 10_000);
    await waitFor('yes blocked on a full pty', () => blockedIn(tty.pid, 'write', 1), 10_000);
    // Meanwhile the loop serves another container from start to end.
    const out = clientReader('c-stdout');
    const other = await startContainer(await bundle('echo other'), {
      stdin: '',
      stdout: out.path,
      stderr: '',
      terminal: false,
    });
    expect(await out.done).toBe('other\n');
    expect((await other.exit).exitCode).toBe(0);
    await other.io.drainAndClose();
    await runtime!.delete(other.id);
    // What `yes` got written stays bounded by the buffers on the way (FIFO, pty, the shim's
    // queue: some 64 KiB each, 200 KiB at most), however long it ran: the copy waits for the
    // client instead of reading the pty empty into memory.
    for (const stuck of [plain, tty]) expect(bytesWritten(stuck.pid)).toBeLessThan(512 * 1024);
    for (const stuck of [plain, tty]) {
      await runtime!.kill(stuck.id, 'KILL');
      expect((await stuck.exit).signal).toBe(9);
      // Bounded although nobody reads what is still queued.
      await stuck.io.drainAndClose();
      await runtime!.delete(stuck.id);
    }
  }, 60_000);
});

describe('library: consoleSocketFd', () => {
  it('create and exec send the pty master to the caller’s socket, which stays the caller’s', async () => {
    setUp();
    const n = native();
    const [ours, theirs] = n.seqpacketPair();
    clientFds.push(ours, theirs);
    const id = containerId('shimio');
    const bundleDir = await bundle('exec sleep 1000', (config) => (config.process.terminal = true));
    await runtime!.create({ id, bundle: bundleDir, consoleSocketFd: theirs });
    containers.push(id);
    const initMaster = n.tryReceiveFd(ours);
    expect(initMaster).not.toBeNull();
    clientFds.push(initMaster!);
    expect(fs.fstatSync(initMaster!).isCharacterDevice()).toBe(true);
    // Still open and still a working socket: a message through it arrives.
    fs.writeSync(theirs, 'ping');
    const buffer = Buffer.alloc(16);
    expect(buffer.toString('utf8', 0, fs.readSync(ours, buffer))).toBe('ping');
    await runtime!.start(id);
    const exec = await runtime!.exec(id, { args: ['true'], tty: true, consoleSocketFd: theirs });
    const execMaster = n.tryReceiveFd(ours);
    expect(execMaster).not.toBeNull();
    clientFds.push(execMaster!);
    expect((await exec.exit.wait()).exitCode).toBe(0);
    expect(fs.fstatSync(theirs).isSocket()).toBe(true);

    const notSocket = fs.openSync('/dev/null', 'r');
    clientFds.push(notSocket);
    await expect(
      runtime!.exec(id, { args: ['true'], tty: true, consoleSocketFd: notSocket }),
    ).rejects.toThrow(`consoleSocketFd: fd ${notSocket} is not a socket`);
    await expect(
      runtime!.exec(id, { args: ['true'], tty: true, consoleSocketFd: theirs, consoleSocket: '/x.sock' }),
    ).rejects.toThrow('consoleSocketFd: give either it or --console-socket, not both');
    await expect(runtime!.exec(id, { args: ['true'], consoleSocketFd: theirs })).rejects.toThrow(
      'consoleSocketFd is only for a process with a terminal (--tty)',
    );
    const exited = runtime!.wait(id);
    await runtime!.delete(id, { force: true });
    await exited;
    expect(fs.fstatSync(theirs).isSocket()).toBe(true);
  });
});
