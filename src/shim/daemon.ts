// The long-lived shim server: serves the Task service on the socket `start` made (inherited as
// fd 3), for every container of its group, until the last one is deleted and containerd says
// Shutdown.
//
// Exiting races with a `start` of the same group that found this server alive: containerd
// would then dial a socket that is gone. So `start` probes under the start lock (a ttrpc Ping
// that counts as activity), and the server exits only under that lock, with no container, and
// no activity since it decided to: a probe in between keeps it (it exits 10 s later if no
// container came after all).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

import { detectCgroups } from '../cgroups/layout';
import { native as loadNative } from '../native';
import { readMountInfo } from '../plan/host';
import { EventPublisher } from './events';
import type { ShimFlags } from './flags';
import { ShimLog } from './log';
import { shimFileOf, START_LOCK_FILE } from './manager';
import { TaskService } from './service';
import { type Handler, TtrpcServer } from './ttrpc/server';

export const TASK_SERVICE = 'containerd.task.v2.Task';
const EXIT_AFTER_SHUTDOWN_MS = 200;
const IDLE_EXIT_MS = 10_000;
const PUBLISH_FLUSH_MS = 5_000;
const IDLE_GC_MS = 1_000;

export async function runServer(flags: ShimFlags): Promise<void> {
  const bundle = process.cwd();
  const log = new ShimLog(flags.debug);
  log.addBundle(flags.id, bundle);
  // The first bundle goes away with its container; nothing here needs a cwd.
  process.chdir('/');
  process.on('uncaughtException', (error) =>
    log.error(`uncaught exception: ${error.stack ?? error.message}`),
  );
  process.on('unhandledRejection', (reason) =>
    log.error(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`),
  );

  const native = loadNative();
  const publisher = new EventPublisher({
    address: process.env.TTRPC_ADDRESS ?? `${flags.address}.ttrpc`,
    namespace: flags.namespace,
    logger: log,
  });
  const socketPath = flags.socket || flags.address;
  const shimFile = shimFileOf(socketPath);
  let created = 0;
  /** Changes whenever a container is created or deleted here or a `start` joins. */
  const activity = (): string => {
    let joins = -1;
    try {
      joins = fs.statSync(shimFile).size;
    } catch {
      // Not there (a test starting the server by hand): joins cannot be seen.
    }
    return `${created}/${joins}`;
  };
  let exitTimer: NodeJS.Timeout | null = null;
  let exiting = false;

  const server = new TtrpcServer({ logger: log });
  const service = new TaskService({
    namespace: flags.namespace,
    logger: log,
    native,
    publisher,
    unifiedCgroups: detectCgroups(readMountInfo()).layout === 'v2',
    onIdle: () => scheduleExit(EXIT_AFTER_SHUTDOWN_MS),
    onContainer: (id, containerBundle, added) => {
      created++;
      if (added) log.addBundle(id, containerBundle);
      else log.removeBundle(id);
    },
  });
  const collector = idleCollector();
  const handlers = Object.entries(service.handlers()).map(([method, handler]): [string, Handler] => [
    method,
    async (payload, ctx) => {
      try {
        return await handler(payload, ctx);
      } finally {
        collector.touch();
      }
    },
  ]);
  server.register(TASK_SERVICE, Object.fromEntries(handlers));

  const exit = async (code: number): Promise<void> => {
    if (exiting) return;
    exiting = true;
    fs.rmSync(socketPath, { force: true });
    fs.rmSync(shimFile, { force: true });
    await server.close().catch(() => undefined);
    await publisher.flush(PUBLISH_FLUSH_MS);
    publisher.close();
    service.close();
    process.exit(code);
  };

  function scheduleExit(ms: number): void {
    if (exiting) return;
    if (exitTimer) clearTimeout(exitTimer);
    const mark = activity();
    exitTimer = setTimeout(() => {
      exitTimer = null;
      void tryExit(mark);
    }, ms);
  }

  async function tryExit(mark: string): Promise<void> {
    if (service.size > 0) return;
    let lockFd = -1;
    try {
      lockFd = fs.openSync(START_LOCK_FILE, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
      if (!native.tryFlock(lockFd, true)) {
        fs.closeSync(lockFd);
        scheduleExit(EXIT_AFTER_SHUTDOWN_MS);
        return;
      }
    } catch (error) {
      log.warn(`shim exit: lock: ${(error as Error).message}`);
    }
    if (service.size > 0 || activity() !== mark) {
      if (lockFd >= 0) fs.closeSync(lockFd);
      // Someone is on the way (a probe said so): wait for it, but not forever.
      if (service.size === 0) scheduleExit(IDLE_EXIT_MS);
      return;
    }
    // Gone from the file system under the lock: the next `start` makes a new shim.
    fs.rmSync(socketPath, { force: true });
    fs.rmSync(shimFile, { force: true });
    if (lockFd >= 0) fs.closeSync(lockFd);
    await exit(0);
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      log.info(`${signal}: shim exits`);
      void exit(0);
    });
  }

  const listener = net.createServer();
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen({ fd: 3 }, () => resolve());
  });
  server.serve(listener);
  log.debug(`serving ${socketPath} for namespace ${flags.namespace}`);
  // A server nobody connects to (containerd gave up) does not stay forever.
  scheduleExit(IDLE_EXIT_MS * 3);
}

/**
 * A full garbage collection once the shim has had nothing to do for a second. The shim idles
 * most of its life with many containers; V8 collects only when allocating, so the garbage of
 * the last burst of creates would otherwise stay in its heap (and in the shim's memory) until
 * the next burst.
 */
function idleCollector(): { touch(): void } {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  let timer: NodeJS.Timeout | null = null;
  return {
    touch() {
      if (timer) timer.refresh();
      else {
        timer = setTimeout(() => {
          timer = null;
          gc();
        }, IDLE_GC_MS);
        timer.unref();
      }
    },
  };
}
