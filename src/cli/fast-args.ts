// The fast path of the command line: the argument lists engines send (`--root R --log L
// --log-format json create --bundle B --pid-file P ID`, `state ID`, `delete --force ID`...)
// parsed without loading yargs, which alone costs about as much as the rest of a `state`.
//
// It takes only what it is sure to parse exactly as yargs does with the same tables and
// configuration (src/cli/options.ts and the command's builder), and returns null for anything
// else — --help, an unknown or misspelt flag, a missing value, `--flag=` forms of booleans,
// short-flag clusters, a wrong positional count, a value outside its choices — which then goes
// to yargs, for its behaviour and its error messages. test/unit/cli-fast-args.test.ts checks the
// two agree on a corpus of command lines.
import type { Argv } from 'yargs';

import type { CommandArgs, CommandModule } from './commands/common';
import { GLOBAL_OPTIONS, type OptionSpec } from './options';

interface PositionalSpec {
  name: string;
  required: boolean;
  variadic: boolean;
}

interface CommandTable {
  /** Flag spellings (`--name`, `-a`) to the option's name. */
  flags: Map<string, string>;
  options: Map<string, OptionSpec>;
  positionals: PositionalSpec[];
}

/** What a builder declares, recorded by running it against a stand-in for yargs' Argv (the
 *  builders use `.option()` and `.positional()` only). */
function recordBuilder(module: CommandModule): {
  options: [string, OptionSpec][];
  positionalTypes: Map<string, OptionSpec>;
} {
  const options: [string, OptionSpec][] = [];
  const positionalTypes = new Map<string, OptionSpec>();
  const recorder = {
    option(name: string, spec: OptionSpec) {
      options.push([name, spec]);
      return recorder;
    },
    positional(name: string, spec: OptionSpec) {
      positionalTypes.set(name, spec);
      return recorder;
    },
  };
  module.builder(recorder as unknown as Argv);
  return { options, positionalTypes };
}

/** `kill <container-id> [signal]` -> container-id (required), signal (optional); `[command..]`
 *  is variadic. */
function positionalsOf(usage: string): PositionalSpec[] {
  const out: PositionalSpec[] = [];
  for (const m of usage.matchAll(/([<[])([^\]>.]+)(\.\.)?[\]>]/g)) {
    // yargs drops the spaces of a name (`[ps options..]` -> "psoptions").
    out.push({ name: m[2].replace(/\s+/g, ''), required: m[1] === '<', variadic: m[3] !== undefined });
  }
  return out;
}

function commandTable(usage: string, module: CommandModule): CommandTable | null {
  const { options: commandOptions, positionalTypes } = recordBuilder(module);
  const options = new Map<string, OptionSpec>(Object.entries(GLOBAL_OPTIONS));
  for (const [name, spec] of commandOptions) {
    // A flag declared twice, or a command flag with a global's name: yargs' merge rules, not ours.
    if (options.has(name)) return null;
    options.set(name, spec);
  }
  const flags = new Map<string, string>();
  for (const [name, spec] of options) {
    flags.set(`--${name}`, name);
    if (spec.alias) flags.set(spec.alias.length === 1 ? `-${spec.alias}` : `--${spec.alias}`, name);
  }
  const positionals = positionalsOf(usage);
  // Positionals must be plain strings (or string arrays for a variadic one) to be taken here.
  for (const p of positionals) {
    const spec = positionalTypes.get(p.name);
    if (spec && (spec.type !== 'string' || spec.choices || spec.default !== undefined)) return null;
  }
  return { flags, options, positionals };
}

/**
 * The arguments yargs would give the command's handler for `argv` (the whole command line, the
 * command name at `position`), or null when the fast path does not take this command line.
 */
export function fastArgs(
  argv: readonly string[],
  position: number,
  usage: string,
  module: CommandModule,
): CommandArgs | null {
  const table = commandTable(usage, module);
  if (!table) return null;
  const values = new Map<string, string | boolean | string[]>();
  const positionalWords: string[] = [];
  // After `--`: yargs fills no positional from them, they go to `_` after the command name.
  let afterDashes: string[] = [];
  const set = (name: string, value: string | boolean) => {
    const before = values.get(name);
    if (before === undefined) values.set(name, value);
    // A repeated flag becomes an array (yargs' duplicate-arguments-array); booleans: bail.
    else if (typeof value === 'string' && typeof before !== 'boolean')
      values.set(name, [...(Array.isArray(before) ? before : [before]), value]);
    else return false;
    return true;
  };
  for (let i = 0; i < argv.length; i++) {
    if (i === position) continue;
    const word = argv[i];
    if (word === '--') {
      if (i < position) return null;
      afterDashes = argv.slice(i + 1);
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      // Global flags come before the command name; a word there is not ours to place.
      if (i < position) return null;
      positionalWords.push(word);
      continue;
    }
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const flag = eq > 0 ? word.slice(0, eq) : word;
    const name = table.flags.get(flag);
    if (name === undefined || name === 'version') return null;
    const spec = table.options.get(name)!;
    if (spec.type === 'boolean') {
      // `--flag=x`, and `--flag true|false` (yargs takes the next word as the value): yargs.
      if (eq > 0 || argv[i + 1] === 'true' || argv[i + 1] === 'false') return null;
      if (!set(name, true)) return null;
      continue;
    }
    let value: string;
    if (eq > 0) {
      value = word.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next === '--' || (next.startsWith('-') && next !== '-') || i + 1 === position)
        return null;
      value = next;
      i++;
    }
    if (spec.choices && !spec.choices.includes(value)) return null;
    if (!set(name, value)) return null;
  }

  const args: CommandArgs = { _: [argv[position], ...afterDashes] };
  let next = 0;
  for (const p of table.positionals) {
    if (p.variadic) {
      // Always an array, empty when nothing is left for it.
      args[p.name] = positionalWords.slice(next);
      next = positionalWords.length;
    } else if (next < positionalWords.length) {
      args[p.name] = positionalWords[next++];
    } else if (p.required) {
      return null;
    }
  }
  // More words than positionals: yargs' strict mode says so.
  if (next < positionalWords.length) return null;
  for (const [name, spec] of table.options) {
    const value = values.has(name) ? values.get(name) : spec.default;
    if (value === undefined) continue;
    args[name] = value;
    if (spec.alias) args[spec.alias] = value;
  }
  args.$0 = 'tsrunc';
  return args;
}
