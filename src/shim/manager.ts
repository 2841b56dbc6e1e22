// The shim's two short-lived commands, which containerd runs with the bundle as cwd:
//
// `start`: find the shim process for this container's group, or start one. The socket's name
// comes from containerd's address, the namespace and the group, so every `start` of one group
// finds the same socket; a live shim answers a probe there and is reused. Otherwise the socket
// is made listening here and handed to a new server process as fd 3 (it listens before `start`
// returns: containerd dials at once). Prints the address, nothing else: containerd reads
// stdout and stderr together until EOF, so the server gets /dev/null for both.
//
// `delete`: runs after every deletion of a task, and after a shim died. It force-deletes that
// one container (state root from the bundle's options.json), unmounts its rootfs and prints a
// DeleteResponse. It never touches the shim or the group's other containers.
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import type { NativeBinding } from '../native';
import { readMountInfo } from '../plan/host';
import { readConfigFile, DEFAULT_CONFIG_FILE, DEFAULT_ROOT, type ShimConfig } from './options';
import type { ShimFlags } from './flags';

/** Where shim sockets live: containerd's compiled-in state dir, as for its own shims. */
export const SOCKET_DIR = '/run/containerd/s';
/** Taken by `start` around finding or making a shim, and by a shim around its exit: one file
 *  for every group (a file per group would stay behind after each). */
export const START_LOCK_FILE = path.join(SOCKET_DIR, 'tsrunc-start.lock');
const GROUP_ANNOTATIONS = ['io.containerd.runc.v2.group', 'io.kubernetes.cri.sandbox-id'];
/** How long `start` waits for another `start` of the same group (the lock). */
const LOCK_WAIT_MS = 30_000;

/** The group a container's shim is shared by. */
export function groupOf(
  id: string,
  namespace: string,
  annotations: Record<string, string>,
  config: ShimConfig,
): string {
  if (config.grouping === 'namespace') return `namespace:${namespace}`;
  for (const key of GROUP_ANNOTATIONS) {
    const value = annotations[key];
    if (value) return value;
  }
  return id;
}

/** The socket path of a group's shim. "tsrunc" is part of the name so that a Go shim of the
 *  same group (another runtime) never answers for us. */
export function socketPathOf(address: string, namespace: string, group: string): string {
  const digest = crypto
    .createHash('sha256')
    .update(path.join(address, namespace, 'tsrunc', group))
    .digest('hex');
  return path.join(SOCKET_DIR, digest);
}

export interface StartDeps {
  native: NativeBinding;
  /** The server's entry point (this shim's executable script). */
  shimScript: string;
}

/**
 * `<socket>.shim`: the server's pid on its first line (written by the `start` that spawned it),
 * then one byte per `start` that joined it. The server compares the file's size before and
 * under the lock at its exit: a join in between keeps it alive (see daemon.ts). No round trip to
 * the server: a busy server (20 creates at once) would hold every `start` of its group up.
 */
export function shimFileOf(socketPath: string): string {
  return `${socketPath}.shim`;
}

/** `start`: returns the address to print. */
export async function shimStart(
  flags: ShimFlags,
  stdinOptions: ShimConfig | null,
  deps: StartDeps,
): Promise<string> {
  if (!flags.namespace) throw new Error('shim namespace cannot be empty');
  if (!flags.id) throw new Error('shim id cannot be empty');
  const bundle = process.cwd();
  const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as {
    annotations?: Record<string, string>;
  };
  const config = stdinOptions ?? readConfigFile(DEFAULT_CONFIG_FILE, true);
  const group = groupOf(flags.id, flags.namespace, spec.annotations ?? {}, config);
  const socketPath = socketPathOf(flags.address, flags.namespace, group);
  const shimFile = shimFileOf(socketPath);
  const address = `unix://${socketPath}`;
  fs.mkdirSync(SOCKET_DIR, { recursive: true, mode: 0o700 });

  // One `start` at a time, and a server's exit takes the same lock: a server found alive here
  // stays alive until containerd has connected (see daemon.ts).
  const unlock = await lockGroup(deps.native, START_LOCK_FILE);
  try {
    let server = await listen(socketPath);
    if (server === null) {
      if (serverAlive(socketPath)) {
        fs.appendFileSync(shimFile, '+');
        writeAddress(bundle, address);
        return address;
      }
      // A socket file left by a shim that died (SIGKILL): take its place.
      fs.rmSync(socketPath, { force: true });
      server = await listen(socketPath);
      if (server === null) throw new Error(`${socketPath}: address in use`);
    }
    try {
      fs.chmodSync(socketPath, 0o600);
      const pid = spawnServer(flags, bundle, server, socketPath, deps.shimScript);
      fs.writeFileSync(shimFile, `${pid}\n`, { mode: 0o600 });
    } catch (error) {
      server.close();
      fs.rmSync(socketPath, { force: true });
      fs.rmSync(shimFile, { force: true });
      throw error;
    }
    // Not closed: closing a listening unix socket in Node unlinks its path. The caller prints
    // the address and exits without another loop turn, so nothing is accepted here.
    server.unref();
    writeAddress(bundle, address);
    return address;
  } finally {
    unlock();
  }
}

/** The server named in `<socket>.shim` runs and serves `socketPath` (its argv says so). */
function serverAlive(socketPath: string): boolean {
  try {
    const pid = Number.parseInt(fs.readFileSync(shimFileOf(socketPath), 'utf8'), 10);
    if (!(pid > 0)) return false;
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const state = /^\S+ \(.*\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    return argv.includes(socketPath) && state !== 'Z';
  } catch {
    return false;
  }
}

/** A listening server at `socketPath`, or null when the path is taken. */
function listen(socketPath: string): Promise<net.Server | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(null);
      else reject(new Error(`listen ${socketPath}: ${error.message}`));
    });
    server.listen({ path: socketPath, backlog: 1024 }, () => resolve(server));
  });
}

/** Node flags of the long-lived server. It idles with many containers: a 1 MiB young generation
 *  (default 16) took its anonymous memory from 36 to 22 MiB with 100 idle containers here. */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=1'];

function spawnServer(
  flags: ShimFlags,
  bundle: string,
  server: net.Server,
  socketPath: string,
  shimScript: string,
): number {
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('no fd for the listening socket');
  const args = [
    shimScript,
    '-namespace',
    flags.namespace,
    '-id',
    flags.id,
    '-address',
    flags.address,
    '-socket',
    socketPath,
  ];
  if (flags.debug) args.push('-debug');
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...args], {
    cwd: bundle,
    detached: true,
    // fd 3: the listening socket. Never start's stdout/stderr (containerd reads them to EOF).
    stdio: ['ignore', 'ignore', 'ignore', fd],
    env: process.env,
  });
  child.unref();
  if (child.pid === undefined) throw new Error(`cannot start the shim server ${process.execPath}`);
  return child.pid;
}

/** `<bundle>/address`: written whole (rename), no newline (containerd reads it raw). */
function writeAddress(bundle: string, address: string): void {
  const tmp = path.join(bundle, '.address');
  fs.writeFileSync(tmp, address, { mode: 0o600 });
  fs.renameSync(tmp, path.join(bundle, 'address'));
}

/** An exclusive flock on `file`, waited for without blocking the loop. */
export async function lockGroup(native: NativeBinding, file: string): Promise<() => void> {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let delay = 1; !native.tryFlock(fd, true); delay = Math.min(delay * 2, 50)) {
    if (Date.now() > deadline) {
      fs.closeSync(fd);
      throw new Error(`${file}: still locked after ${LOCK_WAIT_MS / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  return () => fs.closeSync(fd);
}

export interface DeleteResult {
  pid: number;
  exitStatus: number;
  exitedAt: Date;
}

/** `delete`: clean up container `id` of this bundle, whatever is left of it. */
export async function shimDelete(
  flags: ShimFlags,
  deps: {
    /** The addon, loaded only when needed. */
    native: () => Promise<NativeBinding>;
    forceDelete: (root: string, systemdCgroup: boolean, id: string) => Promise<void>;
    unmount: (target: string) => Promise<number>;
    warn: (msg: string) => void;
  },
): Promise<DeleteResult> {
  if (!flags.id) throw new Error('shim id cannot be empty');
  const bundle = flags.bundle || process.cwd();
  let root = path.join(DEFAULT_ROOT, flags.namespace);
  let systemdCgroup = false;
  try {
    const saved = JSON.parse(fs.readFileSync(path.join(bundle, 'options.json'), 'utf8')) as {
      root?: string;
      systemdCgroup?: boolean;
    };
    if (typeof saved.root === 'string') root = saved.root;
    systemdCgroup = saved.systemdCgroup === true;
  } catch {
    // No options.json: the create never got that far; the default root is all there can be.
  }
  // Normally the container was deleted already (this runs after every task deletion): then
  // there is no state dir and nothing mounted, and the runtime library is not even loaded.
  if (fs.existsSync(path.join(root, flags.id))) {
    try {
      await deps.forceDelete(root, systemdCgroup, flags.id);
    } catch (error) {
      deps.warn(`delete ${flags.id}: ${(error as Error).message}`);
    }
  }
  const rootfs = path.join(bundle, 'rootfs');
  if (mountedAtOrBelow(rootfs)) {
    try {
      await deps.unmount(rootfs);
    } catch (error) {
      deps.warn(`unmount ${rootfs}: ${(error as Error).message}`);
    }
  }
  await removeDeadServerFiles(bundle, deps.native);
  let pid = 0;
  try {
    pid = Number.parseInt(fs.readFileSync(path.join(bundle, 'init.pid'), 'utf8'), 10) || 0;
  } catch {
    // Never created.
  }
  // 128 + SIGKILL, as the Go shim reports: whatever was left was killed.
  return { pid, exitStatus: 137, exitedAt: new Date() };
}

/** After a shim died (SIGKILL), its socket and `.shim` file stay: the group's next `start` would
 *  replace them, this removes them now. A live server's are left alone. */
async function removeDeadServerFiles(bundle: string, native: () => Promise<NativeBinding>): Promise<void> {
  let socketPath: string;
  try {
    socketPath = fs.readFileSync(path.join(bundle, 'address'), 'utf8').replace(/^unix:\/\//, '');
  } catch {
    return;
  }
  if (path.dirname(socketPath) !== SOCKET_DIR || !fs.existsSync(socketPath) || serverAlive(socketPath))
    return;
  const unlock = await lockGroup(await native(), START_LOCK_FILE);
  try {
    if (!serverAlive(socketPath)) {
      fs.rmSync(socketPath, { force: true });
      fs.rmSync(shimFileOf(socketPath), { force: true });
    }
  } finally {
    unlock();
  }
}

/** Something is mounted at `dir` or below it. */
function mountedAtOrBelow(dir: string): boolean {
  return readMountInfo().some((m) => m.mountPoint === dir || m.mountPoint.startsWith(`${dir}/`));
}
