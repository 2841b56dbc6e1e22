// containerd-shim-tsrunc-v1: `start`, `delete`, or (no action) the long-lived server. Modules
// are loaded per action: `start` and `delete` run once per container and should be quick.
import * as fs from 'node:fs';

import type { ShimFlags } from './flags';
import { parseShimFlags } from './flags';

const VERSION = '0.1.0';

export async function main(argv: string[]): Promise<void> {
  let flags: ShimFlags;
  try {
    flags = parseShimFlags(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
  if (flags.version) {
    process.stdout.write(
      `containerd-shim-tsrunc-v1:\n  Version: ${VERSION}\n  Runtime: io.containerd.tsrunc.v1\n`,
    );
    return;
  }
  try {
    if (flags.action === 'start') {
      process.stdout.write(await start(flags));
      process.exit(0);
    } else if (flags.action === 'delete') {
      process.stdout.write(await remove(flags));
      process.exit(0);
    } else if (flags.action === '') {
      if (!flags.namespace) throw new Error('shim namespace cannot be empty');
      const { runServer } = await import('./daemon');
      await runServer(flags);
    } else {
      throw new Error(`unknown action ${JSON.stringify(flags.action)}: want start or delete`);
    }
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
}

async function start(flags: ShimFlags): Promise<string> {
  const { shimStart } = await import('./manager');
  const { native } = await import('../native');
  // Options Any on stdin (a pipe) or /dev/null.
  const stdin = fs.readFileSync(0);
  let options = null;
  if (stdin.length > 0) {
    const { wellKnown } = await import('./task-messages');
    const { shimOptionsFrom } = await import('./options');
    // Warnings cannot be printed: start's output is the address.
    options = await shimOptionsFrom(wellKnown.Any.decode(stdin), () => undefined);
  }
  return shimStart(flags, options, {
    native: native(),
    shimScript: process.argv[1],
  });
}

async function remove(flags: ShimFlags): Promise<Uint8Array> {
  const { shimDelete } = await import('./manager');
  const result = await shimDelete(flags, {
    native: async () => (await import('../native')).native(),
    forceDelete: async (root, systemdCgroup, id) => {
      const { Runtime } = await import('../runtime/runtime');
      const { CONTAINER_NOT_EXIST } = await import('../errors');
      const { createLogger } = await import('../util/log');
      const logger = createLogger({ format: 'text', debug: false });
      const runtime = new Runtime({ root, systemdCgroup, logger, autoReap: false });
      try {
        await runtime.delete(id, { force: true });
      } catch (error) {
        if (!(error as Error).message.includes(CONTAINER_NOT_EXIST)) throw error;
      } finally {
        runtime.close();
      }
    },
    unmount: async (target) => {
      const { native } = await import('../native');
      const { unmountRootfs } = await import('./rootfs');
      return unmountRootfs(native(), target);
    },
    warn: (msg) => process.stderr.write(`${msg}\n`),
  });
  const { timestampOf } = await import('./wire');
  const { task } = await import('./task-messages');
  return task.DeleteResponse.encode({
    pid: result.pid,
    exitStatus: result.exitStatus,
    exitedAt: timestampOf(result.exitedAt),
  }).finish();
}

/**
 * Loads, and runs a little of, what `action` needs, with no side effect: the build runs it to
 * make the bundle's code cache of each action (scripts/build-bundle.js). `serve` is the server.
 */
export async function warmUp(action: 'start' | 'delete' | 'serve'): Promise<void> {
  const flags = parseShimFlags([
    '-namespace',
    'warm',
    '-address',
    '/run/containerd/containerd.sock',
    '-publish-binary',
    '/usr/bin/containerd',
    '-id',
    'warm',
    ...(action === 'serve' ? [] : [action]),
  ]);
  if (action === 'start') {
    const { socketPathOf } = await import('./manager');
    socketPathOf(flags.address, flags.namespace, flags.id);
    await import('../native');
    const { wellKnown } = await import('./task-messages');
    wellKnown.Any.decode(new Uint8Array());
    await import('./options');
  } else if (action === 'delete') {
    await import('./manager');
    const { timestampOf } = await import('./wire');
    const { task } = await import('./task-messages');
    task.DeleteResponse.encode({ pid: 0, exitStatus: 137, exitedAt: timestampOf(new Date()) }).finish();
  } else {
    await import('./daemon');
  }
}
