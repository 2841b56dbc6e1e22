// The cgroup manager of one container: one interface, an implementation per layout.
//   - V1Manager: a directory in every v1 hierarchy; each controller writes in its hierarchy.
//   - V2Manager: one directory in the unified hierarchy; controllers enabled along the path.
//   - HybridManager: V1Manager for the v1 controllers, plus the unified hierarchy (joined too)
//     for what only v2 offers there (hugetlb on these machines) and `unified` key/values.
// A manager is built from the container's directories alone, so later commands (delete, ps,
// pause) rebuild it from the state record.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { RuntimeError } from '../errors';
import type { LinuxResources } from '../spec/types';
import {
  NONE_ON_V2,
  NOT_NEEDED_ON_V2,
  asksUnified,
  controllerMissing,
  neededControllers,
} from './controller-needs';
import { readCgroupFileOrNull, readKeyValues, writeCgroupFile } from './fs';
import type { HostCgroups, Hierarchy, Layout } from './layout';
import type { CgroupTarget } from './paths';
import type { ApplyContext, Controller, Stats } from './types';
import { V1_CONTROLLERS, freeze as freezeV1, initCpusetDir, thaw as thawV1, freezerState } from './v1';
import { V2_CONTROLLERS, freeze as freezeV2, isFrozen as isFrozenV2, thaw as thawV2 } from './v2';
import { sleep, unsupportedOnV2 } from './v2/common';

/** What the state record keeps: the layout and the container's directory per hierarchy. */
export interface CgroupRecord {
  layout: Layout;
  /** procKey ("memory", "cpu,cpuacct", "" for v2) -> absolute directory. */
  dirs: Record<string, string>;
  /** procKey -> the topmost directory that create made (mkdir -p made parents too): destroy
   *  removes the parents up to it again once they are empty. */
  made?: Record<string, string>;
  /** procKeys whose directory was there before create (made by hand, or another container's,
   *  which may still use it): the container never removes it, nor what is below it. */
  existed?: string[];
}

/** runc's refusal of linux.resources.unified where the controllers are v1's, naming the field. */
function unifiedOnV1(detail?: string): RuntimeError {
  const why = detail === undefined ? '' : ` (${detail})`;
  return new RuntimeError(
    `invalid configuration: linux.resources.unified: cannot use unified on cgroup v1${why}`,
  );
}

/** runc's words when a container's cgroup is frozen before its init joins it. */
export const UNEXPECTEDLY_FROZEN = "container's cgroup unexpectedly frozen";

export interface CgroupManager {
  readonly record: CgroupRecord;
  /** Make the directories (parents too). */
  create(): void;
  /** Move a process in (cgroup.procs of every directory). */
  join(pid: number): void;
  /** Refuse the first field of `resources` that needs a controller this host lacks, before
   *  anything is written. apply() checks this first; create calls it before it makes anything. */
  requireControllers(resources: LinuxResources | undefined, ctx: ApplyContext): void;
  apply(resources: LinuxResources | undefined, ctx: ApplyContext): void;
  /** Every process in the container's cgroups, sub-cgroups included. */
  pids(): number[];
  /** Every process in any of the container's directories (each hierarchy read, since a
   *  directory made by hand may hold a process in one hierarchy only): before create, what
   *  is already there. */
  occupants(): number[];
  /** Throw UNEXPECTEDLY_FROZEN when a process joining the container's cgroups now would be
   *  frozen: a directory frozen itself, or (made yet or not) below a frozen one. */
  checkNotFrozen(): void;
  /** Thaw the container's cgroup and every sub-cgroup frozen on its own (a process in the
   *  container may freeze a sub-cgroup it made), so that a SIGKILL can take effect. */
  thawForKill(): Promise<void>;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  isFrozen(): Promise<boolean>;
  stats(): Stats;
  /** How many processes the kernel OOM-killed in the container so far (for `events`). */
  oomKills(): number;
  /** rmdir every directory (sub-cgroups first); missing ones are fine. */
  destroy(): Promise<void>;
}

const V2_KEY = '';

/** Decide the directories for a new container. */
export function planCgroups(host: HostCgroups, target: CgroupTarget, own: Map<string, string>): CgroupRecord {
  const dirs: Record<string, string> = {};
  for (const h of host.hierarchies) {
    // name=systemd and other named v1 hierarchies hold no controller: runc joins them too.
    const base = target.relative ? path.posix.join(own.get(h.procKey) ?? '/', target.path) : target.path;
    dirs[h.procKey] = path.join(h.mountPoint, relativeToMountRoot(h, base));
  }
  const existed = Object.keys(dirs).filter((key) => fs.existsSync(dirs[key]));
  return { layout: host.layout, dirs, ...(existed.length > 0 ? { existed } : {}) };
}

// Inside a cgroup namespace, mountinfo's root for the hierarchy is a prefix of our paths.
function relativeToMountRoot(h: Hierarchy, cgroupPath: string): string {
  if (h.root !== '/' && (cgroupPath === h.root || cgroupPath.startsWith(`${h.root}/`))) {
    return cgroupPath.slice(h.root.length) || '/';
  }
  return cgroupPath;
}

export function managerFor(record: CgroupRecord): CgroupManager {
  switch (record.layout) {
    case 'v1':
      return new V1Manager(record);
    case 'v2':
      return new V2Manager(record);
    case 'hybrid':
      return new HybridManager(record);
  }
}

function v1ControllersFor(key: string): Controller[] {
  const names = key.split(',');
  return V1_CONTROLLERS.filter((c) => names.includes(c.name));
}

function mkdirp(record: CgroupRecord, key: string, dir: string): void {
  const first = fs.mkdirSync(dir, { recursive: true });
  if (first !== undefined && first !== dir) (record.made ??= {})[key] = first;
}

/** The container's dir, then the empty parents its create made (another container's parent
 *  is not empty, or was not made by us). */
async function removeCgroup(record: CgroupRecord, key: string, dir: string): Promise<void> {
  if (record.existed?.includes(key)) return;
  await removeTree(dir);
  const top = record.made?.[key];
  if (top === undefined || !dir.startsWith(`${top}/`)) return;
  for (
    let parent = path.dirname(dir);
    parent === top || parent.startsWith(`${top}/`);
    parent = path.dirname(parent)
  ) {
    try {
      fs.rmdirSync(parent);
    } catch {
      return; // in use by another container, or gone
    }
  }
}

function readPids(dir: string): number[] {
  const pids: number[] = [];
  const text = readCgroupFileOrNull(dir, 'cgroup.procs');
  if (text !== null) for (const line of text.split('\n')) if (line) pids.push(Number(line));
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return pids;
  }
  for (const entry of entries) if (entry.isDirectory()) pids.push(...readPids(path.join(dir, entry.name)));
  return pids;
}

function occupantsOf(record: CgroupRecord): number[] {
  return [...new Set(Object.values(record.dirs).flatMap((dir) => readPids(dir)))];
}

/** `dir` and every directory below it, parents first. */
function treeOf(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return []; // gone, or never made
  }
  const below = entries.filter((e) => e.isDirectory()).flatMap((e) => treeOf(path.join(dir, e.name)));
  return [dir, ...below];
}

/** `dir` when it exists, else its closest ancestor that does: a cgroup made below a frozen one
 *  starts frozen. */
function closestExisting(dir: string): string {
  let current = dir;
  while (!fs.existsSync(current) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}

function frozenError(self: boolean): RuntimeError {
  return new RuntimeError(self ? UNEXPECTEDLY_FROZEN : `${UNEXPECTEDLY_FROZEN} (a parent cgroup is frozen)`);
}

/** v1: freezer.state of the dir (or of its closest ancestor, before it is made). FREEZING
 *  counts: a process joining now would be frozen too. */
function checkV1NotFrozen(dir: string): void {
  const probe = closestExisting(dir);
  const state = readCgroupFileOrNull(probe, 'freezer.state');
  if (state === null || state === 'THAWED') return;
  const self = readCgroupFileOrNull(probe, 'freezer.self_freezing');
  throw frozenError(probe === dir && self !== '0');
}

/** v2: cgroup.freeze of the dir itself, or the state cgroup.events reports (ancestors too). */
function checkV2NotFrozen(dir: string): void {
  const probe = closestExisting(dir);
  const own = readCgroupFileOrNull(probe, 'cgroup.freeze') === '1';
  if (own && probe === dir) throw frozenError(true);
  if (own || readKeyValues(probe, 'cgroup.events').frozen === 1) throw frozenError(false);
}

/** Thaw, parents first, every directory of the tree that was frozen on its own; a child only
 *  frozen through its parent thaws with it. Nothing is waited for: the caller waits for the
 *  processes to go. */
function thawV1Tree(dir: string): void {
  for (const d of treeOf(dir)) {
    if (readCgroupFileOrNull(d, 'freezer.state') === 'THAWED') continue;
    if (readCgroupFileOrNull(d, 'freezer.self_freezing') === '0') continue;
    writeCgroupFile(d, 'freezer.state', 'THAWED');
  }
}

function thawV2Tree(dir: string): void {
  for (const d of treeOf(dir)) {
    if (readCgroupFileOrNull(d, 'cgroup.freeze') === '1') writeCgroupFile(d, 'cgroup.freeze', '0');
  }
}

async function removeTree(dir: string): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // gone already
  }
  for (const entry of entries) if (entry.isDirectory()) await removeTree(path.join(dir, entry.name));
  // A cgroup whose last process just exited may be busy for a moment.
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 50) throw error;
      await sleep(10);
    }
  }
}

class V1Manager implements CgroupManager {
  constructor(readonly record: CgroupRecord) {}

  protected v1Dirs(): [string, string][] {
    return Object.entries(this.record.dirs).filter(([key]) => key !== V2_KEY);
  }

  create(): void {
    for (const [key, dir] of this.v1Dirs()) {
      mkdirp(this.record, key, dir);
      if (key.split(',').includes('cpuset')) initCpusetDir(dir);
    }
  }

  join(pid: number): void {
    for (const [, dir] of this.v1Dirs()) writeCgroupFile(dir, 'cgroup.procs', pid);
  }

  requireControllers(resources: LinuxResources | undefined, ctx: ApplyContext): void {
    const mounted = this.v1Controllers();
    for (const need of neededControllers(resources ?? {}, ctx)) {
      if (!mounted.has(need.v1)) throw controllerMissing(need.field, need.v1);
    }
    if (asksUnified(resources ?? {})) throw unifiedOnV1();
  }

  apply(resources: LinuxResources | undefined, ctx: ApplyContext): void {
    this.requireControllers(resources, ctx);
    this.applyControllers(resources ?? {}, ctx);
  }

  /** Write the resources, the check done. */
  applyControllers(resources: LinuxResources, ctx: ApplyContext): void {
    for (const [key, dir] of this.v1Dirs()) {
      for (const controller of v1ControllersFor(key)) controller.apply(dir, resources, ctx);
    }
  }

  /** The controllers of the mounted v1 hierarchies ("cpu,cpuacct" counts as both). */
  protected v1Controllers(): Set<string> {
    return new Set(this.v1Dirs().flatMap(([key]) => key.split(',')));
  }

  pids(): number[] {
    // Every process is in exactly one cgroup of each hierarchy: any one hierarchy lists them.
    const dir = this.record.dirs.pids ?? this.record.dirs.freezer ?? this.v1Dirs()[0]?.[1];
    return dir ? [...new Set(readPids(dir))] : [];
  }

  occupants(): number[] {
    return occupantsOf(this.record);
  }

  checkNotFrozen(): void {
    const dir = this.record.dirs.freezer;
    if (dir !== undefined) checkV1NotFrozen(dir);
  }

  thawForKill(): Promise<void> {
    const dir = this.record.dirs.freezer;
    if (dir !== undefined) thawV1Tree(dir);
    return Promise.resolve();
  }

  freeze(): Promise<void> {
    return freezeV1(this.freezerDir());
  }

  thaw(): Promise<void> {
    return thawV1(this.freezerDir());
  }

  async isFrozen(): Promise<boolean> {
    const dir = this.record.dirs.freezer;
    // The record names the dirs before they are made: a create killed in between left none.
    if (dir === undefined || readCgroupFileOrNull(dir, 'freezer.state') === null) return false;
    return (await freezerState(dir)) === 'FROZEN';
  }

  stats(): Stats {
    const stats: Stats = {};
    for (const [key, dir] of this.v1Dirs()) {
      for (const controller of v1ControllersFor(key)) controller.stats?.(dir, stats);
    }
    return stats;
  }

  oomKills(): number {
    const dir = this.record.dirs.memory;
    return dir === undefined ? 0 : (readKeyValues(dir, 'memory.oom_control').oom_kill ?? 0);
  }

  async destroy(): Promise<void> {
    for (const [key, dir] of Object.entries(this.record.dirs)) await removeCgroup(this.record, key, dir);
  }

  private freezerDir(): string {
    const dir = this.record.dirs.freezer;
    if (dir === undefined) throw new Error('the freezer cgroup is not mounted on this host');
    return dir;
  }
}

class V2Manager implements CgroupManager {
  constructor(readonly record: CgroupRecord) {}

  protected get dir(): string {
    return this.record.dirs[V2_KEY];
  }

  /** Controllers to manage here (all of V2's in a pure v2 host). */
  protected controllers(): Controller[] {
    return V2_CONTROLLERS;
  }

  create(): void {
    mkdirp(this.record, V2_KEY, this.dir);
    this.enableControllers();
  }

  join(pid: number): void {
    writeCgroupFile(this.dir, 'cgroup.procs', pid);
  }

  requireControllers(resources: LinuxResources | undefined, ctx: ApplyContext): void {
    const offered = this.offeredControllers();
    for (const need of neededControllers(resources ?? {}, ctx)) {
      if (need.v2 === NOT_NEEDED_ON_V2) continue;
      if (need.v2 === NONE_ON_V2) throw unsupportedOnV2(need.field, `no ${need.v1} controller`);
      if (!offered.has(need.v2)) throw controllerMissing(need.field, need.v2);
    }
  }

  apply(resources: LinuxResources | undefined, ctx: ApplyContext): void {
    this.requireControllers(resources, ctx);
    this.applyControllers(resources ?? {}, ctx);
  }

  /** Write the resources, the check done. */
  applyControllers(resources: LinuxResources, ctx: ApplyContext): void {
    for (const controller of this.controllers()) controller.apply(this.dir, resources, ctx);
  }

  /**
   * The controllers the container's cgroup gets: those in cgroup.controllers of the
   * hierarchy's root, since create enables each of them in cgroup.subtree_control all the way
   * down (so the parent's cgroup.controllers lists them once create has made the path). Read
   * from the root, the answer is the same before create as after it.
   */
  offeredControllers(): Set<string> {
    const text = readCgroupFileOrNull(findMountPoint(this.dir), 'cgroup.controllers') ?? '';
    return new Set(text.split(/\s+/).filter(Boolean));
  }

  pids(): number[] {
    return [...new Set(readPids(this.dir))];
  }

  occupants(): number[] {
    return occupantsOf(this.record);
  }

  checkNotFrozen(): void {
    checkV2NotFrozen(this.dir);
  }

  thawForKill(): Promise<void> {
    thawV2Tree(this.dir);
    return Promise.resolve();
  }

  freeze(): Promise<void> {
    return freezeV2(this.dir);
  }

  thaw(): Promise<void> {
    return thawV2(this.dir);
  }

  isFrozen(): Promise<boolean> {
    return Promise.resolve(isFrozenV2(this.dir));
  }

  stats(): Stats {
    const stats: Stats = {};
    for (const controller of this.controllers()) controller.stats?.(this.dir, stats);
    return stats;
  }

  oomKills(): number {
    return readKeyValues(this.dir, 'memory.events').oom_kill ?? 0;
  }

  destroy(): Promise<void> {
    return removeCgroup(this.record, V2_KEY, this.dir);
  }

  // A controller works in a cgroup only when every ancestor lists it in cgroup.subtree_control.
  private enableControllers(): void {
    const mountPoint = findMountPoint(this.dir);
    const wanted = [...this.offeredControllers()].filter((name) =>
      this.controllers().some((c) => c.name === name),
    );
    if (wanted.length === 0) return;
    let current = mountPoint;
    for (const part of path.relative(mountPoint, this.dir).split(path.sep)) {
      const enabled = (readCgroupFileOrNull(current, 'cgroup.subtree_control') ?? '').split(/\s+/);
      const missing = wanted.filter((name) => !enabled.includes(name));
      if (missing.length > 0)
        writeCgroupFile(current, 'cgroup.subtree_control', missing.map((n) => `+${n}`).join(' '));
      current = path.join(current, part);
    }
  }
}

// The cgroup2 mount holding dir: the closest ancestor whose parent is not a cgroup2 dir. dir
// and its parents need not exist yet (before create): the climb starts at the closest that does.
function findMountPoint(dir: string): string {
  let current = dir;
  while (!fs.existsSync(path.join(current, 'cgroup.controllers')) && path.dirname(current) !== current) {
    current = path.dirname(current);
  }
  while (
    fs.existsSync(path.join(path.dirname(current), 'cgroup.controllers')) &&
    path.dirname(current) !== current
  ) {
    current = path.dirname(current);
  }
  return current;
}

class HybridManager extends V1Manager {
  private readonly unified: HybridUnified | null;

  constructor(record: CgroupRecord) {
    super(record);
    this.unified = record.dirs[V2_KEY] !== undefined ? new HybridUnified(record) : null;
  }

  override create(): void {
    super.create();
    this.unified?.create();
  }

  override join(pid: number): void {
    super.join(pid);
    this.unified?.join(pid);
  }

  override checkNotFrozen(): void {
    super.checkNotFrozen();
    this.unified?.checkNotFrozen();
  }

  override async thawForKill(): Promise<void> {
    await super.thawForKill();
    await this.unified?.thawForKill();
  }

  // A field is met by its v1 hierarchy, or else by the unified hierarchy when it offers the
  // controller (HybridUnified then applies it there).
  override requireControllers(resources: LinuxResources | undefined, ctx: ApplyContext): void {
    const v1 = this.v1Controllers();
    const unified = this.unified?.offeredControllers() ?? new Set<string>();
    for (const need of neededControllers(resources ?? {}, ctx)) {
      if (v1.has(need.v1) || (typeof need.v2 === 'string' && unified.has(need.v2))) continue;
      throw controllerMissing(need.field, need.v1);
    }
    if (asksUnified(resources ?? {})) {
      if (this.unified === null) throw unifiedOnV1();
      this.unified.requireUnifiedFiles(Object.keys(resources?.unified ?? {}));
    }
  }

  override applyControllers(resources: LinuxResources, ctx: ApplyContext): void {
    super.applyControllers(resources, ctx);
    this.unified?.applyControllers(resources, ctx);
  }

  override stats(): Stats {
    const stats = super.stats();
    if (this.unified) Object.assign(stats, this.unified.stats(), stats);
    return stats;
  }
}

// The unified hierarchy of a hybrid host: the v2 controllers it offers that no v1 hierarchy
// has (hugetlb on these machines), and the config's `unified` key/values.
class HybridUnified extends V2Manager {
  /**
   * runc refuses `unified` on any host with v1 controllers. Here a key passes when it names a
   * file the container's dir in the unified hierarchy has: cgroup.* (the core files), a file
   * of a controller the hierarchy offers (create enables it down to the container), or a file
   * every cgroup of it has, the root too (cpu.stat, the *.pressure files). A file missing all
   * the same is reported by the write, naming the key.
   */
  requireUnifiedFiles(keys: string[]): void {
    const mountPoint = findMountPoint(this.dir);
    const offered = this.offeredControllers();
    for (const key of keys) {
      const prefix = key.split('.')[0];
      if (prefix === 'cgroup' || offered.has(prefix) || fs.existsSync(path.join(mountPoint, key))) continue;
      throw unifiedOnV1(`"${key}" is not a file of the cgroup v2 hierarchy at ${mountPoint}`);
    }
  }

  override controllers(): Controller[] {
    const v1Names = new Set(
      Object.keys(this.record.dirs)
        .filter((k) => k !== V2_KEY)
        .flatMap((k) => k.split(',')),
    );
    const offered = this.offeredControllers();
    return V2_CONTROLLERS.filter(
      (c) => c.name === 'unified' || (offered.has(c.name) && !v1Names.has(c.name)),
    );
  }
}
