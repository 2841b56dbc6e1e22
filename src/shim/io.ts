// The stdio of a process the shim runs, from the stdin/stdout/stderr strings of containerd's
// Create and Exec (SHIM-PROTOCOL.md section 5): "" is not connected, a path is a FIFO the
// client made (or a regular file), `file:///abs` appends to a file, `binary:///abs?k=v` pipes
// the output to a logger program.
//
// Without a terminal the process gets the FIFOs or files themselves: no byte passes through
// Node, so a client that stops reading stalls only its own process. stdout/stderr FIFOs are
// opened O_RDWR (never blocks on Linux; the shim's reader means the container's writes never
// get EPIPE, as runc's shim keeps one). stdin: the shim holds a writer of its own until CloseIO,
// so the process sees EOF only once the client's writer and that one are closed.
//
// With a terminal the pty master comes from the library over a socketpair (consoleSocketFd) and
// the shim copies stdin FIFO -> master and master -> stdout, through fds libuv watches, with
// backpressure both ways: a full pty or an unread FIFO pauses the copy instead of blocking the
// event loop or queueing without bound. stderr is ignored (CRI sends a path nobody reads).
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Writable } from 'node:stream';

import type { FdWatch, NativeBinding } from '../native';
import { readWhenReady, waitReadable } from '../runtime/fd-wait';
import type { StdioMap } from '../runtime/stdio';
import type { Logger } from '../util/log';

export interface IoSpec {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface IoOptions {
  /** The container's id (CONTAINER_ID of a binary logger). */
  id: string;
  /** The containerd namespace (CONTAINER_NAMESPACE of a binary logger). */
  namespace: string;
  logger: Logger;
  native: NativeBinding;
}

/** How long a binary logger may take to say it is ready (a byte on fd 5, or closing it). */
const LOGGER_READY_MS = 10_000;
/** How long a binary logger may take to exit once its input ended, before SIGKILL (runc: 12 s). */
const LOGGER_EXIT_MS = 12_000;
/** How long a process's exit (Wait, TaskExit) waits for its logger to finish. */
const LOGGER_WAIT_MS = 2_000;
/** How long a SIGKILLed logger may take to be reaped. */
const LOGGER_KILL_MS = 5_000;
/** The pty master is queued on the socketpair once create/exec returned: this only bounds a bug. */
const RECEIVE_MASTER_MS = 10_000;
/** After the exit: how long the master may take to reach EOF (a grandchild may hold the pty). */
const DRAIN_MS = 2_000;
/** Then how long the copied output may take to be written out (a client that does not read). */
const FLUSH_MS = 2_000;
/** A full pty input buffer is retried after this long (no writability watch for the master). */
const INPUT_RETRY_MS = 20;
const READ_CHUNK = 64 * 1024;

const { O_RDONLY, O_WRONLY, O_RDWR, O_NONBLOCK, O_APPEND, O_CREAT, O_NOCTTY } = fs.constants;

type Field = 'stdin' | 'stdout' | 'stderr';

/** Where one stream goes, parsed from its string. */
type Target =
  | { kind: 'none' }
  | { kind: 'path'; path: string }
  | { kind: 'file'; path: string }
  | { kind: 'binary'; uri: string; path: string; args: string[] };

export class ProcessIo {
  /** For the library's create/exec `stdio` option (undefined with a terminal). */
  readonly stdio: StdioMap | undefined;
  /** With a terminal: pass as `consoleSocketFd` to create/exec. */
  readonly consoleSocketFd: number | undefined;

  private readonly fds: FdSet;
  /** The shim's copies of the fds the process gets: closed once it has its own. */
  private readonly childEnds: number[] = [];
  /** The shim's writer on the stdin FIFO (runc's openStdin), until CloseIO. */
  private stdinWriter = -1;
  private logger: BinaryLogger | null = null;
  /** With a terminal: our end of the socketpair the master arrives on. */
  private consoleReceiveFd = -1;
  private readonly terminal: TerminalCopy | null = null;
  private closed = false;
  private spawned = false;
  private finished: Promise<void> | null = null;

  private constructor(
    private readonly spec: IoSpec,
    private readonly opts: IoOptions,
    parts: {
      fds: FdSet;
      stdio?: StdioMap;
      consoleSocketFd?: number;
      consoleReceiveFd?: number;
      terminal?: TerminalCopy;
    },
  ) {
    this.fds = parts.fds;
    this.stdio = parts.stdio;
    this.consoleSocketFd = parts.consoleSocketFd;
    this.consoleReceiveFd = parts.consoleReceiveFd ?? -1;
    this.terminal = parts.terminal ?? null;
  }

  /** Open everything the process needs before it is created; throws a one-line Error on a bad
   *  path or scheme, with nothing left open. */
  static async open(spec: IoSpec, opts: IoOptions): Promise<ProcessIo> {
    const stdin = parseTarget('stdin', spec.stdin);
    const stdout = parseTarget('stdout', spec.stdout);
    // With a terminal the pty is stdout and stderr both: CRI still sends a stderr path.
    const stderr = spec.terminal ? ({ kind: 'none' } as const) : parseTarget('stderr', spec.stderr);
    checkCombination(stdout, stderr);
    const fds = new FdSet(opts.native);
    const opened: { stdinReader?: number; stdinWriter?: number; logger?: BinaryLogger } = {};
    try {
      if (stdin.kind === 'path') {
        const { reader, writer } = openStdinFifo(fds, stdin.path, spec.terminal);
        opened.stdinReader = reader;
        opened.stdinWriter = writer;
      }
      const binary = stdout.kind === 'binary' ? stdout : null;
      if (binary) {
        opened.logger = await BinaryLogger.start(binary, opts, fds, stderr.kind === 'binary');
      }
      if (spec.terminal) return ProcessIo.forTerminal(spec, opts, fds, stdout, opened);
      const stdio: StdioMap = {};
      const childEnds: number[] = [];
      if (opened.stdinReader !== undefined) childEnds.push((stdio.stdin = opened.stdinReader));
      if (opened.logger) {
        childEnds.push((stdio.stdout = opened.logger.stdoutWriter));
        if (opened.logger.stderrWriter >= 0) childEnds.push((stdio.stderr = opened.logger.stderrWriter));
      } else {
        const out = openOutput(fds, 'stdout', stdout);
        if (out >= 0) childEnds.push((stdio.stdout = out));
        if (stderr.kind === 'file' && stdout.kind === 'file' && samePath(stderr.path, stdout.path)) {
          stdio.stderr = out; // one description: both streams append in the order written
        } else {
          const err = openOutput(fds, 'stderr', stderr);
          if (err >= 0) childEnds.push((stdio.stderr = err));
        }
      }
      const io = new ProcessIo(spec, opts, { fds, stdio });
      io.childEnds.push(...childEnds);
      io.stdinWriter = opened.stdinWriter ?? -1;
      io.logger = opened.logger ?? null;
      return io;
    } catch (error) {
      fds.closeAll();
      if (opened.logger) await opened.logger.stop(0);
      throw error;
    }
  }

  private static forTerminal(
    spec: IoSpec,
    opts: IoOptions,
    fds: FdSet,
    stdout: Target,
    opened: { stdinReader?: number; stdinWriter?: number; logger?: BinaryLogger },
  ): ProcessIo {
    // The master's output goes to a FIFO, a file or the logger's pipe, written by Node.
    const output = opened.logger ? opened.logger.stdoutWriter : openOutput(fds, 'stdout', stdout);
    const [ours, theirs] = opts.native.seqpacketPair();
    fds.add(ours);
    fds.add(theirs);
    const terminal = new TerminalCopy(opts, fds, {
      stdinReader: opened.stdinReader ?? -1,
      output,
      outputKind: stdout.kind,
    });
    const io = new ProcessIo(spec, opts, {
      fds,
      consoleSocketFd: theirs,
      consoleReceiveFd: ours,
      terminal,
    });
    io.childEnds.push(theirs);
    io.stdinWriter = opened.stdinWriter ?? -1;
    io.logger = opened.logger ?? null;
    return io;
  }

  /** After create/exec returned: close the shim's copies of the process's ends; with a
   *  terminal, receive the master (bounded wait) and start copying. */
  async afterSpawn(): Promise<void> {
    if (this.closed) throw new Error('io: already closed');
    if (this.spawned) return;
    this.spawned = true;
    for (const fd of this.childEnds.splice(0)) this.fds.close(fd);
    if (!this.terminal) return;
    const native = this.opts.native;
    const receiveFd = this.consoleReceiveFd;
    let master: number | null;
    try {
      master = await readWhenReady(native, receiveFd, RECEIVE_MASTER_MS, () =>
        native.tryReceiveFd(receiveFd),
      );
    } catch (error) {
      throw new Error(`terminal: no pty master from the process: ${(error as Error).message}`);
    } finally {
      this.fds.close(receiveFd);
      this.consoleReceiveFd = -1;
    }
    if (master === null) throw new Error('terminal: no pty master from the process');
    if (this.closed) {
      native.closeFd(master);
      throw new Error('io: closed while the pty master was received');
    }
    this.terminal.start(master);
  }

  /** CloseIO{stdin}: close the shim's stdin writer (the process sees EOF once the client's
   *  writer is closed too). */
  closeStdin(): void {
    if (this.stdinWriter < 0) return;
    this.fds.close(this.stdinWriter);
    this.stdinWriter = -1;
  }

  /** ResizePty: no-op without a terminal. */
  resize(width: number, height: number): void {
    if (this.closed) throw new Error('cannot resize a stopped container');
    this.terminal?.resize(width, height);
  }

  /** The process exited: read what is left on the master (bounded), finish the writes, close
   *  every handle of this process's IO. Idempotent. */
  drainAndClose(): Promise<void> {
    this.finished ??= this.drain();
    return this.finished;
  }

  /** A failed create/exec: close everything now (a logger is given its bounded exit in the
   *  background; drainAndClose() afterwards waits for it). Idempotent. */
  destroy(): void {
    this.closed = true;
    this.closeStdin();
    this.terminal?.destroy();
    this.fds.closeAll();
    this.childEnds.length = 0;
    this.consoleReceiveFd = -1;
    if (!this.finished) {
      const logger = this.logger;
      this.finished = logger ? logger.stop(LOGGER_EXIT_MS) : Promise.resolve();
    }
  }

  private async drain(): Promise<void> {
    this.closed = true;
    this.closeStdin();
    // Ends never handed over (afterSpawn not called): the process has no use for them now.
    for (const fd of this.childEnds.splice(0)) this.fds.close(fd);
    if (this.consoleReceiveFd >= 0) this.fds.close(this.consoleReceiveFd);
    this.consoleReceiveFd = -1;
    if (this.terminal) await this.terminal.drain();
    this.fds.closeAll();
    // The logger's input ends once the process (and whatever inherited its output) is gone: it
    // normally exits at once. Wait (and the exit event) waits for that at most LOGGER_WAIT_MS;
    // the rest of its grace time and the SIGKILL after it go on in the background.
    if (this.logger) {
      const stopped = this.logger.stop(LOGGER_EXIT_MS);
      await within(stopped, LOGGER_WAIT_MS);
    }
    this.opts.logger.debug(`io of ${this.opts.id}: closed (${summary(this.spec)})`);
  }
}

/** The fds the shim holds for one process, so that a failure or close leaves none open. */
class FdSet {
  private readonly open = new Set<number>();

  constructor(private readonly native: Pick<NativeBinding, 'closeFd'>) {}

  add(fd: number): number {
    this.open.add(fd);
    return fd;
  }

  /** Close fd if it is still ours. */
  close(fd: number): void {
    if (!this.open.delete(fd)) return;
    try {
      this.native.closeFd(fd);
    } catch {
      // closed is closed
    }
  }

  /** fd leaves this set: a stream owns (and closes) it from now on. */
  handOver(fd: number): number {
    this.open.delete(fd);
    return fd;
  }

  closeAll(): void {
    for (const fd of [...this.open]) this.close(fd);
  }
}

/** Copies between the client and a pty master: stdin FIFO -> master, master -> output. */
class TerminalCopy {
  private master = -1;
  private masterPump: Pump | null = null;
  private inputPump: Pump | null = null;
  private stdinReader: number;
  /** Input read from the FIFO that the pty has not taken yet. */
  private pendingInput: Buffer | null = null;
  private inputEnded = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private output: Writable | null = null;
  private outputFd: number;
  private readonly outputKind: Target['kind'];
  private outputBroken = false;
  private awaitingDrain = false;
  private outputClosed: Promise<void> = Promise.resolve();
  private size: { rows: number; columns: number } | null = null;
  private destroyed = false;

  constructor(
    private readonly opts: IoOptions,
    private readonly fds: FdSet,
    ends: { stdinReader: number; output: number; outputKind: Target['kind'] },
  ) {
    this.stdinReader = ends.stdinReader;
    this.outputFd = ends.output;
    this.outputKind = ends.outputKind;
  }

  /** The master arrived: copy both ways from now on. */
  start(master: number): void {
    const native = this.opts.native;
    this.master = this.fds.add(master);
    // A watch makes the master's open file description O_NONBLOCK (libuv does for every poll
    // handle); reads and writes of ours then never block, whatever the container does.
    this.masterPump = new Pump(native, master, (chunk) => this.onOutput(chunk));
    if (this.size) this.applySize();
    if (this.outputFd >= 0) this.output = this.openOutputStream();
    this.masterPump.resume();
    if (this.stdinReader >= 0) {
      this.inputPump = new Pump(
        native,
        this.stdinReader,
        (chunk) => this.onInput(chunk),
        () => {
          this.inputEnded = true;
          if (!this.pendingInput) this.hangUp();
        },
      );
      this.inputPump.resume();
    }
  }

  resize(width: number, height: number): void {
    for (const n of [width, height])
      if (!Number.isInteger(n) || n < 0 || n > 0xffff)
        throw new Error(`resize: ${width}x${height} is out of range`);
    this.size = { rows: height, columns: width };
    if (this.master >= 0) this.applySize();
  }

  /** After the exit: the master's remaining output (bounded), then the writes (bounded). */
  async drain(): Promise<void> {
    this.stopInput();
    const pump = this.masterPump;
    if (pump) {
      pump.resume();
      await within(pump.ended, DRAIN_MS);
      this.closeMaster();
    }
    const output = this.output;
    if (output) {
      if (!output.destroyed) output.end();
      const flushed = await within(this.outputClosed, FLUSH_MS);
      if (!flushed) output.destroy(); // a client that does not read: what is queued is lost
      await this.outputClosed;
    }
    this.destroy();
  }

  destroy(): void {
    this.destroyed = true;
    this.stopInput();
    this.closeMaster();
    this.output?.destroy();
    this.output = null;
  }

  private onOutput(chunk: Buffer): boolean {
    const output = this.output;
    if (!output || this.outputBroken) return true; // nowhere to go: read and drop
    if (output.write(chunk)) return true;
    if (!this.awaitingDrain) {
      this.awaitingDrain = true;
      output.once('drain', () => {
        this.awaitingDrain = false;
        this.masterPump?.resume();
      });
    }
    return false;
  }

  private openOutputStream(): Writable {
    const fd = this.fds.handOver(this.outputFd);
    this.outputFd = -1;
    // A regular file is written through the thread pool (never waits long); a FIFO or pipe
    // through a libuv stream (non-blocking, epoll).
    const stream: Writable =
      this.outputKind === 'file' || (this.outputKind === 'path' && fs.fstatSync(fd).isFile())
        ? fs.createWriteStream('', { fd, autoClose: true })
        : new net.Socket({ fd, readable: false, writable: true });
    this.outputClosed = new Promise((resolve) => stream.once('close', () => resolve()));
    stream.on('error', (error) => {
      // The logger died (EPIPE) or the file failed: keep reading the master, so the
      // container never blocks on a full pty, and drop the output.
      if (!this.outputBroken)
        this.opts.logger.warn(`io of ${this.opts.id}: stdout: ${(error as Error).message}`);
      this.outputBroken = true;
      this.masterPump?.resume();
    });
    return stream;
  }

  private onInput(chunk: Buffer): boolean {
    this.pendingInput = chunk;
    return this.flushInput();
  }

  /** Write pending input to the master; false (pause the FIFO) while the pty is full. */
  private flushInput(): boolean {
    while (this.pendingInput && this.master >= 0) {
      let written: number;
      try {
        written = fs.writeSync(this.master, this.pendingInput);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.retryTimer ??= setTimeout(() => this.retryInput(), INPUT_RETRY_MS);
          return false;
        }
        // The pty is gone (EIO): nothing takes input any more.
        this.pendingInput = null;
        this.stopInput();
        return false;
      }
      this.pendingInput = written < this.pendingInput.length ? this.pendingInput.subarray(written) : null;
    }
    return true;
  }

  private retryInput(): void {
    this.retryTimer = null;
    if (!this.flushInput()) return;
    if (this.inputEnded) this.hangUp();
    else this.inputPump?.resume();
  }

  /** stdin reached EOF (the client's writer and ours closed): as runc's shim, release the
   *  console, which hangs up the pty (SIGHUP to the container's foreground processes).
   *  Output already queued on the master is copied first. */
  private hangUp(): void {
    if (this.destroyed || this.master < 0) return;
    this.opts.logger.debug(`io of ${this.opts.id}: stdin closed, hanging up the terminal`);
    this.stopInput();
    this.masterPump?.readAvailable();
    this.closeMaster();
  }

  private stopInput(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.inputPump?.stop();
    this.inputPump = null;
    this.pendingInput = null;
    if (this.stdinReader >= 0) this.fds.close(this.stdinReader);
    this.stdinReader = -1;
  }

  private closeMaster(): void {
    this.masterPump?.stop();
    this.masterPump = null;
    if (this.master >= 0) this.fds.close(this.master);
    this.master = -1;
  }

  private applySize(): void {
    const { rows, columns } = this.size!;
    this.opts.native.setWindowSize(this.master, rows, columns);
  }
}

/**
 * Reads a non-blocking fd whenever libuv says it is readable and hands each chunk on; the
 * consumer returns false to pause (resume() starts again). Ends at EOF or an error such as the
 * EIO of a master whose pty has no other side left.
 */
class Pump {
  readonly ended: Promise<void>;
  private watch: FdWatch | null = null;
  private done = false;
  private resolveEnded!: () => void;
  private readonly buffer = Buffer.allocUnsafe(READ_CHUNK);

  constructor(
    private readonly native: Pick<NativeBinding, 'watchReadable'>,
    private readonly fd: number,
    private readonly onData: (chunk: Buffer) => boolean,
    private readonly onEnd?: () => void,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    // Watching sets O_NONBLOCK on the fd's open file description: reads below never wait.
    this.native.watchReadable(fd, () => {}).stop();
  }

  resume(): void {
    if (this.done || this.watch) return;
    this.watch = this.native.watchReadable(this.fd, (status) => {
      if (status < 0) this.finish();
      else this.readAvailable();
    });
  }

  pause(): void {
    this.watch?.stop();
    this.watch = null;
  }

  /** Read what is there now (a bounded number of chunks per turn, so one busy fd cannot hold
   *  the loop). */
  readAvailable(): void {
    for (let i = 0; i < 16 && !this.done; i++) {
      let n: number;
      try {
        n = fs.readSync(this.fd, this.buffer, 0, this.buffer.length, null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return;
        this.finish(); // EIO: the pty has no other side any more
        return;
      }
      if (n === 0) {
        this.finish();
        return;
      }
      if (!this.onData(Buffer.from(this.buffer.subarray(0, n)))) {
        this.pause();
        return;
      }
    }
  }

  /** Stop for good without calling onEnd (the fd is about to be closed). */
  stop(): void {
    this.pause();
    this.done = true;
    this.resolveEnded();
  }

  private finish(): void {
    if (this.done) return;
    this.stop();
    this.onEnd?.();
  }
}

/** A `binary://` logger: reads the process's stdout on its fd 3 and stderr on fd 4. */
class BinaryLogger {
  private exited: Promise<void>;
  private running = true;

  private constructor(
    private readonly child: ChildProcess,
    private readonly target: { path: string },
    readonly stdoutWriter: number,
    /** -1 when stderr is not connected (a terminal, or no stderr given). */
    readonly stderrWriter: number,
    private readonly logger: Logger,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.running = false;
        if (code !== 0) this.logger.debug(`binary logger ${target.path} exited: ${signal ?? code}`);
        resolve();
      });
    });
  }

  /** Spawn the logger (argv: the query pairs, env: exactly CONTAINER_ID and
   *  CONTAINER_NAMESPACE, fds 3/4/5: stdout, stderr, ready) and wait until it is ready. */
  static async start(
    target: Extract<Target, { kind: 'binary' }>,
    opts: IoOptions,
    fds: FdSet,
    withStderr: boolean,
  ): Promise<BinaryLogger> {
    const native = opts.native;
    const pair = (): [number, number] => {
      const [r, w] = native.pipe();
      return [fds.add(r), fds.add(w)];
    };
    const [outR, outW] = pair();
    // Without stderr the logger's fd 4 still exists, at EOF at once (runc does the same).
    const [errR, errW] = pair();
    const [readyR, readyW] = pair();
    if (!withStderr) fds.close(errW);
    let child: ChildProcess;
    try {
      child = spawn(target.path, target.args, {
        env: { CONTAINER_ID: opts.id, CONTAINER_NAMESPACE: opts.namespace },
        // Not the shim's cwd: that is some container's bundle, which may be deleted.
        cwd: '/',
        stdio: ['ignore', 'ignore', 'ignore', outR, errR, readyW],
      });
    } catch (error) {
      throw new Error(`stdout: cannot start the binary logger ${target.path}: ${(error as Error).message}`);
    }
    // Only the logger reads the process's output and writes ready now.
    fds.close(outR);
    fds.close(errR);
    fds.close(readyW);
    if (child.pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once('error', resolve));
      fds.close(readyR);
      throw new Error(`stdout: cannot start the binary logger ${target.path}: ${error.message}`);
    }
    child.on('error', () => {}); // a failed kill is no crash
    const logger = new BinaryLogger(child, target, outW, withStderr ? errW : -1, opts.logger);
    // A byte, or EOF (it closed fd 5 or exited), both mean ready, as in runc's shim.
    const ready = await waitReadable(native, readyR, LOGGER_READY_MS).finally(() => fds.close(readyR));
    if (!ready) {
      await logger.stop(0);
      throw new Error(
        `stdout: the binary logger ${target.path} did not become ready in ${LOGGER_READY_MS / 1000} s`,
      );
    }
    return logger;
  }

  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  /** Wait up to graceMs for the logger to exit, then SIGKILL it (and wait for that, bounded). */
  async stop(graceMs: number): Promise<void> {
    if (graceMs > 0 && (await within(this.exited, graceMs))) return;
    if (graceMs > 0 && this.running)
      this.logger.warn(`binary logger ${this.target.path} did not exit in time: killed`);
    this.kill();
    await within(this.exited, LOGGER_KILL_MS);
  }
}

/** Resolves true when `promise` settled within ms, false otherwise. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return settled;
}

/** One stream's string: "", an absolute path, file:///abs or binary:///abs?k=v. */
function parseTarget(field: Field, value: string): Target {
  if (value === '') return { kind: 'none' };
  // As Go's url.Parse: a scheme is letters, digits, + - . after a first letter, then ':'.
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (!path.isAbsolute(value))
      throw new Error(`${field}: must be an absolute path, got ${JSON.stringify(value)}`);
    return { kind: 'path', path: value };
  }
  if (field === 'stdin' || (scheme !== 'file' && scheme !== 'binary'))
    throw new Error(`${field}: unknown STDIO scheme ${scheme}`);
  const match = /^[^:]+:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?(?:#.*)?$/.exec(value);
  if (!match || match[1] !== '' || !match[2])
    throw new Error(`${field}: ${JSON.stringify(value)} is not ${scheme}:///absolute/path`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(match[2]);
  } catch {
    throw new Error(`${field}: ${JSON.stringify(value)} has a bad %-escape`);
  }
  if (scheme === 'file') {
    if (match[3] !== undefined) throw new Error(`${field}: a file:// uri takes no query`);
    return { kind: 'file', path: decoded };
  }
  // Each key once, with its first value, as runc's shim builds the logger's argv.
  const query = new URLSearchParams(match[3] ?? '');
  const args: string[] = [];
  for (const key of new Set(query.keys())) args.push(key, query.get(key) ?? '');
  return { kind: 'binary', uri: value, path: decoded, args };
}

/** A binary logger takes the process's stdout and stderr both, so it must be named by stdout. */
function checkCombination(stdout: Target, stderr: Target): void {
  if (stderr.kind === 'binary' && (stdout.kind !== 'binary' || stdout.uri !== stderr.uri))
    throw new Error('stderr: a binary:// logger must be the same as stdout');
  if (stdout.kind === 'binary' && stderr.kind !== 'none' && stderr.kind !== 'binary')
    throw new Error('stderr: must be empty or the same binary:// logger as stdout');
}

function samePath(a: string, b: string): boolean {
  return path.normalize(a) === path.normalize(b);
}

/** An O_RDONLY|O_NONBLOCK fd of `file` (never waits, whatever the file is), to inspect it and
 *  reopen the very same file through /proc/self/fd. */
function probe(fds: FdSet, field: Field, file: string): number {
  try {
    return fds.add(fs.openSync(file, O_RDONLY | O_NONBLOCK | O_NOCTTY));
  } catch (error) {
    throw new Error(`${field}: ${(error as Error).message}`);
  }
}

function reopen(fds: FdSet, field: Field, fd: number, flags: number): number {
  try {
    return fds.add(fs.openSync(`/proc/self/fd/${fd}`, flags));
  } catch (error) {
    throw new Error(`${field}: ${(error as Error).message}`);
  }
}

/**
 * The stdin FIFO: the shim's writer (held until CloseIO) and a reader. Without a terminal the
 * reader is for the process, in blocking mode (the open does not wait: our writer exists); with
 * one it is the shim's, non-blocking, to copy from.
 */
function openStdinFifo(fds: FdSet, file: string, terminal: boolean): { reader: number; writer: number } {
  const readerNb = probe(fds, 'stdin', file);
  if (!fs.fstatSync(readerNb).isFIFO()) {
    fds.close(readerNb);
    throw new Error(`stdin: ${file} is not a fifo`);
  }
  const writer = reopen(fds, 'stdin', readerNb, O_WRONLY | O_NONBLOCK);
  if (terminal) return { reader: readerNb, writer };
  const reader = reopen(fds, 'stdin', readerNb, O_RDONLY);
  fds.close(readerNb);
  return { reader, writer };
}

/** stdout or stderr: a FIFO O_RDWR, a regular file appended to, a file:// file created. -1 for
 *  none. */
function openOutput(fds: FdSet, field: Field, target: Target): number {
  if (target.kind === 'none') return -1;
  if (target.kind === 'path') {
    const fd = probe(fds, field, target.path);
    try {
      const stat = fs.fstatSync(fd);
      if (stat.isFIFO()) return reopen(fds, field, fd, O_RDWR);
      if (stat.isFile()) return reopen(fds, field, fd, O_WRONLY | O_APPEND);
      throw new Error(`${field}: ${target.path} is not a fifo or a regular file`);
    } finally {
      fds.close(fd);
    }
  }
  if (target.kind !== 'file') throw new Error(`${field}: unexpected ${target.kind} target`);
  let fd: number;
  try {
    fs.mkdirSync(path.dirname(target.path), { recursive: true, mode: 0o755 });
    // O_NONBLOCK: a FIFO there must not make us wait (it is refused below).
    fd = fds.add(fs.openSync(target.path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_NOCTTY, 0o644));
  } catch (error) {
    throw new Error(`${field}: ${(error as Error).message}`);
  }
  try {
    if (!fs.fstatSync(fd).isFile()) throw new Error(`${field}: ${target.path} is not a regular file`);
    return reopen(fds, field, fd, O_WRONLY | O_APPEND);
  } finally {
    fds.close(fd);
  }
}

function summary(spec: IoSpec): string {
  const parts = [`stdin ${spec.stdin || '-'}`, `stdout ${spec.stdout || '-'}`];
  if (!spec.terminal) parts.push(`stderr ${spec.stderr || '-'}`);
  return `${spec.terminal ? 'terminal, ' : ''}${parts.join(', ')}`;
}
