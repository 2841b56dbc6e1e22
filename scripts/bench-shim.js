#!/usr/bin/env node
// containerd shims side by side in one run: io.containerd.runc.v2 (containerd's Go shim + runc)
// and io.containerd.tsrunc.v1 (bin/containerd-shim-tsrunc-v1), under a private containerd of this
// run driven with `ctr`. Measures
//   - throughput: `ctr run --rm <busybox> true`, N one after another and R with P at once;
//   - memory: the shims' total PSS (smaps_rollup) with M idle containers (`sleep 1000`), per
//     container: runc.v2 starts a shim per container, tsrunc.v1 serves them all from one shim
//     (one group annotation, as a pod's containers would be).
// Prints a table and one line per target (throughput >= 1.5x runc.v2, memory <= 0.1x). Without
// the tsrunc shim binary it measures runc.v2 alone. Timings never decide a test. Needs root,
// containerd and ctr (scripts/setup.sh), runc, busybox-static. No network: the image is built
// here from the host's busybox, containers get their own network namespace (loopback only).
//
//   node scripts/bench-shim.js [--only runc|tsrunc] [--sequential N] [--parallel P]
//       [--parallel-runs R] [--idle M] [--snapshotter overlayfs|native] [--tsrunc-shim PATH]
//                                                                            (npm run bench runs it)
// Defaults: N=30, P=20, R=2P, M=100, overlayfs, <repo>/bin/containerd-shim-tsrunc-v1 (another
// binary there, e.g. containerd-shim-runc-v2, checks this script's grouped path). The same from
// the environment: BENCH_SHIM_ONLY, BENCH_SHIM_SEQUENTIAL, BENCH_SHIM_PARALLEL,
// BENCH_SHIM_PARALLEL_RUNS, BENCH_SHIM_IDLE, BENCH_SHIM_SNAPSHOTTER, BENCH_SHIM_TSRUNC_SHIM.
// Everything made here is named tsrunc-bench-* (work dir, containerd namespace, cgroup parent): the
// tests' leak guard leaves it alone when a test run goes on meanwhile.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const repo = path.resolve(__dirname, '..');
const IMAGE = 'docker.io/library/busybox:tsrunc-bench';
const GROUP_ANNOTATION = 'io.containerd.runc.v2.group';
/** The shims' sockets live here whatever containerd's state dir is (compiled into the shims). */
const SHIM_SOCKET_DIR = '/run/containerd/s';

const RUNTIMES = {
  runc: { name: 'runc.v2', type: 'io.containerd.runc.v2', binary: 'containerd-shim-runc-v2' },
  tsrunc: { name: 'tsrunc.v1', type: 'io.containerd.tsrunc.v1', binary: 'containerd-shim-tsrunc-v1' },
};

function fail(message) {
  console.error(`bench-shim: ${message}`);
  process.exit(1);
}

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        only: { type: 'string' },
        sequential: { type: 'string' },
        parallel: { type: 'string' },
        'parallel-runs': { type: 'string' },
        idle: { type: 'string' },
        snapshotter: { type: 'string' },
        'tsrunc-shim': { type: 'string' },
        help: { type: 'boolean' },
      },
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
  const env = process.env;
  const count = (flag, envName, fallback) => {
    const text = parsed[flag] ?? env[envName] ?? String(fallback);
    if (!/^[0-9]+$/.test(text) || Number(text) < 1)
      fail(`--${flag} must be a positive integer, got "${text}"`);
    return Number(text);
  };
  const only = parsed.only ?? env.BENCH_SHIM_ONLY ?? '';
  if (only !== '' && !(only in RUNTIMES)) fail(`--only must be runc or tsrunc, got "${only}"`);
  const snapshotter = parsed.snapshotter ?? env.BENCH_SHIM_SNAPSHOTTER ?? 'overlayfs';
  if (!['overlayfs', 'native'].includes(snapshotter))
    fail(`--snapshotter must be overlayfs or native, got "${snapshotter}"`);
  const parallel = count('parallel', 'BENCH_SHIM_PARALLEL', 20);
  const shim =
    parsed['tsrunc-shim'] ?? env.BENCH_SHIM_TSRUNC_SHIM ?? path.join(repo, 'bin', RUNTIMES.tsrunc.binary);
  return {
    tsruncShim: path.resolve(shim),
    only,
    snapshotter,
    sequential: count('sequential', 'BENCH_SHIM_SEQUENTIAL', 30),
    parallel,
    parallelRuns: count('parallel-runs', 'BENCH_SHIM_PARALLEL_RUNS', 2 * parallel),
    idle: count('idle', 'BENCH_SHIM_IDLE', 100),
  };
}

const opts = options();
if (process.getuid() !== 0) fail('run as root');
for (const bin of ['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc', 'busybox', 'chroot', 'tar']) {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
  } catch {
    fail(`${bin} not found: run bash scripts/setup.sh`);
  }
}

const tsruncBuilt = fs.existsSync(opts.tsruncShim);
const selected = Object.keys(RUNTIMES).filter(
  (r) => (opts.only === '' || opts.only === r) && (r !== 'tsrunc' || tsruncBuilt),
);

// Everything of this run: one dir (containerd's socket, root and state, the image, logs), one
// containerd namespace, one cgroup parent.
const work = fs.mkdtempSync('/tmp/tsrunc-bench-shim-');
const ns = `tsrunc-bench-${process.pid}`;
const cgroupParent = `tsrunc-bench-${process.pid}`;
const socket = path.join(work, 'containerd.sock');
const dirs = {
  bin: path.join(work, 'bin'),
  fifo: path.join(work, 'fifo'),
  logs: path.join(work, 'logs'),
  runcRoot: path.join(work, 'runc-root'),
};
/** Shim groupings used (container ids, group names): their socket files are removed at the end. */
const groupings = new Set();
const runContainerdBefore = fs.existsSync('/run/containerd');
const shimSocketDirBefore = fs.existsSync(SHIM_SOCKET_DIR);
let daemon = null;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The environment of containerd (and so of the shims) and ctr. */
function childEnv() {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  // Adds ~50 ms to every node start on these machines (bench.sh unsets it too).
  delete env.NODE_EXTRA_CA_CERTS;
  // The tsrunc shim first, and the node running this script for its `#!/usr/bin/env node`.
  env.PATH = [dirs.bin, path.dirname(process.execPath), env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(
    ':',
  );
  return env;
}

/** `ctr` in our namespace; rejects with its stderr on a non-zero exit. */
function ctr(args, timeoutMs = 120_000) {
  return new Promise((resolve, reject) => {
    const child = spawn('ctr', ['--address', socket, '--namespace', ns, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv(),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`ctr ${args.slice(0, 2).join(' ')}: exit ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

/** Runs fn(0..count-1), `width` at a time; stops taking new ones after a failure, throws it. */
async function pool(count, width, fn) {
  let next = 0;
  let failure = null;
  const worker = async () => {
    while (next < count && !failure) {
      const i = next++;
      try {
        await fn(i);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  if (failure) throw failure;
}

async function startContainerd() {
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  if (tsruncBuilt) fs.symlinkSync(opts.tsruncShim, path.join(dirs.bin, RUNTIMES.tsrunc.binary));
  const config = path.join(work, 'containerd.toml');
  // No CRI (it wants a CNI network); the opt plugin's dir in ours, not /opt/containerd.
  fs.writeFileSync(
    config,
    [
      'version = 2',
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${path.join(work, 'opt')}"`,
      '',
    ].join('\n'),
  );
  const log = fs.openSync(path.join(work, 'containerd.log'), 'a');
  daemon = spawn(
    'containerd',
    [
      '--config',
      config,
      '--address',
      socket,
      '--root',
      path.join(work, 'root'),
      '--state',
      path.join(work, 'state'),
    ],
    { stdio: ['ignore', log, log], env: childEnv() },
  );
  fs.closeSync(log);
  const exited = new Promise((resolve) => daemon.once('exit', resolve));
  daemon.exited = exited;
  for (let i = 0; ; i++) {
    if (daemon.exitCode !== null || daemon.signalCode !== null) throw new Error('containerd exited at start');
    if (fs.existsSync(socket)) {
      try {
        await ctr(['version'], 5000);
        return;
      } catch (error) {
        if (i > 150) throw error;
      }
    }
    if (i > 150) throw new Error(`containerd did not create ${socket}`);
    await sleep(100);
  }
}

/** A one-layer busybox image in the format `docker save` writes, imported into our containerd. */
async function importImage() {
  const stage = path.join(work, 'image');
  const rootfs = path.join(stage, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  execFileSync('chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin']);
  for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp']) fs.mkdirSync(path.join(rootfs, d));
  const layer = path.join(stage, 'layer.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', layer, '.']);
  const digest = (data) => createHash('sha256').update(data).digest('hex');
  const layerDigest = digest(fs.readFileSync(layer));
  fs.mkdirSync(path.join(stage, layerDigest));
  fs.renameSync(layer, path.join(stage, layerDigest, 'layer.tar'));
  const config = JSON.stringify({
    architecture: { x64: 'amd64', arm64: 'arm64' }[process.arch] ?? process.arch,
    os: 'linux',
    created: '2020-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
    history: [{ created: '2020-01-01T00:00:00Z', created_by: 'tsrunc bench-shim' }],
  });
  const configName = `${digest(config)}.json`;
  fs.writeFileSync(path.join(stage, configName), config);
  const manifest = [{ Config: configName, RepoTags: [IMAGE], Layers: [`${layerDigest}/layer.tar`] }];
  fs.writeFileSync(path.join(stage, 'manifest.json'), JSON.stringify(manifest));
  const archive = path.join(work, 'image.tar');
  execFileSync('tar', ['-C', stage, '-cf', archive, 'manifest.json', configName, `${layerDigest}/layer.tar`]);
  fs.rmSync(stage, { recursive: true });
  await ctr(['image', 'import', '--snapshotter', opts.snapshotter, archive]);
  fs.rmSync(archive);
}

/** `ctr run` flags for container `id` of runtime `r`; tsrunc's go to shim group `group`. */
function runFlags(r, id, group) {
  const flags = [
    '--runtime',
    RUNTIMES[r].type,
    '--snapshotter',
    opts.snapshotter,
    '--fifo-dir',
    dirs.fifo,
    '--cgroup',
    `/${cgroupParent}/${id}`,
  ];
  if (r === 'runc') {
    // runc's state in our dir, not /run/containerd/runc.
    groupings.add(id);
    flags.push('--runc-root', dirs.runcRoot);
  } else {
    groupings.add(group);
    flags.push('--annotation', `${GROUP_ANNOTATION}=${group}`);
  }
  return flags;
}

/** An idle container (`sleep 1000`), its output in a log file the shim writes. */
function runIdle(r, id, group) {
  const log = `file://${path.join(dirs.logs, `${id}.log`)}`;
  return ctr(['run', '-d', ...runFlags(r, id, group), '--log-uri', log, IMAGE, id, 'sleep', '1000']);
}

async function removeContainer(id) {
  await ctr(['task', 'delete', '--force', id]).catch((error) => {
    if (!/not found/.test(error.message)) throw error;
  });
  await ctr(['container', 'rm', id]);
}

const runTrue = (r, id, group) => ctr(['run', '--rm', ...runFlags(r, id, group), IMAGE, id, 'true']);

/** Containers per second: `sequential` runs one by one, `parallelRuns` runs `parallel` at once. */
async function throughput(r) {
  const group = 'bench-run';
  // A pod's sandbox: an idle container of the group keeps its shim up between the runs.
  const anchor = `${r}-anchor`;
  if (r === 'tsrunc') await runIdle(r, anchor, group);
  try {
    for (let i = 0; i < 2; i++) await runTrue(r, `${r}-warm-${i}`, group);
    let t = process.hrtime.bigint();
    for (let i = 0; i < opts.sequential; i++) await runTrue(r, `${r}-seq-${i}`, group);
    const sequential = opts.sequential / (Number(process.hrtime.bigint() - t) / 1e9);
    t = process.hrtime.bigint();
    await pool(opts.parallelRuns, opts.parallel, (i) => runTrue(r, `${r}-par-${i}`, group));
    const parallel = opts.parallelRuns / (Number(process.hrtime.bigint() - t) / 1e9);
    return { sequential, parallel };
  } finally {
    if (r === 'tsrunc') await removeContainer(anchor);
    await waitShimsGone(15_000);
  }
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parens). */
function statFields(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * The shim processes of our namespace: every process started with `-namespace <ns>` (how
 * containerd starts a shim, and how a shim re-executes itself as its daemon) that is not a
 * start/delete invocation, the parents of the containers' init processes `inits` (whatever the
 * shim's argv), and their descendants in the shims' own pid namespace (helpers of a shim; the
 * containers have a pid namespace of their own). `shims` are the first two kinds.
 */
function shimProcesses(inits = []) {
  const procs = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      procs.set(Number(entry), {
        argv,
        ppid: Number(statFields(entry)[1]),
        pidns: fs.readlinkSync(`/proc/${entry}/ns/pid`),
      });
    } catch {
      /* exited meanwhile, or a kernel thread */
    }
  }
  const started = ({ argv }) =>
    argv.some((a, i) => a === '-namespace' && argv[i + 1] === ns) &&
    !['start', 'delete'].includes(argv[argv.length - 1]);
  const shims = new Set([...procs].filter(([, p]) => started(p)).map(([pid]) => pid));
  for (const pid of inits)
    if (procs.has(pid) && procs.has(procs.get(pid).ppid)) shims.add(procs.get(pid).ppid);
  const found = new Set(shims);
  for (const pid of found) {
    for (const [child, p] of procs) if (p.ppid === pid && p.pidns === procs.get(pid).pidns) found.add(child);
  }
  return { shims: [...shims], all: [...found] };
}

/** Pss of a process in KiB (smaps_rollup sums it over all mappings). */
function pssKiB(pid) {
  try {
    const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return Number(/^Pss:\s+(\d+) kB/m.exec(rollup)[1]);
  } catch {
    return 0; // exited since it was found
  }
}

/** The shims' total PSS per container with `idle` containers up. */
async function memory(r) {
  const group = 'bench-idle';
  const ids = Array.from({ length: opts.idle }, (_, i) => `${r}-idle-${i}`);
  const before = new Set(shimProcesses().all);
  for (const pid of before)
    console.error(`\nbench-shim: shim process ${pid} still up from before: not counted`);
  try {
    // The first alone: the group's shim is up before the rest arrive (as a pod's sandbox is).
    await runIdle(r, ids[0], group);
    await pool(ids.length - 1, opts.parallel, (i) => runIdle(r, ids[i + 1], group));
    // Rows of `ctr task ls`: TASK PID STATUS.
    const tasks = (await ctr(['task', 'ls'])).split('\n').map((l) => l.trim().split(/\s+/));
    const inits = tasks.filter((t) => t[2] === 'RUNNING').map((t) => Number(t[1]));
    if (inits.length !== opts.idle)
      throw new Error(`${inits.length} of ${opts.idle} idle containers running`);
    await sleep(2000);
    const { shims, all } = shimProcesses(inits);
    const counted = all.filter((pid) => !before.has(pid));
    const totalKiB = counted.reduce((sum, pid) => sum + pssKiB(pid), 0);
    return {
      perContainer: totalKiB / 1024 / opts.idle,
      shims: shims.filter((pid) => !before.has(pid)).length,
      processes: counted.length,
    };
  } finally {
    await pool(ids.length, opts.parallel, (i) => removeContainer(ids[i]).catch(() => undefined));
    await waitShimsGone(15_000);
  }
}

/** Waits until no shim of ours runs (a shim exits after its last container's delete). */
async function waitShimsGone(ms) {
  for (let waited = 0; shimProcesses().all.length > 0 && waited < ms; waited += 100) await sleep(100);
}

/** Every cgroup dir below our parent in every hierarchy, deepest first. */
function ourCgroups() {
  const found = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) walk(path.join(dir, e.name));
    found.push(dir);
  };
  const roots = ['/sys/fs/cgroup', ...fs.readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}`)];
  for (const root of roots) {
    const dir = path.join(root, cgroupParent);
    if (fs.existsSync(dir)) walk(dir);
  }
  return found;
}

/** Best effort, each step on its own: containers, shims, containerd, mounts, cgroups, dirs. */
async function cleanup() {
  const warn = (what, error) =>
    console.error(`bench-shim: cleanup: ${what}: ${error.message.split('\n')[0]}`);
  const alive = daemon && daemon.exitCode === null && daemon.signalCode === null;
  if (alive) {
    try {
      const ids = (await ctr(['container', 'ls', '-q'])).split('\n').filter(Boolean);
      await pool(ids.length, 10, (i) => removeContainer(ids[i]).catch((e) => warn(ids[i], e)));
    } catch (error) {
      warn('containers', error);
    }
  }
  await waitShimsGone(alive ? 15_000 : 0);
  for (const pid of shimProcesses().all) {
    warn(`shim process ${pid}`, new Error('still running: killed'));
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
  // Container processes containerd could not remove (they are in our cgroups).
  for (const dir of ourCgroups()) {
    try {
      for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
        process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* no cgroup.procs here, or gone */
    }
  }
  if (alive) {
    daemon.kill('SIGTERM');
    let timer;
    const late = new Promise((resolve) => (timer = setTimeout(resolve, 15_000, false)));
    const stopped = await Promise.race([daemon.exited.then(() => true), late]);
    clearTimeout(timer);
    if (!stopped) {
      daemon.kill('SIGKILL');
      await daemon.exited;
    }
  }
  // Never rm across a mount: snapshots or rootfs mounts left below our dir go first.
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((mp) => mp && (mp === work || mp.startsWith(`${work}/`)))
    .sort((a, b) => b.length - a.length);
  for (const mp of mounts) {
    try {
      execFileSync('umount', ['-l', mp]);
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
  for (const dir of ourCgroups()) warn(dir, new Error('cgroup not removed'));
  // Shim sockets (named by our containerd address, so ours alone), our namespace's dirs under
  // /run/containerd (runtime roots), and /run/containerd itself if this run made it.
  // runc's shim names a socket sha256(<address>/<ns>/<group>), tsrunc's sha256(<address>/<ns>/
  // tsrunc/<group>) and keeps a <socket>.lock next to it.
  for (const g of groupings) {
    for (const key of [path.join(socket, ns, g), path.join(socket, ns, 'tsrunc', g)]) {
      const name = path.join(SHIM_SOCKET_DIR, createHash('sha256').update(key).digest('hex'));
      fs.rmSync(name, { force: true });
      fs.rmSync(`${name}.lock`, { force: true });
    }
  }
  if (fs.existsSync('/run/containerd')) {
    for (const e of fs.readdirSync('/run/containerd')) {
      const dir = path.join('/run/containerd', e, ns);
      if (fs.existsSync(dir)) removeEmptyDirs(dir, warn);
    }
  }
  if (!shimSocketDirBefore) removeEmptyDirs(SHIM_SOCKET_DIR, () => undefined);
  if (!runContainerdBefore) removeEmptyDirs('/run/containerd', () => undefined);
  fs.rmSync(work, { recursive: true, force: true });
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

function report(results, seconds) {
  const cell = (r, f, digits) => (results[r] ? f(results[r]).toFixed(digits) : '-').padStart(11);
  const ratio = (f) =>
    results.runc && results.tsrunc ? `${(f(results.tsrunc) / f(results.runc)).toFixed(2)}x`.padStart(12) : '';
  const rows = [
    [`sequential ${opts.sequential} (containers/s)`, (x) => x.sequential, 2],
    [`parallel ${opts.parallelRuns}, ${opts.parallel} at once (c/s)`, (x) => x.parallel, 2],
    [`idle ${opts.idle}: shim PSS (MiB/container)`, (x) => x.perContainer, 3],
    [`idle ${opts.idle}: shim processes counted`, (x) => x.processes, 0, false],
  ];
  console.log();
  console.log(`${'benchmark'.padEnd(38)}    runc.v2   tsrunc.v1  tsrunc/runc`);
  for (const [label, f, digits, compare = true] of rows)
    console.log(
      `${label.padEnd(38)}${cell('runc', f, digits)} ${cell('tsrunc', f, digits)}${compare ? ratio(f) : ''}`,
    );
  console.log();
  const notBuilt = !tsruncBuilt && opts.only !== 'runc' ? 'tsrunc shim not built' : '';
  const line = (what, unit, f, target) => {
    const t = results.tsrunc;
    const c = results.runc;
    if (t && c) {
      const ratioText = (f(t) / f(c)).toFixed(2);
      return `${what}: tsrunc ${f(t).toFixed(3)} ${unit} vs runc ${f(c).toFixed(3)} ${unit} = ${ratioText} x (${target})`;
    }
    const one = t ? `tsrunc ${f(t).toFixed(3)} ${unit}` : c ? `runc ${f(c).toFixed(3)} ${unit}` : '';
    return `${what}: ${[one, notBuilt || 'one runtime only'].filter(Boolean).join('; ')} (${target})`;
  };
  console.log(line('throughput', 'containers/s', (x) => x.parallel, 'target >= 1.5x'));
  console.log(line('memory', 'MiB/container', (x) => x.perContainer, 'target <= 0.1x'));
  console.log(`(throughput: the parallel runs; total time ${seconds.toFixed(0)} s)`);
}

async function main() {
  const started = process.hrtime.bigint();
  const version = execFileSync('containerd', ['--version'], { encoding: 'utf8' }).trim().split(' ')[2];
  console.log(
    `containerd shims: a private containerd ${version} driven by ctr, busybox image, ${opts.snapshotter}`,
  );
  console.log('  no network: each container has a network namespace of its own (loopback only)');
  console.log('  runc.v2: containerd-shim-runc-v2 + runc, a shim per container');
  if (selected.includes('tsrunc'))
    console.log(
      `  tsrunc.v1: ${opts.tsruncShim}, one shim per group of containers\n` +
        `    (all annotated ${GROUP_ANNOTATION}=<group>, as a pod's would be; the throughput runs\n` +
        '    next to an idle container of their group, as a pod sandbox)',
    );
  else if (!tsruncBuilt && opts.only !== 'runc')
    console.log(`  tsrunc.v1: tsrunc shim not built (${opts.tsruncShim})`);
  const results = {};
  if (selected.length === 0) return report(results, 0);
  await startContainerd();
  await importImage();
  for (const r of selected) {
    process.stdout.write(`${RUNTIMES[r].name}: throughput... `);
    const rates = await throughput(r);
    process.stdout.write(`memory (${opts.idle} idle)... `);
    results[r] = { ...rates, ...(await memory(r)) };
    console.log('done');
  }
  report(results, Number(process.hrtime.bigint() - started) / 1e9);
}

let cleaning = null;
const cleanupOnce = () => (cleaning ??= cleanup());
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => {
    console.error(`bench-shim: ${signal}: cleaning up`);
    cleanupOnce().finally(() => process.exit(130));
  });

main()
  .then(cleanupOnce, async (error) => {
    console.error(`bench-shim: ${error.message}`);
    try {
      console.error(
        `--- containerd log (tail)\n${fs.readFileSync(path.join(work, 'containerd.log'), 'utf8').slice(-2000)}`,
      );
    } catch {
      /* no log yet */
    }
    await cleanupOnce();
    process.exit(1);
  })
  .catch((error) => {
    console.error(`bench-shim: cleanup: ${error.message}`);
    process.exit(1);
  });
