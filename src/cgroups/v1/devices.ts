// cgroup v1 devices controller. The rules of deviceRules() are the sequence "a" to devices.deny
// (deny everything, drop every exception), then each rule in order to devices.allow or
// devices.deny ("c 1:3 rwm"), one write per rule since the kernel takes one rule per write.
//
// A new cgroup gets that whole sequence. A cgroup that already has rules (an update) gets only
// the transitions from the rules it has, read from devices.list, to the new ones, as runc's
// emulator does: nothing the new rules keep allowing is ever denied on the way, and without
// the "a" write, which the kernel refuses once the cgroup has sub-cgroups. That needs the
// kernel's model, played here (security/device_cgroup.c):
//   - a default, allow or deny, and a list of exceptions keyed by type, major and minor
//     (wildcards included, matched as written: "c *:*" is its own key);
//   - "a" sets the default and empties the list;
//   - a rule that goes against the default adds its access to the exception of its key; one
//     that goes with the default removes its access from that exception (exact key only);
//   - devices.list shows the exceptions of a default-deny cgroup, but only "a *:* rwm" for a
//     default-allow one, whose exceptions are then unknown.
import { RuntimeError } from '../../errors';
import type { LinuxResources } from '../../spec/types';
import { deviceRules, formatDeviceRule } from '../device-rules';
import { readCgroupFileOrNull, writeCgroupFile } from '../fs';
import type { ApplyContext, Controller } from '../types';

type Write = [file: 'devices.allow' | 'devices.deny', line: string];

/** The (file, line) writes that set the rules of `resources` from any state, in order. */
export function deviceWrites(resources: LinuxResources): Write[] {
  const writes: Write[] = [['devices.deny', 'a']];
  for (const rule of deviceRules(resources)) {
    writes.push([rule.allow ? 'devices.allow' : 'devices.deny', formatDeviceRule(rule)]);
  }
  return writes;
}

/** A devices cgroup as the kernel keeps it: key "c 1:3" -> access letters. */
export interface DeviceState {
  allowByDefault: boolean;
  exceptions: Map<string, string>;
}

const LETTERS = ['r', 'w', 'm'];
const union = (a: string, b: string) => LETTERS.filter((l) => a.includes(l) || b.includes(l)).join('');
const minus = (a: string, b: string) => LETTERS.filter((l) => a.includes(l) && !b.includes(l)).join('');

/** The state the kernel reaches when `writes` are made, one by one, from `start`. */
export function playDeviceWrites(writes: Write[], start?: DeviceState): DeviceState {
  const state: DeviceState = {
    allowByDefault: start?.allowByDefault ?? true,
    exceptions: new Map(start?.exceptions),
  };
  for (const [file, line] of writes) {
    const allow = file === 'devices.allow';
    if (line.startsWith('a')) {
      state.allowByDefault = allow;
      state.exceptions.clear();
      continue;
    }
    const [type, numbers, access = ''] = line.split(' ');
    const key = `${type} ${numbers}`;
    const old = state.exceptions.get(key) ?? '';
    const now = allow === state.allowByDefault ? minus(old, access) : union(old, access);
    if (now === '') state.exceptions.delete(key);
    else state.exceptions.set(key, now);
  }
  return state;
}

/** devices.list; null for a default-allow cgroup (its exceptions are not shown). */
export function parseDevicesList(text: string): DeviceState | null {
  const exceptions = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [type, numbers, access] = line.trim().split(/\s+/);
    if (!type) continue;
    if (type === 'a') return null;
    exceptions.set(`${type} ${numbers}`, union(exceptions.get(`${type} ${numbers}`) ?? '', access ?? ''));
  }
  return { allowByDefault: false, exceptions };
}

/**
 * The writes that take a cgroup whose devices.list reads `list` (null: unknown, a new cgroup
 * of a test tree) to the rules of `resources`. From a default-deny cgroup to default-deny
 * rules: first every access gained, then every access dropped, so that no device the rules
 * keep is denied for a moment (the list holds the old and the new access in between, never
 * less than either). A default to change, or unknown exceptions, take the "a" write first.
 */
export function deviceTransition(list: string | null, resources: LinuxResources): Write[] {
  const full = deviceWrites(resources);
  const target = playDeviceWrites(full);
  const current = list === null ? null : parseDevicesList(list);
  if (target.allowByDefault) {
    // Allow everything but the exceptions: "a" to allow clears whatever was there.
    return [
      ['devices.allow', 'a'],
      ...[...target.exceptions].map(([key, access]): Write => ['devices.deny', `${key} ${access}`]),
    ];
  }
  if (current === null) return full;
  const writes: Write[] = [];
  for (const [key, access] of target.exceptions) {
    const gained = minus(access, current.exceptions.get(key) ?? '');
    if (gained) writes.push(['devices.allow', `${key} ${gained}`]);
  }
  for (const [key, access] of current.exceptions) {
    const dropped = minus(access, target.exceptions.get(key) ?? '');
    if (dropped) writes.push(['devices.deny', `${key} ${dropped}`]);
  }
  return writes;
}

function sameState(a: DeviceState, b: DeviceState): boolean {
  if (a.allowByDefault !== b.allowByDefault || a.exceptions.size !== b.exceptions.size) return false;
  return [...a.exceptions].every(([key, access]) => b.exceptions.get(key) === access);
}

export const devicesController: Controller = {
  name: 'devices',

  apply(dir: string, resources: LinuxResources, ctx: ApplyContext): void {
    // An update that names no device rules keeps the container's (it carries only the changes).
    if (ctx.update && resources.devices === undefined) return;
    const list = readCgroupFileOrNull(dir, 'devices.list');
    for (const [file, line] of deviceTransition(list, resources)) writeCgroupFile(dir, file, line);
    if (list === null) return;
    // As runc: the rules the kernel ended up with must be exactly the ones asked for.
    const target = playDeviceWrites(deviceWrites(resources));
    const after = readCgroupFileOrNull(dir, 'devices.list');
    const reached = after === null ? null : parseDevicesList(after);
    if (reached === null ? !target.allowByDefault : !sameState(reached, target)) {
      throw new RuntimeError(
        `linux.resources.devices: the devices cgroup does not hold the rules asked for (devices.list: ${JSON.stringify(after)})`,
      );
    }
  },
};
