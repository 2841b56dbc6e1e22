// linux.seccomp: the filter compiled with libseccomp in the parent and loaded by the init.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { LinuxSeccomp } from '../../src/spec/types';
import { containerId, makeBundle, tempDir } from '../helpers/bundle';
import { importImage, startDockerEngine } from '../helpers/docker';
import { testEnv } from '../helpers/env';
import {
  expectOneLineError,
  processesMatching,
  sleep,
  stateDirOf,
  stateOf,
  waitFor,
  waitForStatus,
  writeScript,
} from '../helpers/lifecycle-helpers';
import { CAP, capMask, startSeccompAgent, statusField } from '../helpers/process';
import { runContainer, tsrunc } from '../helpers/tsrunc';

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

  // kill(pid, sig) with signals whose default action is to ignore them, so the target lives on:
  // each operator compares the signal (argument 1) with 23 and blocks what matches.
  it.each([
    ['SCMP_CMP_NE', '17 blocked\n18 blocked\n23 ok\n28 blocked\n'],
    ['SCMP_CMP_LT', '17 blocked\n18 blocked\n23 ok\n28 ok\n'],
    ['SCMP_CMP_LE', '17 blocked\n18 blocked\n23 blocked\n28 ok\n'],
    ['SCMP_CMP_EQ', '17 ok\n18 ok\n23 blocked\n28 ok\n'],
    ['SCMP_CMP_GE', '17 ok\n18 ok\n23 blocked\n28 blocked\n'],
    ['SCMP_CMP_GT', '17 ok\n18 ok\n23 ok\n28 blocked\n'],
  ] as const)('argument operator %s', async (op, expected) => {
    const res = await runContainer((c) => {
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 23, op }] }],
      })(c);
      c.process.args = [
        'sh',
        '-c',
        'sleep 100 & p=$!; for s in 17 18 23 28; do kill -$s $p 2>/dev/null && echo "$s ok" || echo "$s blocked"; done',
      ];
    });
    expect(res.stdout).toBe(expected);
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

  it('without noNewPrivileges, loads the filter after the user switch and ends with exactly the config capabilities', async () => {
    const res = await runContainer((c) => {
      c.process.noNewPrivileges = false;
      c.process.user = { uid: 1000, gid: 1000, additionalGids: [1001] };
      // Ambient, so that a non-root process keeps a capability across execve at all.
      c.process.capabilities = {
        bounding: ['CAP_KILL', 'CAP_CHOWN'],
        effective: ['CAP_KILL'],
        permitted: ['CAP_KILL'],
        inheritable: ['CAP_KILL'],
        ambient: ['CAP_KILL'],
      };
      // Our own setgroups/setresgid/setresuid/capset run before the filter: a profile that
      // blocks them still starts the process (with runc's order it could not).
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' },
          { names: ['setresuid', 'setresgid', 'setgroups', 'setuid', 'setgid'], action: 'SCMP_ACT_ERRNO' },
        ],
      })(c);
      c.process.args = ['sh', '-c', 'cat /proc/self/status; id; mkdir /tmp/x || echo blocked'];
    });
    expect(res.code, res.stderr).toBe(0);
    expect(statusField(res.stdout, 'Seccomp')).toBe('2');
    expect(statusField(res.stdout, 'NoNewPrivs')).toBe('0');
    expect(statusField(res.stdout, 'Uid')).toBe('1000\t1000\t1000\t1000');
    expect(statusField(res.stdout, 'Groups')).toBe('1001');
    // Exactly the config's sets (the CAP_SYS_ADMIN kept to load the filter is dropped again).
    expect(statusField(res.stdout, 'CapEff')).toBe(capMask(CAP.KILL));
    expect(statusField(res.stdout, 'CapPrm')).toBe(capMask(CAP.KILL));
    expect(statusField(res.stdout, 'CapInh')).toBe(capMask(CAP.KILL));
    expect(statusField(res.stdout, 'CapAmb')).toBe(capMask(CAP.KILL));
    expect(statusField(res.stdout, 'CapBnd')).toBe(capMask(CAP.KILL, CAP.CHOWN));
    expect(res.stdout).toContain('blocked\n');
  });

  it('without noNewPrivileges and without a capabilities object, a non-root process ends with no capabilities', async () => {
    const res = await runContainer((c) => {
      c.process.noNewPrivileges = false;
      c.process.user = { uid: 1000, gid: 1000 };
      delete c.process.capabilities;
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
      })(c);
      c.process.args = ['sh', '-c', 'cat /proc/self/status; mkdir /tmp/x || echo blocked'];
    });
    expect(res.code, res.stderr).toBe(0);
    expect(statusField(res.stdout, 'Seccomp')).toBe('2');
    expect(statusField(res.stdout, 'CapEff')).toBe(capMask());
    expect(statusField(res.stdout, 'CapPrm')).toBe(capMask());
    expect(res.stdout).toContain('blocked\n');
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

  it.each(['SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP'] as const)(
    '%s ends a single-threaded process with SIGSYS',
    async (action) => {
      const res = await runContainer((c) => {
        seccompOf({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action }] })(
          c,
        );
        c.process.args = ['mkdir', '/tmp/x'];
      });
      expect(res.code).toBe(128 + 31);
    },
  );

  it('SCMP_ACT_TRACE without a tracer fails the syscall with ENOSYS; SCMP_ACT_LOG lets it run', async () => {
    const res = await runContainer((c) => {
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_TRACE' },
          { names: ['rmdir'], action: 'SCMP_ACT_LOG' },
        ],
      })(c);
      c.process.args = ['sh', '-c', 'mkdir /tmp/x; echo mkdir=$?; rmdir /tmp; echo rmdir=$?; ls -d /tmp'];
    });
    expect(res.stderr).toContain('Function not implemented');
    // rmdir ran (and failed on its own: /tmp is not empty or busy), it was not blocked.
    expect(res.stdout).toMatch(/^mkdir=1\nrmdir=1\n\/tmp\n$/);
    expect(res.stderr).not.toMatch(/rmdir: .*(Operation not permitted|Function not implemented)/);
  });

  it('SECCOMP_FILTER_FLAG_LOG: a denied syscall is logged by the kernel only with the flag', async () => {
    const logged = async (flags: string[]) => {
      const id = containerId();
      const bundle = await makeBundle((c) => {
        seccompOf({
          defaultAction: 'SCMP_ACT_ALLOW',
          flags,
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
        })(c);
        c.process.args = ['mkdir', '/tmp/x'];
      });
      try {
        expect((await tsrunc(['create', '--bundle', bundle.dir, id])).code).toBe(0);
        const pid = (await stateOf(id)).pid;
        expect((await tsrunc(['start', id])).code).toBe(0);
        await waitForStatus(id, 'stopped');
        // The audit record (type 1326) of this very process: pid and the ERRNO action (the
        // kernel logs the action without its errno).
        const line = new RegExp(`type=1326 .* pid=${pid} comm="mkdir" .* code=0x50000`);
        await sleep(200);
        return line.test(execFileSync('dmesg', { encoding: 'utf8' }));
      } finally {
        await tsrunc(['delete', '--force', id]);
        await bundle.cleanup();
      }
    };
    expect(await logged(['SECCOMP_FILTER_FLAG_LOG'])).toBe(true);
    expect(await logged([])).toBe(false);
  });

  it('TSYNC and SPEC_ALLOW are accepted by the kernel (one thread; this host mitigates by prctl)', async () => {
    const res = await runContainer((c) => {
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
      })(c);
      c.process.args = ['sh', '-c', 'grep Seccomp: /proc/self/status; mkdir /tmp/x || echo blocked'];
    });
    expect(res.stdout).toMatch(/^Seccomp:\s+2\nblocked\n$/);
    expect(res.code).toBe(0);
  });
});

// runc's ENOSYS stub: a syscall newer than every syscall the profile names returns ENOSYS
// instead of the default action, so a libc newer than the profile falls back (clone3 -> clone).
describe('linux.seccomp: syscalls newer than the profile get ENOSYS', () => {
  // Static, so it runs in the busybox rootfs; prints the errno of each raw syscall (0: ran).
  const PROBE_C = [
    '#include <errno.h>',
    '#include <fcntl.h>',
    '#include <stdio.h>',
    '#include <sys/syscall.h>',
    '#include <unistd.h>',
    'static void try(const char* name, long nr, long a, long b) {',
    '  errno = 0;',
    '  long r = syscall(nr, a, b);',
    '  printf("%s=%d\\n", name, r < 0 ? errno : 0);',
    '}',
    'int main(void) {',
    '  try("clone3", 435, 0, 0);', // NULL args: EFAULT/EINVAL when it reaches the kernel
    '  try("mkdir", SYS_mkdir, (long)"/tmp/p", 0755);',
    '  try("mkdirat", SYS_mkdirat, AT_FDCWD, (long)"/tmp/q");',
    '  return 0;',
    '}',
    '',
  ].join('\n');
  // What the probe needs to start and print; newest of them: rseq (334).
  const PROBE_NEEDS = BUSYBOX_SH.filter((name) => name !== 'clone3' && name !== 'faccessat2');
  let probeDir = '';

  beforeAll(() => {
    probeDir = tempDir('enosys-probe');
    fs.writeFileSync(path.join(probeDir, 'probe.c'), PROBE_C);
    execFileSync(
      'gcc',
      ['-static', '-O1', '-o', path.join(probeDir, 'probe'), path.join(probeDir, 'probe.c')],
      {
        stdio: 'pipe',
      },
    );
  });

  afterAll(() => {
    if (probeDir) fs.rmSync(probeDir, { recursive: true, force: true });
  });

  async function probe(seccomp: LinuxSeccomp): Promise<Record<string, string>> {
    const res = await runContainer((c, b) => {
      fs.copyFileSync(path.join(probeDir, 'probe'), path.join(b.rootfs, 'bin', 'probe'));
      fs.chmodSync(path.join(b.rootfs, 'bin', 'probe'), 0o755);
      c.root.readonly = false;
      seccompOf(seccomp)(c);
      c.process.args = ['/bin/probe'];
    });
    expect(res.code, res.stderr).toBe(0);
    return Object.fromEntries(
      res.stdout
        .trim()
        .split('\n')
        .map((line) => line.split('=')),
    );
  }

  const EPERM = '1';
  const ENOSYS = '38';

  it('clone3, newer than every named syscall, gets ENOSYS; older ones the rule or the default (EPERM)', async () => {
    const errnos = await probe({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ARCHES,
      syscalls: [
        { names: PROBE_NEEDS, action: 'SCMP_ACT_ALLOW' },
        { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
      ],
    });
    // mkdir: named, denied; mkdirat: not named but older than rseq: the default action.
    expect(errnos).toEqual({ clone3: ENOSYS, mkdir: EPERM, mkdirat: EPERM });
  });

  it('a profile that names a newer syscall (faccessat2, 439) keeps the default action for clone3', async () => {
    const errnos = await probe({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ARCHES,
      syscalls: [{ names: [...PROBE_NEEDS, 'faccessat2'], action: 'SCMP_ACT_ALLOW' }],
    });
    expect(errnos).toEqual({ clone3: EPERM, mkdir: EPERM, mkdirat: EPERM });
  });

  it('a profile that allows by default gets no ENOSYS: clone3 reaches the kernel', async () => {
    const errnos = await probe({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ARCHES,
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
    });
    // clone3 with no arguments: the kernel's own EINVAL, not a filter's errno.
    expect(errnos).toEqual({ clone3: '22', mkdir: EPERM, mkdirat: EPERM });
  });
});

describe('linux.seccomp: SCMP_ACT_NOTIFY and listenerPath', () => {
  const ENOSPC = 28;
  const SYS_MKDIR = 83;

  it('sends the listener fd with the container process state; the agent answers the notified syscall', async () => {
    const dir = tempDir('seccomp-agent');
    const socketPath = path.join(dir, 'agent.sock');
    const agent = await startSeccompAgent(socketPath, path.join(dir, 'report.json'), ENOSPC);
    const id = containerId();
    const bundle = await makeBundle((c) => {
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ARCHES,
        // With TSYNC the runtime must add TSYNC_ESRCH, or the kernel refuses NEW_LISTENER.
        flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
        listenerPath: socketPath,
        listenerMetadata: 'agent-metadata-42',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
      })(c);
      c.annotations = { 'org.example/k': 'v' };
      c.process.args = ['sh', '-c', 'mkdir /tmp/x; echo rc=$?; test -d /tmp/x && echo made; echo done'];
    });
    try {
      const created = await tsrunc(['create', '--bundle', bundle.dir, id]);
      expect(created.code, created.stderr).toBe(0);
      const initPid = (await stateOf(id)).pid;
      expect((await tsrunc(['start', id])).code).toBe(0);
      const { code, report } = await agent.done;
      expect(code).toBe(0);
      expect(report).not.toBeNull();
      expect(report!.fdCount).toBe(1);
      expect(report!.state).toEqual({
        ociVersion: expect.any(String),
        fds: ['seccompFd'],
        pid: initPid,
        metadata: 'agent-metadata-42',
        state: {
          ociVersion: expect.any(String),
          id,
          status: 'creating',
          pid: initPid,
          bundle: bundle.dir,
          annotations: { 'org.example/k': 'v' },
        },
      });
      // The container's own mkdir reached the agent (the shell runs it in a child process).
      expect(report!.notifications.some((n) => n.nr === SYS_MKDIR && n.pid !== initPid)).toBe(true);
      await waitForStatus(id, 'stopped');
    } finally {
      agent.kill();
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the container sees the errno the agent chose', async () => {
    const dir = tempDir('seccomp-agent');
    const socketPath = path.join(dir, 'agent.sock');
    const agent = await startSeccompAgent(socketPath, path.join(dir, 'report.json'), ENOSPC);
    try {
      const res = await runContainer((c) => {
        seccompOf({
          defaultAction: 'SCMP_ACT_ALLOW',
          listenerPath: socketPath,
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
        })(c);
        c.process.args = ['sh', '-c', 'mkdir /tmp/x; echo rc=$?; test -d /tmp/x && echo made; echo done'];
      });
      expect(res.stdout).toBe('rc=1\ndone\n');
      expect(res.stderr).toContain('No space left on device');
      expect(res.code).toBe(0);
      expect((await agent.done).code).toBe(0);
    } finally {
      agent.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a listenerPath nobody listens on fails create with one line and leaves nothing', async () => {
    const dir = tempDir('seccomp-agent');
    const bundle = await makeBundle((c) => {
      seccompOf({
        defaultAction: 'SCMP_ACT_ALLOW',
        listenerPath: path.join(dir, 'nobody.sock'),
        syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }],
      })(c);
      c.process.args = ['sleep', '100'];
    });
    const id = containerId();
    // runc's words, which callers match on.
    const agentError = (reason: string) =>
      `config.json: linux.seccomp.listenerPath: failed to connect with seccomp agent specified in the seccomp profile: dial unix ${path.join(dir, 'nobody.sock')}: connect: ${reason}`;
    try {
      const res = await tsrunc(['create', '--bundle', bundle.dir, id]);
      expect(expectOneLineError(res)).toBe(agentError('no such file or directory'));
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
      await waitFor('no process of the bundle', () => processesMatching(bundle.dir).length === 0, 2000);
      // Something at the path that does not listen.
      fs.writeFileSync(path.join(dir, 'nobody.sock'), '');
      const refused = await tsrunc(['create', '--bundle', bundle.dir, id]);
      expect(expectOneLineError(refused)).toBe(agentError('connection refused'));
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("linux.seccomp: Docker's default profile", () => {
  // The profile exactly as `docker run` sends it: a private dockerd runs a container with a
  // "runtime" that only copies the bundle's config.json and fails.
  let profile: LinuxSeccomp;
  let dockerConfig: { process: { noNewPrivileges?: boolean } };

  beforeAll(async () => {
    const dir = tempDir('docker-capture');
    const captured = path.join(dir, 'config.json');
    const capture = writeScript(
      path.join(dir, 'capture-runtime.sh'),
      [
        '#!/bin/sh',
        'while [ $# -gt 0 ]; do',
        `  if [ "$1" = --bundle ]; then cp "$2/config.json" ${captured}; fi`,
        '  if [ "$1" = create ]; then create=1; fi',
        '  shift',
        'done',
        '[ -z "$create" ] || { echo "capture only" >&2; exit 1; }',
        'exit 0',
        '',
      ].join('\n'),
    );
    const engine = await startDockerEngine({ capture });
    try {
      await importImage(engine, testEnv().rootfs, 'busybox:tsrunc-capture');
      const run = await engine.docker(
        ['run', '--rm', '--runtime', 'capture', '--network', 'none', 'busybox:tsrunc-capture', 'true'],
        { allowFail: true },
      );
      expect(run.code, run.stderr).not.toBe(0);
      const config = JSON.parse(fs.readFileSync(captured, 'utf8'));
      profile = config.linux.seccomp;
      dockerConfig = config;
    } finally {
      await engine.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('is the big allow-list profile, sent without noNewPrivileges', () => {
    expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
    const names = (profile.syscalls ?? []).flatMap((s) => s.names);
    expect(names.length).toBeGreaterThan(250);
    expect(names).toContain('read');
    expect(names).not.toContain('unshare');
    expect(dockerConfig.process.noNewPrivileges ?? false).toBe(false);
  });

  it('loads, runs an ordinary workload, and a syscall it blocks fails with EPERM inside', async () => {
    // CAP_SYS_ADMIN in the config, so that without the profile unshare and mount would work:
    // with it (the profile Docker sent for its default capabilities) they fail with EPERM.
    const script = [
      'grep Seccomp: /proc/self/status',
      'echo hello | tr a-z A-Z',
      'ls / >/dev/null && echo listed',
      'unshare -m true; echo unshare=$?',
      'mount -t tmpfs none /tmp; echo mount=$?',
    ].join('; ');
    const withCaps = (c: { process: { capabilities: Record<string, string[]> } }) => {
      for (const set of ['bounding', 'effective', 'permitted'])
        c.process.capabilities[set].push('CAP_SYS_ADMIN');
    };
    const control = await runContainer((c) => {
      withCaps(c);
      c.process.args = ['sh', '-c', script];
    });
    expect(control.stdout).toBe('Seccomp:\t0\nHELLO\nlisted\nunshare=0\nmount=0\n');
    const res = await runContainer((c) => {
      withCaps(c);
      c.process.noNewPrivileges = false;
      c.linux.seccomp = profile;
      c.process.args = ['sh', '-c', script];
    });
    expect(res.stdout).toBe('Seccomp:\t2\nHELLO\nlisted\nunshare=1\nmount=1\n');
    expect(res.stderr).toMatch(/unshare: .*Operation not permitted/);
    // busybox words EPERM from mount(2) as "permission denied (are you root?)".
    expect(res.stderr).toMatch(/mount: permission denied/);
    expect(res.code).toBe(0);
  });
});
