// The operations on an existing container: state, list, kill, delete. create/start/run live in
// their own modules. Every signal goes to a process named by pid AND start time, re-checked just
// before kill(2), so a recycled pid is never signalled.
import * as fs from 'node:fs';

import {
  type ContainerRecord,
  listIds,
  type OciState,
  processAlive,
  processStartTime,
  readRecord,
  removeContainerDir,
  validateContainerId,
} from '../state/store';
import { type CgroupManager, cgroupsOf } from '../cgroups';
import type { Spec } from '../spec/types';
import { CONTAINER_NOT_EXIST, CONTAINER_NOT_RUNNING, NO_SUCH_PROCESS, RuntimeError } from '../errors';
import type { RuntimeContext } from './context';
import { waitReadable } from './fd-wait';
import { type Hook, hookState, runHooksWarnOnly } from './hooks';
import type { ContainerLock } from './locks';
import { unmountContainerMounts } from './shared-mounts';
import { parseSignal } from './signals';
import { containerState, containerStatus } from './status';

/** How long delete waits for a SIGKILLed process to go (runc: 100 x 100ms). */
const KILL_WAIT_MS = 10_000;
const SIGKILL = 9;

export async function state(ctx: RuntimeContext, id: string): Promise<OciState> {
  return containerState(ctx, readRecord(ctx.root, id));
}

export async function list(ctx: RuntimeContext): Promise<OciState[]> {
  const states: OciState[] = [];
  for (const id of listIds(ctx.root)) {
    try {
      states.push(await containerState(ctx, readRecord(ctx.root, id)));
    } catch (error) {
      // Deleted while we were listing: it simply is not there any more.
      if (!isNotExist(error)) throw error;
    }
  }
  return states;
}

/** Run `operation` holding the container's lock (see locks.ts). */
export async function withContainerLock<T>(
  ctx: RuntimeContext,
  id: string,
  operation: (lock: ContainerLock) => Promise<T>,
  busyMessage?: string,
): Promise<T> {
  validateContainerId(id);
  const lock = await ctx.locks.acquire(ctx.root, id, { timeoutMs: ctx.lockTimeoutMs, busyMessage });
  try {
    return await operation(lock);
  } finally {
    lock.release();
  }
}

export async function kill(
  ctx: RuntimeContext,
  id: string,
  signal: string | number | undefined,
  all: boolean,
): Promise<void> {
  // As runc: a container that does not exist is reported before a bad signal.
  readRecord(ctx.root, id);
  const signo = typeof signal === 'number' ? signal : parseSignal(signal);
  await withContainerLock(ctx, id, async () => {
    const rec = readRecord(ctx.root, id);
    const status = await containerStatus(ctx, rec, { lockHeld: true });
    if (all) {
      // As runc: nothing left to signal in a stopped container is not an error for --all.
      if (status !== 'stopped') await signalAllProcesses(rec, signo);
      return;
    }
    if (status === 'stopped' || rec.initPid <= 0) throw new RuntimeError(CONTAINER_NOT_RUNNING);
    signalProcess(rec.initPid, rec.initStartTime, signo);
  });
}

export async function deleteContainer(ctx: RuntimeContext, id: string, force: boolean): Promise<void> {
  validateContainerId(id);
  if (!force) await refuseUnlessStopped(ctx, id);
  let rec: ContainerRecord;
  let lock: ContainerLock;
  try {
    // A create in progress holds the lock until it is done: delete waits for it (bounded), and
    // never kills the process that is creating (it may be a shim serving other containers).
    lock = await ctx.locks.acquire(ctx.root, id, {
      timeoutMs: ctx.lockTimeoutMs,
      busyMessage: `cannot delete container ${id}: another operation on it (a create?) still holds its lock`,
    });
  } catch (error) {
    // As runc: `delete --force` of a container that is not there succeeds.
    if (force && isNotExist(error)) return;
    throw error;
  }
  try {
    try {
      rec = readRecord(ctx.root, id);
    } catch (error) {
      if (force && isNotExist(error)) return;
      throw error;
    }
    const status = await containerStatus(ctx, rec, { lockHeld: true });
    // The runtime-spec: deleting a container that is not stopped is an error and changes nothing.
    // That includes a created one, which runc 1.1 kills and deletes instead (README notes).
    if (!force && status !== 'stopped') {
      throw new RuntimeError(`cannot delete container ${id} that is not stopped: ${status}`);
    }
    await destroyContainer(ctx, rec);
  } finally {
    lock.release();
  }
  // Poststop hooks run after the container is deleted, before delete returns (runtime-spec).
  // A create that never finished has no hooks to honour.
  if (rec.phase === 'created') {
    await runHooksWarnOnly(
      ctx.logger,
      'poststop',
      poststopHooks(rec.config),
      hookState(rec, 'stopped', rec.initPid),
      {},
    );
  }
}

/** A plain delete of a container that is not stopped fails at once, without waiting for the
 *  lock of a create in progress (it is checked again under the lock). */
async function refuseUnlessStopped(ctx: RuntimeContext, id: string): Promise<void> {
  const status = await containerStatus(ctx, readRecord(ctx.root, id));
  if (status !== 'stopped')
    throw new RuntimeError(`cannot delete container ${id} that is not stopped: ${status}`);
}

/** Kill everything, remove the cgroups, the container's own mounts and the state dir. */
async function destroyContainer(ctx: RuntimeContext, rec: ContainerRecord): Promise<void> {
  const cgroups = cgroupsOf(rec);
  await killAllAndWait(ctx, rec, cgroups);
  await cgroups?.destroy();
  const stuck = unmountContainerMounts(ctx.native, rec);
  if (stuck.length > 0) throw new RuntimeError(`cannot unmount the container's mounts: ${stuck.join('; ')}`);
  removeContainerDir(ctx.root, rec.id);
}

/**
 * Stop the container: SIGKILL every process in its cgroups and its init, and wait until the
 * init is gone and the cgroups are empty. Its state is then `stopped`; the cgroups and the
 * state dir stay for `delete`.
 */
export async function stopContainer(ctx: RuntimeContext, rec: ContainerRecord): Promise<void> {
  await killAllAndWait(ctx, rec, cgroupsOf(rec));
}

async function killAllAndWait(
  ctx: RuntimeContext,
  rec: ContainerRecord,
  cgroups: CgroupManager | null,
): Promise<void> {
  if (cgroups && sharesCgroup(rec, cgroups)) {
    // Its cgroup was there before it (runc warns "not empty"), and may hold processes of
    // others. With a pid namespace of its own the container's processes are that namespace's,
    // which all go with the init; the others are left alone.
    await cgroups.thawForKill();
    await killAndWait(ctx, rec.initPid, rec.initStartTime);
    return;
  }
  // Everything in the container's cgroups goes, not only the init: without a pid namespace of
  // its own, the init's death does not take the other processes with it.
  if (cgroups) await killCgroupProcesses(cgroups, SIGKILL);
  await killAndWait(ctx, rec.initPid, rec.initStartTime);
  if (cgroups) await waitUntilEmpty(cgroups);
}

function sharesCgroup(rec: ContainerRecord, cgroups: CgroupManager): boolean {
  if ((cgroups.record.existed ?? []).length === 0) return false;
  const namespaces = (rec.config as Spec | undefined)?.linux?.namespaces ?? [];
  return namespaces.some((ns) => ns.type === 'pid' && ns.path === undefined);
}

function signalProcess(pid: number, startTime: string, signo: number): void {
  // The record may be older than the process table: re-check right before signalling.
  if (!processAlive(pid, startTime)) throw new RuntimeError(CONTAINER_NOT_RUNNING);
  try {
    process.kill(pid, signo);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') throw new RuntimeError(NO_SUCH_PROCESS);
    throw error;
  }
}

/** Signal every process in the cgroups; for SIGKILL the container's cgroup and any sub-cgroup
 *  frozen on its own are thawed, so that it can finish. */
async function killCgroupProcesses(cgroups: CgroupManager, signo: number): Promise<void> {
  for (const pid of cgroups.pids()) {
    try {
      process.kill(pid, signo);
    } catch {
      // exited meanwhile
    }
  }
  if (signo === SIGKILL) await cgroups.thawForKill();
}

async function waitUntilEmpty(cgroups: CgroupManager): Promise<void> {
  const deadline = Date.now() + KILL_WAIT_MS;
  while (cgroups.pids().length > 0) {
    if (Date.now() > deadline) throw new RuntimeError('container processes survived SIGKILL');
    await sleep(10);
  }
}

/**
 * `kill --all`: every process in the container's cgroups. (A record without cgroups, from
 * before they were kept, falls back to the init's pid namespace.)
 */
async function signalAllProcesses(rec: ContainerRecord, signo: number): Promise<void> {
  const cgroups = cgroupsOf(rec);
  if (cgroups) return killCgroupProcesses(cgroups, signo);
  if (rec.initPid <= 0 || !processAlive(rec.initPid, rec.initStartTime)) return;
  const initNs = readLink(`/proc/${rec.initPid}/ns/pid`);
  if (initNs === null || initNs === readLink('/proc/self/ns/pid')) {
    signalQuietly(rec.initPid, rec.initStartTime, signo);
    return;
  }
  for (const { pid, startTime } of processesInPidNamespace(initNs)) signalQuietly(pid, startTime, signo);
}

function processesInPidNamespace(ns: string): { pid: number; startTime: string }[] {
  const found: { pid: number; startTime: string }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    // Start time first: if the pid is recycled after this, the re-check before kill catches it.
    const startTime = processStartTime(pid);
    if (startTime !== null && readLink(`/proc/${pid}/ns/pid`) === ns) found.push({ pid, startTime });
  }
  return found;
}

/** Signal one of many processes; one that exited meanwhile is not an error. */
function signalQuietly(pid: number, startTime: string, signo: number): void {
  if (!processAlive(pid, startTime)) return;
  try {
    process.kill(pid, signo);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * SIGKILL the process (if it is still the one recorded) and wait until it has exited. It may not
 * be our child (the CLI deletes what another process created), so the wait is on a pidfd, which
 * turns readable when the process exits, whoever its parent is.
 */
async function killAndWait(ctx: RuntimeContext, pid: number, startTime: string): Promise<void> {
  if (!processAlive(pid, startTime)) return;
  let pidfd: number;
  try {
    pidfd = ctx.native.pidfdOpen(pid);
  } catch {
    return; // gone since the check
  }
  try {
    // The pidfd names one process for good: if it is still the recorded one now, it is the one
    // we kill and wait for (a pid recycled before the open shows another start time).
    if (processStartTime(pid) !== startTime) return;
    try {
      ctx.native.pidfdSignal(pidfd, SIGKILL);
    } catch {
      return; // exited meanwhile
    }
    if (!(await waitReadable(ctx.native, pidfd, KILL_WAIT_MS))) {
      throw new RuntimeError(`container init still running: pid ${pid} survived SIGKILL`);
    }
  } finally {
    ctx.native.closeFd(pidfd);
  }
}

function poststopHooks(config: unknown): Hook[] | undefined {
  const hooks = (config as { hooks?: { poststop?: Hook[] } } | undefined)?.hooks;
  return hooks?.poststop;
}

function isNotExist(error: unknown): boolean {
  return error instanceof RuntimeError && error.message === CONTAINER_NOT_EXIST;
}

function readLink(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
