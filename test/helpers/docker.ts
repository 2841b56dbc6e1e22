// A private Docker engine for tests: containerd + dockerd from Debian's packages, with every
// socket, state and data dir in one directory of this run, no bridge, no iptables and the vfs
// storage driver (no overlay mounts). Nothing of a system dockerd is touched.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { removeTree } from './bundle';
import { testEnv } from './env';
import { mountsContaining } from './lifecycle-helpers';
import { sleep } from './process';

const execFileP = promisify(execFile);

/** Debian's docker.io client (a newer client elsewhere on PATH may not speak to dockerd 20.10). */
const DOCKER = '/usr/bin/docker';

export interface DockerEngine {
  /** `docker -H <our socket> ...args`; rejects on a non-zero exit unless `allowFail`. */
  docker(args: string[], opts?: { input?: Buffer; allowFail?: boolean }): Promise<DockerResult>;
  /** The directory holding everything of this engine. */
  dir: string;
  stop(): Promise<void>;
}

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

let seq = 0;

/**
 * Starts containerd and dockerd. `runtimes` goes into daemon.json ("name" -> executable path).
 * The engine's dir is below the run's state base (short paths: unix socket names are limited to
 * 108 bytes).
 */
export async function startDockerEngine(runtimes: Record<string, string>): Promise<DockerEngine> {
  const dir = path.join(testEnv().stateBase, `docker-${process.pid}-${++seq}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const containerdSock = path.join(dir, 'containerd.sock');
  const dockerSock = path.join(dir, 'docker.sock');
  fs.writeFileSync(path.join(dir, 'containerd.toml'), 'version = 2\n');
  const daemonJson = {
    runtimes: Object.fromEntries(Object.entries(runtimes).map(([name, p]) => [name, { path: p }])),
  };
  fs.writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify(daemonJson));
  const log = fs.openSync(path.join(dir, 'engine.log'), 'a');
  const daemons: ChildProcess[] = [];
  const engine: DockerEngine = {
    dir,
    docker: (args, opts = {}) => runDocker(dockerSock, args, opts),
    stop: async () => {
      for (const d of daemons.reverse()) await stopDaemon(d);
      fs.closeSync(log);
      // dockerd may leave mounts below its dirs (shm, netns): never rm across them.
      for (const mp of mountsContaining(dir).sort((a, b) => b.length - a.length)) {
        await execFileP('umount', ['-l', mp]).catch(() => undefined);
      }
      await removeTree(dir);
    },
  };
  try {
    daemons.push(
      spawn(
        'containerd',
        [
          '--config',
          path.join(dir, 'containerd.toml'),
          '--address',
          containerdSock,
          '--root',
          path.join(dir, 'containerd-root'),
          '--state',
          path.join(dir, 'containerd-state'),
        ],
        { stdio: ['ignore', log, log] },
      ),
    );
    await waitForSocket(containerdSock, daemons[0], 'containerd');
    daemons.push(
      spawn(
        'dockerd',
        [
          '--containerd',
          containerdSock,
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
        ],
        { stdio: ['ignore', log, log] },
      ),
    );
    await waitForSocket(dockerSock, daemons[1], 'dockerd');
    for (let i = 0; ; i++) {
      const ping = await runDocker(dockerSock, ['version', '--format', '{{.Server.Version}}'], {
        allowFail: true,
      });
      if (ping.code === 0) break;
      if (i > 100) throw new Error(`dockerd does not answer: ${ping.stderr}`);
      await sleep(100);
    }
  } catch (error) {
    const text = fs.readFileSync(path.join(dir, 'engine.log'), 'utf8');
    await engine.stop();
    throw new Error(`${(error as Error).message}\n--- engine log (tail)\n${text.slice(-3000)}`);
  }
  return engine;
}

/** Imports a root filesystem directory as an image. */
export async function importImage(engine: DockerEngine, rootfs: string, tag: string): Promise<void> {
  const { stdout: tar } = await execFileP('tar', ['-C', rootfs, '-c', '.'], {
    encoding: 'buffer',
    maxBuffer: 256 * 1024 * 1024,
  });
  await engine.docker(['import', '-', tag], { input: tar });
}

function runDocker(
  socket: string,
  args: string[],
  opts: { input?: Buffer; allowFail?: boolean },
): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOCKER, ['-H', `unix://${socket}`, ...args], {
      stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.input) child.stdin!.end(opts.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const res = { code: code ?? 1, stdout, stderr };
      if (res.code !== 0 && !opts.allowFail) {
        reject(new Error(`docker ${args.join(' ')}: exit ${res.code}: ${stderr.trim()}`));
      } else {
        resolve(res);
      }
    });
  });
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
