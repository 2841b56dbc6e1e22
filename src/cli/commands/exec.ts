// tsrunc exec [flags] <container-id> <command> [args...] (or --process FILE): runc's flags. Exits
// with the process's exit code; a failure to start it exits 255, as runc does, so that a
// caller can tell it from the process's own exit code 1.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';

import { RuntimeError } from '../../errors';
import { parseIdFlag } from '../../spec/ids';
import type { Process } from '../../spec/types';
import { type ConsoleProxy, ConsoleSocket, proxyConsole } from '../console';
import { cliLogger, cliStdio, runtimeContext, writePidFile } from '../context';
import { waitInForeground } from '../foreground';
import { type CommandArgs, containerId, dashesAfterId, pathArg, stringArg, withContainerId } from './common';

const EXEC_FAILED = 255;

// Flags that take a value: the first other word after them is the container id, and what
// follows the id is the process's own command line (its flags are not ours).
const VALUE_FLAGS = new Set([
  '--process',
  '-p',
  '--console-socket',
  '--pid-file',
  '--cwd',
  '--env',
  '-e',
  '--user',
  '-u',
  '--additional-gids',
  '-g',
  '--cap',
  '-c',
  '--preserve-fds',
  '--process-label',
  '--apparmor',
  '--cgroup',
]);

/** Puts `--` after the container id, so yargs leaves the command's own flags alone. */
export function prepareArgs(args: string[]): string[] {
  return dashesAfterId(args, VALUE_FLAGS, true);
}

export function builder(y: Argv): Argv {
  return withContainerId(y)
    .positional('command', { type: 'string', array: true, describe: 'the command and its arguments' })
    .option('process', { alias: 'p', type: 'string', describe: 'a runtime-spec Process (JSON) to run' })
    .option('tty', { alias: 't', type: 'boolean', default: false, describe: 'allocate a pseudo-TTY' })
    .option('console-socket', { type: 'string', describe: 'unix socket to send the pty master to' })
    .option('detach', {
      alias: 'd',
      type: 'boolean',
      default: false,
      describe: 'return once the process runs',
    })
    .option('pid-file', { type: 'string', describe: 'write the process pid to this file' })
    .option('cwd', { type: 'string', describe: 'current working directory in the container' })
    .option('env', { alias: 'e', type: 'string', nargs: 1, describe: 'KEY=VALUE to set' })
    .option('user', { alias: 'u', type: 'string', describe: 'uid[:gid] (numbers)' })
    .option('additional-gids', { alias: 'g', type: 'string', nargs: 1, describe: 'extra gids' })
    .option('cap', { alias: 'c', type: 'string', nargs: 1, describe: 'add a capability' })
    .option('no-new-privs', { type: 'boolean', default: false, describe: 'set no_new_privs' })
    .option('preserve-fds', { type: 'string', default: '0', describe: 'pass N extra fds (3..3+N-1)' })
    .option('process-label', { type: 'string', describe: 'SELinux label (ignored: no LSM here)' })
    .option('apparmor', { type: 'string', describe: 'AppArmor profile (ignored: no LSM here)' })
    .option('ignore-paused', { type: 'boolean', default: false, describe: 'exec into a paused container' })
    .option('cgroup', {
      type: 'string',
      nargs: 1,
      describe: 'run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.',
    });
}

export async function handler(args: CommandArgs): Promise<number> {
  let started: Awaited<ReturnType<typeof startProcess>>;
  try {
    started = await startProcess(args);
  } catch (error) {
    cliLogger().fatal(error instanceof Error ? error.message : String(error));
    return EXEC_FAILED;
  }
  if (args.detach === true) return 0;
  const exitCode = await waitInForeground(started.exit);
  await started.proxy?.finish();
  return exitCode;
}

async function startProcess(args: CommandArgs) {
  const id = containerId(args);
  const ctx = await runtimeContext(args);
  const { exec } = await import('../../runtime/exec');
  const processFile = pathArg(args, 'process');
  const consoleSocketFlag = stringArg(args, 'console-socket') || undefined;
  const tty = args.tty === true;
  const detach = args.detach === true;
  // runc's order: a missing or stopped container is reported before anything about the process
  // (the library checks again, under the container's lock).
  const { state } = await import('../../runtime/lifecycle');
  const { status } = await state(ctx, id);
  if (status === 'stopped' || status === 'creating')
    throw new RuntimeError('cannot exec in a stopped container');
  if (status === 'paused' && args['ignore-paused'] !== true) {
    throw new RuntimeError('cannot exec in a paused container');
  }
  const process = processFile ? readProcessFile(processFile) : undefined;
  const wantsTerminal = process ? process.terminal === true : tty;
  if (wantsTerminal && detach && !consoleSocketFlag) {
    throw new RuntimeError('exec: a detached process with a terminal needs --console-socket');
  }
  // In the foreground without a console socket, a terminal is ours to proxy (as runc does).
  const ownConsole = wantsTerminal && !consoleSocketFlag && !detach ? new ConsoleSocket() : null;
  let proxy: ConsoleProxy | null = null;
  try {
    const started = await exec(ctx, {
      id,
      process,
      args: commandLine(args),
      tty,
      consoleSocket: ownConsole?.path ?? (consoleSocketFlag ? path.resolve(consoleSocketFlag) : undefined),
      stdio: cliStdio(count(stringArg(args, 'preserve-fds'))),
      cwd: stringArg(args, 'cwd'),
      env: list(args.env),
      user: stringArg(args, 'user'),
      additionalGids: list(args['additional-gids'])
        .flatMap((g) => g.split(','))
        .map(gid),
      caps: list(args.cap).map((c) =>
        c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`,
      ),
      noNewPrivs: args['no-new-privs'] === true,
      processLabel: stringArg(args, 'process-label'),
      apparmor: stringArg(args, 'apparmor'),
      ignorePaused: args['ignore-paused'] === true,
      cgroup: list(args.cgroup),
    });
    try {
      if (ownConsole) proxy = proxyConsole(await ownConsole.receiveMaster());
      const pidFile = pathArg(args, 'pid-file');
      if (pidFile) await writePidFile(pidFile, started.pid);
    } catch (error) {
      // A process we cannot hand over does not run on unattended.
      globalThis.process.kill(started.pid, 'SIGKILL');
      await proxy?.finish();
      throw error;
    }
    return { exit: started.exit, proxy };
  } finally {
    ownConsole?.close();
  }
}

function readProcessFile(file: string): Process {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Process;
  } catch (error) {
    throw new RuntimeError(`--process: cannot read ${file}: ${(error as Error).message}`);
  }
}

function commandLine(args: CommandArgs): string[] {
  const positional = list(args.command);
  const rest = Array.isArray(args._) ? args._.slice(1).map(String) : [];
  const afterDashes = Array.isArray(args['--']) ? (args['--'] as unknown[]).map(String) : [];
  return [...positional, ...rest, ...afterDashes];
}

function list(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

function gid(text: string): number {
  return parseIdFlag('--additional-gids', 'group', text);
}

function count(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 0;
  if (!/^[0-9]+$/.test(raw)) throw new RuntimeError(`--preserve-fds: invalid count ${JSON.stringify(raw)}`);
  return Number(raw);
}
