// The flags `create` and `run` share, and how they become CreateOptions.
import * as path from 'node:path';
import type { Argv } from 'yargs';

import { RuntimeError } from '../../errors';
import type { CreateOptions } from '../../runtime/create';
import { cliStdio } from '../context';
import { type CommandArgs, containerId, pathArg, stringArg, withContainerId } from './common';

export function withCreateFlags(y: Argv): Argv {
  return (
    withContainerId(y)
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
      // A string, so that a bad value reaches preserveFdsCount as written (yargs makes NaN of it).
      .option('preserve-fds', {
        type: 'string',
        default: '0',
        describe: 'pass N extra fds (3..3+N-1) to the container',
      })
  );
}

/** The library's options, and the pid file the CLI writes itself. */
export function createOptions(args: CommandArgs): CreateOptions & { pidFile?: string } {
  const consoleSocket = stringArg(args, 'console-socket');
  const preserveFds = preserveFdsCount(stringArg(args, 'preserve-fds'));
  return {
    id: containerId(args),
    bundle: pathArg(args, 'bundle') ?? process.cwd(),
    pidFile: pathArg(args, 'pid-file'),
    consoleSocket: consoleSocket ? path.resolve(consoleSocket) : undefined,
    noPivot: args['no-pivot'] === true,
    noNewKeyring: args['no-new-keyring'] === true,
    stdio: () => cliStdio(preserveFds),
  };
}

function preserveFdsCount(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 0;
  if (!/^[0-9]+$/.test(raw)) throw new RuntimeError(`--preserve-fds: invalid count ${JSON.stringify(raw)}`);
  return Number(raw);
}
