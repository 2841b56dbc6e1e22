// The tsrunc command line: runc-compatible flags and commands on top of the runtime library.
//
// Startup time matters (docker and containerd exec us for every operation), so this module
// loads only the ONE command module the arguments name, and parses the command lines engines
// send without yargs (src/cli/fast-args.ts); yargs (src/cli/yargs-cli.ts) is loaded for --help,
// errors and anything else, with the other commands registered by their usage line alone.
import { warmCgroupMigration } from '../cgroups/migration-warmup';
import type { LoggerConfig } from '../util/log';
import { type CommandArgs, type CommandModule, writeStdout } from './commands/common';
import { cliLogger, setCliLogger } from './context';
import { fastArgs } from './fast-args';
import { DEFAULT_ROOT, GLOBAL_FLAGS_WITH_VALUE } from './options';
import type { CommandEntry } from './yargs-cli';

export const VERSION = '0.1.0';
export const SPEC_VERSION = '1.3.0';
// Literal import() paths: tsc turns them into lazy require() calls; vitest resolves the .ts.
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'create',
    usage: 'create <container-id>',
    describe: 'create a container',
    load: () => import('./commands/create'),
  },
  {
    name: 'start',
    usage: 'start <container-id>',
    describe: 'start the process of a created container',
    load: () => import('./commands/start'),
  },
  {
    name: 'run',
    usage: 'run <container-id>',
    describe: 'create and start a container',
    load: () => import('./commands/run'),
  },
  {
    name: 'state',
    usage: 'state <container-id>',
    describe: 'print the state of a container',
    load: () => import('./commands/state'),
  },
  {
    name: 'kill',
    usage: 'kill <container-id> [signal]',
    describe: 'send a signal (default SIGTERM) to the container init',
    load: () => import('./commands/kill'),
  },
  {
    name: 'delete',
    usage: 'delete <container-id>',
    describe: 'delete a container and the resources it holds',
    load: () => import('./commands/delete'),
  },
  {
    name: 'list',
    usage: 'list',
    describe: 'list the containers under --root',
    load: () => import('./commands/list'),
  },
  {
    name: 'spec',
    usage: 'spec',
    describe: 'write a default config.json into the bundle',
    load: () => import('./commands/spec'),
  },
  {
    name: 'features',
    usage: 'features',
    describe: 'print the features this runtime supports',
    load: () => import('./commands/features'),
  },
  {
    name: 'ps',
    usage: 'ps <container-id> [ps options..]',
    describe: 'list the processes of a container',
    load: () => import('./commands/ps'),
  },
  {
    name: 'pause',
    usage: 'pause <container-id>',
    describe: 'freeze every process of a container',
    load: () => import('./commands/pause'),
  },
  {
    name: 'resume',
    usage: 'resume <container-id>',
    describe: 'thaw a paused container',
    load: () => import('./commands/resume'),
  },
  {
    name: 'update',
    usage: 'update <container-id>',
    describe: 'change the resource limits of a container',
    load: () => import('./commands/update'),
  },
  {
    name: 'events',
    usage: 'events <container-id>',
    describe: 'print stats and OOM events of a container',
    load: () => import('./commands/events'),
  },
  {
    name: 'exec',
    usage: 'exec <container-id> [command..]',
    describe: 'run a new process in a running container',
    load: () => import('./commands/exec'),
  },
];

const CGROUP_JOINING_COMMANDS = new Set(['create', 'run', 'exec']);

export async function main(argv: string[]): Promise<void> {
  const code = await runCli(argv);
  // Writes to stdout/stderr are synchronous on Linux (files, pipes, ttys): nothing is lost.
  process.exit(code);
}

// Flags whose value may be "-" (stdin). yargs takes a lone "-" for a positional, so the pair
// becomes "--flag=-" before parsing.
const STDIN_VALUE_FLAGS = new Set(['--resources', '-r']);

function joinStdinValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (STDIN_VALUE_FLAGS.has(argv[i]) && argv[i + 1] === '-') {
      out.push(`${argv[i]}=-`);
      i++;
    } else {
      out.push(argv[i]);
    }
  }
  return out;
}

/** Parse and run one command; returns the exit code. Never throws. */
export async function runCli(rawArgv: string[]): Promise<number> {
  const argv = joinStdinValues(rawArgv);
  const position = commandPosition(argv);
  const globalArgs = position < 0 ? argv : argv.slice(0, position);
  if (globalArgs.includes('--version') || globalArgs.includes('-v')) {
    writeStdout(`tsrunc version ${VERSION}\nspec: ${SPEC_VERSION}\n`);
    return 0;
  }
  // Before yargs, so that a flag error also reaches the --log file callers read.
  setCliLogger(loggerConfigFromFlags(globalArgs));
  const chosen = position < 0 ? undefined : COMMANDS.find((c) => c.name === argv[position]);
  if (position >= 0 && !chosen && !argv.includes('--help') && !argv.includes('-h')) {
    cliLogger().fatal(`unknown command "${argv[position]}": see tsrunc --help`);
    return 1;
  }
  // The commands that join a process to cgroups: the kernel's wait for that starts now, while the
  // command loads and parses (src/cgroups/migration-warmup.ts).
  if (chosen && CGROUP_JOINING_COMMANDS.has(chosen.name)) warmCgroupMigration();
  let module: CommandModule | undefined;
  let args: CommandArgs | null = null;
  try {
    module = chosen ? await chosen.load() : undefined;
    const commandArgv =
      module?.prepareArgs && position >= 0
        ? [...argv.slice(0, position + 1), ...module.prepareArgs(argv.slice(position + 1))]
        : argv;
    if (chosen && module) args = fastArgs(commandArgv, position, chosen.usage, module);
    if (!args) {
      const { parseWithYargs } = await import('./yargs-cli');
      const result = await parseWithYargs(commandArgv, COMMANDS, chosen, module);
      if ('help' in result) {
        if (result.help) writeStdout(result.help.endsWith('\n') ? result.help : `${result.help}\n`);
        return 0;
      }
      args = result.args;
    }
  } catch (error) {
    cliLogger().fatal(usageMessage(error));
    return 1;
  }
  return module ? runHandler(module, args) : 0;
}

/** yargs messages can span lines ("Invalid values:\n  Argument: ..."); ours are one line. */
function usageMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/:?\s*\n\s*/g, ': ');
}

/** --log, --log-format and --debug read straight from the global flags. */
function loggerConfigFromFlags(globalArgs: string[]): LoggerConfig {
  const value = (flag: string): string | undefined => {
    let found: string | undefined;
    globalArgs.forEach((arg, i) => {
      if (arg === flag) found = globalArgs[i + 1];
      else if (arg.startsWith(`${flag}=`)) found = arg.slice(flag.length + 1);
    });
    return found;
  };
  return {
    file: value('--log') || undefined,
    format: value('--log-format') === 'json' ? 'json' : 'text',
    debug: globalArgs.includes('--debug'),
  };
}

/** Index of the command name in argv, skipping global flags and their values; -1 if none. */
function commandPosition(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (!arg.startsWith('-')) return i;
    if (GLOBAL_FLAGS_WITH_VALUE.has(arg)) i++;
  }
  return -1;
}

async function runHandler(module: CommandModule, args: CommandArgs): Promise<number> {
  const debug = args.debug === true;
  setCliLogger({
    file: typeof args.log === 'string' && args.log !== '' ? args.log : undefined,
    format: args['log-format'] === 'json' ? 'json' : 'text',
    debug,
  });
  const command = Array.isArray(args._) ? String(args._[0] ?? '') : '';
  cliLogger().debug(`tsrunc ${VERSION}: ${command} (root ${String(args.root ?? DEFAULT_ROOT)})`);
  try {
    const code = await module.handler(args);
    return typeof code === 'number' ? code : 0;
  } catch (error) {
    reportError(error, debug);
    return 1;
  }
}

function reportError(error: unknown, debug: boolean): void {
  if (!(error instanceof Error)) {
    cliLogger().fatal(String(error));
    return;
  }
  cliLogger().fatal(error.message);
  // A RuntimeError is a message for the user; anything else is a bug, whose stack helps.
  if (debug && error.name !== 'RuntimeError' && error.stack) cliLogger().debug(error.stack);
}
