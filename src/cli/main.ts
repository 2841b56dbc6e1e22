// The tsrunc command line: runc-compatible flags and commands on top of the runtime library.
//
// Startup time matters (docker and containerd exec us for every operation), so this module
// loads only yargs and the ONE command module the arguments name; the other commands are
// registered with their usage line alone, which is all `--help` needs.
import type { Argv } from 'yargs';
import yargs from 'yargs/yargs';

import type { LoggerConfig } from '../util/log';
import { cliLogger, setCliLogger } from './context';
import type { CommandArgs, CommandModule } from './commands/common';

export const VERSION = '0.1.0';
export const SPEC_VERSION = '1.3.0';
const DEFAULT_ROOT = '/run/tsrunc';

interface CommandEntry {
  name: string;
  usage: string;
  describe: string;
  load: () => Promise<CommandModule>;
}

// Literal import() paths: tsc turns them into lazy require() calls; vitest resolves the .ts.
const COMMANDS: CommandEntry[] = [
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

// Global flags that take a value: needed to find the command name before yargs runs.
const GLOBAL_FLAGS_WITH_VALUE = new Set(['--root', '--log', '--log-format', '--criu', '--rootless']);

class UsageError extends Error {}

export async function main(argv: string[]): Promise<void> {
  const code = await runCli(argv);
  // Writes to stdout/stderr are synchronous on Linux (files, pipes, ttys): nothing is lost.
  process.exit(code);
}

/** Parse and run one command; returns the exit code. Never throws. */
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

export async function runCli(rawArgv: string[]): Promise<number> {
  const argv = joinStdinValues(rawArgv);
  const position = commandPosition(argv);
  const globalArgs = position < 0 ? argv : argv.slice(0, position);
  if (globalArgs.includes('--version') || globalArgs.includes('-v')) {
    process.stdout.write(`tsrunc version ${VERSION}\nspec: ${SPEC_VERSION}\n`);
    return 0;
  }
  // Before yargs, so that a flag error also reaches the --log file callers read.
  setCliLogger(loggerConfigFromFlags(globalArgs));
  const chosen = position < 0 ? undefined : COMMANDS.find((c) => c.name === argv[position]);
  if (position >= 0 && !chosen && !argv.includes('--help') && !argv.includes('-h')) {
    cliLogger().fatal(`unknown command "${argv[position]}": see tsrunc --help`);
    return 1;
  }
  let exitCode = 0;
  try {
    const module = chosen ? await chosen.load() : undefined;
    const commandArgv =
      module?.prepareArgs && position >= 0
        ? [...argv.slice(0, position + 1), ...module.prepareArgs(argv.slice(position + 1))]
        : argv;
    const parser = buildParser(commandArgv, chosen, module, (code) => (exitCode = code));
    // With a callback yargs hands us its --help text instead of console.log-ing it; errors
    // still arrive through .fail() and are caught below.
    let help = '';
    await parser.parseAsync(commandArgv, {}, (_error, _args, output) => {
      help = output;
    });
    if (help) process.stdout.write(help.endsWith('\n') ? help : `${help}\n`);
  } catch (error) {
    cliLogger().fatal(usageMessage(error));
    return 1;
  }
  return exitCode;
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

function buildParser(
  argv: string[],
  chosen: CommandEntry | undefined,
  module: CommandModule | undefined,
  setExitCode: (code: number) => void,
): Argv {
  const parser = yargs(argv)
    .version(false)
    .scriptName('tsrunc')
    .usage('tsrunc [global options] <command> [command options]\n\nAn OCI container runtime.')
    .parserConfiguration({
      // runc has flags named --no-pivot and --no-new-keyring: they are not negations.
      'boolean-negation': false,
      // Container ids and signals such as 0123 or 1e3 are strings.
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'camel-case-expansion': false,
    })
    .option('root', { type: 'string', default: DEFAULT_ROOT, describe: 'root directory for container state' })
    .option('log', { type: 'string', describe: 'append log lines to this file (default: stderr)' })
    .option('log-format', {
      type: 'string',
      choices: ['text', 'json'],
      default: 'text',
      describe: 'log line format',
    })
    .option('debug', { type: 'boolean', default: false, describe: 'enable debug logging' })
    .option('systemd-cgroup', {
      type: 'boolean',
      default: false,
      describe: 'cgroupsPath is slice:prefix:name',
    })
    .option('criu', { type: 'string', hidden: true, describe: 'accepted for compatibility, ignored' })
    .option('rootless', { type: 'string', hidden: true, describe: 'accepted for compatibility, ignored' })
    // -v/--version is answered before yargs runs (runCli); declared here for --help only.
    .option('version', { alias: 'v', type: 'boolean', describe: 'print the version' })
    .help('help')
    .alias('help', 'h')
    .strict()
    .demandCommand(1, 'missing command: see tsrunc --help')
    .wrap(null)
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  for (const entry of COMMANDS) {
    if (entry === chosen && module) {
      parser.command(
        entry.usage,
        entry.describe,
        (y) => module.builder(y),
        async (args) => setExitCode(await runHandler(module, args as CommandArgs)),
      );
    } else {
      parser.command(entry.usage, entry.describe);
    }
  }
  return parser;
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
