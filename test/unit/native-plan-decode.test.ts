// The addon's plan decoder (addon/binding.cc DecodePlan) is the last line before clone: a user
// or group id of 4294967295 ((uid_t)-1, "leave unchanged" to setresuid, setresgid, setgroups
// and fchown) would leave the container root, and a non-number additional gid used to become
// group 0. spawnInit must refuse such a plan before it clones or opens anything. The config
// checks refuse these ids first (test/unit/spec-ids.test.ts); this calls the real addon with a
// plan made by hand.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';

import { native } from '../../src/native';
import type { NativeDevice, NativePlan } from '../../src/plan/types';

const UNCHANGED = 4294967295;

/** A plan the decoder accepts: no namespaces, nothing to join, no rootfs work. */
function plan(overrides: Partial<NativePlan> = {}): NativePlan {
  return {
    joinNamespaces: [],
    newUserNamespace: false,
    newNamespaceFlags: 0,
    timeOffsets: '',
    oomScoreAdj: null,
    rlimits: [],
    sessionKeyringName: null,
    rootfs: '/nonexistent-tsrunc-rootfs',
    buildRootfs: false,
    enterRoot: 'none',
    rootPropagation: 0,
    rootPropagationAfterPivot: 0,
    rootReadonly: false,
    noPivot: true,
    mounts: [],
    devices: [],
    symlinks: [],
    maskedPaths: [],
    readonlyPaths: [],
    sysctl: [],
    hostname: null,
    domainname: null,
    args: ['/bin/true'],
    env: [],
    searchPath: '/bin',
    executable: null,
    cwd: '/',
    uid: 1000,
    gid: 1000,
    additionalGids: [],
    umask: 0o022,
    capabilities: null,
    noNewPrivileges: false,
    personality: -1,
    terminal: false,
    consoleRows: 0,
    consoleColumns: 0,
    execMode: false,
    consoleSocketFd: -1,
    execFifoFd: -1,
    stdio: [0, 1, 2],
    extraFds: [],
    seccomp: null,
    ...overrides,
  };
}

function device(ids: Partial<NativeDevice>): NativeDevice {
  return {
    path: '/dev/null',
    type: 0o020000,
    major: 1,
    minor: 3,
    mode: 0o666,
    uid: 0,
    gid: 0,
    bindFromHost: false,
    ...ids,
  };
}

/** Children of this process, from every thread (a clone made by spawnInit would be one). */
function children(): string[] {
  return fs
    .readdirSync('/proc/self/task')
    .flatMap((tid) => fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim().split(/\s+/))
    .filter((pid) => pid !== '')
    .sort();
}

function openFds(): string[] {
  return fs.readdirSync('/proc/self/fd').sort();
}

/** spawnInit's error for this plan; no process and no fd may appear. */
function refusal(bad: NativePlan): string {
  const before = { children: children(), fds: openFds() };
  let message = '';
  try {
    const spawned = native().spawnInit(bad);
    // Accepted (the defect): stage 1 waits for the parent's go, so closing our end ends it.
    native().closeFd(spawned.syncFd);
    native().waitPid(spawned.intermediatePid, true);
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    message = (error as Error).message;
  }
  expect({ children: children(), fds: openFds() }).toEqual(before);
  return message;
}

const EXPECTED_ID = 'expected id 0..4294967294 (4294967295, (uid_t)-1 or (gid_t)-1, means "unchanged")';

describe('spawnInit refuses (uid_t)-1 and (gid_t)-1 before cloning anything', () => {
  it.each([
    ['uid', { uid: UNCHANGED }, 'uid'],
    ['gid', { gid: UNCHANGED }, 'gid'],
    ['an additional gid', { additionalGids: [10, UNCHANGED] }, 'additionalGids[]'],
    ["a device's uid", { devices: [device({ uid: UNCHANGED })] }, 'uid'],
    ["a device's gid", { devices: [device({ gid: UNCHANGED })] }, 'gid'],
  ])('%s of 4294967295', (_, overrides, field) => {
    expect(refusal(plan(overrides))).toBe(`spawnInit: plan field ${field}: ${EXPECTED_ID}`);
  });

  it.each([
    ['a string', '0'],
    ['null', null],
    ['a fraction', 1.5],
    ['a negative number', -1],
    ['past uint32', 2 ** 32],
  ])('an additional gid that is %s is an error, never group 0', (_, gid) => {
    expect(refusal(plan({ additionalGids: [10, gid as number] }))).toBe(
      `spawnInit: plan field additionalGids[]: ${EXPECTED_ID}`,
    );
  });

  it('a uid that is not an integer is refused too', () => {
    expect(refusal(plan({ uid: 0.5 }))).toBe(`spawnInit: plan field uid: ${EXPECTED_ID}`);
    expect(refusal(plan({ uid: '0' as unknown as number }))).toBe(
      `spawnInit: plan field uid: ${EXPECTED_ID}`,
    );
  });
});

describe('spawnInit refuses strings with a NUL byte (the C string would be cut short)', () => {
  const mount = {
    source: 'tmpfs',
    destination: '/tmp\0/../../etc',
    fstype: 'tmpfs',
    flags: 0,
    propagation: 0,
    data: '',
    remountFlags: 0,
    destinationKind: 'dir' as const,
    noSymlinks: false,
    readonlyLateFlags: 0,
    recursiveAttrSet: 0,
    recursiveAttrClear: 0,
    recursiveAttrOptional: false,
    sourceFd: -1,
  };
  it.each([
    ['a mount destination', { mounts: [mount] }, 'destination: expected string without a NUL byte'],
    ['the rootfs', { rootfs: '/a\0b' }, 'rootfs: expected string without a NUL byte'],
    ['an argument', { args: ['/bin/true', 'a\0b'] }, 'args: expected string[] without NUL bytes'],
    ['a masked path', { maskedPaths: ['/proc\0/kcore'] }, 'maskedPaths: expected string[] without NUL bytes'],
  ])('in %s', (_, overrides, problem) => {
    expect(refusal(plan(overrides as Partial<NativePlan>))).toBe(`spawnInit: plan field ${problem}`);
  });
});

describe('spawnInit refuses a mount sourceFd that is neither an fd nor -1', () => {
  const mount = {
    source: '/tmp',
    destination: '/mnt',
    fstype: '',
    flags: 0x1000,
    propagation: 0,
    data: '',
    remountFlags: 0,
    destinationKind: 'dir' as const,
    noSymlinks: false,
    readonlyLateFlags: 0,
    recursiveAttrSet: 0,
    recursiveAttrClear: 0,
    recursiveAttrOptional: false,
  };
  it.each([[-2], [1.5], ['3'], [2 ** 31], [undefined]])('%s', (sourceFd) => {
    expect(refusal(plan({ mounts: [{ ...mount, sourceFd: sourceFd as number }] }))).toBe(
      'spawnInit: plan field sourceFd: expected fd 0..2147483647 or -1',
    );
  });
});

describe('spawnInit refuses a stdio map that is not fds', () => {
  it.each([
    ['stdio that is not an array', { stdio: 0 }, 'stdio: expected array'],
    ['stdio of 2 fds', { stdio: [0, 1] }, 'stdio: expected array of 3 fds'],
    ['stdio of 4 fds', { stdio: [0, 1, 2, 3] }, 'stdio: expected array of 3 fds'],
    ['a negative stdio fd', { stdio: [0, -1, 2] }, 'stdio[]: expected fd 0..2147483647'],
    ['a stdio fd that is a string', { stdio: ['0', 1, 2] }, 'stdio[]: expected fd 0..2147483647'],
    ['extraFds that is not an array', { extraFds: 3 }, 'extraFds: expected array'],
    ['a negative extra fd', { extraFds: [-1] }, 'extraFds[]: expected fd 0..2147483647'],
    ['an extra fd that is a fraction', { extraFds: [3.5] }, 'extraFds[]: expected fd 0..2147483647'],
    ['an extra fd past int32', { extraFds: [2 ** 31] }, 'extraFds[]: expected fd 0..2147483647'],
  ])('%s', (_, overrides, problem) => {
    expect(refusal(plan(overrides as unknown as Partial<NativePlan>))).toBe(
      `spawnInit: plan field ${problem}`,
    );
  });

  it('an fd that is not open is refused with code EBADF, before anything is cloned or opened', () => {
    // An fd number surely closed: above every open one.
    const closed = Math.max(...openFds().map(Number)) + 100;
    for (const overrides of [{ stdio: [0, closed, 2] }, { extraFds: [1, closed] }] as Partial<NativePlan>[]) {
      const before = { children: children(), fds: openFds() };
      let caught: unknown;
      try {
        const spawned = native().spawnInit(plan(overrides));
        native().closeFd(spawned.syncFd);
        native().waitPid(spawned.intermediatePid, true);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(Error);
      expect((caught as NodeJS.ErrnoException).code).toBe('EBADF');
      expect((caught as Error).message).toMatch(
        new RegExp(`^spawnInit: (stdio\\[1\\]|extraFds\\[1\\]): fd ${closed}: bad file descriptor$`, 'i'),
      );
      expect({ children: children(), fds: openFds() }).toEqual(before);
    }
  });
});
