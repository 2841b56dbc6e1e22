// What the CLI keeps for itself: its logger (from --log/--log-format/--debug), the runtime
// context it hands to the library, the fault seam of the tests, and the fds it passes on as a
// container's stdio. These are process-wide by nature (one command per process), so they live
// here and not in the library.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { RuntimeError } from '../errors';
import type { RuntimeContext } from '../runtime/context';
import type { StdioMap } from '../runtime/stdio';
import { type ConfiguredLogger, createLogger, type LoggerConfig } from '../util/log';
import type { CommandArgs } from './commands/common';
import { DEFAULT_ROOT } from './options';

let current: ConfiguredLogger = createLogger({ format: 'text', debug: false });

export function setCliLogger(config: LoggerConfig): ConfiguredLogger {
  // As runc: the --log file exists once the command ran, even with nothing to say (callers
  // open it afterwards). An unwritable one is no error: lines then go to stderr.
  if (config.file) {
    try {
      fs.closeSync(fs.openSync(config.file, 'a', 0o644));
    } catch {
      // the logger falls back to stderr
    }
  }
  current = createLogger(config);
  return current;
}

export function cliLogger(): ConfiguredLogger {
  return current;
}

/** The runtime context for one command, from the global flags. With `pidFile`, `create` writes
 *  the init's pid there as its last step, as runc's --pid-file (a failure fails the create). */
export async function runtimeContext(args: CommandArgs, pidFile?: string): Promise<RuntimeContext> {
  const { createRuntimeContext } = await import('../runtime/context');
  const root = typeof args.root === 'string' && args.root !== '' ? args.root : DEFAULT_ROOT;
  const faultStep = process.env.TSRUNC_FAULT_STOP;
  return createRuntimeContext({
    root: path.resolve(root),
    systemdCgroup: args['systemd-cgroup'] === true,
    logger: current,
    // The processes the CLI starts outlive it (detached exec, run -d, create): their exits
    // belong to whoever inherits them, unless the CLI waits in the foreground.
    autoReap: false,
    onCreateStep:
      faultStep || pidFile
        ? async (step, _id, initPid) => {
            if (step === faultStep) stopAtFaultStep();
            if (step === 'saved' && pidFile) await writePidFile(pidFile, initPid);
          }
        : undefined,
  });
}

/**
 * Fault injection, for tests only: with TSRUNC_FAULT_STOP=<step> in the environment, `create`
 * stops this whole process (SIGSTOP) right after that step, so a test can look at the half-made
 * container and SIGKILL it there (or SIGCONT it to let it go on). The library only calls the
 * hook; stopping the process is the CLI's business.
 */
function stopAtFaultStep(): void {
  process.kill(process.pid, 'SIGSTOP');
}

/** Write a pid file (atomically), as runc's --pid-file. */
export async function writePidFile(file: string, pid: number): Promise<void> {
  const { writeFileAtomicAsync } = await import('../util/fs');
  try {
    await writeFileAtomicAsync(file, String(pid));
  } catch (error) {
    throw new RuntimeError(
      `--pid-file: cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
}

/**
 * The container's stdio as the CLI passes it: our own 0-2, and with --preserve-fds N our fds
 * 3..3+N-1. Node opens its own fds at startup (its epoll instance first, then pipes and
 * eventfds) at the lowest free numbers, so every fd our caller passed lies below Node's epoll
 * fd; one at or above it is Node's, and must not reach the container. (FD_CLOEXEC cannot tell:
 * Node sets it on fds 0-15 at startup.)
 */
export function cliStdio(preserveFds: number): StdioMap {
  if (!Number.isInteger(preserveFds) || preserveFds < 0)
    throw new RuntimeError(`--preserve-fds: invalid count ${preserveFds}`);
  const extraFds: number[] = [];
  if (preserveFds > 0) {
    let firstOwnFd = Infinity;
    for (const name of fs.readdirSync('/proc/self/fd')) {
      const fd = Number(name);
      if (fd < firstOwnFd && readLinkOrNull(`/proc/self/fd/${name}`) === 'anon_inode:[eventpoll]')
        firstOwnFd = fd;
    }
    for (let fd = 3; fd < 3 + preserveFds; fd++) {
      if (readLinkOrNull(`/proc/self/fd/${fd}`) === null)
        throw new RuntimeError(`--preserve-fds: fd ${fd} is not open`);
      if (fd >= firstOwnFd) throw new RuntimeError(`--preserve-fds: fd ${fd} was not passed to tsrunc`);
      extraFds.push(fd);
    }
  }
  return { stdin: 0, stdout: 1, stderr: 2, extraFds };
}

function readLinkOrNull(link: string): string | null {
  try {
    return fs.readlinkSync(link);
  } catch {
    return null;
  }
}
