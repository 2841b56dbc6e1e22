import { describe, expect, it } from 'vitest';

import { MOUNT_ATTR as A, MS } from '../../src/plan/linux';
import { knownMountOptions, parseMountOptions, rootPropagationFlags } from '../../src/plan/mount-options';

describe('parseMountOptions', () => {
  it('turns flag options into mount flags and leaves the rest as data', () => {
    const parsed = parseMountOptions(['nosuid', 'noexec', 'nodev', 'mode=755', 'size=65536k', 'strictatime']);
    expect(parsed.flags).toBe(MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.STRICTATIME);
    expect(parsed.data).toBe('mode=755,size=65536k');
    expect(parsed.isBind).toBe(false);
  });

  it('lets a later option clear an earlier one, as mount(8) does', () => {
    expect(parseMountOptions(['ro', 'rw']).flags & MS.RDONLY).toBe(0);
    expect(parseMountOptions(['rw', 'ro']).flags & MS.RDONLY).toBe(MS.RDONLY);
    expect(parseMountOptions(['nosuid', 'suid']).flags).toBe(0);
    expect(parseMountOptions(['noatime', 'atime']).flags).toBe(0);
  });

  it('recognises bind and rbind', () => {
    expect(parseMountOptions(['bind']).flags).toBe(MS.BIND);
    expect(parseMountOptions(['rbind', 'ro']).flags).toBe(MS.BIND | MS.REC | MS.RDONLY);
    expect(parseMountOptions(['rbind']).isBind).toBe(true);
  });

  it('keeps propagation apart from the mount flags', () => {
    const parsed = parseMountOptions(['rbind', 'rslave']);
    expect(parsed.propagation).toBe(MS.SLAVE | MS.REC);
    expect(parsed.flags).toBe(MS.BIND | MS.REC);
    expect(parseMountOptions(['shared']).propagation).toBe(MS.SHARED);
    expect(parseMountOptions(['runbindable']).propagation).toBe(MS.UNBINDABLE | MS.REC);
  });

  it('handles no options', () => {
    expect(parseMountOptions(undefined)).toEqual({
      flags: 0,
      propagation: 0,
      data: '',
      isBind: false,
      recursiveSet: 0,
      recursiveClear: 0,
    });
  });

  it('reads the recursive options as mount_setattr attributes, never as data or mount flags', () => {
    const set = parseMountOptions([
      'rbind',
      'rro',
      'rnosuid',
      'rnodev',
      'rnoexec',
      'rnosymfollow',
      'rnodiratime',
    ]);
    expect(set).toMatchObject({ flags: MS.BIND | MS.REC, data: '', recursiveClear: 0 });
    expect(set.recursiveSet).toBe(A.RDONLY | A.NOSUID | A.NODEV | A.NOEXEC | A.NOSYMFOLLOW | A.NODIRATIME);
    const clear = parseMountOptions(['rrw', 'rsuid', 'rdev', 'rexec', 'rsymfollow', 'rdiratime']);
    expect(clear).toMatchObject({ flags: 0, data: '', recursiveSet: 0 });
    expect(clear.recursiveClear).toBe(
      A.RDONLY | A.NOSUID | A.NODEV | A.NOEXEC | A.NOSYMFOLLOW | A.NODIRATIME,
    );
  });

  it('lets a later recursive option win over an earlier one about the same attribute', () => {
    expect(parseMountOptions(['rro', 'rrw'])).toMatchObject({ recursiveSet: 0, recursiveClear: A.RDONLY });
    expect(parseMountOptions(['rrw', 'rro'])).toMatchObject({ recursiveSet: A.RDONLY, recursiveClear: 0 });
  });

  it('replaces the atime mode as a whole; the "not that mode" options mean relatime', () => {
    const mode = (...options: string[]) => parseMountOptions(options);
    expect(mode('rnoatime')).toMatchObject({ recursiveSet: A.NOATIME, recursiveClear: A.ATIME_MASK });
    expect(mode('rstrictatime')).toMatchObject({ recursiveSet: A.STRICTATIME, recursiveClear: A.ATIME_MASK });
    expect(mode('rnoatime', 'rstrictatime').recursiveSet).toBe(A.STRICTATIME);
    for (const relatime of ['rrelatime', 'ratime', 'rnorelatime', 'rnostrictatime']) {
      expect(mode('rnoatime', relatime), relatime).toMatchObject({
        recursiveSet: 0,
        recursiveClear: A.ATIME_MASK,
      });
    }
    // rnodiratime is a flag of its own, outside the atime mode.
    expect(mode('rnoatime', 'rnodiratime').recursiveSet).toBe(A.NOATIME | A.NODIRATIME);
  });

  it('lists the recursive options among the known ones (tsrunc features)', () => {
    expect(knownMountOptions()).toEqual(
      expect.arrayContaining(['rro', 'rrw', 'rnosymfollow', 'rstrictatime', 'ratime']),
    );
  });
});

describe('rootPropagationFlags', () => {
  it('defaults to rslave like runc', () => {
    expect(rootPropagationFlags(undefined)).toBe(MS.SLAVE | MS.REC);
  });
  it('maps the spec values', () => {
    expect(rootPropagationFlags('private')).toBe(MS.PRIVATE);
    expect(rootPropagationFlags('rshared')).toBe(MS.SHARED | MS.REC);
  });
});
