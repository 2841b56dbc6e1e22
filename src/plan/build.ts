// spec -> launch plan. Every decision the child would otherwise have to make is made here,
// and every problem a user can fix (a missing bind source, a device on a bind-mounted /dev, an
// unknown capability) is reported here, naming the config field, before any side effect.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { native } from '../native';
import { configError } from '../errors';
import { CAPABILITIES } from '../spec/capabilities';
import { RLIMITS } from '../spec/rlimits';
import type { Spec } from '../spec/types';
import type { HostMount } from './host';
import { CLONE, MOUNT_ATTR, MS, NAMESPACES, PERSONALITY, S_IF } from './linux';
import {
  BIND_REMOUNT_FLAGS,
  type ParsedMountOptions,
  parseMountOptions,
  rootPropagationFlags,
} from './mount-options';
import { withHome } from './passwd';
import { buildSeccomp, type SeccompCompiler } from './seccomp';
import type {
  NativeDevice,
  NativeMount,
  NativeNamespaceJoin,
  NativePlan,
  NativeSymlink,
  RootEntry,
} from './types';

export interface PlanContext {
  id: string;
  /** Absolute bundle directory. */
  bundle: string;
  noPivot: boolean;
  noNewKeyring: boolean;
  /** The caller's fds that become the container process's 0-2 and 3.. (NativePlan stdio). */
  stdio: PlanStdio;
  consoleSocketFd: number;
  execFifoFd: number;
  /** Opened and type-checked namespace files, in config order. */
  joins: NativeNamespaceJoin[];
  lastCap: number;
  hostMounts: HostMount[];
  /** /proc/self/cgroup of the runtime: the init starts in these cgroups. */
  cgroups: Map<string, string>;
  warn: (message: string) => void;
  /** Debug lines (what the seccomp compiler skipped); none when not given. */
  debug?: (message: string) => void;
  /** The home directory of a uid in the container's /etc/passwd: HOME when process.env has
   *  none (src/plan/passwd.ts). Not given: HOME is left alone. */
  homeOf?: (uid: number) => string;
  /** Compiles linux.seccomp; the addon's compileSeccomp when not given (tests inject one). */
  compileSeccomp?: SeccompCompiler;
  /** `tsrunc exec` into a running container (every namespace in `joins`). */
  execMode?: boolean;
  /** The file to execute, absolute in the container, instead of looking process.args[0] up (a
   *  startContainer hook's path, its args[0] being only its argv[0]). */
  executable?: string;
  /**
   * Opens a bind source for a container in a user namespace (NativeMount.sourceFd): a detached
   * copy of the mount at `source` (with `recursive`, of those below it too) with `propagation`
   * (MS_SLAVE or MS_PRIVATE). The fd is the caller's to keep until the spawn. Without it, every
   * bind is mounted by path.
   */
  openBindSource?: (source: string, recursive: boolean, propagation: number) => number;
}

/** Which fds of the calling process the container process gets as its 0, 1, 2 and 3.. */
/** The process's stdio and extra fds: fds of the calling process (src/runtime/stdio.ts). */
export interface PlanStdio {
  stdin: number;
  stdout: number;
  stderr: number;
  /** Become 3, 4, ... in this order. */
  extra: number[];
}

/** runc's model: the caller's own fds 0-2, and with --preserve-fds N its fds 3..3+N-1 too. */
export function inheritedStdio(preserveFds: number): PlanStdio {
  return { stdin: 0, stdout: 1, stderr: 2, extra: Array.from({ length: preserveFds }, (_, i) => 3 + i) };
}

export interface BuiltPlan {
  plan: NativePlan;
  /** What each native mount/device/symlink record came from, for error messages. */
  labels: { mounts: string[]; devices: string[]; symlinks: string[] };
  uidMappings: string;
  gidMappings: string;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const RLIM_INFINITY = (1n << 64n) - 1n;

// The devices every container gets in /dev (runc's defaults), as char devices 0666 root:root.
const DEFAULT_DEVICES: Array<[string, number, number]> = [
  ['/dev/null', 1, 3],
  ['/dev/zero', 1, 5],
  ['/dev/full', 1, 7],
  ['/dev/random', 1, 8],
  ['/dev/urandom', 1, 9],
  ['/dev/tty', 5, 0],
];

const DEFAULT_DEV_SYMLINKS: NativeSymlink[] = [
  { target: '/proc/self/fd', path: '/dev/fd' },
  { target: '/proc/self/fd/0', path: '/dev/stdin' },
  { target: '/proc/self/fd/1', path: '/dev/stdout' },
  { target: '/proc/self/fd/2', path: '/dev/stderr' },
];

export function buildPlan(spec: Spec, ctx: PlanContext): BuiltPlan {
  const process = spec.process;
  if (!process) throw configError('process', 'is required to create a container');
  const linux = spec.linux ?? {};
  const rootfs = resolveRootfs(spec, ctx.bundle);

  const namespaces = linux.namespaces ?? [];
  let newFlags = 0;
  for (const ns of namespaces) if (!ns.path) newFlags |= NAMESPACES[ns.type].flag;
  const joinedFlags = ctx.joins.reduce((flags, join) => flags | join.type, 0);
  const newUser = (newFlags & CLONE.NEWUSER) !== 0;
  const inUserNamespace = newUser || (joinedFlags & CLONE.NEWUSER) !== 0;
  // A mount namespace joined by path gets its rootfs built and pivoted into just like a new
  // one; without any, the container shares the runtime's mount namespace (runtime-spec) and is
  // built there and chrooted into.
  const ownMountNamespace = ((newFlags | joinedFlags) & CLONE.NEWNS) !== 0;
  const buildRootfs = ctx.execMode !== true;
  const enterRoot: RootEntry = ownMountNamespace ? (buildRootfs ? 'pivot_root' : 'none') : 'chroot';
  const propagation = rootPropagationFlags(linux.rootfsPropagation);

  // In a user namespace the container's root may not reach a bind source (a dir of mode 700
  // of the host's root on the way): the runtime opens the sources first, as runc 1.1 does.
  // The copy gets the propagation a bind made inside would have ("/" slave or private).
  const bindSources =
    inUserNamespace && ownMountNamespace && ctx.openBindSource
      ? { open: ctx.openBindSource, propagation: propagation & MS.PRIVATE ? MS.PRIVATE : MS.SLAVE }
      : null;
  const mounts = buildRootfs ? buildMounts(spec, ctx, bindSources) : { records: [], labels: [] };
  const devices = buildRootfs
    ? buildDevices(spec, inUserNamespace)
    : { records: [], labels: [], devOnTmpfs: false };
  const symlinks: NativeSymlink[] = [];
  if (buildRootfs && devices.devOnTmpfs) {
    symlinks.push(...DEFAULT_DEV_SYMLINKS);
    if (!devices.records.some((d) => d.path === '/dev/ptmx')) {
      symlinks.push({ target: 'pts/ptmx', path: '/dev/ptmx' });
    }
  }
  const pivot = enterRoot === 'pivot_root';

  const user = process.user ?? { uid: 0, gid: 0 };
  const homeOf = ctx.homeOf;
  const env = homeOf ? withHome(process.env ?? [], () => homeOf(user.uid)) : (process.env ?? []);
  const pathEntry = [...env].reverse().find((entry) => entry.startsWith('PATH='));

  const plan: NativePlan = {
    joinNamespaces: orderJoins(ctx.joins),
    newUserNamespace: newUser,
    newNamespaceFlags: newFlags & ~CLONE.NEWUSER,
    timeOffsets: timeOffsets(spec),
    oomScoreAdj: process.oomScoreAdj ?? null,
    rlimits: (process.rlimits ?? []).map((limit, i) => {
      const resource = RLIMITS[limit.type];
      if (resource === undefined)
        throw configError(`process.rlimits[${i}].type`, `unknown rlimit ${limit.type}`);
      return { resource, soft: clampRlimit(limit.soft), hard: clampRlimit(limit.hard) };
    }),
    sessionKeyringName: ctx.noNewKeyring ? null : `_ses.${ctx.id}`,

    rootfs,
    buildRootfs,
    enterRoot,
    // An unbindable "/" would refuse the bind of the rootfs onto itself: slave until the pivot.
    rootPropagation: propagation & MS.UNBINDABLE ? MS.SLAVE | MS.REC : propagation,
    // The bind that becomes "/" copies its (private) parent's propagation: shared and unbindable
    // are asked for again once it is "/".
    rootPropagationAfterPivot: propagation & (MS.SHARED | MS.UNBINDABLE) ? propagation : 0,
    rootReadonly: pivot && spec.root?.readonly === true,
    noPivot: ctx.noPivot,
    mounts: mounts.records,
    devices: devices.records,
    symlinks,
    maskedPaths: pivot ? (linux.maskedPaths ?? []) : [],
    readonlyPaths: pivot ? (linux.readonlyPaths ?? []) : [],
    sysctl: Object.entries(linux.sysctl ?? {}).map(([key, value]) => ({
      path: key.replace(/\./g, '/'),
      value,
    })),
    hostname: spec.hostname ? spec.hostname : null,
    domainname: spec.domainname ? spec.domainname : null,

    args: process.args ?? [],
    env,
    searchPath: pathEntry ? pathEntry.slice('PATH='.length) : DEFAULT_PATH,
    executable: ctx.executable ?? null,
    cwd: process.cwd ?? '/',
    uid: user.uid,
    gid: user.gid,
    additionalGids: user.additionalGids ?? [],
    umask: user.umask ?? 0o022,
    capabilities: buildCapabilities(spec, ctx),
    noNewPrivileges: process.noNewPrivileges === true,
    personality: personality(spec),
    terminal: process.terminal === true,
    execMode: ctx.execMode === true,
    consoleRows: process.consoleSize?.height ?? 0,
    consoleColumns: process.consoleSize?.width ?? 0,
    consoleSocketFd: ctx.consoleSocketFd,
    execFifoFd: ctx.execFifoFd,
    stdio: [ctx.stdio.stdin, ctx.stdio.stdout, ctx.stdio.stderr],
    extraFds: [...ctx.stdio.extra],
    seccomp: buildSeccomp(
      linux.seccomp,
      ctx.compileSeccomp ?? ((input) => native().compileSeccomp(input)),
      (message) => ctx.debug?.(message),
    ),
  };
  return {
    plan,
    labels: { mounts: mounts.labels, devices: devices.labels, symlinks: symlinks.map((s) => s.path) },
    uidMappings: idMappings(linux.uidMappings),
    gidMappings: idMappings(linux.gidMappings),
  };
}

export function resolveRootfs(spec: Spec, bundle: string): string {
  const rootPath = spec.root?.path;
  if (!rootPath) throw configError('root.path', 'is required');
  const absolute = path.resolve(bundle, rootPath);
  let real: string;
  try {
    real = fs.realpathSync(absolute);
  } catch {
    throw configError('root.path', `rootfs ${absolute} does not exist`);
  }
  if (!fs.statSync(real).isDirectory())
    throw configError('root.path', `rootfs ${absolute} is not a directory`);
  return real;
}

// The user namespace must be joined before any other (they are owned by it), and the mount
// namespace last: joining it changes our root.
function orderJoins(joins: NativeNamespaceJoin[]): NativeNamespaceJoin[] {
  const rank = (type: number) => (type === CLONE.NEWUSER ? 0 : type === CLONE.NEWNS ? 2 : 1);
  return [...joins].sort((a, b) => rank(a.type) - rank(b.type));
}

interface BindSources {
  open: NonNullable<PlanContext['openBindSource']>;
  propagation: number;
}

function buildMounts(
  spec: Spec,
  ctx: PlanContext,
  bindSources: BindSources | null,
): { records: NativeMount[]; labels: string[] } {
  const records: NativeMount[] = [];
  const labels: string[] = [];
  (spec.mounts ?? []).forEach((mount, i) => {
    const field = `mounts[${i}]`;
    const label = `${field} (${mount.type ?? 'bind'} on ${mount.destination})`;
    const options = parseMountOptions(mount.options);
    const type = mount.type ?? '';
    if (type === 'cgroup' || type === 'cgroup2') {
      for (const record of cgroupMounts(mount.destination, options.flags, ctx)) {
        records.push(record);
        labels.push(label);
      }
      return;
    }
    if (options.isBind || type === 'bind') {
      const source = path.resolve(ctx.bundle, mount.source ?? '');
      let stat: fs.Stats;
      try {
        stat = fs.statSync(source);
      } catch {
        throw configError(`${field}.source`, `bind source ${source} does not exist`);
      }
      const recursive = (options.flags & MS.REC) !== 0;
      let sourceFd = -1;
      if (bindSources) {
        try {
          sourceFd = bindSources.open(source, recursive, bindSources.propagation);
        } catch (error) {
          throw configError(
            `${field}.source`,
            `cannot open bind source ${source}: ${(error as Error).message}`,
          );
        }
      }
      records.push({
        source,
        destination: mount.destination,
        fstype: '',
        flags: MS.BIND | (options.flags & MS.REC),
        propagation: options.propagation,
        data: '',
        remountFlags: options.flags & BIND_REMOUNT_FLAGS,
        destinationKind: stat.isDirectory() ? 'dir' : 'file',
        noSymlinks: false,
        readonlyLateFlags: 0,
        ...recursiveAttributes(options),
        sourceFd,
      });
    } else {
      // A read-only tmpfs or /dev is made read-write first, as runc does: mount points, device
      // nodes, /dev/console and files of later mounts must be made in it.
      const late =
        (options.flags & MS.RDONLY) !== 0 &&
        (type === 'tmpfs' || mount.destination.replace(/\/+$/, '') === '/dev');
      records.push({
        source: mount.source ?? type,
        destination: mount.destination,
        fstype: type,
        flags: late ? options.flags & ~MS.RDONLY : options.flags,
        propagation: options.propagation,
        data: options.data,
        remountFlags: 0,
        destinationKind: 'dir',
        // proc and sysfs only onto a real directory (CVE-2019-16884).
        noSymlinks: type === 'proc' || type === 'sysfs',
        readonlyLateFlags: late ? MS.BIND | MS.REMOUNT | (options.flags & BIND_REMOUNT_FLAGS) : 0,
        ...recursiveAttributes(options),
        sourceFd: -1,
      });
    }
    labels.push(label);
  });
  return { records, labels };
}

// The cgroup mounts' records: no recursive attributes, and their binds (of the host's cgroup
// hierarchies, which everyone may reach) are made by path.
const CGROUP_MOUNT_DEFAULTS = {
  recursiveAttrSet: 0,
  recursiveAttrClear: 0,
  recursiveAttrOptional: false,
  sourceFd: -1,
};

/**
 * The mount_setattr(AT_RECURSIVE) attributes of a mount: its recursive options, and for
 * `rbind` + `ro` a read-only for every submount too (runc 1.1 leaves them writable; README).
 */
function recursiveAttributes(
  options: ParsedMountOptions,
): Pick<NativeMount, 'recursiveAttrSet' | 'recursiveAttrClear' | 'recursiveAttrOptional'> {
  let set = options.recursiveSet;
  const clear = options.recursiveClear;
  const recursiveBind = (options.flags & (MS.BIND | MS.REC)) === (MS.BIND | MS.REC);
  const implicit =
    recursiveBind && (options.flags & MS.RDONLY) !== 0 && ((set | clear) & MOUNT_ATTR.RDONLY) === 0;
  if (implicit) set |= MOUNT_ATTR.RDONLY;
  return {
    recursiveAttrSet: set,
    recursiveAttrClear: clear,
    recursiveAttrOptional: implicit && set === MOUNT_ATTR.RDONLY && clear === 0,
  };
}

// A `cgroup` mount is a tmpfs with one bind per host hierarchy, each showing the container's
// own cgroup (what runc does on cgroup v1 and hybrid hosts); read-only when asked, the tmpfs
// last so the hierarchy directories can be created first.
function cgroupMounts(destination: string, flags: number, ctx: PlanContext): NativeMount[] {
  const hierarchyFlags = flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RELATIME);
  const records: NativeMount[] = [
    {
      source: 'tmpfs',
      destination,
      fstype: 'tmpfs',
      flags: hierarchyFlags,
      propagation: 0,
      data: 'mode=755',
      remountFlags: 0,
      destinationKind: 'dir',
      noSymlinks: false,
      readonlyLateFlags: 0,
      ...CGROUP_MOUNT_DEFAULTS,
    },
  ];
  for (const host of ctx.hostMounts) {
    if (host.fstype !== 'cgroup' && host.fstype !== 'cgroup2') continue;
    if (!host.mountPoint.startsWith('/sys/fs/cgroup/')) continue;
    const name = path.basename(host.mountPoint);
    const key = host.fstype === 'cgroup2' ? '' : controllerKey(host.superOptions);
    const own = ctx.cgroups.get(key) ?? '/';
    records.push({
      source: path.join(host.mountPoint, own),
      destination: path.posix.join(destination, name),
      fstype: '',
      flags: MS.BIND | MS.REC,
      propagation: 0,
      data: '',
      remountFlags: (flags & MS.RDONLY) | hierarchyFlags,
      destinationKind: 'dir',
      noSymlinks: false,
      readonlyLateFlags: 0,
      ...CGROUP_MOUNT_DEFAULTS,
    });
  }
  if (flags & MS.RDONLY) {
    records.push({
      source: '',
      destination,
      fstype: '',
      flags: MS.REMOUNT | MS.RDONLY | hierarchyFlags,
      propagation: 0,
      data: '',
      remountFlags: 0,
      destinationKind: 'dir',
      noSymlinks: false,
      readonlyLateFlags: 0,
      ...CGROUP_MOUNT_DEFAULTS,
    });
  }
  return records;
}

// /proc/self/cgroup names a v1 hierarchy by its controllers ("cpu,cpuacct", "name=systemd");
// mountinfo lists them among the super options (rw,cpu,cpuacct).
function controllerKey(superOptions: string): string {
  const options = superOptions
    .split(',')
    .filter((o) => o !== 'rw' && o !== 'ro' && !o.startsWith('release_agent'));
  return options
    .filter((o) => o.startsWith('name=') || /^[a-z_]+$/.test(o))
    .filter((o) => !['noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode'].includes(o))
    .join(',');
}

function buildDevices(
  spec: Spec,
  inUserNamespace: boolean,
): { records: NativeDevice[]; labels: string[]; devOnTmpfs: boolean } {
  const devMount = (spec.mounts ?? []).filter((m) => m.destination.replace(/\/+$/, '') === '/dev').pop();
  const devIsBind = devMount !== undefined && parseMountOptions(devMount.options).isBind;
  const configDevices = spec.linux?.devices ?? [];
  if (devIsBind) {
    if (configDevices.length > 0) {
      throw configError('linux.devices', 'cannot create devices in a /dev that is a bind mount');
    }
    return { records: [], labels: [], devOnTmpfs: false };
  }
  const records: NativeDevice[] = [];
  const labels: string[] = [];
  const listed = new Set(configDevices.map((d) => d.path));
  for (const [devicePath, major, minor] of DEFAULT_DEVICES) {
    if (listed.has(devicePath)) continue;
    records.push({
      path: devicePath,
      type: S_IF.CHR,
      major,
      minor,
      mode: 0o666,
      uid: 0,
      gid: 0,
      bindFromHost: inUserNamespace,
    });
    labels.push(`default device ${devicePath}`);
  }
  configDevices.forEach((device, i) => {
    const type = { c: S_IF.CHR, u: S_IF.CHR, b: S_IF.BLK, p: S_IF.FIFO }[device.type];
    if (type === undefined)
      throw configError(`linux.devices[${i}].type`, `unknown device type ${device.type}`);
    records.push({
      path: device.path,
      type,
      major: device.major ?? 0,
      minor: device.minor ?? 0,
      mode: (device.fileMode ?? 0o666) & 0o7777,
      uid: device.uid ?? 0,
      gid: device.gid ?? 0,
      bindFromHost: inUserNamespace,
    });
    labels.push(`linux.devices[${i}] (${device.path})`);
  });
  return { records, labels, devOnTmpfs: devMount !== undefined };
}

function buildCapabilities(spec: Spec, ctx: PlanContext): NativePlan['capabilities'] {
  const caps = spec.process?.capabilities;
  if (!caps) return null;
  const mask = (set: 'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient'): bigint => {
    let bits = 0n;
    for (const name of caps[set] ?? []) {
      const number = CAPABILITIES.indexOf(name);
      // Unknown names were reported by validation as warnings (runtime-spec: warn, do not fail).
      if (number < 0) continue;
      if (number > ctx.lastCap) {
        ctx.warn(`process.capabilities.${set}: ${name} is not supported by this kernel, ignored`);
        continue;
      }
      bits |= 1n << BigInt(number);
    }
    return bits;
  };
  const permitted = mask('permitted');
  const inheritable = mask('inheritable');
  // The kernel raises an ambient capability only if it is permitted and inheritable; runc's own
  // `spec` lists ambient ones without inheritable, so skip those with a warning as runc does.
  let ambient = mask('ambient');
  const unraisable = ambient & ~(permitted & inheritable);
  if (unraisable !== 0n) {
    const names = CAPABILITIES.filter((_, cap) => (unraisable >> BigInt(cap)) & 1n);
    ctx.warn(
      `process.capabilities.ambient: ${names.join(', ')} not raised: not both permitted and inheritable`,
    );
    ambient &= ~unraisable;
  }
  return {
    bounding: mask('bounding'),
    effective: mask('effective'),
    permitted,
    inheritable,
    ambient,
    lastCap: ctx.lastCap,
  };
}

function clampRlimit(value: number): bigint {
  if (value < 0 || !Number.isFinite(value) || value >= 2 ** 64 - 1) return RLIM_INFINITY;
  return BigInt(Math.floor(value));
}

function timeOffsets(spec: Spec): string {
  const offsets = spec.linux?.timeOffsets ?? {};
  return Object.entries(offsets)
    .map(([clock, offset]) => `${clock} ${offset.secs ?? 0} ${offset.nanosecs ?? 0}\n`)
    .join('');
}

function personality(spec: Spec): number {
  const domain = spec.linux?.personality?.domain;
  if (domain === undefined) return -1;
  const value = PERSONALITY[domain];
  if (value === undefined) throw configError('linux.personality.domain', `unknown domain ${domain}`);
  return value;
}

function idMappings(mappings: { containerID: number; hostID: number; size: number }[] | undefined): string {
  return (mappings ?? []).map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}
