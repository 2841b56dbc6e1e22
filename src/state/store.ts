// The container state directory: <root>/<id>/state.json plus the exec fifo.
//
// The record stores the init's pid AND its start time (field 22 of /proc/<pid>/stat): a pid can be
// reused by an unrelated process after the init dies, and only the pair names one process.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { CgroupRecord } from '../cgroups/manager';
import { CONTAINER_EXISTS, CONTAINER_NOT_EXIST, RuntimeError } from '../errors';
import type { NativeBinding } from '../native';
import { writeFileAtomicAsync } from '../util/fs';

const EEXIST = 17;

export const EXEC_FIFO = 'exec.fifo';
export const STATE_FILE = 'state.json';
/** The OCI runtime-spec version we implement, reported in `state`. */
export const OCI_SPEC_VERSION = '1.3.0';

const MAX_ID_LENGTH = 1024;
const ID_PATTERN = /^[A-Za-z0-9_+.-]+$/;

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface ContainerRecord {
  ociVersion: string;
  id: string;
  initPid: number;
  initStartTime: string;
  bundle: string;
  rootfs: string;
  /** RFC3339 with nanoseconds, UTC. */
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  /** 'creating' until the init is set up and waiting on the exec fifo. While the create runs it
   *  holds the state dir's lock (src/runtime/locks.ts); a 'creating' record whose lock is free
   *  is a create that died. */
  phase: 'creating' | 'created';
  /** The parsed config.json: poststop hooks and later operations need it. */
  config: unknown;
  noPivot?: boolean;
  /** The container's cgroup directories (set before any process joins them). */
  cgroups?: CgroupRecord;
  /** Only for a container without a mount namespace (its mounts are made in the runtime's): the
   *  ids of the mounts at or below the rootfs before it was created. Every other mount there is
   *  the container's, and `delete` unmounts it. */
  mountsBeforeCreate?: number[];
  [k: string]: unknown;
}

/** The OCI state object, keys in the order `runc state` prints them. */
export interface OciState {
  ociVersion: string;
  id: string;
  pid: number;
  status: Status;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

export function validateContainerId(id: string): void {
  const valid =
    id.length > 0 && id.length <= MAX_ID_LENGTH && ID_PATTERN.test(id) && id !== '.' && id !== '..';
  if (!valid) throw new RuntimeError(`invalid container id: ${JSON.stringify(id)}`);
}

export function stateDir(root: string, id: string): string {
  return path.join(root, id);
}

/**
 * Claim `rec.id` under `root`, with `rec` already in it: the state dir is made under a name no
 * id can have (`~` is not allowed), locked (`lock`, which returns the held lock), the first
 * record written there, and then it is renamed to `<root>/<id>` with RENAME_NOREPLACE. So the id
 * never exists without a record and a held lock (a create in progress cannot be taken for an
 * abandoned one), and when many creates race for one id exactly one wins; the others get
 * CONTAINER_EXISTS and change nothing.
 */
export async function reserveContainer<Lock extends { release(): void }>(
  root: string,
  rec: ContainerRecord,
  native: Pick<NativeBinding, 'renameNoReplace'>,
  lock: (dir: string) => Lock,
): Promise<Lock> {
  validateContainerId(rec.id);
  fs.mkdirSync(root, { recursive: true, mode: 0o711 });
  const staging = fs.mkdtempSync(path.join(root, `.~${rec.id.slice(0, 64)}~`));
  let held: Lock | null = null;
  try {
    fs.chmodSync(staging, 0o711);
    held = lock(staging);
    await writeFileAtomicAsync(path.join(staging, STATE_FILE), JSON.stringify(rec), 0o600);
    native.renameNoReplace(staging, stateDir(root, rec.id));
    return held;
  } catch (error) {
    held?.release();
    fs.rmSync(staging, { recursive: true, force: true });
    if ((error as { errno?: number }).errno === EEXIST) throw new RuntimeError(CONTAINER_EXISTS);
    throw error;
  }
}

export async function writeRecord(root: string, rec: ContainerRecord): Promise<void> {
  await writeFileAtomicAsync(path.join(stateDir(root, rec.id), STATE_FILE), JSON.stringify(rec), 0o600);
}

/**
 * The record of `id`. A directory without a readable state.json is a create that died before
 * its first write: it comes back as a 'creating' record with no init, which the runtime reports
 * as stopped once its lock is free, and `delete` can remove.
 */
export function readRecord(root: string, id: string): ContainerRecord {
  validateContainerId(id);
  const dir = stateDir(root, id);
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, STATE_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (!isDirectory(dir)) throw new RuntimeError(CONTAINER_NOT_EXIST);
    return abandonedRecord(id);
  }
  try {
    return JSON.parse(text) as ContainerRecord;
  } catch {
    return abandonedRecord(id);
  }
}

function abandonedRecord(id: string): ContainerRecord {
  return {
    ociVersion: OCI_SPEC_VERSION,
    id,
    initPid: 0,
    initStartTime: '',
    bundle: '',
    rootfs: '',
    created: '',
    owner: '',
    phase: 'creating',
    config: undefined,
  };
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function removeContainerDir(root: string, id: string): void {
  validateContainerId(id); // never let an id like '..' reach rm -rf
  fs.rmSync(stateDir(root, id), { recursive: true, force: true });
}

/** Ids of all containers under `root`, sorted; a missing root has none. */
export function listIds(root: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((e) => e.isDirectory() && isValidId(e.name))
    .map((e) => e.name)
    .sort();
}

function isValidId(id: string): boolean {
  try {
    validateContainerId(id);
    return true;
  } catch {
    return false;
  }
}

/** Fields of /proc/<pid>/stat from field 3 (state) on; null when the process is gone. */
function statFieldsAfterComm(pid: number): string[] | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) is in parentheses and may itself contain spaces and ')': the real end of it
  // is the LAST ')'.
  const end = stat.lastIndexOf(')');
  if (end < 0) return null;
  return stat
    .slice(end + 1)
    .trim()
    .split(' ');
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or null if gone. */
export function processStartTime(pid: number): string | null {
  const fields = statFieldsAfterComm(pid);
  return fields?.[22 - 3] ?? null;
}

/** True for a zombie (or dead) process: it has exited and only waits to be reaped. */
export function processIsZombie(pid: number): boolean {
  const state = statFieldsAfterComm(pid)?.[0];
  return state === 'Z' || state === 'X' || state === 'x';
}

/** The process named by pid + start time is still alive (not gone, not recycled, not a zombie). */
export function processAlive(pid: number, startTime: string): boolean {
  if (pid <= 0 || !startTime) return false;
  const fields = statFieldsAfterComm(pid);
  if (!fields) return false;
  const state = fields[0];
  return fields[22 - 3] === startTime && state !== 'Z' && state !== 'X' && state !== 'x';
}

/** The OCI state of a record whose status the runtime worked out. */
export function ociState(rec: ContainerRecord, status: Status): OciState {
  const state: OciState = {
    ociVersion: OCI_SPEC_VERSION,
    id: rec.id,
    pid: status === 'stopped' ? 0 : rec.initPid,
    status,
    bundle: rec.bundle,
    rootfs: rec.rootfs,
    created: rec.created,
    owner: rec.owner,
  };
  if (rec.annotations && Object.keys(rec.annotations).length > 0) state.annotations = rec.annotations;
  return state;
}
