// Everything an entry point of the library may use beyond its arguments: where state lives, how
// to log, the native binding, the reaper of the processes it starts, the clock, the container
// locks. A process may hold several contexts (two state roots, two loggers); nothing in
// src/runtime, src/state or src/cgroups keeps state of its own at module level.
import * as path from 'node:path';

import { RuntimeError } from '../errors';
import { type NativeBinding, native as loadNative } from '../native';
import { defaultLogger, type Logger } from '../util/log';
import { ContainerLocks } from './locks';
import { type Clock, Reaper } from './reaper';

/** The steps of `create` a caller can be told about, in order: the state dir reserved, the
 *  cgroups made, the exec fifo made, stage 1 spawned, the id maps written (and stage 1 in the
 *  cgroups), the init pid recorded, the create hooks point (before the hooks run), InitReady
 *  received (state not yet `created`), state `created` saved. */
export type CreateStep =
  'reserved' | 'cgroups' | 'fifo' | 'spawned' | 'idmaps' | 'initpid' | 'hooks' | 'ready' | 'saved';

export interface RuntimeContextOptions {
  /** State root (absolute), e.g. /run/tsrunc. */
  root: string;
  /** cgroupsPath is systemd's slice:prefix:name. */
  systemdCgroup?: boolean;
  logger?: Logger;
  /** A fake for tests; the addon by default. */
  native?: NativeBinding;
  clock?: Clock;
  /** How long an operation waits for another one on the same container (default 10 s). */
  lockTimeoutMs?: number;
  /**
   * Reap every child the library started as soon as it exits (default true: a long-lived
   * process must leave no zombie). A short-lived caller that hands processes over (the CLI:
   * `exec --detach`, `run -d`, `create`) sets false: a child is then reaped only when waited
   * for, and the engine's subreaper that inherits it sees its exit.
   */
  autoReap?: boolean;
  /** Called after each step of `create` with the init's pid once there is one (0 before): the
   *  CLI writes --pid-file at `saved` (a failure there fails the create, which undoes it all), and
   *  tests stop a create at a step. */
  onCreateStep?: (step: CreateStep, id: string, initPid: number) => void | Promise<void>;
}

export interface RuntimeContext {
  readonly root: string;
  readonly systemdCgroup: boolean;
  readonly logger: Logger;
  readonly native: NativeBinding;
  readonly reaper: Reaper;
  readonly clock: Clock;
  readonly locks: ContainerLocks;
  readonly lockTimeoutMs: number;
  readonly onCreateStep?: (step: CreateStep, id: string, initPid: number) => void | Promise<void>;
  /** Wait for a loop turn of one's own before a stretch of synchronous work (see LoopTurns). */
  readonly turns: LoopTurns;
}

/**
 * Fair turns on the event loop. Operations that become ready together (50 creates started at
 * once, or their state writes completing in one batch) would otherwise run their synchronous
 * stretches (validation, plan, cgroup dirs, clone) back to back as microtasks: one long block of
 * the loop. Each `take()` resumes in a setImmediate of its own, and the next one is scheduled
 * only once the previous has run, so those stretches go one per loop iteration, with timers and
 * I/O in between.
 */
export class LoopTurns {
  private tail: Promise<void> = Promise.resolve();

  take(): Promise<void> {
    const turn = this.tail.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    this.tail = turn;
    return turn;
  }
}

const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
const systemClock: Clock = { now: () => new Date() };

export function createRuntimeContext(opts: RuntimeContextOptions): RuntimeContext {
  requireAbsolute('root', opts.root);
  // The addon is loaded on first use: `state` of a running container never needs it.
  let binding = opts.native ?? null;
  const native = (): NativeBinding => (binding ??= loadNative());
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? defaultLogger();
  return {
    root: path.normalize(opts.root),
    systemdCgroup: opts.systemdCgroup ?? false,
    logger,
    get native() {
      return native();
    },
    reaper: new Reaper(
      native,
      clock,
      (error) => logger.error(`reaper: ${error instanceof Error ? error.message : String(error)}`),
      opts.autoReap ?? true,
    ),
    clock,
    locks: new ContainerLocks(native),
    lockTimeoutMs: opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    onCreateStep: opts.onCreateStep,
    turns: new LoopTurns(),
  };
}

/** The library never resolves a relative path against this process's cwd: callers (the CLI)
 *  resolve their own. */
export function requireAbsolute(what: string, value: string): void {
  if (!path.isAbsolute(value))
    throw new RuntimeError(`${what}: must be an absolute path, got ${JSON.stringify(value)}`);
}
