// What every command module shares: its shape, the parsed arguments, and small accessors.
import * as path from 'node:path';
import type { Argv } from 'yargs';

import { validateContainerId } from '../../state/store';
import { writeAllSync } from '../../util/fs';

/** Parsed arguments; keys are the flag names as written (no camel-case expansion). */
export type CommandArgs = Record<string, unknown>;

export interface CommandModule {
  /** Declares the command's own flags and positionals. */
  builder(y: Argv): Argv;
  /** Rewrites the arguments after the command name before they are parsed (exec: its own
   *  command line must not be taken for flags). */
  prepareArgs?(args: string[]): string[];
  /** Runs the command; a number is the exit code (default 0). Throws on failure. */
  handler(args: CommandArgs): Promise<number | void> | number | void;
}

/** The <container-id> positional, validated. */
export function containerId(args: CommandArgs): string {
  const id = String(args['container-id'] ?? '');
  validateContainerId(id);
  return id;
}

export function stringArg(args: CommandArgs, name: string): string | undefined {
  const value = args[name];
  if (value === undefined || value === null) return undefined;
  // A repeated flag arrives as an array: the last one wins, as with runc.
  if (Array.isArray(value)) return value.length ? String(value[value.length - 1]) : undefined;
  return String(value);
}

/** A path flag, made absolute against the current directory. */
export function pathArg(args: CommandArgs, name: string): string | undefined {
  const value = stringArg(args, name);
  return value === undefined || value === '' ? undefined : path.resolve(value);
}

/**
 * Puts `--` right after the container id (the first word that is neither a flag nor the value
 * of one of `valueFlags`), so yargs leaves what follows alone: exec's command line, ps's
 * arguments for ps(1). With `ownDashes`, a `--` the caller wrote right after the id is that
 * separator already (exec); otherwise it belongs to what follows (ps passes it to ps(1)).
 */
export function dashesAfterId(args: string[], valueFlags: ReadonlySet<string>, ownDashes: boolean): string[] {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') return args;
    if (valueFlags.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    if (ownDashes && args[i + 1] === '--') return args;
    return [...args.slice(0, i + 1), '--', ...args.slice(i + 1)];
  }
  return args;
}

export function withContainerId(y: Argv): Argv {
  return y.positional('container-id', { type: 'string', describe: 'the container id' });
}

export function print(text: string): void {
  writeStdout(text.endsWith('\n') ? text : `${text}\n`);
}

/** Output on stdout; a reader that went away (EPIPE) is no error of the command's. */
export function writeStdout(text: string): void {
  try {
    writeAllSync(1, text);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
  }
}
