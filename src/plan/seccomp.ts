// linux.seccomp -> the flat input of the native compiler (addon/seccomp.cc, libseccomp) and the
// plan's {filter, flags}. Every decision is made here, as runc makes it: action values with their
// errno, rules whose action is the default one dropped, conditions on one argument split into
// separate rules (OR), unknown syscall names skipped with a debug line.
import { configError } from '../errors';
import type { LinuxSeccomp, LinuxSyscall, SeccompAction, SeccompOperator } from '../spec/types';
import type { NativeSeccomp } from './types';

export interface SeccompArgInput {
  index: number;
  /** enum scmp_compare of seccomp.h. */
  op: number;
  value: bigint;
  valueTwo: bigint;
}

export interface SeccompRuleInput {
  name: string;
  /** Full SCMP_ACT_* value, errno included. */
  action: number;
  /** All of them must match (AND). */
  args: SeccompArgInput[];
}

/** What `compileSeccomp` takes. */
export interface SeccompCompileInput {
  defaultAction: number;
  /** libseccomp architecture names (x86_64, x86, x32...); the native one is always included. */
  architectures: string[];
  rules: SeccompRuleInput[];
  /**
   * Every syscall name of the profile, whatever its action. A syscall newer than all of them
   * (per architecture) gets ENOSYS ahead of the filter, as runc does, so a libc newer than the
   * profile falls back (clone3 -> clone). Empty: no such stub (the default action already
   * allows, or already returns ENOSYS).
   */
  enosysNames: string[];
}

export interface SeccompCompiled {
  /** struct sock_filter[] (8 bytes each). */
  filter: Buffer;
  /** Syscall names libseccomp does not know: their rules were skipped. */
  unknown: string[];
}

export type SeccompCompiler = (input: SeccompCompileInput) => SeccompCompiled;

const EPERM = 1;
const ENOSYS = 38;

/** SCMP_ACT_* values of seccomp.h; ERRNO and TRACE carry an errno in the low 16 bits. */
const ACTIONS: Record<SeccompAction, (errno: number) => number> = {
  SCMP_ACT_KILL: () => 0x00000000,
  SCMP_ACT_KILL_THREAD: () => 0x00000000,
  SCMP_ACT_KILL_PROCESS: () => 0x80000000,
  SCMP_ACT_TRAP: () => 0x00030000,
  SCMP_ACT_ERRNO: (errno) => (0x00050000 | (errno & 0xffff)) >>> 0,
  SCMP_ACT_TRACE: (errno) => (0x7ff00000 | (errno & 0xffff)) >>> 0,
  SCMP_ACT_LOG: () => 0x7ffc0000,
  SCMP_ACT_ALLOW: () => 0x7fff0000,
  // Handed to the listener at linux.seccomp.listenerPath (see the protocol in addon/child.cc).
  SCMP_ACT_NOTIFY: () => 0x7fc00000,
};

/** enum scmp_compare of seccomp.h. */
export const SECCOMP_OPERATORS: Record<SeccompOperator, number> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};

/** Spec architecture -> libseccomp name, for the architectures libseccomp 2.5 knows. */
export const SECCOMP_ARCHITECTURES: Record<string, string> = {
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_ARM: 'arm',
  SCMP_ARCH_AARCH64: 'aarch64',
  SCMP_ARCH_MIPS: 'mips',
  SCMP_ARCH_MIPS64: 'mips64',
  SCMP_ARCH_MIPS64N32: 'mips64n32',
  SCMP_ARCH_MIPSEL: 'mipsel',
  SCMP_ARCH_MIPSEL64: 'mipsel64',
  SCMP_ARCH_MIPSEL64N32: 'mipsel64n32',
  SCMP_ARCH_PPC: 'ppc',
  SCMP_ARCH_PPC64: 'ppc64',
  SCMP_ARCH_PPC64LE: 'ppc64le',
  SCMP_ARCH_S390: 's390',
  SCMP_ARCH_S390X: 's390x',
  SCMP_ARCH_PARISC: 'parisc',
  SCMP_ARCH_PARISC64: 'parisc64',
  SCMP_ARCH_RISCV64: 'riscv64',
};

/** SECCOMP_FILTER_FLAG_* of linux/seccomp.h. */
export const SECCOMP_FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
};
/** Only meaningful with a notify listener (and refused by the kernel without one). */
const NOTIFY_ONLY_FLAGS = SECCOMP_FLAGS.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
/** Kernel flags the runtime adds itself when the filter has SCMP_ACT_NOTIFY rules. */
const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;
/** TSYNC and NEW_LISTENER together need TSYNC_ESRCH (the kernel refuses the pair otherwise). */
const SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 16;

export const SECCOMP_ACTION_NAMES = Object.keys(ACTIONS);

/** The SCMP_ACT_* value of an action; errnoRet defaults to EPERM for ERRNO and TRACE. */
export function seccompAction(action: SeccompAction, errnoRet: number | undefined, field: string): number {
  const value = ACTIONS[action] as ((errno: number) => number) | undefined;
  if (value === undefined) throw configError(field, `unknown seccomp action ${action}`);
  return value(errnoRet ?? EPERM);
}

/** Kernel flags for seccomp(SECCOMP_SET_MODE_FILTER, flags, ...); `notify`: the filter has
 *  SCMP_ACT_NOTIFY rules, so loading it must return a listener fd. */
export function seccompFlags(flags: string[] | undefined, notify = false): number {
  let out = 0;
  (flags ?? []).forEach((flag, i) => {
    const value = SECCOMP_FLAGS[flag];
    if (value === undefined) throw configError(`linux.seccomp.flags[${i}]`, `unknown seccomp flag ${flag}`);
    out |= value;
  });
  if (!notify) return out & ~NOTIFY_ONLY_FLAGS;
  out |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
  if (out & SECCOMP_FLAGS.SECCOMP_FILTER_FLAG_TSYNC) out |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
  return out;
}

/** The filter hands some syscalls to a listener (SCMP_ACT_NOTIFY). */
export function seccompNotifies(seccomp: LinuxSeccomp): boolean {
  return (seccomp.syscalls ?? []).some((rule) => rule.action === 'SCMP_ACT_NOTIFY');
}

export function seccompCompileInput(seccomp: LinuxSeccomp): SeccompCompileInput {
  const defaultAction = seccompAction(
    seccomp.defaultAction,
    seccomp.defaultErrnoRet,
    'linux.seccomp.defaultAction',
  );
  const architectures = (seccomp.architectures ?? []).map((arch, i) => {
    const name = SECCOMP_ARCHITECTURES[arch];
    if (name === undefined) {
      throw configError(`linux.seccomp.architectures[${i}]`, `unsupported seccomp architecture ${arch}`);
    }
    return name;
  });
  const rules: SeccompRuleInput[] = [];
  const named = new Set<string>();
  (seccomp.syscalls ?? []).forEach((syscall, i) => {
    const field = `linux.seccomp.syscalls[${i}]`;
    const action = seccompAction(syscall.action, syscall.errnoRet, `${field}.action`);
    for (const name of syscall.names) named.add(name);
    // libseccomp refuses a rule with the default action; it would change nothing anyway.
    if (action === defaultAction) return;
    for (const args of argumentSets(syscall, field)) {
      for (const name of syscall.names) rules.push({ name, action, args });
    }
  });
  // A default that lets everything run needs no stub (runc: allow and log); nor one that
  // already returns ENOSYS.
  const permissive = ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG'].includes(seccomp.defaultAction);
  const noStub = permissive || defaultAction === ACTIONS.SCMP_ACT_ERRNO(ENOSYS);
  return { defaultAction, architectures, rules, enosysNames: noStub ? [] : [...named] };
}

// Conditions on distinct arguments are ANDed in one rule. libseccomp cannot AND two conditions on
// the same argument, so then (as runc does) each condition becomes its own rule: OR.
function argumentSets(syscall: LinuxSyscall, field: string): SeccompArgInput[][] {
  const args = (syscall.args ?? []).map((arg, j): SeccompArgInput => {
    if (arg.index > 5) {
      throw configError(`${field}.args[${j}].index`, `${arg.index} is not a syscall argument (0 to 5)`);
    }
    const op = SECCOMP_OPERATORS[arg.op] as number | undefined;
    if (op === undefined) throw configError(`${field}.args[${j}].op`, `unknown seccomp operator ${arg.op}`);
    return { index: arg.index, op, value: toU64(arg.value), valueTwo: toU64(arg.valueTwo ?? 0) };
  });
  const indexes = new Set(args.map((arg) => arg.index));
  if (indexes.size === args.length) return [args];
  return args.map((arg) => [arg]);
}

function toU64(value: number): bigint {
  return BigInt.asUintN(64, BigInt(Math.trunc(value)));
}

/** The plan's seccomp part: compiles linux.seccomp (null when there is none). */
export function buildSeccomp(
  seccomp: LinuxSeccomp | undefined,
  compile: SeccompCompiler,
  debug: (message: string) => void,
): NativeSeccomp | null {
  if (!seccomp) return null;
  const input = seccompCompileInput(seccomp);
  const notify = seccompNotifies(seccomp);
  const flags = seccompFlags(seccomp.flags, notify);
  let compiled: SeccompCompiled;
  try {
    compiled = compile(input);
  } catch (err) {
    throw configError('linux.seccomp', (err as Error).message.replace(/^seccomp: /, ''));
  }
  for (const name of new Set(compiled.unknown)) debug(`unknown seccomp syscall "${name}" ignored`);
  return { filter: compiled.filter, flags, notify };
}
