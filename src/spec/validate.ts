// Reading and validating config.json.
//
// Two passes, both before any side effect:
//   1. the schema (src/spec/schema/config.schema.json, compiled ahead of time by
//      scripts/build-validators.js): structure, types, integer ranges, enums. Its first error
//      becomes one line naming the field: `config.json: mounts[2].destination: must be string`.
//   2. CONFIG_CHECKS, a list of small named semantic checks (the way runc's validator does it):
//      absolute paths, namespace consistency, known capability/rlimit names, sysctl rules...
//      A fatal check throws its first message; a non-fatal one adds warnings.
// Every message reads `config.json: <field>: <problem>`: lowercase, one line, no trailing period.
//
// LSM decision: this kernel has neither AppArmor nor SELinux and tsrunc implements neither.
// runc skips AppArmor when the LSM is disabled and only fails on SELinux labels when SELinux is
// enabled, so `apparmorProfile`, `selinuxLabel` and `mountLabel` are warnings, never errors.
import * as fs from 'fs';
import * as path from 'path';

import { RuntimeError } from '../errors';
import { CAPABILITIES } from './capabilities';
import { schemaValidator, type SchemaError } from './generated-validator';
import { type IdKind, notAValidId, UNCHANGED_ID, unchangedIdInMountOption, unchangedIdProblem } from './ids';
import { RLIMITS } from './rlimits';
import type { CapabilitySet, HookName, LinuxIDMapping, LinuxNamespace, NamespaceType, Spec } from './types';

/** The newest runtime-spec version tsrunc implements. */
export const OCI_VERSION_MAX = '1.3.0';
export const OCI_VERSION_MIN = '1.0.0';

export interface ValidateOptions {
  /** `create`/`run` need `process`; other callers (e.g. `spec` round trips) may not. */
  requireProcess?: boolean;
}

export interface ConfigCheck {
  name: string;
  /** Fatal: the first message is thrown. Not fatal: messages become warnings. */
  fatal: boolean;
  check(spec: Spec, opts: ValidateOptions): string[];
}

const CONFIG = 'config.json';

// ---------------------------------------------------------------------------------------------
// Loading

/** config.json larger than this is refused: real ones are kilobytes, and the whole config is
 *  copied into the container's state.json, which every `list` and `state` reads. */
export const CONFIG_MAX_BYTES = 16 * 1024 * 1024;
/** Deeper nesting is refused: V8 parses it, but JSON.stringify (the state record) and the schema
 *  walk recurse and would die with "maximum call stack size exceeded". */
export const CONFIG_MAX_DEPTH = 512;

/** Reads and parses `<bundleDir>/config.json`. The result is not validated yet. */
export function loadConfig(bundleDir: string): Spec {
  const file = path.join(bundleDir, 'config.json');
  const text = readConfigText(bundleDir, file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new RuntimeError(`${CONFIG}: invalid JSON: ${lowerFirst(oneLine((error as Error).message))}`);
  }
  checkDepth(parsed);
  return parsed as Spec;
}

// O_NONBLOCK (libuv adds O_CLOEXEC), so that a FIFO nobody writes does not block the open; then only a regular file is
// read (a FIFO, a socket or /dev/zero would hang or never end).
function readConfigText(bundleDir: string, file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new RuntimeError(`${CONFIG}: no such file in bundle ${bundleDir}`);
    }
    if (code === 'EISDIR') throw new RuntimeError(`${CONFIG}: is a directory in bundle ${bundleDir}`);
    throw new RuntimeError(`${CONFIG}: cannot read ${file}: ${code ?? oneLine(String(error))}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new RuntimeError(`${CONFIG}: is a directory in bundle ${bundleDir}`);
    if (!st.isFile()) throw new RuntimeError(`${CONFIG}: is not a regular file in bundle ${bundleDir}`);
    if (st.size > CONFIG_MAX_BYTES) {
      throw new RuntimeError(`${CONFIG}: too large (${st.size} bytes, at most ${CONFIG_MAX_BYTES})`);
    }
    try {
      return fs.readFileSync(fd, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new RuntimeError(`${CONFIG}: cannot read ${file}: ${code ?? oneLine(String(error))}`);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Iterative, so that the check itself cannot overflow the stack. */
function checkDepth(document: unknown): void {
  const stack: { value: unknown; depth: number }[] = [{ value: document, depth: 1 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth > CONFIG_MAX_DEPTH) {
      throw new RuntimeError(`${CONFIG}: nested more than ${CONFIG_MAX_DEPTH} levels deep`);
    }
    for (const child of Object.values(value as Record<string, unknown>))
      stack.push({ value: child, depth: depth + 1 });
  }
}

/**
 * Validates a parsed config: the precompiled schema, then CONFIG_CHECKS in order.
 * Throws a RuntimeError (one line) on the first problem; returns the typed spec and warnings.
 */
export function validateConfig(
  spec: unknown,
  opts: ValidateOptions = {},
): { spec: Spec; warnings: string[] } {
  const validate = schemaValidator();
  if (!validate(spec)) {
    const first = validate.errors?.[0];
    throw new RuntimeError(
      first ? formatSchemaError(first, spec) : `${CONFIG}: top level: does not match the schema`,
    );
  }
  const typed = spec as Spec;
  const warnings: string[] = [];
  for (const check of CONFIG_CHECKS) {
    const messages = check.check(typed, opts);
    if (messages.length === 0) continue;
    if (check.fatal) throw new RuntimeError(messages[0]);
    warnings.push(...messages);
  }
  return { spec: typed, warnings };
}

// ---------------------------------------------------------------------------------------------
// Schema errors -> one line

// Nouns for enum errors, by field with array indexes written `[]`.
const ENUM_NOUNS: Record<string, string> = {
  'linux.namespaces[].type': 'namespace type',
  'linux.devices[].type': 'device type',
  'linux.rootfsPropagation': 'rootfs propagation',
  'linux.personality.domain': 'personality domain',
  'linux.seccomp.defaultAction': 'seccomp action',
  'linux.seccomp.syscalls[].action': 'seccomp action',
  'linux.seccomp.architectures[]': 'seccomp architecture',
  'linux.seccomp.flags[]': 'seccomp flag',
  'linux.seccomp.syscalls[].args[].op': 'seccomp operator',
  'linux.memoryPolicy.mode': 'memory policy mode',
  'linux.memoryPolicy.flags[]': 'memory policy flag',
  'process.ioPriority.class': 'io priority class',
  'process.scheduler.policy': 'scheduler policy',
  'process.scheduler.flags[]': 'scheduler flag',
};

/** Turns one ajv error into `config.json: <field>: <problem>`. Exported for tests. */
export function formatSchemaError(error: SchemaError, document: unknown): string {
  const segments =
    error.instancePath === '' ? [] : error.instancePath.slice(1).split('/').map(unescapePointer);
  let field = '';
  let generic = '';
  let value: unknown = document;
  for (const segment of segments) {
    if (Array.isArray(value)) {
      field += `[${segment}]`;
      generic += '[]';
      value = (value as unknown[])[Number(segment)];
    } else {
      field = memberOf(field, segment);
      generic = memberOf(generic, segment);
      value =
        value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[segment] : undefined;
    }
  }
  const params = error.params;
  let problem: string;
  switch (error.keyword) {
    case 'required':
      field = memberOf(field, String(params.missingProperty));
      problem = 'is required';
      break;
    case 'type':
      problem = `must be ${String(params.type)}`;
      break;
    case 'enum': {
      const noun = ENUM_NOUNS[generic];
      problem = noun
        ? `unknown ${noun} ${JSON.stringify(value)}`
        : `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      problem = `must be ${String(params.comparison)} ${formatLimit(Number(params.limit))}`;
      break;
    case 'pattern':
      problem = `${JSON.stringify(value)} must match pattern ${JSON.stringify(params.pattern)}`;
      break;
    case 'minItems':
      problem = 'must not be empty';
      break;
    default:
      problem = `is invalid (${error.keyword})`;
  }
  return `${CONFIG}: ${field === '' ? 'top level' : field}: ${problem}`;
}

function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

function memberOf(base: string, key: string): string {
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return base === '' ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

/** The path of the first string (or object key) below `value` that holds a NUL byte. */
function firstStringWithNul(value: unknown, at: string, skip: ReadonlySet<string>): string | null {
  if (typeof value === 'string') return value.includes('\0') ? at : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = firstStringWithNul(value[i], `${at}[${i}]`, skip);
      if (found !== null) return found;
    }
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  for (const [key, member] of Object.entries(value)) {
    if (at === '' && skip.has(key)) continue;
    const where = memberOf(at, key);
    if (key.includes('\0')) return where;
    const found = firstStringWithNul(member, where, skip);
    if (found !== null) return found;
  }
  return null;
}

// int64/uint64 bounds are not exact doubles; print the numbers the spec means.
function formatLimit(limit: number): string {
  if (limit === 2 ** 63) return '9223372036854775807';
  if (limit === -(2 ** 63)) return '-9223372036854775808';
  if (limit === 2 ** 64) return '18446744073709551615';
  return String(limit);
}

// ---------------------------------------------------------------------------------------------
// Helpers for the checks

function msg(field: string, problem: string): string {
  return `${CONFIG}: ${field}: ${problem}`;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

function isAbsolute(p: string): boolean {
  return p.startsWith('/');
}

function hasDotDot(p: string): boolean {
  return p.split('/').includes('..');
}

function quote(value: unknown): string {
  return JSON.stringify(value);
}

/** The first entry of each namespace type, with its index. */
function namespaceMap(spec: Spec): Map<NamespaceType, { index: number; ns: LinuxNamespace }> {
  const map = new Map<NamespaceType, { index: number; ns: LinuxNamespace }>();
  (spec.linux?.namespaces ?? []).forEach((ns, index) => {
    if (!map.has(ns.type)) map.set(ns.type, { index, ns });
  });
  return map;
}

/** The config has an entry of this type: a new namespace or one joined by path (runc's Contains). */
function hasNamespace(spec: Spec, type: NamespaceType): boolean {
  return namespaceMap(spec).has(type);
}

/** The config asks for a new namespace of this type (an entry without path). */
function newNamespace(spec: Spec, type: NamespaceType): boolean {
  const entry = namespaceMap(spec).get(type);
  return entry !== undefined && !entry.ns.path;
}

function joinedNamespace(spec: Spec, type: NamespaceType): { index: number; ns: LinuxNamespace } | undefined {
  const entry = namespaceMap(spec).get(type);
  return entry !== undefined && entry.ns.path ? entry : undefined;
}

const CAPABILITY_SETS: readonly CapabilitySet[] = [
  'bounding',
  'effective',
  'inheritable',
  'permitted',
  'ambient',
];
const HOOK_NAMES: readonly HookName[] = [
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
];

// sysctls the kernel keeps per IPC namespace (besides fs.mqueue.*).
const IPC_SYSCTLS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);
const UTS_SYSCTLS = new Set(['kernel.domainname', 'kernel.hostname']);

// The kernel's limit for host and domain names (__NEW_UTS_LEN).
const UTS_NAME_MAX = 64;
// The kernel refuses an extent whose end wraps in 32 bits (first + size must stay below 2^32),
// so the last id is at most 4294967294: (uid_t)-1 is never mapped. Said as the kernel sees it
// (overflow), or, for a range that ends exactly there, as the invalid id it would take in.
const TWO_TO_32 = 2 ** 32;

/** What is wrong with one side (containerID or hostID) of an id mapping, or null. */
function mappingSideProblem(
  field: string,
  side: string,
  first: number,
  size: number,
  kind: IdKind,
): string | null {
  const end = first + size;
  if (end < TWO_TO_32) return null;
  if (end > TWO_TO_32) return msg(field, `${side} + size overflows uint32`);
  if (size === 1) return msg(`${field}.${side}`, unchangedIdProblem(kind));
  return msg(
    field,
    `${side} range ${first}..${UNCHANGED_ID} includes ${UNCHANGED_ID}, which is ${notAValidId(kind)}`,
  );
}

function checkMappings(field: string, kind: IdKind, mappings: LinuxIDMapping[] | undefined): string[] {
  const out: string[] = [];
  (mappings ?? []).forEach((m, i) => {
    const entry = `${field}[${i}]`;
    const problem =
      m.size === 0
        ? msg(`${entry}.size`, 'must be greater than 0')
        : (mappingSideProblem(entry, 'containerID', m.containerID, m.size, kind) ??
          mappingSideProblem(entry, 'hostID', m.hostID, m.size, kind));
    if (problem !== null) out.push(problem);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// The checks, in the order they run.

export const CONFIG_CHECKS: readonly ConfigCheck[] = [
  {
    name: 'oci-version',
    fatal: true,
    check(spec) {
      const version = spec.ociVersion;
      if (version === '') return [msg('ociVersion', 'must not be empty')];
      if (!/^1\.\d+(\.\d+)?([-+][0-9A-Za-z.+-]*)?$/.test(version)) {
        return [msg('ociVersion', `unsupported version ${quote(version)} (want 1.x)`)];
      }
      return [];
    },
  },
  {
    name: 'oci-version-newer',
    fatal: false,
    check(spec) {
      const minor = Number(/^1\.(\d+)/.exec(spec.ociVersion)?.[1] ?? 0);
      const max = Number(OCI_VERSION_MAX.split('.')[1]);
      return minor > max
        ? [
            msg(
              'ociVersion',
              `${spec.ociVersion} is newer than ${OCI_VERSION_MAX}, fields tsrunc does not know are ignored`,
            ),
          ]
        : [];
    },
  },
  {
    name: 'root',
    fatal: true,
    check(spec) {
      if (!spec.root) return [msg('root', 'is required')];
      if (spec.root.path === '') return [msg('root.path', 'must not be empty')];
      if (spec.root.path.includes('\0')) return [msg('root.path', 'must not contain a NUL byte')];
      return [];
    },
  },
  {
    name: 'process-required',
    fatal: true,
    check(spec, opts) {
      return opts.requireProcess && !spec.process
        ? [msg('process', 'is required to create a container')]
        : [];
    },
  },
  {
    name: 'process-args',
    fatal: true,
    check(spec) {
      const args = spec.process?.args;
      if (!spec.process) return [];
      if (!args || args.length === 0) return [msg('process.args', 'must not be empty')];
      if (args[0] === '') return [msg('process.args[0]', 'must not be empty')];
      return [];
    },
  },
  {
    name: 'process-cwd',
    fatal: true,
    check(spec) {
      const cwd = spec.process?.cwd;
      return cwd !== undefined && !isAbsolute(cwd) ? [msg('process.cwd', 'must be an absolute path')] : [];
    },
  },
  {
    // Every string of the config ends up as a C string (a path, an argument, a mount option, a
    // sysctl value): a NUL byte would cut it short, and the call would act on another path or
    // value than the config says. Annotations only go to the state file.
    name: 'nul-bytes',
    fatal: true,
    check(spec) {
      const found = firstStringWithNul(spec, '', new Set(['annotations']));
      return found === null ? [] : [msg(found, 'must not contain a NUL byte')];
    },
  },
  {
    name: 'process-env',
    fatal: true,
    check(spec) {
      const out: string[] = [];
      (spec.process?.env ?? []).forEach((entry, i) => {
        const eq = entry.indexOf('=');
        if (eq < 0) out.push(msg(`process.env[${i}]`, `${quote(entry)} is not of the form KEY=VALUE`));
        else if (eq === 0) out.push(msg(`process.env[${i}]`, `${quote(entry)} has an empty name`));
      });
      return out;
    },
  },
  {
    name: 'process-user',
    fatal: true,
    check(spec) {
      const umask = spec.process?.user?.umask;
      return umask !== undefined && umask > 0o777
        ? [msg('process.user.umask', 'must be between 0 and 0777')]
        : [];
    },
  },
  {
    name: 'process-user-ids',
    fatal: true,
    check(spec) {
      const user = spec.process?.user;
      if (!user) return [];
      const out: string[] = [];
      if (user.uid === UNCHANGED_ID) out.push(msg('process.user.uid', unchangedIdProblem('user')));
      if (user.gid === UNCHANGED_ID) out.push(msg('process.user.gid', unchangedIdProblem('group')));
      (user.additionalGids ?? []).forEach((gid, i) => {
        if (gid === UNCHANGED_ID)
          out.push(msg(`process.user.additionalGids[${i}]`, unchangedIdProblem('group')));
      });
      return out;
    },
  },
  {
    name: 'process-oom-score-adj',
    fatal: true,
    check(spec) {
      const adj = spec.process?.oomScoreAdj;
      return adj !== undefined && (adj < -1000 || adj > 1000)
        ? [msg('process.oomScoreAdj', `${adj} is out of range -1000..1000`)]
        : [];
    },
  },
  {
    name: 'process-rlimits',
    fatal: true,
    check(spec) {
      const out: string[] = [];
      const seen = new Set<string>();
      (spec.process?.rlimits ?? []).forEach((limit, i) => {
        if (!Object.prototype.hasOwnProperty.call(RLIMITS, limit.type)) {
          out.push(msg(`process.rlimits[${i}].type`, `unknown rlimit type ${quote(limit.type)}`));
        } else if (seen.has(limit.type)) {
          out.push(msg('process.rlimits', `duplicated rlimit type ${quote(limit.type)}`));
        } else if (limit.soft > limit.hard) {
          out.push(
            msg(`process.rlimits[${i}]`, `soft limit ${limit.soft} is greater than hard limit ${limit.hard}`),
          );
        }
        seen.add(limit.type);
      });
      return out;
    },
  },
  {
    // runtime-spec 1.1+: a capability the runtime cannot map MUST be logged as a warning and
    // SHOULD NOT fail the container (a config written for a newer kernel still runs); the plan
    // leaves it out of every set.
    name: 'process-capabilities',
    fatal: false,
    check(spec) {
      const caps = spec.process?.capabilities;
      if (!caps) return [];
      const out: string[] = [];
      for (const set of CAPABILITY_SETS) {
        (caps[set] ?? []).forEach((name, i) => {
          if (!CAPABILITIES.includes(name)) {
            out.push(msg(`process.capabilities.${set}[${i}]`, `unknown capability ${quote(name)}, ignored`));
          }
        });
      }
      return out;
    },
  },
  {
    name: 'hooks',
    fatal: true,
    check(spec) {
      const out: string[] = [];
      for (const name of HOOK_NAMES) {
        (spec.hooks?.[name] ?? []).forEach((hook, i) => {
          if (!isAbsolute(hook.path)) out.push(msg(`hooks.${name}[${i}].path`, 'must be an absolute path'));
        });
      }
      return out;
    },
  },
  {
    name: 'mounts',
    fatal: true,
    check(spec) {
      const out: string[] = [];
      (spec.mounts ?? []).forEach((mount, i) => {
        if (!isAbsolute(mount.destination)) {
          out.push(msg(`mounts[${i}].destination`, `${quote(mount.destination)} must be an absolute path`));
        }
        const options = mount.options ?? [];
        const bind = mount.type === 'bind' || options.includes('bind') || options.includes('rbind');
        if (bind && !mount.source) out.push(msg(`mounts[${i}].source`, 'is required for a bind mount'));
        if ((mount.uidMappings ?? []).length > 0 || (mount.gidMappings ?? []).length > 0) {
          const which = (mount.uidMappings ?? []).length > 0 ? 'uidMappings' : 'gidMappings';
          out.push(msg(`mounts[${i}].${which}`, 'idmapped mounts are not supported'));
        }
      });
      return out;
    },
  },
  {
    name: 'mount-id-options',
    fatal: true,
    check(spec) {
      const out: string[] = [];
      (spec.mounts ?? []).forEach((mount, i) => {
        (mount.options ?? []).forEach((option, j) => {
          const kind = unchangedIdInMountOption(option);
          if (kind !== null) out.push(msg(`mounts[${i}].options[${j}]`, unchangedIdProblem(kind, option)));
        });
      });
      return out;
    },
  },
  {
    name: 'namespaces',
    fatal: true,
    check(spec) {
      const out: string[] = [];
      const seen = new Set<string>();
      (spec.linux?.namespaces ?? []).forEach((ns, i) => {
        if (seen.has(ns.type))
          out.push(msg('linux.namespaces', `duplicated namespace type ${quote(ns.type)}`));
        seen.add(ns.type);
        if (ns.path !== undefined && ns.path !== '' && !isAbsolute(ns.path)) {
          out.push(msg(`linux.namespaces[${i}].path`, `${quote(ns.path)} must be an absolute path`));
        }
      });
      return out;
    },
  },
  {
    name: 'user-namespace-mappings',
    fatal: true,
    check(spec) {
      const linux = spec.linux ?? {};
      const uid = linux.uidMappings ?? [];
      const gid = linux.gidMappings ?? [];
      const joined = joinedNamespace(spec, 'user');
      if (joined) {
        if (uid.length > 0)
          return [msg('linux.uidMappings', 'cannot be set when joining an existing user namespace')];
        if (gid.length > 0)
          return [msg('linux.gidMappings', 'cannot be set when joining an existing user namespace')];
        return [];
      }
      if (newNamespace(spec, 'user')) {
        if (uid.length === 0) return [msg('linux.uidMappings', 'required with a new user namespace')];
        if (gid.length === 0) return [msg('linux.gidMappings', 'required with a new user namespace')];
        return [
          ...checkMappings('linux.uidMappings', 'user', uid),
          ...checkMappings('linux.gidMappings', 'group', gid),
        ];
      }
      if (uid.length > 0) return [msg('linux.uidMappings', 'set without a new user namespace')];
      if (gid.length > 0) return [msg('linux.gidMappings', 'set without a new user namespace')];
      return [];
    },
  },
  {
    name: 'uts-names',
    fatal: true,
    check(spec) {
      const out: string[] = [];
      for (const field of ['hostname', 'domainname'] as const) {
        const value = spec[field];
        if (!value) continue;
        if (!hasNamespace(spec, 'uts')) {
          out.push(msg(field, `unable to set ${field} without a private UTS namespace`));
        } else if (Buffer.byteLength(value) > UTS_NAME_MAX) {
          out.push(msg(field, `must be at most ${UTS_NAME_MAX} bytes`));
        } else if (value.includes('\0')) {
          out.push(msg(field, 'must not contain a NUL byte'));
        }
      }
      return out;
    },
  },
  {
    name: 'time-offsets',
    fatal: true,
    check(spec) {
      const offsets = spec.linux?.timeOffsets;
      if (offsets === undefined) return [];
      const clocks = Object.keys(offsets);
      if (clocks.length === 0) return [];
      if (joinedNamespace(spec, 'time')) {
        return [msg('linux.timeOffsets', 'cannot be set when joining an existing time namespace')];
      }
      if (!newNamespace(spec, 'time')) return [msg('linux.timeOffsets', 'requires a new time namespace')];
      const out: string[] = [];
      for (const clock of clocks) {
        const field = memberOf('linux.timeOffsets', clock);
        if (clock !== 'boottime' && clock !== 'monotonic') {
          out.push(msg(field, `unknown clock ${quote(clock)} (want boottime or monotonic)`));
          continue;
        }
        const nanosecs = offsets[clock]?.nanosecs ?? 0;
        if (nanosecs >= 1e9) out.push(msg(`${field}.nanosecs`, 'must be less than 1000000000'));
      }
      return out;
    },
  },
  {
    name: 'sysctl',
    fatal: true,
    check(spec) {
      const out: string[] = [];
      for (const [key, value] of Object.entries(spec.linux?.sysctl ?? {})) {
        const field = memberOf('linux.sysctl', key);
        if (key.includes('/') || key.split('.').some((part) => part === '') || key.includes('\0')) {
          out.push(msg(field, 'invalid sysctl name'));
        } else if (key === 'kernel.hostname') {
          // The hostname field is the one way to set it (runc refuses it the same way).
          out.push(msg(field, 'not allowed as it conflicts with the OCI "hostname" field'));
        } else if (
          key === 'kernel.domainname' &&
          spec.domainname !== undefined &&
          value !== spec.domainname
        ) {
          out.push(
            msg(field, `${quote(value)} conflicts with the OCI "domainname" field ${quote(spec.domainname)}`),
          );
        } else if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) {
          if (!hasNamespace(spec, 'ipc')) out.push(msg(field, 'not allowed without a private IPC namespace'));
        } else if (key.startsWith('net.')) {
          if (!hasNamespace(spec, 'network'))
            out.push(msg(field, 'not allowed without a private network namespace'));
        } else if (UTS_SYSCTLS.has(key)) {
          if (!hasNamespace(spec, 'uts')) out.push(msg(field, 'not allowed without a private UTS namespace'));
        } else {
          out.push(msg(field, 'not in a separate kernel namespace'));
        }
      }
      return out;
    },
  },
  {
    name: 'devices',
    fatal: true,
    check(spec) {
      const out: string[] = [];
      (spec.linux?.devices ?? []).forEach((device, i) => {
        const field = `linux.devices[${i}]`;
        // The runtime-spec asks only for a full path in the container (runc makes /foo-dev too);
        // parent directories are made inside the rootfs, never through a symlink out of it.
        if (
          !device.path.startsWith('/') ||
          hasDotDot(device.path) ||
          device.path.replace(/\/+$/, '') === ''
        ) {
          out.push(msg(`${field}.path`, `${quote(device.path)} must be an absolute path in the container`));
        }
        if (device.type !== 'p' && (device.major === undefined || device.minor === undefined)) {
          out.push(msg(field, `major and minor are required for device type ${quote(device.type)}`));
        }
        if ((device.major ?? 0) < 0 || (device.minor ?? 0) < 0) {
          out.push(msg(field, 'major and minor must not be negative'));
        }
      });
      return out;
    },
  },
  {
    name: 'device-ids',
    fatal: true,
    check(spec) {
      const out: string[] = [];
      (spec.linux?.devices ?? []).forEach((device, i) => {
        if (device.uid === UNCHANGED_ID) out.push(msg(`linux.devices[${i}].uid`, unchangedIdProblem('user')));
        if (device.gid === UNCHANGED_ID)
          out.push(msg(`linux.devices[${i}].gid`, unchangedIdProblem('group')));
      });
      return out;
    },
  },
  {
    name: 'masked-readonly-paths',
    fatal: true,
    check(spec) {
      const out: string[] = [];
      for (const list of ['maskedPaths', 'readonlyPaths'] as const) {
        (spec.linux?.[list] ?? []).forEach((p, i) => {
          if (!isAbsolute(p)) out.push(msg(`linux.${list}[${i}]`, `${quote(p)} must be an absolute path`));
        });
      }
      return out;
    },
  },
  {
    // Without a mount namespace the container shares the runtime's (runtime-spec): masking,
    // read-only remounts and propagation changes would hit the host's own mounts (runc refuses
    // masked and read-only paths too).
    name: 'no-mount-namespace',
    fatal: true,
    check(spec) {
      if (hasNamespace(spec, 'mount')) return [];
      const why = "needs a mount namespace (without one the container shares the runtime's)";
      const out: string[] = [];
      if ((spec.linux?.maskedPaths ?? []).length > 0) out.push(msg('linux.maskedPaths', why));
      if ((spec.linux?.readonlyPaths ?? []).length > 0) out.push(msg('linux.readonlyPaths', why));
      if (spec.root?.readonly === true) out.push(msg('root.readonly', why));
      if (spec.linux?.rootfsPropagation) out.push(msg('linux.rootfsPropagation', why));
      return out;
    },
  },
  {
    name: 'resources',
    fatal: true,
    check(spec) {
      const resources = spec.linux?.resources;
      if (!resources) return [];
      const out: string[] = [];
      const memory = resources.memory ?? {};
      for (const key of ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP'] as const) {
        const value = memory[key];
        if (value !== undefined && value < -1) {
          out.push(msg(`linux.resources.memory.${key}`, `${value} is negative (use -1 for unlimited)`));
        }
      }
      if (memory.swappiness !== undefined && memory.swappiness > 100) {
        out.push(msg('linux.resources.memory.swappiness', `${memory.swappiness} is out of range 0..100`));
      }
      if (memory.swap !== undefined && memory.swap > 0 && memory.limit !== undefined && memory.limit > 0) {
        if (memory.swap < memory.limit) {
          out.push(
            msg('linux.resources.memory.swap', 'memory+swap limit must not be lower than the memory limit'),
          );
        }
      }
      const cpu = resources.cpu ?? {};
      for (const key of ['quota', 'realtimeRuntime'] as const) {
        const value = cpu[key];
        if (value !== undefined && value < -1) {
          out.push(msg(`linux.resources.cpu.${key}`, `${value} is negative (use -1 for unlimited)`));
        }
      }
      if (cpu.period !== undefined && cpu.period !== 0 && (cpu.period < 1000 || cpu.period > 1000000)) {
        out.push(msg('linux.resources.cpu.period', `${cpu.period} is out of range 1000..1000000`));
      }
      if (cpu.idle !== undefined && cpu.idle !== 0 && cpu.idle !== 1) {
        out.push(msg('linux.resources.cpu.idle', 'must be 0 or 1'));
      }
      if (resources.pids !== undefined && resources.pids.limit < -1) {
        out.push(
          msg('linux.resources.pids.limit', `${resources.pids.limit} is negative (use -1 for unlimited)`),
        );
      }
      (resources.hugepageLimits ?? []).forEach((limit, i) => {
        // The schema checks the form ("2MB"); a size that is no power of two is no page size.
        const match = /^([1-9][0-9]*)[KMG]B$/.exec(limit.pageSize);
        const count = match ? Number(match[1]) : 1;
        if (!Number.isSafeInteger(count) || !Number.isInteger(Math.log2(count))) {
          out.push(
            msg(
              `linux.resources.hugepageLimits[${i}].pageSize`,
              `${quote(limit.pageSize)} is not a power of two`,
            ),
          );
        }
      });
      (resources.devices ?? []).forEach((rule, i) => {
        const field = `linux.resources.devices[${i}]`;
        if (rule.type !== undefined && rule.type !== '' && !['a', 'b', 'c'].includes(rule.type)) {
          out.push(msg(`${field}.type`, `unknown device rule type ${quote(rule.type)} (want a, b or c)`));
        }
        // Any order, repeats too, as runc takes them (written once each, in the kernel's order).
        if (rule.access !== undefined && !/^[rwm]+$/.test(rule.access)) {
          out.push(msg(`${field}.access`, `${quote(rule.access)} must be made of r, w and m`));
        }
        if ((rule.major ?? 0) < -1 || (rule.minor ?? 0) < -1) {
          out.push(msg(field, 'major and minor must be -1 (any) or a device number'));
        }
      });
      for (const key of Object.keys(resources.unified ?? {})) {
        // Keys are file names in the container's cgroup directory: never a path.
        if (key.includes('/') || key.includes('\0') || key === '.' || key === '..' || !key.includes('.')) {
          out.push(
            msg(memberOf('linux.resources.unified', key), 'must be a cgroup file name like "memory.max"'),
          );
        }
      }
      return out;
    },
  },
  {
    name: 'cgroups-path',
    fatal: true,
    check(spec) {
      const cgroupsPath = spec.linux?.cgroupsPath;
      if (cgroupsPath === undefined) return [];
      if (cgroupsPath.includes('\0')) return [msg('linux.cgroupsPath', 'must not contain a NUL byte')];
      if (hasDotDot(cgroupsPath) || cgroupsPath.split(':').some(hasDotDot)) {
        return [msg('linux.cgroupsPath', `${quote(cgroupsPath)} must not contain ".." components`)];
      }
      return [];
    },
  },
  {
    name: 'seccomp',
    fatal: true,
    check(spec) {
      const seccomp = spec.linux?.seccomp;
      if (!seccomp) return [];
      const out: string[] = [];
      if (seccomp.defaultAction === 'SCMP_ACT_NOTIFY') {
        out.push(msg('linux.seccomp.defaultAction', 'SCMP_ACT_NOTIFY cannot be the default action'));
      }
      let notify = false;
      (seccomp.syscalls ?? []).forEach((rule, i) => {
        if (rule.action !== 'SCMP_ACT_NOTIFY') return;
        notify = true;
        // write: runc's rule, callers know it. sendmsg: the init hands the listener fd to the
        // runtime with it, after the filter is loaded; notifying it would wait forever.
        for (const name of ['write', 'sendmsg']) {
          if (!rule.names.includes(name)) continue;
          out.push(
            msg(`linux.seccomp.syscalls[${i}]`, `SCMP_ACT_NOTIFY cannot be used for the ${name} syscall`),
          );
        }
      });
      if (notify && !seccomp.listenerPath) {
        out.push(msg('linux.seccomp.listenerPath', 'is required when SCMP_ACT_NOTIFY is used'));
      }
      if (seccomp.listenerPath && !isAbsolute(seccomp.listenerPath)) {
        out.push(msg('linux.seccomp.listenerPath', 'must be an absolute path'));
      }
      (seccomp.syscalls ?? []).forEach((rule, i) => {
        (rule.args ?? []).forEach((arg, j) => {
          if (arg.index > 5) {
            out.push(
              msg(
                `linux.seccomp.syscalls[${i}].args[${j}].index`,
                `${arg.index} is not a syscall argument (0 to 5)`,
              ),
            );
          }
        });
      });
      return out;
    },
  },
  {
    name: 'intel-rdt',
    fatal: true,
    check(spec) {
      return spec.linux?.intelRdt ? [msg('linux.intelRdt', 'intel RDT is not supported')] : [];
    },
  },
  {
    name: 'net-devices',
    fatal: true,
    check(spec) {
      const devices = spec.linux?.netDevices;
      if (!devices || Object.keys(devices).length === 0) return [];
      if (!newNamespace(spec, 'network'))
        return [msg('linux.netDevices', 'requires a new network namespace')];
      const out: string[] = [];
      for (const [name, device] of Object.entries(devices)) {
        for (const ifname of [name, device.name ?? name]) {
          if (
            ifname === '' ||
            ifname.length > 15 ||
            /[/\s:\0]/.test(ifname) ||
            ifname === '.' ||
            ifname === '..'
          ) {
            out.push(msg(memberOf('linux.netDevices', name), `invalid interface name ${quote(ifname)}`));
            break;
          }
        }
      }
      return out;
    },
  },
  // ---- warnings
  {
    name: 'lsm-labels',
    fatal: false,
    check(spec) {
      const out: string[] = [];
      if (spec.process?.apparmorProfile) {
        out.push(msg('process.apparmorProfile', 'apparmor is not enabled on this host, profile ignored'));
      }
      if (spec.process?.selinuxLabel) {
        out.push(msg('process.selinuxLabel', 'selinux is not enabled on this host, label ignored'));
      }
      if (spec.linux?.mountLabel) {
        out.push(msg('linux.mountLabel', 'selinux is not enabled on this host, label ignored'));
      }
      return out;
    },
  },
  {
    name: 'unsupported-features',
    fatal: false,
    check(spec) {
      const out: string[] = [];
      const process = spec.process;
      if (process?.ioPriority) out.push(msg('process.ioPriority', 'not supported, ignored'));
      if (process?.scheduler) out.push(msg('process.scheduler', 'not supported, ignored'));
      if (process?.execCPUAffinity) out.push(msg('process.execCPUAffinity', 'not supported, ignored'));
      if (spec.linux?.memoryPolicy) out.push(msg('linux.memoryPolicy', 'not supported, ignored'));
      if (spec.linux?.netDevices && Object.keys(spec.linux.netDevices).length > 0) {
        out.push(msg('linux.netDevices', 'not supported, ignored'));
      }
      if ((spec.linux?.personality?.flags ?? []).length > 0) {
        out.push(msg('linux.personality.flags', 'not supported, ignored'));
      }
      return out;
    },
  },
];
