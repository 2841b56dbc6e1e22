// (uid_t)-1 / (gid_t)-1: 4294967295 fits the schema's uint32, but setresuid, setresgid and fchown
// read it as "leave unchanged", so a config asking for it would keep the runtime's ids (root).
// Every place a config takes a user or group id refuses it, naming the field; 4294967294, the
// highest real id, is still accepted.
import { describe, expect, it } from 'vitest';

import { RuntimeError } from '../../src/errors';
import type { Spec } from '../../src/spec/types';
import { parseIdFlag } from '../../src/spec/ids';
import { validateConfig } from '../../src/spec/validate';

const UNCHANGED = 4294967295;
const HIGHEST = 4294967294;
const USER = '((uid_t)-1 means "unchanged" to the kernel)';
const GROUP = '((gid_t)-1 means "unchanged" to the kernel)';

type Mutator = (spec: Spec) => void;

function config(mutate: Mutator): Spec {
  const spec = {
    ociVersion: '1.3.0',
    root: { path: 'rootfs' },
    process: { cwd: '/', args: ['id'], user: { uid: 0, gid: 0 } },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: { namespaces: [{ type: 'mount' }, { type: 'pid' }] },
  } as Spec;
  mutate(spec);
  return spec;
}

/** The validator's one line for this config, or '' when it is accepted. */
function problem(mutate: Mutator): string {
  try {
    validateConfig(config(mutate), { requireProcess: true });
    return '';
  } catch (error) {
    expect(error).toBeInstanceOf(RuntimeError);
    return (error as Error).message;
  }
}

function withUserNamespace(spec: Spec): NonNullable<Spec['linux']> {
  const linux = spec.linux!;
  linux.namespaces!.push({ type: 'user' });
  linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  return linux;
}

function tmpfsWith(...options: string[]): Mutator {
  return (spec) => {
    spec.mounts!.push({
      destination: '/run',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', ...options],
    });
  };
}

describe('process.user', () => {
  it('uid 4294967295 is refused, 4294967294 accepted', () => {
    expect(problem((s) => (s.process!.user!.uid = UNCHANGED))).toBe(
      `config.json: process.user.uid: 4294967295 is not a valid user id ${USER}`,
    );
    expect(problem((s) => (s.process!.user!.uid = HIGHEST))).toBe('');
  });

  it('gid 4294967295 is refused, 4294967294 accepted', () => {
    expect(problem((s) => (s.process!.user!.gid = UNCHANGED))).toBe(
      `config.json: process.user.gid: 4294967295 is not a valid group id ${GROUP}`,
    );
    expect(problem((s) => (s.process!.user!.gid = HIGHEST))).toBe('');
  });

  it('an additional gid of 4294967295 is refused by its index', () => {
    expect(problem((s) => (s.process!.user!.additionalGids = [0, 10, UNCHANGED]))).toBe(
      `config.json: process.user.additionalGids[2]: 4294967295 is not a valid group id ${GROUP}`,
    );
    expect(problem((s) => (s.process!.user!.additionalGids = [HIGHEST, 10]))).toBe('');
  });
});

describe('uid= and gid= mount options', () => {
  it.each([
    ['uid=4294967295', 'user', USER],
    ['gid=4294967295', 'group', GROUP],
    ['uid=0xffffffff', 'user', USER],
    ['gid=0XFFFFFFFF', 'group', GROUP],
    ['uid=037777777777', 'user', USER],
    ['gid=+4294967295', 'group', GROUP],
    ['uid=-1', 'user', USER],
    ['user_id=4294967295', 'user', USER],
    ['group_id=4294967295', 'group', GROUP],
  ])('%s (read by the kernel as (%s id)-1) is refused, naming the option', (option, kind, why) => {
    expect(problem(tmpfsWith('mode=755', option))).toBe(
      `config.json: mounts[1].options[2]: ${option} is not a valid ${kind} id ${why}`,
    );
  });

  it.each([
    'uid=4294967294',
    'gid=0',
    'uid=1000',
    'gid=0x10',
    'mode=4294967295',
    'size=4294967295',
    'nr_inodes=4294967295',
  ])('%s is accepted', (option) => {
    expect(problem(tmpfsWith('mode=755', option))).toBe('');
  });

  it('a bind mount is checked too (its options are never data the kernel reads, but never root)', () => {
    expect(
      problem((s) => {
        s.mounts!.push({ destination: '/mnt', type: 'bind', source: '/tmp', options: ['rbind', 'gid=-1'] });
      }),
    ).toBe(`config.json: mounts[1].options[1]: gid=-1 is not a valid group id ${GROUP}`);
  });
});

describe('linux.devices', () => {
  const device = (ids: { uid?: number; gid?: number }): Mutator => {
    return (spec) => {
      spec.linux!.devices = [
        { path: '/dev/null2', type: 'c', major: 1, minor: 3 },
        { path: '/dev/fuse', type: 'c', major: 10, minor: 229, ...ids },
      ];
    };
  };

  it('uid or gid 4294967295 is refused by its index; 4294967294 accepted', () => {
    expect(problem(device({ uid: UNCHANGED }))).toBe(
      `config.json: linux.devices[1].uid: 4294967295 is not a valid user id ${USER}`,
    );
    expect(problem(device({ gid: UNCHANGED }))).toBe(
      `config.json: linux.devices[1].gid: 4294967295 is not a valid group id ${GROUP}`,
    );
    expect(problem(device({ uid: HIGHEST, gid: HIGHEST }))).toBe('');
  });
});

describe('linux.uidMappings and linux.gidMappings', () => {
  it('a containerID or hostID of 4294967295 is refused', () => {
    expect(
      problem((s) => withUserNamespace(s).uidMappings!.push({ containerID: UNCHANGED, hostID: 1, size: 1 })),
    ).toBe(`config.json: linux.uidMappings[1].containerID: 4294967295 is not a valid user id ${USER}`);
    expect(
      problem((s) =>
        withUserNamespace(s).gidMappings!.push({ containerID: 70000, hostID: UNCHANGED, size: 1 }),
      ),
    ).toBe(`config.json: linux.gidMappings[1].hostID: 4294967295 is not a valid group id ${GROUP}`);
  });

  it('a range that ends at 4294967295 is refused, on either side', () => {
    expect(
      problem((s) => {
        withUserNamespace(s).uidMappings = [{ containerID: 4294901760, hostID: 0, size: 65536 }];
      }),
    ).toBe(
      'config.json: linux.uidMappings[0]: containerID range 4294901760..4294967295 includes 4294967295, ' +
        `which is not a valid user id ${USER}`,
    );
    expect(
      problem((s) => {
        withUserNamespace(s).gidMappings = [{ containerID: 0, hostID: 4294967200, size: 96 }];
      }),
    ).toBe(
      'config.json: linux.gidMappings[0]: hostID range 4294967200..4294967295 includes 4294967295, ' +
        `which is not a valid group id ${GROUP}`,
    );
  });

  it('a range past 4294967295 still overflows; one that ends at 4294967294 is accepted', () => {
    expect(
      problem((s) => {
        withUserNamespace(s).uidMappings = [{ containerID: 0, hostID: UNCHANGED, size: 2 }];
      }),
    ).toBe('config.json: linux.uidMappings[0]: hostID + size overflows uint32');
    expect(
      problem((s) => {
        withUserNamespace(s).uidMappings = [{ containerID: 4294901760, hostID: 4294901760, size: 65535 }];
      }),
    ).toBe('');
  });
});

describe("exec's --user and --additional-gids", () => {
  it('take decimal ids up to 4294967294 and refuse (uid_t)-1, naming the flag', () => {
    expect(parseIdFlag('--user', 'user', '4294967294')).toBe(HIGHEST);
    expect(parseIdFlag('--additional-gids', 'group', '0')).toBe(0);
    expect(() => parseIdFlag('--user', 'user', '4294967295')).toThrow(
      `--user: 4294967295 is not a valid user id ${USER}`,
    );
    expect(() => parseIdFlag('--additional-gids', 'group', '4294967295')).toThrow(
      `--additional-gids: 4294967295 is not a valid group id ${GROUP}`,
    );
    expect(() => parseIdFlag('--additional-gids', 'group', '4294967296')).toThrow(
      '--additional-gids: group id 4294967296 is out of range 0..4294967294',
    );
    expect(() => parseIdFlag('--additional-gids', 'group', 'wheel')).toThrow(
      '--additional-gids: invalid group id "wheel" (want a number)',
    );
    expect(() => parseIdFlag('--user', 'user', '-1')).toThrow('--user: invalid user id "-1" (want a number)');
  });
});
