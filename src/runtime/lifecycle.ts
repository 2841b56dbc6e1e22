// The operations on an existing container: state, list, kill, delete. create/start/run live in
// their own modules. Every signal goes to a process named by pid AND start time, re-checked just
// before kill(2), so a recycled pid is never signalled.
import * as fs from 'node:fs';

import {
  containerStatus,
  listIds,
  ociState,
  type ContainerRecord,
  type OciState,
  processAlive,
  processStartTime,
  readRecord,
  removeContainerDir,
  validateContainerId,
} from '../state/store';
import { type CgroupManager, cgroupsOf } from '../cgroups';
import { CONTAINER_NOT_EXIST, CONTAINER_NOT_RUNNING, NO_SUCH_PROCESS, RuntimeError } from './errors';
import { type Hook, hookState, runHooksWarnOnly } from './hooks';
import type { GlobalOptions } from './options';
import { unmountContainerMounts } from './shared-mounts';
import { parseSignal } from './signals';

/** How long delete waits for a SIGKILLed process to go (runc: 100 x 100ms). */
const KILL_WAIT_MS = 10_000;
const SIGKILL = 9;

export function state(g: GlobalOptions, id: string): OciState {
  return ociState(g.root, readRecord(g.root, id));
}

export function list(g: GlobalOptions): OciState[] {
  const states: OciState[] = [];
  for (const id of listIds(g.root)) {
    try {
      states.push(ociState(g.root, readRecord(g.root, id)));
    } catch (error) {
      // Deleted while we were listing: it simply is not there any more.
      if (!isNotExist(error)) throw error;
    }
  }
  return states;
}

export async function kill(
  g: GlobalOptions,
  id: string,
  signal: string | undefined,
  all: boolean,
): Promise<void> {
  const rec = readRecord(g.root, id);
  const signo = parseSignal(signal);
  const status = containerStatus(g.root, rec);
  if (all) {
    // As runc: nothing left to signal in a stopped container is not an error for --all.
    if (status !== 'stopped') signalAllProcesses(rec, signo);
    return;
  }
  if (status === 'stopped' || rec.initPid <= 0) throw new RuntimeError(CONTAINER_NOT_RUNNING);
  signalProcess(rec.initPid, rec.initStartTime, signo);
}

export async function deleteContainer(g: GlobalOptions, id: string, force: boolean): Promise<void> {
  validateContainerId(id);
  let rec: ContainerRecord;
  try {
    rec = readRecord(g.root, id);
  } catch (error) {
    // As runc: `delete --force` of a container that is not there succeeds.
    if (force && isNotExist(error)) return;
    throw error;
  }
  const status = containerStatus(g.root, rec);
  // The runtime-spec: deleting a container that is not stopped is an error and changes nothing.
  // That includes a created one, which runc 1.1 kills and deletes instead (README notes).
  if (!force && status !== 'stopped') {
    throw new RuntimeError(`cannot delete container ${id} that is not stopped: ${status}`);
  }
  if (status === 'creating') rec = await stopCreator(g, rec);
  const cgroups = cgroupsOf(rec);
  await killAllAndWait(rec, cgroups);
  cgroups?.destroy();
  const stuck = unmountContainerMounts(rec);
  if (stuck.length > 0) throw new RuntimeError(`cannot unmount the container's mounts: ${stuck.join('; ')}`);
  removeContainerDir(g.root, id);
  // Poststop hooks run after the container is deleted, before delete returns (runtime-spec).
  // A create that never finished has no hooks to honour.
  if (rec.phase === 'created') {
    await runHooksWarnOnly('poststop', poststopHooks(rec.config), hookState(rec, 'stopped', rec.initPid), {});
  }
}

/**
 * Stop the container: SIGKILL every process in its cgroups and its init, and wait until the
 * init is gone and the cgroups are empty. Its state is then `stopped`; the cgroups and the
 * state dir stay for `delete`.
 */
export async function stopContainer(rec: ContainerRecord): Promise<void> {
  await killAllAndWait(rec, cgroupsOf(rec));
}

async function killAllAndWait(rec: ContainerRecord, cgroups: CgroupManager | null): Promise<void> {
  // Everything in the container's cgroups goes, not only the init: without a pid namespace of
  // its own, the init's death does not take the other processes with it.
  if (cgroups) killCgroupProcesses(cgroups, SIGKILL);
  await killAndWait(rec.initPid, rec.initStartTime);
  if (cgroups) await waitUntilEmpty(cgroups);
}

/**
 * `delete --force` while a create is still running: kill that tsrunc, then take the record it
 * left, which may name an init it started after we first read it.
 */
async function stopCreator(g: GlobalOptions, rec: ContainerRecord): Promise<ContainerRecord> {
  await killAndWait(rec.creatorPid, rec.creatorStartTime);
  try {
    return readRecord(g.root, rec.id);
  } catch (error) {
    if (isNotExist(error)) return rec; // it cleaned up after itself
    throw error;
  }
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

/** Signal every process in the cgroups; a frozen container is thawed so SIGKILL can finish. */
function killCgroupProcesses(cgroups: CgroupManager, signo: number): void {
  for (const pid of cgroups.pids()) {
    try {
      process.kill(pid, signo);
    } catch {
      // exited meanwhile
    }
  }
  if (signo === SIGKILL && cgroups.isFrozen()) cgroups.thaw();
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
function signalAllProcesses(rec: ContainerRecord, signo: number): void {
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
 * be our child, so "exited" is read from /proc: gone, a zombie, or a different start time.
 */
async function killAndWait(pid: number, startTime: string): Promise<void> {
  if (!processAlive(pid, startTime)) return;
  signalQuietly(pid, startTime, SIGKILL);
  const deadline = Date.now() + KILL_WAIT_MS;
  let pause = 5;
  while (processAlive(pid, startTime)) {
    if (Date.now() > deadline)
      throw new RuntimeError(`container init still running: pid ${pid} survived SIGKILL`);
    await sleep(pause);
    pause = Math.min(pause * 2, 100);
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
