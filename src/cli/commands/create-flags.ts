// The flags `create` and `run` share, and how they become CreateOptions.
import type { Argv } from 'yargs';

import type { CreateOptions } from '../../runtime/options';
import { type CommandArgs, containerId, globalOptions, pathArg, stringArg, withContainerId } from './common';

export function withCreateFlags(y: Argv): Argv {
  return withContainerId(y)
    .option('bundle', {
      alias: 'b',
      type: 'string',
      describe: 'path to the bundle directory (default: current directory)',
    })
    .option('pid-file', { type: 'string', describe: 'write the init pid to this file' })
    .option('console-socket', { type: 'string', describe: 'unix socket to send the pty master to' })
    .option('no-pivot', { type: 'boolean', default: false, describe: 'use chroot instead of pivot_root' })
    .option('no-new-keyring', {
      type: 'boolean',
      default: false,
      describe: 'do not create a new session keyring',
    })
    .option('preserve-fds', {
      type: 'number',
      default: 0,
      describe: 'pass N extra fds (3..3+N-1) to the container',
    });
}

export function createOptions(args: CommandArgs): CreateOptions {
  return {
    ...globalOptions(args),
    id: containerId(args),
    bundle: pathArg(args, 'bundle') ?? process.cwd(),
    pidFile: pathArg(args, 'pid-file'),
    consoleSocket: stringArg(args, 'console-socket') || undefined,
    noPivot: args['no-pivot'] === true,
    noNewKeyring: args['no-new-keyring'] === true,
    preserveFds: Number(args['preserve-fds'] ?? 0),
  };
}
