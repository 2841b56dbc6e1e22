// User and group ids. (uid_t)-1 and (gid_t)-1, 4294967295 as a uint32, are never an id: to
// setresuid, setresgid, setgroups and fchown they mean "leave unchanged", so a config that asked
// for them would keep the runtime's own ids, root. Every place that takes an id refuses them
// (config checks in validate.ts, exec's flags, and the addon's plan decoder).
import { RuntimeError } from '../errors';

/** (uid_t)-1 and (gid_t)-1. */
export const UNCHANGED_ID = 0xffffffff;

export type IdKind = 'user' | 'group';

/** What 4294967295 is not: `not a valid user id ((uid_t)-1 means "unchanged" to the kernel)`. */
export function notAValidId(kind: IdKind): string {
  const type = kind === 'user' ? 'uid_t' : 'gid_t';
  return `not a valid ${kind} id ((${type})-1 means "unchanged" to the kernel)`;
}

/** Why `shown` (the id, or the option that carries it) cannot be used. */
export function unchangedIdProblem(kind: IdKind, shown: string = String(UNCHANGED_ID)): string {
  return `${shown} is ${notAValidId(kind)}`;
}

/** A decimal id from a command-line flag (`--user 1000:1000`, `--additional-gids 10`): never
 *  looked up as a name (CVE-2016-3697), never (uid_t)-1. */
export function parseIdFlag(flag: string, kind: IdKind, text: string): number {
  if (!/^\d+$/.test(text)) {
    throw new RuntimeError(`${flag}: invalid ${kind} id ${JSON.stringify(text)} (want a number)`);
  }
  const id = Number(text);
  if (id === UNCHANGED_ID) throw new RuntimeError(`${flag}: ${unchangedIdProblem(kind)}`);
  if (id > UNCHANGED_ID) throw new RuntimeError(`${flag}: ${kind} id ${text} is out of range 0..4294967294`);
  return id;
}

// Filesystem data options that carry an id: uid=/gid= (tmpfs, devpts, hugetlbfs, fat, iso9660,
// proc's gid=, ...) and fuse's user_id=/group_id=.
const ID_MOUNT_OPTIONS: Readonly<Record<string, IdKind>> = {
  uid: 'user',
  gid: 'group',
  user_id: 'user',
  group_id: 'group',
};

/** The kind of id a mount option like `uid=4294967295` sets to (uid_t)-1, or null when it is
 *  another option or another id. Numbers are read as the kernel reads them (base 0: decimal,
 *  0x hex, 0 octal, a leading +), and -1 as older filesystems' signed parsers do. */
export function unchangedIdInMountOption(option: string): IdKind | null {
  const eq = option.indexOf('=');
  if (eq < 0) return null;
  const kind = ID_MOUNT_OPTIONS[option.slice(0, eq)];
  if (kind === undefined) return null;
  const match = /^([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))$/.exec(option.slice(eq + 1));
  if (!match) return null;
  const [, sign, hex, octal, decimal] = match;
  const magnitude =
    hex !== undefined ? parseInt(hex, 16) : octal !== undefined ? parseInt(octal, 8) : Number(decimal);
  const value = sign === '-' ? -magnitude : magnitude;
  return value === UNCHANGED_ID || value === -1 ? kind : null;
}
