// The full command line through yargs: its --help text, its error messages, and every command
// line the fast path (src/cli/fast-args.ts) does not take. Loaded only then.
import yargs from 'yargs/yargs';

import type { CommandArgs, CommandModule } from './commands/common';
import { GLOBAL_OPTIONS, PARSER_CONFIGURATION } from './options';

/** A command as the table in main.ts lists it. */
export interface CommandEntry {
  name: string;
  usage: string;
  describe: string;
  load: () => Promise<CommandModule>;
}

class UsageError extends Error {}

/** What one parse gave: the command's arguments, or the --help text (nothing to run). A usage
 *  error throws, with yargs' message. */
export type YargsResult = { args: CommandArgs } | { help: string };

export async function parseWithYargs(
  argv: string[],
  commands: readonly CommandEntry[],
  chosen: CommandEntry | undefined,
  module: CommandModule | undefined,
): Promise<YargsResult> {
  let parsed: CommandArgs | null = null;
  const parser = yargs(argv)
    .version(false)
    .scriptName('tsrunc')
    .usage('tsrunc [global options] <command> [command options]\n\nAn OCI container runtime.')
    .parserConfiguration(PARSER_CONFIGURATION)
    .options(GLOBAL_OPTIONS)
    .help('help')
    .alias('help', 'h')
    .strict()
    .demandCommand(1, 'missing command: see tsrunc --help')
    .wrap(null)
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  for (const entry of commands) {
    if (entry === chosen && module) {
      parser.command(
        entry.usage,
        entry.describe,
        (y) => module.builder(y),
        (args) => {
          parsed = args as CommandArgs;
        },
      );
    } else {
      parser.command(entry.usage, entry.describe);
    }
  }
  // With a callback yargs hands us its --help text instead of console.log-ing it; errors still
  // arrive through .fail().
  let help = '';
  await parser.parseAsync(argv, {}, (_error, _args, output) => {
    help = output;
  });
  if (parsed) return { args: parsed };
  return { help };
}
