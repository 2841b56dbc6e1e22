// `tsrunc features` against the official features schema (compiled at test time only).
import * as fs from 'fs';
import * as path from 'path';
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';

import { features } from '../../src/runtime/features';
import { officialSpecDir } from '../helpers/official-spec';
import { CAPABILITIES } from '../../src/spec/capabilities';
import { RLIMITS } from '../../src/spec/rlimits';

const SPEC = officialSpecDir();

function officialFeaturesValidator(): ReturnType<Ajv['compile']> {
  const ajv = new Ajv({ strict: false });
  for (const file of fs.readdirSync(SPEC).filter((f) => f.endsWith('.json'))) {
    const schema = JSON.parse(fs.readFileSync(path.join(SPEC, file), 'utf8')) as Record<string, unknown>;
    delete schema.$schema; // draft-04 header; the keywords used are the same in draft-07
    ajv.addSchema(schema, `https://opencontainers.org/schema/${file}`);
  }
  const validate = ajv.getSchema('https://opencontainers.org/schema/features-schema.json');
  if (!validate) throw new Error('cannot compile features-schema.json');
  return validate;
}

describe('features', () => {
  const validate = officialFeaturesValidator();

  it('the official validator works on the official examples', () => {
    for (const kind of ['good', 'bad']) {
      const dir = path.join(SPEC, 'test/features', kind);
      const names = fs.readdirSync(dir);
      expect(names.length, dir).toBeGreaterThan(0);
      for (const name of names) {
        expect(validate(JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'))), name).toBe(
          kind === 'good',
        );
      }
    }
  });

  it('validates against features-schema.json', () => {
    const doc = JSON.parse(JSON.stringify(features()));
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
  });

  it('says what tsrunc implements', () => {
    const doc = features() as {
      ociVersionMin: string;
      ociVersionMax: string;
      hooks: string[];
      mountOptions: string[];
      linux: Record<string, unknown> & {
        namespaces: string[];
        capabilities: string[];
        seccomp: {
          enabled: boolean;
          actions: string[];
          operators: string[];
          archs: string[];
          supportedFlags: string[];
        };
      };
    };
    expect(doc.ociVersionMin).toBe('1.0.0');
    expect(doc.ociVersionMax).toBe('1.3.0');
    expect(doc.hooks).toEqual([
      'prestart',
      'createRuntime',
      'createContainer',
      'startContainer',
      'poststart',
      'poststop',
    ]);
    expect(doc.mountOptions).toContain('rbind');
    expect(doc.mountOptions).toContain('nosymfollow');
    // The recursive options of runtime-spec 1.1 (mount_setattr), not idmapped mounts.
    expect(doc.mountOptions).toEqual(
      expect.arrayContaining(['rro', 'rrw', 'rnosuid', 'rnoatime', 'rsymfollow']),
    );
    expect(doc.mountOptions).not.toContain('idmap');
    expect([...doc.linux.namespaces].sort()).toEqual([
      'cgroup',
      'ipc',
      'mount',
      'network',
      'pid',
      'time',
      'user',
      'uts',
    ]);
    expect(doc.linux.capabilities).toEqual([...CAPABILITIES]);
    expect(doc.linux.cgroup).toEqual({ v1: true, v2: true, systemd: false, systemdUser: false });
    expect(doc.linux.seccomp.enabled).toBe(true);
    expect(doc.linux.seccomp.actions).toContain('SCMP_ACT_ERRNO');
    expect(doc.linux.seccomp.actions).toContain('SCMP_ACT_NOTIFY');
    expect(doc.linux.seccomp.operators).toContain('SCMP_CMP_MASKED_EQ');
    expect(doc.linux.seccomp.archs).toContain('SCMP_ARCH_X86_64');
    expect(doc.linux.seccomp.supportedFlags).toContain('SECCOMP_FILTER_FLAG_LOG');
    expect(doc.linux.seccomp.supportedFlags).toContain('SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV');
    expect(doc.linux.apparmor).toEqual({ enabled: false });
    expect(doc.linux.selinux).toEqual({ enabled: false });
  });
});

describe('capability and rlimit tables', () => {
  it('numbers capabilities as linux/capability.h does', () => {
    expect(CAPABILITIES).toHaveLength(41);
    expect(CAPABILITIES[0]).toBe('CAP_CHOWN');
    expect(CAPABILITIES[21]).toBe('CAP_SYS_ADMIN');
    expect(CAPABILITIES[29]).toBe('CAP_AUDIT_WRITE');
    expect(CAPABILITIES[40]).toBe('CAP_CHECKPOINT_RESTORE');
    expect(new Set(CAPABILITIES).size).toBe(41);
  });

  it('numbers rlimits as asm-generic/resource.h does', () => {
    expect(Object.keys(RLIMITS)).toHaveLength(16);
    expect(RLIMITS.RLIMIT_CPU).toBe(0);
    expect(RLIMITS.RLIMIT_NOFILE).toBe(7);
    expect(RLIMITS.RLIMIT_RTTIME).toBe(15);
    expect(new Set(Object.values(RLIMITS)).size).toBe(16);
  });
});
