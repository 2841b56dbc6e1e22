// linux.seccomp: the filter compiled with libseccomp in the parent and loaded by the init.
import { describe, expect, it } from 'vitest';

import type { LinuxSeccomp } from '../../src/spec/types';
import { runContainer } from '../helpers/tsrunc';

const ARCHES = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];

// What busybox sh needs to start, run the echo builtin, fork and exec an applet, and exit. Found
// by trial (strace of the same commands); everything else gets defaultErrnoRet.
const BUSYBOX_SH = [
  'execve',
  'brk',
  'arch_prctl',
  'set_tid_address',
  'set_robust_list',
  'rseq',
  'prlimit64',
  'mmap',
  'munmap',
  'mprotect',
  'read',
  'write',
  'writev',
  'close',
  'fcntl',
  'ioctl',
  'getpid',
  'getppid',
  'getuid',
  'geteuid',
  'getgid',
  'getegid',
  'rt_sigaction',
  'rt_sigprocmask',
  'rt_sigreturn',
  'stat',
  'newfstatat',
  'fstat',
  'lstat',
  'statx',
  'access',
  'faccessat',
  'faccessat2',
  'getcwd',
  'open',
  'openat',
  'fork',
  'vfork',
  'clone',
  'clone3',
  'wait4',
  'exit',
  'exit_group',
  'uname',
  'time',
  'gettimeofday',
  'clock_gettime',
];

function seccompOf(seccomp: LinuxSeccomp): (c: { linux?: { seccomp?: LinuxSeccomp } }) => void {
  return (c) => {
    c.linux = { ...c.linux, seccomp };
  };
}

describe('linux.seccomp', () => {
  it('returns the rule errno for a blocked syscall and lets the rest run', async () => {
    const res = await runContainer((c) => {
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ARCHES,
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      })(c);
      c.process.args = ['sh', '-c', 'grep Seccomp: /proc/self/status; mkdir /tmp/x; echo rc=$?; ls -d /tmp'];
    });
    expect(res.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(res.stdout).toContain('rc=1');
    expect(res.stdout).toContain('/tmp\n');
    expect(res.stderr).toContain('Operation not permitted');
    expect(res.code).toBe(0);
  });

  it('uses defaultErrnoRet for everything outside the allow-list', async () => {
    const res = await runContainer((c) => {
      seccompOf({
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 13,
        architectures: ARCHES,
        syscalls: [{ names: BUSYBOX_SH, action: 'SCMP_ACT_ALLOW' }],
      })(c);
      c.process.args = ['sh', '-c', 'echo hi; mkdir /tmp/x; echo rc=$?'];
    });
    expect(res.stdout).toBe('hi\nrc=1\n');
    expect(res.stderr).toContain('Permission denied');
    expect(res.code).toBe(0);
  });

  it('matches an argument condition (EQ)', async () => {
    const res = await runContainer((c) => {
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        // kill(pid, SIGKILL) only
        syscalls: [
          { names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 9, op: 'SCMP_CMP_EQ' }] },
        ],
      })(c);
      // An inner shell (not exec'd: '; true'), since pid 1 ignores its own SIGKILL anyway.
      c.process.args = ['sh', '-c', "sh -c 'kill -0 $$ && echo zero-ok; kill -9 $$; echo survived'; true"];
    });
    expect(res.stdout).toBe('zero-ok\nsurvived\n');
    expect(res.stderr).toContain('Operation not permitted');
    expect(res.code).toBe(0);
  });

  it('matches a masked argument condition (MASKED_EQ: value is the mask, valueTwo the result)', async () => {
    const res = await runContainer((c) => {
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        // signals with bit 3 set: SIGKILL (9) and SIGTERM (15), not SIGHUP (1) or 0
        syscalls: [
          {
            names: ['kill'],
            action: 'SCMP_ACT_ERRNO',
            errnoRet: 22,
            args: [{ index: 1, value: 8, valueTwo: 8, op: 'SCMP_CMP_MASKED_EQ' }],
          },
        ],
      })(c);
      c.process.args = [
        'sh',
        '-c',
        "sh -c 'kill -0 $$ && echo zero-ok; kill -15 $$; echo survived; kill -1 $$; echo not-reached'; true",
      ];
    });
    expect(res.stdout).toBe('zero-ok\nsurvived\n');
    expect(res.stderr).toContain('Invalid argument');
  });

  it('skips syscall names it does not know', async () => {
    const res = await runContainer((c) => {
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['no_such_syscall_xyz'], action: 'SCMP_ACT_KILL' },
          { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' },
        ],
      })(c);
      c.process.args = ['sh', '-c', 'mkdir /tmp/x || echo blocked'];
    });
    expect(res).toMatchObject({ code: 0, stdout: 'blocked\n' });
  });

  it('loads the filter without noNewPrivileges too (before the user switch)', async () => {
    const res = await runContainer((c) => {
      c.process.noNewPrivileges = false;
      c.process.user = { uid: 1000, gid: 1000 };
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
      })(c);
      c.process.args = [
        'sh',
        '-c',
        'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status; id -u; mkdir /tmp/x || echo blocked',
      ];
    });
    expect(res.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(res.stdout).toMatch(/^NoNewPrivs:\s+0$/m);
    expect(res.stdout).toContain('1000\nblocked\n');
    expect(res.code).toBe(0);
  });

  it('kills the process with SCMP_ACT_KILL_PROCESS', async () => {
    const res = await runContainer((c) => {
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL_PROCESS' }],
      })(c);
      c.process.args = ['mkdir', '/tmp/x'];
    });
    expect(res.code).toBe(128 + 31); // SIGSYS
  });

  it('without noNewPrivileges, the filter also covers the rest of the setup (as runc)', async () => {
    const res = await runContainer((c) => {
      c.process.noNewPrivileges = false;
      c.process.user = { uid: 1000, gid: 1000 };
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['setresuid'], action: 'SCMP_ACT_ERRNO' }],
      })(c);
      c.process.args = ['true'];
    });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('process.user.uid: setuid 1000: operation not permitted');
  });
});
