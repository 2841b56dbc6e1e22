// tsrunc exec [flags] <container-id> <command> [args...] (or --process FILE): runc's flags. Exits
// with the process's exit code; a failure to start it exits 255, as runc does, so that a
// caller can tell it from the process's own exit code 1.
import type { Argv } from 'yargs';

import { RuntimeError } from '../../runtime/errors';
import { parseIdFlag } from '../../spec/ids';
import { reportFatal } from '../../util/log';
import { type CommandArgs, containerId, globalOptions, pathArg, stringArg, withContainerId } from './common';

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
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') return args;
    if (VALUE_FLAGS.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    if (args[i + 1] === '--') return args;
    return [...args.slice(0, i + 1), '--', ...args.slice(i + 1)];
  }
  return args;
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
    .option('cgroup', { type: 'string', hidden: true, describe: 'accepted for compatibility, ignored' });
}

export async function handler(args: CommandArgs): Promise<number> {
  try {
    const { exec } = await import('../../runtime/exec');
    return await exec({
      ...globalOptions(args),
      id: containerId(args),
      processFile: pathArg(args, 'process'),
      args: commandLine(args),
      tty: args.tty === true,
      consoleSocket: stringArg(args, 'console-socket') || undefined,
      detach: args.detach === true,
      pidFile: pathArg(args, 'pid-file'),
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
      preserveFds: count(stringArg(args, 'preserve-fds')),
      processLabel: stringArg(args, 'process-label'),
      apparmor: stringArg(args, 'apparmor'),
      ignorePaused: args['ignore-paused'] === true,
    });
  } catch (error) {
    reportFatal(error instanceof Error ? error.message : String(error));
    return EXEC_FAILED;
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
