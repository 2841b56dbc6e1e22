import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { defaultSpec } from '../../src/runtime/default-spec';
import { validateConfig } from '../../src/spec/validate';
import type { Spec } from '../../src/spec/types';

/** `runc spec` (and `--rootless`, as root) of runc 1.1.5, as it wrote them on Debian 12. */
function runcSpec(name: 'runc-1.1.5-spec' | 'runc-1.1.5-spec-rootless'): Spec {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', `${name}.json`), 'utf8')) as Spec;
}

/** What tsrunc writes differently on purpose: its version and hostname, and no ambient set
 *  (runc's cannot be raised without an inheritable one; README). */
function asTsrunc(spec: Spec): Spec {
  const copy = structuredClone(spec);
  copy.ociVersion = '1.3.0';
  copy.hostname = 'tsrunc';
  delete copy.process?.capabilities?.ambient;
  return copy;
}

describe('defaultSpec', () => {
  it('is the document runc 1.1.5 writes, but for version, hostname and ambient set', () => {
    expect(defaultSpec({ rootless: false })).toEqual(asTsrunc(runcSpec('runc-1.1.5-spec')));
  });

  it('rootless: is the document `runc spec --rootless` writes, but for the same three', () => {
    expect(defaultSpec({ rootless: true, uid: 0, gid: 0 })).toEqual(
      asTsrunc(runcSpec('runc-1.1.5-spec-rootless')),
    );
  });

  it('passes our own validation for create, without warnings', () => {
    const { warnings } = validateConfig(defaultSpec({ rootless: false }), { requireProcess: true });
    expect(warnings).toEqual([]);
  });

  it('is runc 1.1 spec output with our hostname and version', () => {
    const spec = defaultSpec({ rootless: false }) as Spec;
    expect(spec.ociVersion).toBe('1.3.0');
    expect(spec.hostname).toBe('tsrunc');
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    expect(spec.process?.terminal).toBe(true);
    expect(spec.process?.args).toEqual(['sh']);
    expect(spec.process?.cwd).toBe('/');
    expect(spec.process?.noNewPrivileges).toBe(true);
    expect(spec.process?.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
    const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    expect(spec.process?.capabilities).toEqual({ bounding: caps, effective: caps, permitted: caps });
    expect(spec.process?.capabilities?.inheritable).toBeUndefined();
    // No cgroup namespace, as runc: a config that adds one is then not a duplicate.
    expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount']);
    expect(spec.mounts?.map((m) => `${m.destination}:${m.type}`)).toEqual([
      '/proc:proc',
      '/dev:tmpfs',
      '/dev/pts:devpts',
      '/dev/shm:tmpfs',
      '/dev/mqueue:mqueue',
      '/sys:sysfs',
      '/sys/fs/cgroup:cgroup',
    ]);
    expect(spec.linux?.resources).toEqual({ devices: [{ allow: false, access: 'rwm' }] });
    expect(spec.linux?.maskedPaths).toContain('/proc/kcore');
    expect(spec.linux?.readonlyPaths).toContain('/proc/sys');
  });

  it('returns a fresh document each time', () => {
    const a = defaultSpec({ rootless: false }) as Spec;
    a.process?.args?.push('mutated');
    expect((defaultSpec({ rootless: false }) as Spec).process?.args).toEqual(['sh']);
  });

  it('rootless: passes our own validation for create, without warnings', () => {
    const { warnings } = validateConfig(defaultSpec({ rootless: true }), { requireProcess: true });
    expect(warnings).toEqual([]);
  });

  it('rootless: user namespace for the given ids, no network namespace, /sys bound, no cgroup resources', () => {
    const spec = defaultSpec({ rootless: true, uid: 1234, gid: 5678 }) as Spec;
    const types = spec.linux?.namespaces?.map((n) => n.type);
    expect(types).toContain('user');
    expect(types).not.toContain('network');
    expect(spec.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 1234, size: 1 }]);
    expect(spec.linux?.gidMappings).toEqual([{ containerID: 0, hostID: 5678, size: 1 }]);
    expect(spec.linux?.resources).toBeUndefined();
    const sys = spec.mounts?.find((m) => m.destination === '/sys');
    expect(sys).toEqual({
      destination: '/sys',
      type: 'none',
      source: '/sys',
      options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
    });
    const pts = spec.mounts?.find((m) => m.destination === '/dev/pts');
    expect(pts?.options?.some((o) => o.startsWith('gid='))).toBe(false);
  });

  it('rootless: defaults to the effective ids of the caller', () => {
    const spec = defaultSpec({ rootless: true }) as Spec;
    expect(spec.linux?.uidMappings?.[0].hostID).toBe(process.geteuid?.());
    expect(spec.linux?.gidMappings?.[0].hostID).toBe(process.getegid?.());
  });
});
