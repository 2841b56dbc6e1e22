// The CLI's fast path (src/cli/fast-args.ts) against yargs: for every command line it takes, it
// must give the handler exactly what yargs gives; the command lines engines send must take it;
// anything it is not sure of must go to yargs.
import { describe, expect, it } from 'vitest';

import { fastArgs } from '../../src/cli/fast-args';
import { COMMANDS } from '../../src/cli/main';
import { parseWithYargs } from '../../src/cli/yargs-cli';

const GLOBALS = ['--root', '/run/r', '--log', '/tmp/l.log', '--log-format', 'json'];

/** Command lines the engines send (docker/containerd through go-runc, podman through conmon). */
const ENGINE_LINES: string[][] = [
  [...GLOBALS, 'create', '--bundle', '/b', '--pid-file', '/b/init.pid', 'c1'],
  [
    ...GLOBALS,
    '--systemd-cgroup',
    'create',
    '--bundle',
    '/b',
    '--pid-file',
    '/b/p',
    '--console-socket',
    '/s',
    'c1',
  ],
  [...GLOBALS, 'create', '--bundle', '/b', '--pid-file', '/b/p', '--no-pivot', '--no-new-keyring', 'c1'],
  ['--root', '/run/r', 'create', '--bundle=/b', '--preserve-fds', '2', 'c1'],
  ['--root', '/run/r', 'create', '-b', '/b', 'c1'],
  [...GLOBALS, 'start', 'c1'],
  ['--root', '/run/r', 'state', 'c1'],
  ['state', 'c1'],
  [...GLOBALS, 'kill', 'c1', '9'],
  [...GLOBALS, 'kill', '--all', 'c1', 'KILL'],
  [...GLOBALS, 'kill', 'c1'],
  [...GLOBALS, 'delete', 'c1'],
  [...GLOBALS, 'delete', '--force', 'c1'],
  ['--root', '/run/r', 'delete', '-f', 'c1'],
  [...GLOBALS, 'events', '--stats', 'c1'],
  [...GLOBALS, 'events', '--interval', '1s', 'c1'],
  [...GLOBALS, 'ps', '--format', 'json', 'c1'],
  [...GLOBALS, 'pause', 'c1'],
  [...GLOBALS, 'resume', 'c1'],
  [...GLOBALS, 'exec', '--process', '/tmp/p.json', '--detach', '--pid-file', '/tmp/e.pid', 'c1'],
  [
    ...GLOBALS,
    'exec',
    '--process',
    '/tmp/p.json',
    '--console-socket',
    '/s',
    '--detach',
    '--pid-file',
    '/p',
    'c1',
  ],
  ['--root', '/run/r', 'exec', 'c1', 'sh', '-c', 'echo hi'],
  ['--root', '/run/r', 'exec', '-t', '-e', 'A=1', '-e', 'B=2', '--cwd', '/tmp', 'c1', 'ls', '-l'],
  ['--root', '/run/r', 'exec', 'c1', '--', 'ls', '--', '-x'],
  ['--root', '/run/r', 'list'],
  ['--root', '/run/r', 'list', '--format', 'json'],
  ['--root', '/run/r', 'list', '-q'],
  ['--root', '/run/r', 'run', '--bundle', '/b', '--detach', 'c1'],
  ['--root', '/run/r', 'update', '--memory', '1g', '--cpu-shares', '512', 'c1'],
  ['--root', '/run/r', 'update', '-r', '-', 'c1'],
  ['features'],
  ['--debug', 'state', 'c1'],
];

/** Command lines the fast path leaves to yargs (help, errors, forms it does not take). */
const YARGS_LINES: string[][] = [
  ['state', 'c1', '--help'],
  ['state', '-h'],
  ['state'],
  ['state', 'c1', 'extra'],
  ['state', '--bogus', 'c1'],
  ['delete', '--force=true', 'c1'],
  ['delete', '--force', 'false', 'c1'],
  ['kill', '-af', 'c1'],
  ['create', '--bundle', 'c1'],
  ['create', '--bundle', '--pid-file', '/p', 'c1'],
  ['list', '--format', 'yaml'],
  ['--log-format', 'xml', 'state', 'c1'],
  ['state', 'c1', '--version'],
  // spec has a --rootless of its own besides the global one: yargs' rules for that.
  ['spec', '--bundle', '/b'],
];

function commandOf(argv: string[]) {
  const position = argv.findIndex((word) => COMMANDS.some((c) => c.name === word));
  const entry = COMMANDS[COMMANDS.findIndex((c) => c.name === argv[position])];
  return { position, entry };
}

async function prepared(argv: string[]) {
  const { position, entry } = commandOf(argv);
  const module = await entry.load();
  const line = module.prepareArgs
    ? [...argv.slice(0, position + 1), ...module.prepareArgs(argv.slice(position + 1))]
    : argv;
  return { position, entry, module, line };
}

describe('the CLI fast path', () => {
  it.each(ENGINE_LINES.map((argv) => [argv.join(' '), argv]))(
    'takes `%s` and gives the handler what yargs gives',
    async (_name, argv) => {
      const { position, entry, module, line } = await prepared(argv as string[]);
      const fast = fastArgs(line, position, entry.usage, module);
      expect(fast).not.toBeNull();
      const slow = await parseWithYargs(line, COMMANDS, entry, module);
      expect(slow).toHaveProperty('args');
      expect(fast).toEqual((slow as { args: unknown }).args);
    },
  );

  it.each(YARGS_LINES.map((argv) => [argv.join(' '), argv]))('leaves `%s` to yargs', async (_name, argv) => {
    const { position, entry, module, line } = await prepared(argv as string[]);
    expect(fastArgs(line, position, entry.usage, module)).toBeNull();
  });
});
