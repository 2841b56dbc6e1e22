// Bad input through the real CLI: every spec-fixtures/bad/*.json (found by readdir, so a new
// fixture is covered without touching this file) and a table of bad input that is not a config
// document (ids, bundle paths, flags, signals) must give exit 1, nothing on stdout, exactly one
// line on stderr that names the problem, and leave nothing behind: no state dir under --root, no
// cgroup of the id, no mount of the bundle, no process of the bundle, the rootfs as it was.
// The good fixtures go through create + delete the same way, to show the harness is not simply
// rejecting everything.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerId, makeBundle, tempDir, type Bundle, type Config } from '../helpers/bundle';
import {
  cgroupDirsNamed,
  createContainer,
  expectOneLineError,
  mountsContaining,
  procAlive,
  processesMatching,
  readLinkOrNull,
  stateDirOf,
  stateOf,
  waitFor,
} from '../helpers/lifecycle-helpers';
import { expected, FIXTURES, fixtureFiles } from '../helpers/fixtures';
import { startConsoleServer } from '../helpers/process';
import { stateRoot, tsrunc, type TsruncResult } from '../helpers/tsrunc';

// ---- what "nothing left behind" means, checked from the host

/** Live processes that belong to the bundle: it is in their command line, root or cwd. */
function processesOfBundle(bundleDir: string): string[] {
  const out = processesMatching(bundleDir).map((p) => `${p.pid} ${p.cmdline}`);
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    const pid = Number(name);
    for (const link of ['root', 'cwd']) {
      const target = readLinkOrNull(`/proc/${pid}/${link}`);
      if (target !== null && (target === bundleDir || target.startsWith(`${bundleDir}/`)) && procAlive(pid)) {
        out.push(`${pid} ${link} ${target}`);
      }
    }
  }
  return out;
}

/** A listing of a tree (type, mode, owner, size, mtime of every entry), to see it is untouched. */
function treeListing(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = path.join(dir, rel);
    const st = fs.lstatSync(abs);
    const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? `l>${fs.readlinkSync(abs)}` : 'f';
    out.push(`${rel || '.'} ${kind} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(abs).sort()) walk(path.join(rel, name));
  };
  walk('');
  return out;
}

function rootEntries(root = stateRoot()): string[] {
  try {
    return fs.readdirSync(root).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}

interface Watch {
  rootfs: string[];
  bundleEntries: string[];
}

function watchBundle(bundle: Bundle): Watch {
  return { rootfs: treeListing(bundle.rootfs), bundleEntries: fs.readdirSync(bundle.dir).sort() };
}

/** Exit 1, no stdout, exactly one line on stderr; returns that line. */
function oneLineFailure(res: TsruncResult): string {
  const line = expectOneLineError(res);
  expect(res.stdout).toBe('');
  // One line, lowercase start, no trailing period (DESIGN.md "Errors").
  expect(line).not.toMatch(/\.$/);
  expect(line).toBe(line.trim());
  return line;
}

/**
 * The rootfs listing now, with `mayStay` (rootfs-relative paths) taken out where they are new
 * empty directories or device nodes, and the mtime of their parents blanked. A create that fails in the init after
 * it began building the rootfs leaves the mount points it made (runc does the same): nothing else.
 */
function rootfsListingExcept(
  rootfs: string,
  before: string[],
  mayStay: string[],
): { now: string[]; before: string[] } {
  const had = new Set(before.map((l) => l.split(' ')[0]));
  const gone = new Set<string>();
  for (const rel of mayStay) {
    let abs: string;
    try {
      abs = path.join(rootfs, rel);
      const stat = fs.lstatSync(abs);
      const emptyDir = stat.isDirectory() && fs.readdirSync(abs).length === 0;
      if (!had.has(rel) && (emptyDir || stat.isCharacterDevice())) gone.add(rel);
    } catch {
      /* not made */
    }
  }
  const parents = new Set([...gone].map((rel) => path.dirname(rel)));
  const blank = (line: string) => {
    const parts = line.split(' ');
    return parents.has(parts[0]) ? parts.slice(0, -1).join(' ') : line;
  };
  return {
    now: treeListing(rootfs)
      .filter((l) => !gone.has(l.split(' ')[0]))
      .map(blank),
    before: before.map(blank),
  };
}

/** Nothing of `id` or of the bundle is left on the host. `mountDirsMayStay`: see rootfsListingExcept. */
async function expectNothingLeft(
  id: string,
  bundle: Bundle,
  watch: Watch,
  cgroupName = id,
  mountDirsMayStay: string[] = [],
): Promise<void> {
  expect(rootEntries(), 'entries under --root').toEqual([]);
  if (cgroupName !== '') expect(cgroupDirsNamed(cgroupName), 'cgroup dirs of the id').toEqual([]);
  expect(mountsContaining(bundle.dir), 'mounts of the bundle').toEqual([]);
  await waitFor('no process of the bundle', () => processesOfBundle(bundle.dir).length === 0, 2000).catch(
    () => undefined,
  );
  expect(processesOfBundle(bundle.dir), 'processes of the bundle').toEqual([]);
  const rootfs = rootfsListingExcept(bundle.rootfs, watch.rootfs, mountDirsMayStay);
  expect(rootfs.now, 'the rootfs').toEqual(rootfs.before);
  expect(fs.readdirSync(bundle.dir).sort(), 'the bundle dir').toEqual(watch.bundleEntries);
  // The runtime still works with this root and has nothing in it.
  const list = await tsrunc(['list', '-q']);
  expect(list).toMatchObject({ code: 0, stdout: '', stderr: '' });
}

/** A bundle whose config.json is the fixture's text as is (so invalid JSON stays invalid). An
 *  absolute root.path (a path on the fixture author's machine) is pointed at the bundle's rootfs;
 *  a relative one is kept, whatever it tests. */
async function bundleWithFixture(kind: 'good' | 'bad', name: string): Promise<Bundle> {
  const text = fs.readFileSync(path.join(FIXTURES, kind, name), 'utf8');
  const bundle = await makeBundle();
  let config: Config;
  try {
    config = JSON.parse(text);
  } catch {
    fs.writeFileSync(bundle.configPath, text);
    return bundle;
  }
  const rootPath = config?.root?.path;
  if (typeof rootPath === 'string' && rootPath.startsWith('/')) {
    config.root.path = bundle.rootfs;
    bundle.config = config;
    bundle.writeConfig();
  } else {
    fs.writeFileSync(bundle.configPath, text);
  }
  bundle.config = config;
  return bundle;
}

/** The config's mount destinations, relative to the rootfs. */
function mountDestinations(config: Config): string[] {
  const mounts = Array.isArray(config?.mounts) ? (config.mounts as { destination?: unknown }[]) : [];
  return mounts
    .map((m) => m.destination)
    .filter((d): d is string => typeof d === 'string' && d.startsWith('/'))
    .map((d) => path.posix.normalize(d).slice(1));
}

/** What a create may leave in the rootfs: its mount points, and without a mount on /dev the
 *  default device nodes, made in the rootfs's own /dev (as runc makes them). */
function pathsCreateMayMake(config: Config): string[] {
  const destinations = mountDestinations(config);
  if (destinations.includes('dev')) return destinations;
  return [...destinations, ...['null', 'zero', 'full', 'random', 'urandom', 'tty'].map((d) => `dev/${d}`)];
}

/** The cgroup name a create of `id` with this config would make (the last path component). */
function cgroupNameFor(config: Config, id: string): string {
  const p = config?.linux?.cgroupsPath;
  if (typeof p !== 'string' || p === '') return id;
  return path.posix.basename(p.split(':').pop() ?? '') || id;
}

// ---- table 1: every bad fixture

describe('spec-fixtures/bad through tsrunc create', () => {
  const files = fixtureFiles('bad');

  it('finds the fixtures and has an expectation for each', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.filter((f) => expected.bad[f] === undefined)).toEqual([]);
  });

  for (const name of files) {
    it(`${name}: exit 1, the expected line, nothing left`, async () => {
      const want = expected.bad[name];
      const bundle = await bundleWithFixture('bad', name);
      const id = containerId();
      try {
        const watch = watchBundle(bundle);
        const res = await tsrunc(['create', '--bundle', bundle.dir, id]);
        const line = oneLineFailure(res);
        if (want.error !== undefined) expect(line).toBe(want.error);
        else expect(line).toMatch(new RegExp(want.errorMatch ?? '^$'));
        // Only a problem found in the init (stage "create") may leave the mount points it made.
        const mayStay = want.stage === 'create' ? mountDestinations(bundle.config) : [];
        await expectNothingLeft(id, bundle, watch, cgroupNameFor(bundle.config, id), mayStay);
      } finally {
        if (fs.existsSync(stateDirOf(id))) await tsrunc(['delete', '--force', id]);
        await bundle.cleanup();
      }
    });
  }
});

// ---- the good fixtures: create + delete works, so the harness above is not rejecting everything

/** Seconds since boot: a time namespace cannot move CLOCK_MONOTONIC below zero. */
function uptimeSeconds(): number {
  return Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

/** Good fixtures this host cannot create, and why. Each is still checked: create must fail with
 *  this line and leave nothing. */
const GOOD_NOT_RUNNABLE: Record<string, { reason: string; error: RegExp } | undefined> = {
  'minimal-no-process.json': {
    reason: 'no process: valid for the spec (requireProcess false) but nothing to create',
    error: /^config\.json: process: is required to create a container$/,
  },
  'joined-namespaces.json': {
    reason: 'joins the namespaces of pid 1234 and /var/run/uts-holder, which do not exist here',
    error: /^config\.json: linux\.namespaces\[2\]\.path: cannot open \/proc\/1234\/ns\/net: ENOENT$/,
  },
  'full.json': {
    reason: 'binds /srv/data, which does not exist on this host',
    error: /^.*mounts\[4\].*\/srv\/data.*$/,
  },
  'resources.json': {
    // (Past that, cpu.realtimeRuntime -1 would fail: this kernel gives child cgroups no
    // real-time budget.)
    reason: 'network.classID: net_cls is not mounted here, refused before anything is made',
    error: /^linux\.resources\.network\.classID: controller "net_cls" is not available on this host$/,
  },
  'rlimit-infinity.json': {
    reason: 'raises hard limits to infinity: the bounding set here lacks CAP_SYS_RESOURCE',
    error: /^unable to start container process: process\.rlimits\[0\]: setrlimit: operation not permitted$/,
  },
  'time-namespace.json':
    uptimeSeconds() < 86400
      ? {
          reason: 'moves CLOCK_MONOTONIC back one day: this host has been up for less than that',
          error:
            /^unable to start container process: linux\.timeOffsets: write timens_offsets: numerical result out of range$/,
        }
      : undefined,
};

describe('spec-fixtures/good through tsrunc create + delete', () => {
  for (const name of fixtureFiles('good')) {
    const notRunnable = GOOD_NOT_RUNNABLE[name];
    const title = notRunnable
      ? `${name}: not runnable here (${notRunnable.reason}): fails with its one line, nothing left`
      : `${name}: create gives a created container, delete removes all of it`;
    it(title, async () => {
      const bundle = await bundleWithFixture('good', name);
      // A user namespace's root (a high host uid) must be able to reach the rootfs.
      fs.chmodSync(bundle.dir, 0o755);
      const id = containerId();
      const dir = tempDir('console');
      const socketPath = path.join(dir, 'console.sock');
      let server: Awaited<ReturnType<typeof startConsoleServer>> | null = null;
      try {
        const watch = watchBundle(bundle);
        // Warnings (full.json has some) go to the --log file, so stderr holds only the error.
        const args = ['--log', path.join(dir, 'log.txt'), 'create', '--bundle', bundle.dir];
        if (bundle.config?.process?.terminal === true) {
          server = await startConsoleServer(socketPath);
          args.push('--console-socket', socketPath);
        }
        const res = await tsrunc([...args, id]);
        if (notRunnable) {
          expect(oneLineFailure(res)).toMatch(notRunnable.error);
        } else {
          expect(res.code, res.stderr).toBe(0);
          expect(res.stdout).toBe('');
          const state = await stateOf(id);
          expect(state).toMatchObject({ id, status: 'created', bundle: bundle.dir });
          // Unknown annotations are kept as they are (OCI state), not refused or dropped.
          expect(state.annotations).toEqual(bundle.config.annotations);
          expect(procAlive(state.pid)).toBe(true);
          // The init is in the container: its own mount namespace (or, without one, chrooted into
          // the rootfs in ours), its own cgroup.
          const namespaces: Array<{ type: string }> = bundle.config?.linux?.namespaces ?? [];
          if (namespaces.some((ns) => ns.type === 'mount')) {
            expect(readLinkOrNull(`/proc/${state.pid}/ns/mnt`)).not.toBe(readLinkOrNull('/proc/self/ns/mnt'));
          } else {
            expect(readLinkOrNull(`/proc/${state.pid}/root`)).toBe(
              fs.realpathSync(path.join(bundle.dir, 'rootfs')),
            );
          }
          expect(cgroupDirsNamed(cgroupNameFor(bundle.config, id)).length).toBeGreaterThan(0);
          const del = await tsrunc(['delete', '--force', id]);
          expect(del, del.stderr).toMatchObject({ code: 0, stdout: '', stderr: '' });
          await waitFor('the init to go', () => !procAlive(state.pid), 2000);
        }
        // Mount points the create made in the rootfs may stay, as they do with runc; nothing else
        // may change, and the cgroup is gone after delete as after a failed create.
        const cgroupName = cgroupNameFor(bundle.config, id);
        await expectNothingLeft(id, bundle, watch, cgroupName, pathsCreateMayMake(bundle.config));
      } finally {
        if (fs.existsSync(stateDirOf(id))) await tsrunc(['delete', '--force', id]);
        server?.kill();
        await server?.done;
        fs.rmSync(dir, { recursive: true, force: true });
        await bundle.cleanup();
      }
    });
  }
});

// ---- table 2: bad input that is not a config document

/** One bad create: how to break the bundle or the command line, and what the line must say. */
interface CliCase {
  name: string;
  /** Change the (valid, default) config. */
  mutate?: (c: Config, b: Bundle) => void;
  /** Replace config.json after the bundle is made: text, null (remove it), or a function given
   *  the path of the (valid) config.json. */
  configFile?: string | null | ((configPath: string) => void);
  /** Container id (default: a fresh valid one). */
  id?: string;
  /** Extra create arguments; `@BUNDLE` stands for the bundle dir. */
  args?: string[];
  /** --bundle value; `@BUNDLE` stands for the bundle dir. Default `@BUNDLE`. */
  bundleArg?: string;
  /** The exact error line (`@BUNDLE` substituted), or substrings it must contain. */
  exact?: string;
  names?: string[];
}

const CLI_CASES: CliCase[] = [
  // config.json itself
  {
    name: 'missing config.json',
    configFile: null,
    exact: 'config.json: no such file in bundle @BUNDLE',
  },
  {
    name: 'config.json that is a directory',
    configFile: (p) => {
      fs.rmSync(p);
      fs.mkdirSync(p);
    },
    exact: 'config.json: is a directory in bundle @BUNDLE',
  },
  {
    name: 'config.json that is a FIFO (nobody writes it: must not hang)',
    configFile: (p) => {
      fs.rmSync(p);
      execFileSync('mkfifo', [p]);
    },
    exact: 'config.json: is not a regular file in bundle @BUNDLE',
  },
  {
    name: 'config.json that is a symlink to /dev/zero (endless: must not hang)',
    configFile: (p) => {
      fs.rmSync(p);
      fs.symlinkSync('/dev/zero', p);
    },
    exact: 'config.json: is not a regular file in bundle @BUNDLE',
  },
  {
    name: 'config.json that is a dangling symlink',
    configFile: (p) => {
      fs.rmSync(p);
      fs.symlinkSync('/nonexistent-tsrunc-config', p);
    },
    exact: 'config.json: no such file in bundle @BUNDLE',
  },
  {
    name: 'an empty config.json',
    configFile: '',
    names: ['config.json: invalid JSON'],
  },
  {
    name: 'a 50 MB config.json',
    configFile: (p) => {
      const base = JSON.stringify({ ociVersion: '1.3.0', root: { path: 'rootfs' } });
      fs.writeFileSync(p, base.slice(0, -1) + `, "annotations": {"x": "${'a'.repeat(50 * 1024 * 1024)}"}}`);
    },
    names: ['config.json', 'too large'],
  },
  {
    name: 'deeply nested JSON (100000 levels in an unknown field)',
    configFile: (p) => {
      const depth = 100_000;
      const cfg = JSON.parse(fs.readFileSync(p, 'utf8'));
      const text = JSON.stringify(cfg);
      fs.writeFileSync(p, `${text.slice(0, -1)}, "x": ${'['.repeat(depth)}${']'.repeat(depth)}}`);
    },
    names: ['config.json', 'nested'],
  },
  // the rootfs
  {
    name: 'missing rootfs',
    mutate: (c) => (c.root.path = 'no-such-rootfs'),
    exact: 'config.json: root.path: rootfs @BUNDLE/no-such-rootfs does not exist',
  },
  {
    name: 'a rootfs that is a file',
    mutate: (c, b) => {
      c.root.path = 'rootfs-file';
      fs.writeFileSync(path.join(b.dir, 'rootfs-file'), '');
    },
    exact: 'config.json: root.path: rootfs @BUNDLE/rootfs-file is not a directory',
  },
  // the bundle
  {
    name: 'a bundle dir that does not exist',
    bundleArg: '@BUNDLE/missing-bundle',
    exact: 'config.json: no such file in bundle @BUNDLE/missing-bundle',
  },
  {
    name: 'a bundle that is a file',
    bundleArg: '@BUNDLE/config.json',
    exact: 'config.json: no such file in bundle @BUNDLE/config.json',
  },
  // container ids
  { name: 'id with a slash', id: 'a/b', exact: 'invalid container id: "a/b"' },
  { name: 'id ..', id: '..', exact: 'invalid container id: ".."' },
  { name: 'id .', id: '.', exact: 'invalid container id: "."' },
  { name: 'id ../escape', id: '../escape', exact: 'invalid container id: "../escape"' },
  { name: 'empty id', id: '', exact: 'invalid container id: ""' },
  { name: 'id of 2000 characters', id: 'x'.repeat(2000), names: ['invalid container id'] },
  { name: 'id with a newline', id: 'tsrunc\nx', exact: 'invalid container id: "tsrunc\\nx"' },
  { name: 'id with a space', id: 'tsrunc x', exact: 'invalid container id: "tsrunc x"' },
  // flags
  {
    name: '--pid-file in a missing directory',
    mutate: (c) => (c.process.args = ['sleep', '1000']),
    args: ['--pid-file', '@BUNDLE/no-such-dir/init.pid'],
    names: ['--pid-file', 'no-such-dir'],
  },
  {
    name: '--pid-file that is a directory',
    mutate: (c) => (c.process.args = ['sleep', '1000']),
    args: ['--pid-file', '@BUNDLE/rootfs'],
    names: ['--pid-file', '@BUNDLE/rootfs'],
  },
  {
    name: '--console-socket that is not a socket',
    mutate: (c) => (c.process.terminal = true),
    args: ['--console-socket', '@BUNDLE/config.json'],
    names: ['--console-socket', '@BUNDLE/config.json'],
  },
  {
    name: '--console-socket that does not exist',
    mutate: (c) => (c.process.terminal = true),
    args: ['--console-socket', '@BUNDLE/no-such.sock'],
    names: ['--console-socket', '@BUNDLE/no-such.sock'],
  },
  {
    name: '--console-socket without process.terminal',
    args: ['--console-socket', '@BUNDLE/no-such.sock'],
    exact: '--console-socket is only for a container with process.terminal set',
  },
  {
    name: 'process.terminal without --console-socket',
    mutate: (c) => (c.process.terminal = true),
    exact: 'config.json: process.terminal: a terminal needs --console-socket to send the pty master to',
  },
  // fd 3 of the CLI is its own (the caller passed none): never handed to the container.
  { name: '--preserve-fds too high', args: ['--preserve-fds', '100'], names: ['--preserve-fds: fd 3 '] },
  {
    name: '--preserve-fds negative',
    args: ['--preserve-fds', '-1'],
    exact: '--preserve-fds: invalid count "-1"',
  },
  {
    name: '--preserve-fds not a number',
    args: ['--preserve-fds', 'many'],
    exact: '--preserve-fds: invalid count "many"',
  },
];

describe('bad input that is not a config document', () => {
  it('every case says what its line must say (exact, or substrings)', () => {
    expect(CLI_CASES.filter((c) => c.exact === undefined && !c.names?.length).map((c) => c.name)).toEqual([]);
  });

  for (const bad of CLI_CASES) {
    it(`${bad.name}: exit 1, one line naming the problem, nothing left`, async () => {
      const bundle = await makeBundle((c, b) => bad.mutate?.(c, b));
      if (bad.configFile === null) fs.rmSync(bundle.configPath);
      else if (typeof bad.configFile === 'string') fs.writeFileSync(bundle.configPath, bad.configFile);
      else if (typeof bad.configFile === 'function') bad.configFile(bundle.configPath);
      const id = bad.id ?? containerId();
      try {
        const watch = watchBundle(bundle);
        const sub = (a: string) => a.replaceAll('@BUNDLE', bundle.dir);
        const res = await tsrunc(
          ['create', '--bundle', sub(bad.bundleArg ?? '@BUNDLE'), ...(bad.args ?? []).map(sub), id],
          { timeoutMs: 20_000 },
        );
        const line = oneLineFailure(res);
        if (bad.exact !== undefined) expect(line).toBe(sub(bad.exact));
        for (const n of bad.names ?? []) expect(line).toContain(sub(n));
        const validId = bad.id === undefined;
        await expectNothingLeft(id, bundle, watch, validId ? id : '');
      } finally {
        if (bad.id === undefined && fs.existsSync(stateDirOf(id))) await tsrunc(['delete', '--force', id]);
        await bundle.cleanup();
      }
    });
  }
});

describe('bad input against an existing container', () => {
  it('a duplicate id: "container with given ID already exists", the first container untouched', async () => {
    const first = await createContainer((c) => (c.process.args = ['sleep', '1000']));
    const other = await makeBundle();
    try {
      const before = await stateOf(first.id);
      const cgroups = cgroupDirsNamed(first.id);
      expect(cgroups.length).toBeGreaterThan(0);
      const watch = watchBundle(other);
      const res = await tsrunc(['create', '--bundle', other.dir, first.id]);
      expect(oneLineFailure(res)).toBe('container with given ID already exists');
      // The winner is as it was: same state, same init, same cgroups.
      expect(await stateOf(first.id)).toEqual(before);
      expect(procAlive(before.pid)).toBe(true);
      expect(cgroupDirsNamed(first.id)).toEqual(cgroups);
      expect(rootEntries()).toEqual([first.id]);
      expect(mountsContaining(other.dir)).toEqual([]);
      expect(processesOfBundle(other.dir)).toEqual([]);
      expect(treeListing(other.rootfs)).toEqual(watch.rootfs);
    } finally {
      await other.cleanup();
      await first.cleanup();
    }
  });

  const BAD_SIGNALS: { signal: string; line: string }[] = [
    { signal: 'FOO', line: 'unknown signal "FOO"' },
    { signal: 'SIGFOO', line: 'unknown signal "SIGFOO"' },
    { signal: 'SIG0', line: 'unknown signal "SIG0"' },
    { signal: '65', line: 'unknown signal "65"' },
    { signal: '-9', line: 'unknown signal "-9"' },
    { signal: '9x', line: 'unknown signal "9x"' },
    { signal: 'SIGRTMIN-1', line: 'unknown signal "SIGRTMIN-1"' },
    { signal: 'RTMAX+1', line: 'unknown signal "RTMAX+1"' },
    { signal: 'SIG', line: 'unknown signal "SIG"' },
    { signal: 'KILL KILL', line: 'unknown signal "KILL KILL"' },
  ];

  it('unknown signal names for kill: one line each, the container untouched', async () => {
    const c = await createContainer((cfg) => (cfg.process.args = ['sleep', '1000']));
    try {
      const before = await stateOf(c.id);
      const status = fs.readFileSync(`/proc/${before.pid}/status`, 'utf8');
      for (const { signal, line } of BAD_SIGNALS) {
        const res = await tsrunc(['kill', c.id, signal]);
        expect(oneLineFailure(res), `kill ${JSON.stringify(signal)}`).toBe(line);
      }
      const after = await stateOf(c.id);
      expect(after).toEqual(before);
      expect(procAlive(before.pid)).toBe(true);
      // No signal reached the init: nothing pending, same state.
      const now = fs.readFileSync(`/proc/${before.pid}/status`, 'utf8');
      const field = (text: string, key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text)?.[1];
      expect(field(now, 'SigPnd')).toBe(field(status, 'SigPnd'));
      expect(field(now, 'ShdPnd')).toBe(field(status, 'ShdPnd'));
      // And a good signal still works, so the loop above did reach a live container.
      expect((await tsrunc(['kill', c.id, 'KILL'])).code).toBe(0);
      await waitFor('the init to die', () => !procAlive(before.pid), 3000);
    } finally {
      await c.cleanup();
    }
  });

  it('kill, state, start and delete of an id that does not exist: "container does not exist"', async () => {
    const id = containerId();
    for (const args of [
      ['kill', id, 'KILL'],
      ['state', id],
      ['start', id],
      ['delete', id],
    ]) {
      expect(oneLineFailure(await tsrunc(args)), args[0]).toBe('container does not exist');
    }
    expect(rootEntries()).toEqual([]);
  });
});
