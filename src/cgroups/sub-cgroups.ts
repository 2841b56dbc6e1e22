// `exec --cgroup`: run the process in a sub-cgroup of the container's, as runc does. Each
// argument is "[<controller>[,<controller>...]:]<path>", the option repeatable; a path without a
// controller (then the only argument) is for every hierarchy, the unified one of a hybrid host
// included. The path is relative to the container's cgroup and must stay below it; the
// sub-cgroup must exist already (exec makes none).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { RuntimeError } from '../errors';
import type { CgroupRecord } from './manager';

export interface SubCgroups {
  /** The path for every hierarchy (an argument without a controller). */
  all?: string;
  /** controller -> path. */
  byController: Map<string, string>;
}

/** runc's parsing of the --cgroup arguments, with runc's words for what it refuses. */
export function parseSubCgroups(args: string[]): SubCgroups {
  const parsed: SubCgroups = { byController: new Map() };
  for (const arg of args) {
    const parts = arg.split(':');
    if (parts.length > 2) throw new RuntimeError(`invalid --cgroup argument: ${arg}`);
    if (parts.length === 1) {
      if (args.length !== 1) {
        throw new RuntimeError(`invalid --cgroup argument: ${arg} (missing <controller>: prefix)`);
      }
      parsed.all = arg;
      continue;
    }
    const [controllers, sub] = parts;
    for (const controller of controllers.split(',')) {
      // runc 1.1 takes ":sub" for every hierarchy by accident; runc 1.2 refuses it, so does tsrunc.
      if (controller === '')
        throw new RuntimeError(`invalid --cgroup argument: ${arg} (empty <controller> prefix)`);
      parsed.byController.set(controller, sub);
    }
  }
  return parsed;
}

/**
 * The container's record with the directories the sub-cgroups name in place of its own: the
 * exec'd process joins those. Refuses a path that leaves the container's cgroup, a controller
 * no hierarchy of the container has, and a sub-cgroup that does not exist.
 */
export function withSubCgroups(record: CgroupRecord, sub: SubCgroups): CgroupRecord {
  const dirs = { ...record.dirs };
  const used = new Set<string>();
  for (const [key, base] of Object.entries(record.dirs)) {
    const controllers = key.split(',');
    const named = controllers.filter((c) => sub.byController.has(c));
    const paths = new Set(named.map((c) => sub.byController.get(c)!));
    if (paths.size > 1) {
      throw new RuntimeError(
        `invalid --cgroup argument(s): ${named.join(' and ')} share a hierarchy but name different paths`,
      );
    }
    for (const c of named) used.add(c);
    const relative = sub.all ?? [...paths][0];
    if (relative === undefined) continue;
    dirs[key] = subDirectory(base, relative);
  }
  for (const controller of sub.byController.keys()) {
    if (!used.has(controller)) throw new RuntimeError(`unknown controller ${controller} in --cgroup`);
  }
  return { layout: record.layout, dirs };
}

function subDirectory(base: string, relative: string): string {
  const dir = path.posix.join(base, relative);
  if (dir !== base && !dir.startsWith(`${base}/`)) {
    throw new RuntimeError(`--cgroup: ${relative} is not a sub cgroup path`);
  }
  if (!fs.existsSync(path.join(dir, 'cgroup.procs'))) {
    throw new RuntimeError(`--cgroup: ${relative}: no such cgroup (${dir})`);
  }
  return dir;
}
