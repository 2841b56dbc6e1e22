#!/usr/bin/env node
// CLI start-up, tsrunc next to runc in one run (issue "CLI start-up: each tsrunc call within
// 10 ms of a bare node start"). Three sections:
//   cli    - hyperfine -N of each command engines call: create, start, state, kill, delete,
//            events --stats, ps --format json and exec of `true` (exec setup). Each command's
//            cost over a bare start of its runtime (tsrunc - `node -e 0`, runc - `runc
//            --version`, both baselines measured in the same hyperfine run as the command);
//            target: tsrunc's within 10 ms of runc's.
//   rss    - peak RSS of `tsrunc state <id>` against `node -e 0` (median of 11); target <= 1.5x.
//            runc's for information.
//   docker - `docker run --rm --network none busybox:local true` with --runtime tsrunc against
//            --runtime runc, under a private dockerd + containerd of this run; target <= 1.3x.
// Every line shows its measure next to its target, "met" or "missed". Exits 0 whatever the
// numbers (a benchmark, not a test), 1 when the benchmark itself fails, 130 when interrupted.
// Needs root, runc and hyperfine (installed when missing), busybox-static and python3; the
// docker section needs dockerd (docker.io) and containerd (scripts/setup.sh). No network: the
// image is built here from the host's busybox, dockerd makes no bridge and touches no iptables
// or ip_forward, and the containers run with --network none.
//
//   node scripts/bench-cli.js [--only cli|rss|docker] [--runs N]     (npm run bench runs it)
// --runs: hyperfine runs per command (default 20 for the CLI, 15 for docker run); the same from
// the environment: BENCH_CLI_ONLY, BENCH_CLI_RUNS.
// tsrunc is measured as `<this node> <repo>/bin/tsrunc`, so the same node as `node -e 0`.
// Everything made here is named tsrunc-bench-* (work dir, container ids, cgroup parent): the
// tests' leak guard leaves it alone when a test run goes on meanwhile.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const repo = path.resolve(__dirname, '..');
const NODE = process.execPath;
const TSRUNC = path.join(repo, 'bin', 'tsrunc');
const SECTIONS = ['cli', 'rss', 'docker'];
/** In every id, cgroup and process of this run: tells ours from a concurrent run's. */
const TAG = `tsrunc-bench-${process.pid}-`;
const GAP_TARGET_MS = 10;
const RSS_TARGET = 1.5;
const DOCKER_TARGET = 1.3;
const RSS_SAMPLES = 11;
const DOCKER_IMAGE = 'busybox:local';
/** The shims' sockets live here whatever containerd's state dir is (compiled into the shims). */
const SHIM_SOCKET_DIR = '/run/containerd/s';

function fail(message) {
  console.error(`bench-cli: ${message}`);
  process.exit(1);
}

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      options: { only: { type: 'string' }, runs: { type: 'string' }, help: { type: 'boolean' } },
    }).values;
  } catch (error) {
    fail(error.message.split('\n')[0].toLowerCase());
  }
  if (parsed.help) {
    console.log(
      fs
        .readFileSync(__filename, 'utf8')
        .split("'use strict'")[0]
        .replace(/^#!.*\n/, ''),
    );
    process.exit(0);
  }
  const only = parsed.only ?? process.env.BENCH_CLI_ONLY ?? '';
  if (only !== '' && !SECTIONS.includes(only)) fail(`--only must be ${SECTIONS.join(', ')}; got "${only}"`);
  const runsText = parsed.runs ?? process.env.BENCH_CLI_RUNS;
  if (runsText !== undefined && (!/^[0-9]+$/.test(runsText) || Number(runsText) < 2))
    fail(`--runs must be an integer >= 2, got "${runsText}"`);
  const runs = runsText === undefined ? null : Number(runsText);
  return {
    sections: only === '' ? SECTIONS : [only],
    cliRuns: runs ?? 20,
    dockerRuns: runs ?? 15,
  };
}

const opts = options();
if (process.getuid() !== 0) fail('run as root');

const has = (bin) => {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
// As bench.sh: both from Debian's packages when missing.
const missing = ['runc', 'hyperfine'].filter((bin) => !has(bin));
if (missing.length > 0) {
  console.error(`bench-cli: installing ${missing.join(' ')}`);
  const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env: aptEnv });
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env: aptEnv,
  });
}
const needed = ['busybox', 'chroot', 'tar', 'python3'];
if (opts.sections.includes('docker')) needed.push('dockerd', 'containerd', 'ctr');
for (const bin of needed) if (!has(bin)) fail(`${bin} not found: run bash scripts/setup.sh`);
if (!fs.existsSync(path.join(repo, 'dist', 'cli', 'main.js'))) fail('not built: run bash scripts/setup.sh');
// The docker client of dockerd's package when there is one: another in PATH may be newer.
const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

// Commands reach hyperfine and sh as words: paths must need no quoting (mkdtemp's need none).
for (const p of [NODE, TSRUNC])
  if (!/^[A-Za-z0-9_/.+-]+$/.test(p)) fail(`path needs quoting, not supported: ${p}`);
const work = fs.mkdtempSync('/tmp/tsrunc-bench-cli-');
const bundle = path.join(work, 'bundle');
const prepareLog = path.join(work, 'prepare.log');

/** Both runtimes; each has its own root dir and its own container ids (cgroups follow the id). */
const RUNTIMES = {
  runc: { name: 'runc', argv: ['runc'], root: path.join(work, 'runc-root'), ids: new Set() },
  tsrunc: { name: 'tsrunc', argv: [NODE, TSRUNC], root: path.join(work, 'tsrunc-root'), ids: new Set() },
};
/** argv of `<runtime> --root <its root> ...args`. */
const cli = (rt, ...args) => [...rt.argv, '--root', rt.root, ...args];
const idOf = (rt, use) => {
  const id = `${TAG}${rt.name}-${use}`;
  rt.ids.add(id);
  return id;
};

/** The environment of everything measured or started here. */
function childEnv() {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  // Adds ~50 ms to every node start on these machines: not tsrunc's cost (bench.sh unsets it too).
  delete env.NODE_EXTRA_CA_CERTS;
  // Our dockerd, and no credential helpers of the user's docker config.
  delete env.DOCKER_HOST;
  delete env.DOCKER_CONTEXT;
  env.DOCKER_CONFIG = path.join(work, 'docker-config');
  return env;
}

// --- processes -------------------------------------------------------------------------------

let interrupted = false;
/** Commands running now (not the daemons): stopped on a signal. */
const running = new Set();
let outputCount = 0;

/**
 * Runs argv to its exit; resolves { code, stdout, stderr }, rejects on a non-zero exit unless
 * `check` is false. Output goes through files, not pipes: a created container's init keeps
 * the stdio it was given, and a pipe would never end. `cleaning`: runs even after a signal.
 */
function run(argv, { check = true, input = null, cleaning = false, timeoutMs = 1_800_000 } = {}) {
  if (interrupted && !cleaning) return Promise.reject(new Error('interrupted'));
  const n = outputCount++;
  const outFile = path.join(work, `.out-${n}`);
  const errFile = path.join(work, `.err-${n}`);
  const inFd = input === null ? 'ignore' : fs.openSync(input, 'r');
  const stdio = [inFd, fs.openSync(outFile, 'w'), fs.openSync(errFile, 'w')];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio, env: childEnv() });
    for (const fd of stdio) if (typeof fd === 'number') fs.closeSync(fd);
    running.add(child);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const done = (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const read = (f) => {
        try {
          const text = fs.readFileSync(f, 'utf8');
          fs.rmSync(f);
          return text;
        } catch {
          return '';
        }
      };
      const result = { code: code ?? signal, stdout: read(outFile), stderr: read(errFile) };
      if (code === 0 || !check) resolve(result);
      else {
        const detail = result.stderr.trim().split('\n').slice(-5).join('\n');
        reject(
          new Error(
            `${path.basename(argv[0])} ${argv.slice(1, 4).join(' ')}...: exit ${result.code}${detail ? `: ${detail}` : ''}`,
          ),
        );
      }
    };
    child.on('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.on('exit', done);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function checkInterrupted() {
  if (interrupted) throw new Error('interrupted');
}

/** A daemon in a process group of its own (a Ctrl-C reaches us alone: we stop it in order). */
function startDaemon(name, argv) {
  const log = fs.openSync(path.join(work, `${name}.log`), 'a');
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', log, log],
    env: childEnv(),
    detached: true,
  });
  fs.closeSync(log);
  child.label = name;
  child.exited = new Promise((resolve) => child.once('exit', resolve));
  child.on('error', () => undefined); // seen as an exit: exitCode is set
  return child;
}

const isUp = (daemon) => daemon !== null && daemon.exitCode === null && daemon.signalCode === null;

/** SIGTERM, SIGKILL after 15 s. */
async function stopDaemon(daemon) {
  if (!isUp(daemon)) return;
  daemon.kill('SIGTERM');
  let timer;
  const late = new Promise((resolve) => (timer = setTimeout(resolve, 15_000, false)));
  const stopped = await Promise.race([daemon.exited.then(() => true), late]);
  clearTimeout(timer);
  if (!stopped) {
    console.error(`bench-cli: ${daemon.label} did not stop in 15 s: killed`);
    daemon.kill('SIGKILL');
    await daemon.exited;
  }
}

function logTail(name, chars = 1500) {
  try {
    return fs
      .readFileSync(path.join(work, `${name}.log`), 'utf8')
      .slice(-chars)
      .trim();
  } catch {
    return '';
  }
}

// --- hyperfine -------------------------------------------------------------------------------

/**
 * hyperfine -N over `entries` ({ name, argv, prepare? }): their mean times in ms by name.
 * A prepare is given per command (hyperfine takes one per command or one for all), `true` where
 * an entry has none.
 */
async function hyperfine(label, entries, { runs, warmup }) {
  const json = path.join(work, `${label.replace(/[^a-z0-9]+/gi, '-')}.json`);
  const args = ['-N', '--style', 'none', '--warmup', String(warmup), '--runs', String(runs)];
  args.push('--export-json', json);
  const prepared = entries.some((e) => e.prepare);
  for (const e of entries) {
    if (prepared) args.push('--prepare', e.prepare ?? 'true');
    args.push('--command-name', e.name, e.argv.join(' '));
  }
  try {
    // Its output aside: with --style none that is only warnings (outliers, a slow first run).
    await run(['hyperfine', ...args]);
  } catch (error) {
    let log = '';
    try {
      log = fs.readFileSync(prepareLog, 'utf8').trim().split('\n').slice(-5).join('\n');
    } catch {
      /* no prepare wrote anything */
    }
    throw new Error(
      `hyperfine (${label}) failed: ${error.message}${log ? `\nprepare log (tail):\n${log}` : ''}`,
    );
  }
  const means = {};
  for (const r of JSON.parse(fs.readFileSync(json, 'utf8')).results) means[r.command] = r.mean * 1000;
  return means;
}

/** `sh -c '...'` running `steps` (argv lists, or shell text as is) one after another; a failed
 *  `delete` is fine. */
function shellPrepare(steps) {
  const lines = steps.map((argv) =>
    typeof argv === 'string'
      ? argv
      : argv.includes('delete')
        ? `{ ${argv.join(' ')} </dev/null >/dev/null 2>&1 || true; }`
        : `${argv.join(' ')} </dev/null >/dev/null 2>>${prepareLog}`,
  );
  return `sh -c '${lines.join(' && ')}'`;
}

// --- the bundle and its containers -------------------------------------------------------------

let bundleMade = false;
/** A busybox bundle with runc's default config, running `sleep 100000` (start leaves it up). */
async function makeBundle() {
  if (bundleMade) return;
  const rootfs = path.join(bundle, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  await run(['chroot', rootfs, '/bin/busybox', '--install', '-s', '/bin']);
  for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp'])
    fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  await run(['runc', 'spec', '--bundle', bundle]);
  const configFile = path.join(bundle, 'config.json');
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  config.process.terminal = false;
  config.process.args = ['sleep', '100000'];
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  for (const rt of Object.values(RUNTIMES)) fs.mkdirSync(rt.root, { recursive: true });
  bundleMade = true;
}

/** The long-lived containers: `<runtime>-state` created, `<runtime>-running` started. */
const longLived = new Set();
async function container(rt, use) {
  const id = idOf(rt, use);
  if (longLived.has(id)) return id;
  await makeBundle();
  await run(cli(rt, 'create', '--bundle', bundle, id));
  if (use === 'running') await run(cli(rt, 'start', id));
  longLived.add(id);
  return id;
}

// --- section 1: the CLI ----------------------------------------------------------------------

/**
 * The commands engines call. `prepare`: the steps before each timed run (a delete first, so each
 * starts afresh); `on`: else the long-lived container the command works on.
 */
const COMMANDS = [
  { name: 'create', prepare: ['delete'], args: (id) => ['create', '--bundle', bundle, id] },
  { name: 'start', prepare: ['delete', 'create'], args: (id) => ['start', id] },
  { name: 'state', on: 'state', args: (id) => ['state', id] },
  { name: 'kill', prepare: ['delete', 'create', 'start'], args: (id) => ['kill', id, 'KILL'] },
  // What engines do after the process exited: a plain delete of a stopped container.
  { name: 'delete', prepare: ['delete', 'create', 'start', 'stop'], args: (id) => ['delete', id] },
  // delete --force of a created one (runc kills it, then polls for its end: ~100 ms).
  { name: 'delete --force', prepare: ['delete', 'create'], args: (id) => ['delete', '--force', id] },
  { name: 'events --stats', on: 'running', args: (id) => ['events', '--stats', id] },
  { name: 'ps --format json', on: 'running', args: (id) => ['ps', '--format', 'json', id] },
  { name: 'exec (true)', on: 'running', args: (id) => ['exec', id, 'true'] },
];

const STEPS = {
  delete: (rt, id) => cli(rt, 'delete', '--force', id),
  create: (rt, id) => cli(rt, 'create', '--bundle', bundle, id),
  start: (rt, id) => cli(rt, 'start', id),
  // SIGKILL, then wait (up to 2 s) until the runtime says stopped.
  stop: (rt, id) =>
    `${cli(rt, 'kill', id, 'KILL').join(' ')} >/dev/null 2>>${prepareLog} && ` +
    `for i in $(seq 200); do ${cli(rt, 'state', id).join(' ')} 2>/dev/null | grep -q "\"stopped\"" && break; sleep 0.01; done`,
};

const fmt = (ms, width = 8) => ms.toFixed(1).padStart(width);

async function cliSection() {
  const runs = opts.cliRuns;
  console.log();
  console.log(
    `== CLI: each command's cost over a bare start of its runtime (hyperfine -N, ${runs} runs, warmup 3)`,
  );
  await makeBundle();
  const NODE_BASE = { name: 'node -e 0', argv: [NODE, '-e', '0'] };
  const RUNC_BASE = { name: 'runc --version', argv: ['runc', '--version'] };
  process.stdout.write('  baselines... ');
  const base = await hyperfine(
    'baselines',
    [NODE_BASE, RUNC_BASE, { name: 'tsrunc --version', argv: [NODE, TSRUNC, '--version'] }],
    { runs, warmup: 3 },
  );
  const rows = [];
  for (const c of COMMANDS) {
    checkInterrupted();
    process.stdout.write(`${c.name}... `);
    const entries = [NODE_BASE, RUNC_BASE];
    for (const rt of Object.values(RUNTIMES)) {
      const id = c.on ? await container(rt, c.on) : idOf(rt, c.name.split(' ')[0]);
      const entry = { name: `${rt.name} ${c.name}`, argv: cli(rt, ...c.args(id)) };
      if (c.prepare) entry.prepare = shellPrepare(c.prepare.map((step) => STEPS[step](rt, id)));
      entries.push(entry);
    }
    const means = await hyperfine(`cli ${c.name}`, entries, { runs, warmup: 3 });
    rows.push({
      name: c.name,
      node: means[NODE_BASE.name],
      runcBase: means[RUNC_BASE.name],
      runc: means[`runc ${c.name}`],
      tsrunc: means[`tsrunc ${c.name}`],
    });
  }
  console.log('done');
  console.log();
  console.log(
    `  baselines: node -e 0 ${base['node -e 0'].toFixed(1)} ms, runc --version ${base['runc --version'].toFixed(1)} ms, ` +
      `tsrunc --version ${base['tsrunc --version'].toFixed(1)} ms ` +
      `(tsrunc --version - node: ${(base['tsrunc --version'] - base['node -e 0']).toFixed(1)} ms)`,
  );
  const range = (f) => {
    const values = rows.map(f);
    return `${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)} ms`;
  };
  console.log(
    `  each command is taken against the baselines measured again in its own hyperfine run ` +
      `(node -e 0 ${range((r) => r.node)}, runc --version ${range((r) => r.runcBase)})`,
  );
  console.log();
  console.log(
    `  ${'command'.padEnd(17)} ${'runc ms'.padStart(8)} ${'tsrunc ms'.padStart(9)} ${'runc-ver'.padStart(9)} ` +
      `${'tsrunc-node'.padStart(11)} ${'gap'.padStart(7)}  target: gap <= ${GAP_TARGET_MS} ms`,
  );
  let met = 0;
  for (const r of rows) {
    const runcOver = r.runc - r.runcBase;
    const tsruncOver = r.tsrunc - r.node;
    const gap = tsruncOver - runcOver;
    const over = gap - GAP_TARGET_MS;
    const verdict = over <= 0 ? 'met' : `missed by ${over.toFixed(over < 1 ? 2 : 1)} ms`;
    if (over <= 0) met++;
    console.log(
      `  ${r.name.padEnd(17)} ${fmt(r.runc)} ${fmt(r.tsrunc, 9)} ${fmt(runcOver, 9)} ${fmt(tsruncOver, 11)} ` +
        `${fmt(gap, 7)}  ${verdict}`,
    );
  }
  console.log(`  (runc-ver: runc - runc --version; tsrunc-node: tsrunc - node -e 0; gap: their difference)`);
  console.log(`  CLI: ${met} of ${rows.length} commands within ${GAP_TARGET_MS} ms of runc's cost`);
}

// --- section 2: peak RSS ---------------------------------------------------------------------

/** Runs the commands round-robin, each once per round, and prints each run's max RSS (KiB). */
const RSS_PROBE = `
import json, os, subprocess, sys
commands, rounds = json.loads(sys.argv[1]), int(sys.argv[2])
kib = {name: [] for name in commands}
for _ in range(rounds):
    for name, argv in commands.items():
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            sys.exit(f"{name}: exit {child.returncode}")
        kib[name].append(usage.ru_maxrss)
print(json.dumps(kib))
`;

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function rssSection() {
  console.log();
  console.log(
    `== Peak RSS: max RSS of the process (wait4), median of ${RSS_SAMPLES} runs each, taken in turns`,
  );
  const commands = {
    'node -e 0': [NODE, '-e', '0'],
    'tsrunc state': cli(RUNTIMES.tsrunc, 'state', await container(RUNTIMES.tsrunc, 'state')),
    'runc state': cli(RUNTIMES.runc, 'state', await container(RUNTIMES.runc, 'state')),
  };
  const { stdout } = await run([PYTHON, '-c', RSS_PROBE, JSON.stringify(commands), String(RSS_SAMPLES)]);
  const kib = JSON.parse(stdout);
  const mib = (name) => median(kib[name]) / 1024;
  for (const name of Object.keys(commands)) {
    const range = [Math.min, Math.max].map((f) => (f(...kib[name]) / 1024).toFixed(1)).join('-');
    const note = name.startsWith('runc') ? ', for information' : '';
    console.log(`  ${name.padEnd(13)} ${mib(name).toFixed(1).padStart(6)} MiB  (range ${range}${note})`);
  }
  const ratio = mib('tsrunc state') / mib('node -e 0');
  const verdict = ratio <= RSS_TARGET ? 'met' : 'missed';
  console.log(
    `  RSS: tsrunc state / node -e 0 = ${ratio.toFixed(2)}x (target <= ${RSS_TARGET}x): ${verdict}`,
  );
}

// --- section 3: docker run -------------------------------------------------------------------

const docker = {
  containerd: null,
  dockerd: null,
  containerdSocket: path.join(work, 'containerd.sock'),
  dockerSocket: path.join(work, 'docker.sock'),
  cgroupParent: `${TAG}docker`,
  keyBefore: fs.existsSync('/etc/docker/key.json'),
  etcDockerBefore: fs.existsSync('/etc/docker'),
  runContainerdBefore: fs.existsSync('/run/containerd'),
  shimSocketDirBefore: fs.existsSync(SHIM_SOCKET_DIR),
};
const dockerCli = (...args) => [DOCKER, '-H', `unix://${docker.dockerSocket}`, ...args];

async function startContainerd() {
  const config = path.join(work, 'containerd.toml');
  // No CRI (it wants a CNI network); the opt plugin's dir in ours, not /opt/containerd.
  fs.writeFileSync(
    config,
    [
      'version = 2',
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${path.join(work, 'containerd-opt')}"`,
      '',
    ].join('\n'),
  );
  docker.containerd = startDaemon('containerd', [
    'containerd',
    '--config',
    config,
    '--address',
    docker.containerdSocket,
    '--root',
    path.join(work, 'containerd-root'),
    '--state',
    path.join(work, 'containerd-state'),
  ]);
  await waitUp(docker.containerd, ['ctr', '--address', docker.containerdSocket, 'version']);
}

/** Polls `probe` until it answers (30 s); throws with the daemon's log when it exits or never does. */
async function waitUp(daemon, probe) {
  for (let i = 0; i < 150; i++) {
    checkInterrupted();
    if (!isUp(daemon)) throw new Error(`${daemon.label} exited at start:\n${logTail(daemon.label)}`);
    if ((await run(probe, { check: false, timeoutMs: 5000 })).code === 0) return;
    await sleep(200);
  }
  throw new Error(`${daemon.label} did not answer in 30 s:\n${logTail(daemon.label)}`);
}

/** dockerd on our containerd: no bridge, no iptables, no ip_forward; cgroups under ours. */
async function startDockerd(storageDriver) {
  const wrapper = path.join(work, 'tsrunc-wrapper');
  const script = `#!/bin/sh\nunset NODE_OPTIONS NODE_EXTRA_CA_CERTS\nexec ${NODE} ${TSRUNC} "$@"\n`;
  fs.writeFileSync(wrapper, script, { mode: 0o755 });
  const daemonJson = path.join(work, 'daemon.json');
  fs.writeFileSync(
    daemonJson,
    JSON.stringify({ runtimes: { tsrunc: { path: wrapper } }, 'storage-driver': storageDriver }, null, 2),
  );
  // A data root per attempt: a failed driver may leave a mount in its own.
  const dataRoot = path.join(work, `docker-root-${storageDriver}`);
  docker.dockerd = startDaemon('dockerd', [
    'dockerd',
    `--containerd=${docker.containerdSocket}`,
    '-H',
    `unix://${docker.dockerSocket}`,
    `--data-root=${dataRoot}`,
    `--exec-root=${path.join(work, 'docker-exec')}`,
    `--pidfile=${path.join(work, 'docker.pid')}`,
    `--config-file=${daemonJson}`,
    `--cgroup-parent=/${docker.cgroupParent}`,
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
    '--ip-forward=false',
  ]);
  await waitUp(docker.dockerd, dockerCli('version'));
}

async function dockerSection() {
  const runs = opts.dockerRuns;
  console.log();
  console.log(
    `== docker run --rm --network none ${DOCKER_IMAGE} true: --runtime tsrunc against --runtime runc ` +
      `(hyperfine -N, ${runs} runs, warmup 2)`,
  );
  await makeBundle();
  fs.mkdirSync(path.join(work, 'docker-config'), { recursive: true });
  await startContainerd();
  let storageDriver = 'overlay2';
  try {
    await startDockerd(storageDriver);
  } catch (error) {
    checkInterrupted();
    console.error(`bench-cli: dockerd with overlay2 failed, trying vfs: ${error.message.split('\n')[0]}`);
    await stopDaemon(docker.dockerd);
    storageDriver = 'vfs';
    await startDockerd(storageDriver);
  }
  const versions = await run(dockerCli('version', '--format', '{{.Server.Version}} {{.Client.Version}}'));
  const [server, client] = versions.stdout.trim().split(' ');
  console.log(
    `  a private dockerd ${server} (client ${client}) on containerd of this run, ${storageDriver}, no bridge`,
  );
  const image = path.join(work, 'image.tar');
  await run(['tar', '-C', path.join(bundle, 'rootfs'), '-cf', image, '.']);
  await run(dockerCli('import', '-', DOCKER_IMAGE), { input: image });
  fs.rmSync(image);
  const runTrue = (runtime) =>
    dockerCli('run', '--rm', '--network', 'none', '--runtime', runtime, DOCKER_IMAGE, 'true');
  // Once each first: a failure says why here (hyperfine would only give the exit code).
  for (const runtime of ['runc', 'tsrunc']) await run(runTrue(runtime));
  const means = await hyperfine(
    'docker run',
    [
      { name: 'runc', argv: runTrue('runc') },
      { name: 'tsrunc', argv: runTrue('tsrunc') },
    ],
    { runs, warmup: 2 },
  );
  console.log(`  --runtime runc   ${fmt(means.runc)} ms`);
  console.log(`  --runtime tsrunc ${fmt(means.tsrunc)} ms`);
  const ratio = means.tsrunc / means.runc;
  const verdict = ratio <= DOCKER_TARGET ? 'met' : 'missed';
  console.log(
    `  docker run: tsrunc / runc = ${ratio.toFixed(2)}x, ${(means.tsrunc - means.runc).toFixed(0)} ms more ` +
      `(target <= ${DOCKER_TARGET}x): ${verdict}`,
  );
}

// --- cleanup ---------------------------------------------------------------------------------

/** Our cgroup dirs (named with TAG) and all below them, in every hierarchy, deepest first. */
function ourCgroups() {
  const found = [];
  const below = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) below(path.join(dir, e.name));
    found.push(dir);
  };
  // Containers without a cgroupsPath land below the cgroup of their runtime's process, which is
  // not the root in every hierarchy here (e.g. memory): look a few levels down.
  const search = (dir, depth) => {
    let entries = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name.includes(TAG)) {
        try {
          below(p);
        } catch {
          /* removed meanwhile */
        }
      } else if (depth < 3) search(p, depth + 1);
    }
  };
  search('/sys/fs/cgroup', 0);
  return found;
}

/** Processes (not us) whose command line names our work dir or TAG. */
function ourProcesses() {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (cmdline.includes(work) || cmdline.includes(TAG)) found.push({ pid: Number(entry), cmdline });
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

function ourMounts() {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((mp) => mp === work || mp.startsWith(`${work}/`) || mp.includes(TAG))
    .sort((a, b) => b.length - a.length);
}

function killQuietly(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone meanwhile */
  }
}

/** Best effort, each step on its own: containers, daemons, processes, mounts, cgroups, dirs. */
async function cleanup() {
  const warn = (what, error) => console.error(`bench-cli: cleanup: ${what}: ${error.message.split('\n')[0]}`);
  for (const child of running) child.kill('SIGTERM');
  // The CLI's containers, both runtimes (an interrupted prepare may have left any of them).
  await Promise.all(
    Object.values(RUNTIMES).flatMap((rt) =>
      [...rt.ids].map((id) => run(cli(rt, 'delete', '--force', id), { check: false, cleaning: true })),
    ),
  ).catch((error) => warn('containers', error));
  if (isUp(docker.dockerd)) {
    try {
      const { stdout } = await run(dockerCli('ps', '-aq'), { cleaning: true, timeoutMs: 30_000 });
      const ids = stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await run(dockerCli('rm', '-f', ...ids), { cleaning: true, timeoutMs: 60_000 });
    } catch (error) {
      warn('docker containers', error);
    }
  }
  await stopDaemon(docker.dockerd);
  // Shims still up (e.g. after an interrupted run): they run apart from containerd, each named
  // by our containerd's address; their sockets go with them.
  for (const p of ourProcesses()) {
    const argv = p.cmdline.split(' ');
    const at = (flag) => argv[argv.indexOf(flag) + 1];
    if (!argv.includes('-address') || at('-address') !== docker.containerdSocket) continue;
    warn(`shim ${p.pid}`, new Error('still running: killed'));
    killQuietly(p.pid);
    const name = createHash('sha256')
      .update(path.join(docker.containerdSocket, at('-namespace'), at('-id')))
      .digest('hex');
    fs.rmSync(path.join(SHIM_SOCKET_DIR, name), { force: true });
  }
  await stopDaemon(docker.containerd);
  // Container processes nobody removed are in our cgroups.
  for (const dir of ourCgroups()) {
    try {
      for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
        killQuietly(Number(pid));
    } catch {
      /* no cgroup.procs here, or gone */
    }
  }
  // Never rm across a mount: whatever is mounted below our dir goes first, deepest first.
  for (const mp of ourMounts()) {
    try {
      execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
    } catch (error) {
      warn(`umount ${mp}`, error);
    }
  }
  for (let attempt = 0; ourCgroups().length > 0 && attempt < 50; attempt++) {
    for (const dir of ourCgroups()) {
      try {
        fs.rmdirSync(dir);
      } catch {
        /* processes still leaving: again below */
      }
    }
    if (ourCgroups().length > 0) await sleep(100);
  }
  // What dockerd makes outside our dir when it is not there yet.
  if (!docker.keyBefore) fs.rmSync('/etc/docker/key.json', { force: true });
  if (!docker.etcDockerBefore) removeEmptyDirs('/etc/docker', warn);
  if (!docker.shimSocketDirBefore) removeEmptyDirs(SHIM_SOCKET_DIR, () => undefined);
  if (!docker.runContainerdBefore) removeEmptyDirs('/run/containerd', () => undefined);
  if (ourMounts().length === 0) fs.rmSync(work, { recursive: true, force: true });
  // What is left, said rather than hidden.
  const left = [
    ...ourCgroups().map((d) => `cgroup ${d}`),
    ...ourMounts().map((m) => `mount ${m}`),
    ...ourProcesses().map((p) => `process ${p.pid} ${p.cmdline.slice(0, 100)}`),
    ...(fs.existsSync(work) ? [`dir ${work}`] : []),
  ];
  for (const what of left) warn(what, new Error('left behind'));
  return left.length === 0;
}

/** Removes `dir` if it holds only empty dirs; says what is left otherwise. */
function removeEmptyDirs(dir, warn) {
  try {
    if (!fs.statSync(dir).isDirectory()) return;
    for (const e of fs.readdirSync(dir)) removeEmptyDirs(path.join(dir, e), warn);
    fs.rmdirSync(dir);
  } catch (error) {
    if (error.code !== 'ENOENT') warn(dir, error);
  }
}

// --- main ------------------------------------------------------------------------------------

async function main() {
  const runcVersion = execFileSync('runc', ['--version'], { encoding: 'utf8' })
    .split('\n')[0]
    .replace('runc version ', '');
  const hyperfineVersion = execFileSync('hyperfine', ['--version'], { encoding: 'utf8' })
    .trim()
    .split(' ')[1];
  console.log(
    `tsrunc CLI benchmark ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}: kernel ${os.release()}, ` +
      `node ${process.version}, runc ${runcVersion}, hyperfine ${hyperfineVersion}, ${os.cpus().length} cpus`,
  );
  console.log(`  tsrunc: ${NODE} ${TSRUNC}; NODE_OPTIONS and NODE_EXTRA_CA_CERTS unset for all`);
  const sections = { cli: cliSection, rss: rssSection, docker: dockerSection };
  for (const name of opts.sections) await sections[name]();
}

let cleaning = null;
const cleanupOnce = () => (cleaning ??= cleanup());
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(signal, () => {
    if (interrupted || cleaning)
      return console.error(`bench-cli: ${signal}: cleaning up already, please wait`);
    interrupted = true;
    console.error(`\nbench-cli: ${signal}: cleaning up`);
    // The running command fails, main stops there and cleans up.
    for (const child of running) child.kill('SIGTERM');
  });

main()
  .then(
    async () => {
      const clean = await cleanupOnce();
      console.log();
      console.log(clean ? 'cleanup: nothing left behind' : 'cleanup: some things left behind (see above)');
      if (!clean) process.exitCode = 1;
    },
    async (error) => {
      if (!interrupted) console.error(`bench-cli: ${error.message}`);
      await cleanupOnce();
      process.exit(interrupted ? 130 : 1);
    },
  )
  .catch((error) => {
    console.error(`bench-cli: cleanup: ${error.message}`);
    process.exit(1);
  });
