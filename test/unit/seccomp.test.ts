import { describe, expect, it } from 'vitest';

import {
  buildSeccomp,
  type SeccompCompileInput,
  seccompAction,
  seccompCompileInput,
  seccompFlags,
} from '../../src/plan/seccomp';
import type { LinuxSeccomp } from '../../src/spec/types';

const ALLOW = 0x7fff0000;
const ERRNO = (errno: number) => 0x00050000 | errno;

describe('seccomp actions', () => {
  it('maps actions to SCMP_ACT_* values, errno defaulting to EPERM', () => {
    expect(seccompAction('SCMP_ACT_ALLOW', undefined, 'f')).toBe(ALLOW);
    expect(seccompAction('SCMP_ACT_KILL', undefined, 'f')).toBe(0);
    expect(seccompAction('SCMP_ACT_KILL_THREAD', undefined, 'f')).toBe(0);
    expect(seccompAction('SCMP_ACT_KILL_PROCESS', undefined, 'f')).toBe(0x80000000);
    expect(seccompAction('SCMP_ACT_TRAP', undefined, 'f')).toBe(0x00030000);
    expect(seccompAction('SCMP_ACT_LOG', undefined, 'f')).toBe(0x7ffc0000);
    expect(seccompAction('SCMP_ACT_ERRNO', undefined, 'f')).toBe(ERRNO(1));
    expect(seccompAction('SCMP_ACT_ERRNO', 38, 'f')).toBe(ERRNO(38));
    expect(seccompAction('SCMP_ACT_TRACE', undefined, 'f')).toBe(0x7ff00001);
    expect(seccompAction('SCMP_ACT_TRACE', 5, 'f')).toBe(0x7ff00005);
  });

  it('maps notify to SCMP_ACT_NOTIFY', () => {
    expect(seccompAction('SCMP_ACT_NOTIFY', undefined, 'f')).toBe(0x7fc00000);
  });

  it('maps flags, dropping the notify-only one when nothing notifies', () => {
    expect(seccompFlags(undefined)).toBe(0);
    expect(seccompFlags(['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG'])).toBe(3);
    expect(seccompFlags(['SECCOMP_FILTER_FLAG_SPEC_ALLOW'])).toBe(4);
    expect(seccompFlags(['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'])).toBe(0);
    expect(() => seccompFlags(['SECCOMP_FILTER_FLAG_NOPE'])).toThrow('linux.seccomp.flags[0]');
  });

  it('with notify rules: NEW_LISTENER, WAIT_KILLABLE_RECV kept, TSYNC_ESRCH added to TSYNC', () => {
    const NEW_LISTENER = 8;
    const TSYNC_ESRCH = 16;
    expect(seccompFlags(undefined, true)).toBe(NEW_LISTENER);
    expect(seccompFlags(['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'], true)).toBe(32 | NEW_LISTENER);
    expect(seccompFlags(['SECCOMP_FILTER_FLAG_TSYNC'], true)).toBe(1 | NEW_LISTENER | TSYNC_ESRCH);
  });
});

describe('seccomp compile input', () => {
  it('maps architectures, default errno, rules and operators', () => {
    const input = seccompCompileInput({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        {
          names: ['kill'],
          action: 'SCMP_ACT_ERRNO',
          errnoRet: 1,
          args: [
            { index: 1, value: 9, op: 'SCMP_CMP_EQ' },
            { index: 0, value: 0xff, valueTwo: 8, op: 'SCMP_CMP_MASKED_EQ' },
          ],
        },
      ],
    });
    expect(input).toEqual<SeccompCompileInput>({
      defaultAction: ERRNO(38),
      architectures: ['x86_64', 'x86', 'x32'],
      rules: [
        { name: 'read', action: ALLOW, args: [] },
        { name: 'write', action: ALLOW, args: [] },
        {
          name: 'kill',
          action: ERRNO(1),
          args: [
            { index: 1, op: 4, value: 9n, valueTwo: 0n },
            { index: 0, op: 7, value: 255n, valueTwo: 8n },
          ],
        },
      ],
      // The default already returns ENOSYS: no stub.
      enosysNames: [],
    });
  });

  it('names every syscall of the profile for the ENOSYS stub, unless the default lets all run', () => {
    const syscalls = [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' as const },
      // Dropped as a rule (it is the default action), still a name the profile knows.
      { names: ['clone3', 'read'], action: 'SCMP_ACT_ERRNO' as const },
    ];
    const stub = (defaultAction: LinuxSeccomp['defaultAction'], defaultErrnoRet?: number) =>
      seccompCompileInput({ defaultAction, defaultErrnoRet, syscalls }).enosysNames;
    expect(stub('SCMP_ACT_ERRNO')).toEqual(['read', 'write', 'clone3']);
    expect(stub('SCMP_ACT_KILL_PROCESS')).toEqual(['read', 'write', 'clone3']);
    expect(stub('SCMP_ACT_ERRNO', 13)).toEqual(['read', 'write', 'clone3']);
    expect(stub('SCMP_ACT_ERRNO', 38)).toEqual([]);
    expect(stub('SCMP_ACT_ALLOW')).toEqual([]);
    expect(stub('SCMP_ACT_LOG')).toEqual([]);
  });

  it('drops rules with the default action (errno included)', () => {
    const input = seccompCompileInput({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['a'], action: 'SCMP_ACT_ERRNO' },
        { names: ['b'], action: 'SCMP_ACT_ERRNO', errnoRet: 2 },
      ],
    });
    expect(input.rules.map((r) => r.name)).toEqual(['b']);
  });

  it('splits conditions on the same argument into separate rules (OR), as runc does', () => {
    const input = seccompCompileInput({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        {
          names: ['personality'],
          action: 'SCMP_ACT_ERRNO',
          args: [
            { index: 0, value: 0, op: 'SCMP_CMP_EQ' },
            { index: 0, value: 8, op: 'SCMP_CMP_EQ' },
          ],
        },
      ],
    });
    expect(input.rules.map((r) => r.args.map((a) => a.value))).toEqual([[0n], [8n]]);
  });

  it('names the field of an unsupported architecture or a bad argument index', () => {
    expect(() =>
      seccompCompileInput({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_M68K'] }),
    ).toThrow('linux.seccomp.architectures[0]: unsupported seccomp architecture SCMP_ARCH_M68K');
    expect(() =>
      seccompCompileInput({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['x'], action: 'SCMP_ACT_KILL', args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] },
        ],
      }),
    ).toThrow('linux.seccomp.syscalls[0].args[0].index');
  });
});

describe('buildSeccomp', () => {
  const seccomp: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    flags: ['SECCOMP_FILTER_FLAG_LOG'],
    syscalls: [{ names: ['mkdir', 'nosuchcall'], action: 'SCMP_ACT_ERRNO' }],
  };

  it('is null without linux.seccomp', () => {
    expect(
      buildSeccomp(
        undefined,
        () => ({ filter: Buffer.alloc(0), unknown: [] }),
        () => {},
      ),
    ).toBeNull();
  });

  it('compiles, and logs unknown syscalls at debug level', () => {
    const debug: string[] = [];
    let seen: SeccompCompileInput | undefined;
    const result = buildSeccomp(
      seccomp,
      (input) => {
        seen = input;
        return { filter: Buffer.alloc(16), unknown: ['nosuchcall'] };
      },
      (m) => debug.push(m),
    );
    expect(seen?.rules.map((r) => r.name)).toEqual(['mkdir', 'nosuchcall']);
    expect(result).toEqual({ filter: Buffer.alloc(16), flags: 2, notify: false });
    expect(debug).toEqual(['unknown seccomp syscall "nosuchcall" ignored']);
  });

  it('reports a compiler error as a config error', () => {
    expect(() =>
      buildSeccomp(
        seccomp,
        () => {
          throw new Error('seccomp: add architecture ppc: Numerical argument out of domain');
        },
        () => {},
      ),
    ).toThrow('config.json: linux.seccomp: add architecture ppc: Numerical argument out of domain');
  });
});
