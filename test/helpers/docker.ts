// Private container engines for tests: containerd alone (driven with `ctr`) and containerd +
// dockerd, from Debian's packages, with every socket, state and data dir in one directory of this
// run, no bridge, no iptables, the vfs storage driver / native snapshotter (no overlay mounts; a
// test may ask ctr for overlayfs) and the containers' cgroups below a parent named after the run
// (engineCgroupParent). Nothing of a system containerd or dockerd is touched. Also: the runtime
// wrapper the engines exec, and an image archive built from a root filesystem (what `docker save`
// writes) for `ctr image import` and `podman load`.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { removeTree } from './bundle';
import { testEnv } from './env';
import { keepProcess } from './leaks';
import { mountsContaining } from './lifecycle-helpers';
import { sleep } from './process';

const execFileP = promisify(execFile);

/** Debian's docker.io client (a newer client elsewhere on PATH may not speak to dockerd 20.10). */
const DOCKER = '/usr/bin/docker';
const CTR = '/usr/bin/ctr';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}
export type DockerResult = CommandResult;

export interface CommandOptions {
  input?: Buffer | string;
  /** Resolve on a non-zero exit too (default: reject). */
  allowFail?: boolean;
  /** SIGKILL the client after this long. Default 60000. */
  timeoutMs?: number;
}

export interface ContainerdDaemon {
  /** `ctr --address <our socket> [--namespace <namespace>] ...args`. */
  ctr(args: string[], opts?: CommandOptions): Promise<CommandResult>;
  /** The argv of that ctr command, for running it some other way (under a pty). */
  ctrCommand(args: string[]): string[];
  socket: string;
  dir: string;
  /** The namespace ctr works in. */
  namespace: string;
  /** The daemon's pid (changes with restart()). */
  pid(): number;
  /** Stops the daemon and starts it again on the same socket and dirs: shims and their
   *  containers keep running, and the new daemon reconnects to them. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface ContainerdOptions {
  /** Everything below this dir, which the caller owns. Default: a fresh engine dir of its own,
   *  which stop() removes (with the engine cgroup parent). */
  dir?: string;
  /** Directories put before containerd's PATH: where it looks for shim binaries
   *  (`containerd-shim-<name>-<version>`). */
  pathDirs?: string[];
  /** The namespace ctr works in (`ctr --namespace`). Default containerd's "default". */
  namespace?: string;
  /** The config file's text (TOML, version 2). Default: the CRI plugin disabled. Root, state
   *  and socket are always the dir's own (command-line flags). */
  config?: string;
}

export interface DockerEngine {
  /** `docker -H <our socket> ...args`; rejects on a non-zero exit unless `allowFail`. */
  docker(args: string[], opts?: CommandOptions): Promise<DockerResult>;
  /** The engine's containerd (docker's containers are in its namespace "moby"). */
  containerd: ContainerdDaemon;
  /** The directory holding everything of this engine. */
  dir: string;
  stop(): Promise<void>;
}

let seq = 0;

/** A fresh directory for an engine below the run's state base (short: unix socket names are
 *  limited to 108 bytes). */
export function engineDir(kind: string): string {
  const dir = path.join(testEnv().stateBase, `${kind}-${process.pid}-${++seq}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/**
 * The cgroup parent the engines put containers under: `/tsrunc-test-<runId>.slice`. It carries
 * the run's tag, so the leak guard checks the containers' cgroups (and leaves other runs' alone).
 */
export function engineCgroupParent(): string {
  return `/tsrunc-test-${testEnv().runId}.slice`;
}

/** Removes the (empty) engine cgroup parent from every hierarchy that has it. */
export function removeEngineCgroupParent(): void {
  const name = engineCgroupParent().slice(1);
  const roots = ['/sys/fs/cgroup', ...fs.readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}`)];
  for (const root of roots) {
    // Children first: podman's parent dir "tsrunc" (and its conmon dir) below ours.
    for (const sub of ['tsrunc/conmon', 'tsrunc', '']) {
      try {
        fs.rmdirSync(path.join(root, name, sub));
      } catch {
        /* not there, or not empty: the leak guard reports what is inside */
      }
    }
  }
}

/**
 * Writes `<dir>/tsrunc`, the runtime path handed to the engines: a shell script that execs this
 * node (absolute path: the daemons' PATH may have none) on `<repo>/bin/tsrunc`. With `root`, it
 * passes `--root <root>` first (for callers that pass none, like podman). With `callLog`, every
 * argv is appended to that file first.
 */
export function writeRuntimeWrapper(dir: string, opts: { root?: string; callLog?: string } = {}): string {
  const file = path.join(dir, 'tsrunc');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = ['#!/bin/sh', 'unset NODE_OPTIONS'];
  if (opts.callLog) lines.push(`echo "$*" >>${q(opts.callLog)}`);
  const root = opts.root ? ` --root ${q(opts.root)}` : '';
  lines.push(`exec ${q(process.execPath)} ${q(path.join(testEnv().repo, 'bin', 'tsrunc'))}${root} "$@"`);
  fs.writeFileSync(file, lines.join('\n') + '\n', { mode: 0o755 });
  return file;
}

/** runc's global options that take a value (the engines pass them before the command). */
const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--root', '--log', '--log-format']);

/**
 * The runtime commands a wrapper's `callLog` recorded for container `id`, in order, without the
 * global options and with the id written `<id>`: e.g. `kill --all <id> 9`, `delete <id>`.
 */
export function runtimeCalls(callLog: string, id: string): string[] {
  const calls: string[] = [];
  for (const line of fs.readFileSync(callLog, 'utf8').split('\n')) {
    const words = line.split(' ');
    if (!words.includes(id)) continue;
    let i = 0;
    while (i < words.length && words[i].startsWith('--'))
      i += GLOBAL_OPTIONS_WITH_VALUE.has(words[i]) ? 2 : 1;
    calls.push(
      words
        .slice(i)
        .map((w) => (w === id ? '<id>' : w))
        .join(' '),
    );
  }
  return calls;
}

/** The environment for daemons and clients: no vitest NODE_OPTIONS leaking into the runtime. */
function daemonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * Starts containerd with its socket, root and state below one dir (see ContainerdOptions). The
 * snapshotters native and overlayfs both work (the root is on a file system overlayfs accepts);
 * an image must be imported (unpacked) for each one a test uses.
 */
export async function startContainerd(opts: ContainerdOptions = {}): Promise<ContainerdDaemon> {
  const dir = opts.dir ?? engineDir('containerd');
  const socket = path.join(dir, 'containerd.sock');
  const config = path.join(dir, 'containerd.toml');
  // Only our own socket and dirs; the CRI plugin would want a CNI network: off unless asked for.
  fs.writeFileSync(config, opts.config ?? 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
  const logFile = path.join(dir, 'containerd.log');
  const log = fs.openSync(logFile, 'a');
  const env = daemonEnv();
  if (opts.pathDirs?.length)
    env.PATH = [...opts.pathDirs, env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':');
  const args = [
    '--config',
    config,
    '--address',
    socket,
    '--root',
    path.join(dir, 'containerd-root'),
    '--state',
    path.join(dir, 'containerd-state'),
  ];
  const namespace = opts.namespace ?? 'default';
  const nsArgs = opts.namespace ? ['--namespace', opts.namespace] : [];
  let daemon = spawn('containerd', args, { stdio: ['ignore', log, log], env });
  const ready = async () => {
    await waitForSocket(socket, daemon, 'containerd');
    for (let i = 0; ; i++) {
      const ping = await self.ctr(['version'], { allowFail: true });
      if (ping.code === 0) break;
      if (i > 100) throw new Error(`containerd does not answer: ${ping.stderr}`);
      await sleep(100);
    }
  };
  const self: ContainerdDaemon = {
    socket,
    dir,
    namespace,
    pid: () => daemon.pid ?? -1,
    ctr: (a, o = {}) => runClient(CTR, ['--address', socket, ...nsArgs, ...a], o),
    ctrCommand: (a) => [CTR, '--address', socket, ...nsArgs, ...a],
    restart: async () => {
      await stopDaemon(daemon);
      // A socket left behind would pass waitForSocket before the new daemon listens.
      fs.rmSync(socket, { force: true });
      daemon = spawn('containerd', args, { stdio: ['ignore', log, log], env });
      // Started by the test that restarts it, stopped by stop(): not that test's leak.
      if (daemon.pid !== undefined) keepProcess(daemon.pid);
      try {
        await ready();
      } catch (error) {
        throw new Error(`${(error as Error).message}\n--- containerd log (tail)\n${tail(logFile)}`);
      }
    },
    stop: async () => {
      await stopDaemon(daemon);
      fs.closeSync(log);
      if (opts.dir === undefined) {
        await removeEngineDir(dir);
        removeEngineCgroupParent();
      }
    },
  };
  try {
    await ready();
  } catch (error) {
    await self.stop();
    throw new Error(`${(error as Error).message}\n--- containerd log (tail)\n${tail(logFile)}`);
  }
  return self;
}

/**
 * Starts containerd and dockerd. `runtimes` goes into daemon.json ("name" -> executable path).
 */
export async function startDockerEngine(runtimes: Record<string, string>): Promise<DockerEngine> {
  const dir = engineDir('docker');
  const dockerSock = path.join(dir, 'docker.sock');
  const daemonJson = {
    runtimes: Object.fromEntries(Object.entries(runtimes).map(([name, p]) => [name, { path: p }])),
  };
  fs.writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify(daemonJson));
  const logFile = path.join(dir, 'engine.log');
  let containerd: ContainerdDaemon | null = null;
  let dockerd: ChildProcess | null = null;
  let log: number | null = null;
  const stop = async () => {
    if (dockerd) await stopDaemon(dockerd);
    if (containerd) await containerd.stop();
    if (log !== null) fs.closeSync(log);
    log = null;
    await removeEngineDir(dir);
    removeEngineCgroupParent();
  };
  try {
    containerd = await startContainerd({ dir });
    log = fs.openSync(logFile, 'a');
    dockerd = spawn(
      'dockerd',
      [
        '--containerd',
        containerd.socket,
        '-H',
        `unix://${dockerSock}`,
        '--data-root',
        path.join(dir, 'data'),
        '--exec-root',
        path.join(dir, 'exec'),
        '--pidfile',
        path.join(dir, 'docker.pid'),
        '--config-file',
        path.join(dir, 'daemon.json'),
        // The network rule: no docker0, no NAT, no iptables; and the host's ip_forward stays
        // as it is (dockerd sets it to 1 otherwise).
        '--bridge=none',
        '--iptables=false',
        '--ip-masq=false',
        '--ip-forward=false',
        '--storage-driver',
        'vfs',
        '--exec-opt',
        'native.cgroupdriver=cgroupfs',
        '--cgroup-parent',
        engineCgroupParent(),
      ],
      { stdio: ['ignore', log, log], env: daemonEnv() },
    );
    await waitForSocket(dockerSock, dockerd, 'dockerd');
    for (let i = 0; ; i++) {
      const ping = await runClient(
        DOCKER,
        ['-H', `unix://${dockerSock}`, 'version', '--format', '{{.Server.Version}}'],
        {
          allowFail: true,
        },
      );
      if (ping.code === 0) break;
      if (i > 100) throw new Error(`dockerd does not answer: ${ping.stderr}`);
      await sleep(100);
    }
  } catch (error) {
    const text = fs.existsSync(logFile) ? tail(logFile) : '';
    await stop();
    throw new Error(`${(error as Error).message}\n--- engine log (tail)\n${text}`);
  }
  return {
    dir,
    containerd,
    docker: (args, opts = {}) => runClient(DOCKER, ['-H', `unix://${dockerSock}`, ...args], opts),
    stop,
  };
}

/** Imports a root filesystem directory as an image. */
export async function importImage(engine: DockerEngine, rootfs: string, tag: string): Promise<void> {
  const { stdout: tar } = await execFileP('tar', ['-C', rootfs, '-c', '.'], {
    encoding: 'buffer',
    maxBuffer: 256 * 1024 * 1024,
  });
  await engine.docker(['import', '-', tag], { input: tar });
}

/**
 * Writes `<dir>/image.tar`: the root filesystem as a one-layer image in the format `docker save`
 * writes (manifest.json, the config named by its digest, the layer tar), tagged `tag`, whose
 * command is `opts.cmd` (default `sh`). `ctr image import` and `podman load` read it, so neither
 * needs a dockerd to get an image.
 */
export async function writeImageArchive(
  rootfs: string,
  tag: string,
  dir: string,
  opts: { cmd?: string[] } = {},
): Promise<string> {
  const stage = fs.mkdtempSync(path.join(dir, 'image-'));
  try {
    const layerTmp = path.join(stage, 'layer.tar');
    await execFileP('tar', ['-C', rootfs, '-cf', layerTmp, '.']);
    const layerDigest = sha256(fs.readFileSync(layerTmp));
    fs.mkdirSync(path.join(stage, layerDigest));
    fs.renameSync(layerTmp, path.join(stage, layerDigest, 'layer.tar'));
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2020-01-01T00:00:00Z',
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: opts.cmd ?? ['sh'],
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
      history: [{ created: '2020-01-01T00:00:00Z', created_by: 'tsrunc test rootfs' }],
    });
    const configName = `${sha256(Buffer.from(config))}.json`;
    fs.writeFileSync(path.join(stage, configName), config);
    const manifest = [{ Config: configName, RepoTags: [tag], Layers: [`${layerDigest}/layer.tar`] }];
    fs.writeFileSync(path.join(stage, 'manifest.json'), JSON.stringify(manifest));
    const out = path.join(dir, 'image.tar');
    await execFileP('tar', [
      '-C',
      stage,
      '-cf',
      out,
      'manifest.json',
      configName,
      `${layerDigest}/layer.tar`,
    ]);
    return out;
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Runs a client binary; rejects on a non-zero exit unless `allowFail`. */
export function runClient(bin: string, args: string[], opts: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: daemonEnv(),
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.input);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const res = { code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 1), stdout, stderr };
      if (res.code !== 0 && !opts.allowFail) {
        const name = path.basename(bin);
        reject(new Error(`${name} ${args.join(' ')}: exit ${res.code}: ${stderr.trim()}`));
      } else {
        resolve(res);
      }
    });
  });
}

/** Removes an engine's dir; engines may leave mounts below it (shm, netns): never rm across them. */
export async function removeEngineDir(dir: string): Promise<void> {
  for (const mp of mountsContaining(dir).sort((a, b) => b.length - a.length)) {
    await execFileP('umount', ['-l', mp]).catch(() => undefined);
  }
  await removeTree(dir);
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-3000);
  } catch {
    return '';
  }
}

async function waitForSocket(socket: string, daemon: ChildProcess, name: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (daemon.exitCode !== null || daemon.signalCode !== null) throw new Error(`${name} exited at start`);
    if (fs.existsSync(socket)) return;
    await sleep(100);
  }
  throw new Error(`${name} did not create ${socket}`);
}

async function stopDaemon(daemon: ChildProcess): Promise<void> {
  if (daemon.exitCode !== null || daemon.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  daemon.kill('SIGTERM');
  const timedOut = await Promise.race([exited.then(() => false), sleep(15_000).then(() => true)]);
  if (timedOut) {
    daemon.kill('SIGKILL');
    await exited;
  }
}

/** Kill, delete and remove container `id` of a containerd, whatever state it is in ("not found"
 *  is fine): a test's cleanup. */
export async function removeCtrContainer(daemon: ContainerdDaemon, id: string): Promise<void> {
  await daemon.ctr(['task', 'kill', '-s', 'SIGKILL', id], { allowFail: true });
  for (let i = 0; i < 50; i++) {
    const res = await daemon.ctr(['task', 'delete', '--force', id], { allowFail: true });
    if (res.code === 0 || /not found/.test(res.stderr)) break;
    await sleep(100);
  }
  await daemon.ctr(['container', 'rm', id], { allowFail: true });
}
