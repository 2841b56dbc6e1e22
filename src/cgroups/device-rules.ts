// The device access rules of a container, in the order they apply: the config's
// linux.resources.devices, then the devices every container may use (runc's default allow list:
// the default /dev nodes, ptys, tun). The v1 devices controller writes them after a deny-all;
// the v2 eBPF program evaluates them, the last matching rule winning as on v1.
import type { LinuxResources } from '../spec/types';
import { resourceError } from './v2/common';

export interface DeviceRule {
  allow: boolean;
  /** 'a' (all), 'c' or 'b'. */
  type: 'a' | 'c' | 'b';
  /** -1 is the wildcard "*". */
  major: number;
  minor: number;
  /** Some of "rwm". */
  access: string;
}

const WILDCARD = -1;

const DEFAULT_ALLOWED: DeviceRule[] = [
  { allow: true, type: 'c', major: WILDCARD, minor: WILDCARD, access: 'm' },
  { allow: true, type: 'b', major: WILDCARD, minor: WILDCARD, access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // console
  { allow: true, type: 'c', major: 136, minor: WILDCARD, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // net/tun
];

export function deviceRules(resources: LinuxResources | undefined): DeviceRule[] {
  const configured = (resources?.devices ?? []).map((d, i): DeviceRule => ({
    allow: d.allow,
    type: (d.type || 'a') as DeviceRule['type'],
    major: d.major ?? WILDCARD,
    minor: d.minor ?? WILDCARD,
    access: d.access === undefined ? 'rwm' : canonicalAccess(d.access, `devices[${i}].access`),
  }));
  return [...configured, ...DEFAULT_ALLOWED];
}

/**
 * The access letters as the kernel takes them: each once, in the order r, w, m. runc accepts
 * them in any order and repeated ("wr", "rrw"); the kernel reads three letters at most, so
 * "rrrw" written as is would allow only r. Anything but r, w and m, or none, is refused.
 */
export function canonicalAccess(access: string, field = 'devices[].access'): string {
  if (access === '' || !/^[rwm]+$/.test(access)) {
    throw resourceError(field, `${JSON.stringify(access)} must be made of r, w and m`);
  }
  return ['r', 'w', 'm'].filter((letter) => access.includes(letter)).join('');
}

/** The v1 devices.allow / devices.deny line: "c 1:3 rwm", "a *:* rwm". */
export function formatDeviceRule(rule: DeviceRule): string {
  const number = (n: number) => (n === WILDCARD ? '*' : String(n));
  return `${rule.type} ${number(rule.major)}:${number(rule.minor)} ${rule.access}`;
}
