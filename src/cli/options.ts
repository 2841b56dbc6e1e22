// The command line's tables, shared by the full yargs parser (src/cli/yargs-cli.ts: --help, and
// any command line the fast path leaves to it) and the fast path (src/cli/fast-args.ts). No
// yargs here: `tsrunc state <id>` and the other calls engines make never load it.

/** One flag, in the terms of yargs' `.option()` (the subset tsrunc uses). */
export interface OptionSpec {
  type: 'string' | 'boolean';
  alias?: string;
  default?: string | boolean;
  choices?: string[];
  nargs?: number;
  array?: boolean;
  hidden?: boolean;
  describe: string;
}

export const DEFAULT_ROOT = '/run/tsrunc';

/** The global flags, before the command name (runc's). */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  root: { type: 'string', default: DEFAULT_ROOT, describe: 'root directory for container state' },
  log: { type: 'string', describe: 'append log lines to this file (default: stderr)' },
  'log-format': { type: 'string', choices: ['text', 'json'], default: 'text', describe: 'log line format' },
  debug: { type: 'boolean', default: false, describe: 'enable debug logging' },
  'systemd-cgroup': { type: 'boolean', default: false, describe: 'cgroupsPath is slice:prefix:name' },
  criu: { type: 'string', hidden: true, describe: 'accepted for compatibility, ignored' },
  rootless: { type: 'string', hidden: true, describe: 'accepted for compatibility, ignored' },
  // -v/--version is answered before any parsing (runCli); declared for --help only.
  version: { alias: 'v', type: 'boolean', describe: 'print the version' },
};

/** Global flags that take a value: needed to find the command name before parsing. */
export const GLOBAL_FLAGS_WITH_VALUE = new Set(
  Object.entries(GLOBAL_OPTIONS)
    .filter(([, spec]) => spec.type === 'string')
    .map(([name]) => `--${name}`),
);

/** How yargs is configured (and the fast path behaves). */
export const PARSER_CONFIGURATION = {
  // runc has flags named --no-pivot and --no-new-keyring: they are not negations.
  'boolean-negation': false,
  // Container ids and signals such as 0123 or 1e3 are strings.
  'parse-numbers': false,
  'parse-positional-numbers': false,
  'camel-case-expansion': false,
} as const;
