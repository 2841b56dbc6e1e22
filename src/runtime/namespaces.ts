// Namespace files to join: opened, and checked to be namespaces of the type the config says,
// before anything is cloned (a path that is not one is the config's fault, named as such).
import * as fs from 'node:fs';

import type { NativeBinding } from '../native';
import { NAMESPACES } from '../plan/linux';
import type { NativeNamespaceJoin } from '../plan/types';
import type { LinuxNamespace } from '../spec/types';
import { configError } from '../errors';

/** Opens every namespace of `namespaces` that has a path; `keep` takes ownership of each fd. */
export function openNamespaceJoins(
  native: Pick<NativeBinding, 'namespaceType'>,
  namespaces: LinuxNamespace[],
  keep: (fd: number) => number,
): NativeNamespaceJoin[] {
  const joins: NativeNamespaceJoin[] = [];
  namespaces.forEach((ns, i) => {
    if (!ns.path) return;
    const field = `linux.namespaces[${i}].path`;
    let fd: number;
    try {
      fd = keep(fs.openSync(ns.path, 'r'));
    } catch (error) {
      throw configError(field, `cannot open ${ns.path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
    let type: number;
    try {
      type = native.namespaceType(fd);
    } catch {
      throw configError(field, `${ns.path} is not a namespace file`);
    }
    if (type !== NAMESPACES[ns.type].flag) {
      throw configError(field, `${ns.path} is not a ${ns.type} namespace`);
    }
    joins.push({ type, fd });
  });
  return joins;
}
