import { describe, expect, it } from 'vitest';

import { MS } from '../../src/plan/linux';
import { parseMountOptions, rootPropagationFlags } from '../../src/plan/mount-options';

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
    expect(parseMountOptions(undefined)).toEqual({ flags: 0, propagation: 0, data: '', isBind: false });
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
