// `tsrunc exec`: a new process in a running container, with runc's flags. Checked from inside
// (namespaces, ids, capabilities, limits, seccomp) and from the host (cgroups, exit codes).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { type ConfigMutator, tempDir, withUserNamespace } from '../helpers/bundle';
import {
  type Created,
  createContainer,
  expectOneLineError,
  waitFor,
  waitForStatus,
} from '../helpers/lifecycle-helpers';
import { CAP, capMask, startConsoleServer, statusField, tsruncBackground } from '../helpers/process';
import { tsrunc, tsruncArgv, type TsruncResult } from '../helpers/tsrunc';

/** A created and started container whose init sleeps; `cleanup` deletes it. */
async function running(mutate?: ConfigMutator): Promise<Created> {
  const c = await createContainer((config, bundle) => {
    config.process.args = ['sleep', '1000'];
    return mutate?.(config, bundle);
  });
  const started = await tsrunc(['start', c.id]);
  if (started.code !== 0) {
    await c.cleanup();
    throw new Error(`start failed: ${started.stderr}`);
  }
  return c;
}

async function withRunning(
  mutate: ConfigMutator | undefined,
  body: (c: Created) => Promise<void>,
): Promise<void> {
  const c = await running(mutate);
  try {
    await body(c);
  } finally {
    await c.cleanup();
  }
}

/** `tsrunc exec [flags] <id> sh -c <script>`. */
function sh(
  id: string,
  script: string,
  flags: string[] = [],
  opts: { input?: string } = {},
): Promise<TsruncResult> {
  return tsrunc(['exec', ...flags, id, 'sh', '-c', script], opts);
}

const NAMESPACE_FILES = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts'];

describe('exec: where the process runs', () => {
  it('joins every namespace and every cgroup of the init', async () => {
    await withRunning(undefined, async (c) => {
      const res = await sh(
        c.id,
        `for n in ${NAMESPACE_FILES.join(' ')}; do echo "$n $(readlink /proc/self/ns/$n)"; done; ` +
          'grep NSpid /proc/self/status; echo pid=$$; cat /proc/self/cgroup | sort; sleep 2 & wait',
      );
      expect(res.code, res.stderr).toBe(0);
      for (const n of NAMESPACE_FILES) {
        expect(res.stdout).toContain(`${n} ${fs.readlinkSync(`/proc/${c.pid}/ns/${n}`)}\n`);
      }
      // A pid in the container's pid namespace (the init is 1 there), reached by a fork.
      const nspid = statusField(res.stdout, 'NSpid').split(/\s+/);
      expect(nspid).toHaveLength(1);
      expect(Number(nspid[0])).toBeGreaterThan(1);
      // The same cgroups as the init: the default config has no cgroup namespace (runc's), so
      // the paths read the same inside as the host shows them for the init.
      const initCgroups = fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8').trim().split('\n').sort();
      const lines = res.stdout.split('\n').filter((l) => /^\d+:/.test(l));
      expect(lines.length).toBeGreaterThan(1);
      expect(lines).toEqual(initCgroups);
      for (const line of lines) expect(line).toMatch(new RegExp(`/${c.id}$`));
    });
  });

  it('joins the user namespace first: a container with id maps', async () => {
    await withRunning(withUserNamespace, async (c) => {
      const res = await sh(
        c.id,
        'id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user; touch /dev/shm/f && ls -n /dev/shm/f',
      );
      expect(res.code, res.stderr).toBe(0);
      const [uid, map, userNs, file] = res.stdout.trim().split('\n');
      expect(uid).toBe('0');
      expect(map.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
      expect(userNs).toBe(fs.readlinkSync(`/proc/${c.pid}/ns/user`));
      // Root inside is host uid 100000: the file it made belongs to 0 in here.
      expect(file).toMatch(/^-\S+\s+\d+\s+0\s+0\s/);
    });
  });

  it('is in the container cgroups as the host sees them, and gone from them when it exits', async () => {
    await withRunning(undefined, async (c) => {
      const bg = tsruncBackground(['exec', c.id, 'sleep', '30']);
      try {
        // The init's cgroup in the pids hierarchy ("N:pids:/path"; the order of the lines varies).
        const pidsLine = fs
          .readFileSync(`/proc/${c.pid}/cgroup`, 'utf8')
          .split('\n')
          .find((line) => line.split(':')[1] === 'pids');
        expect(pidsLine).toBeDefined();
        const pidsDir = pidsLine!.split(':')[2];
        let execPid = 0;
        await waitFor('the exec process in cgroup.procs of the pids controller', () => {
          const file = `/sys/fs/cgroup/pids${pidsDir}/cgroup.procs`;
          const pids = fs.existsSync(file)
            ? fs.readFileSync(file, 'utf8').trim().split('\n').map(Number)
            : [];
          // Stage 1 passes through these cgroups too: wait for the exec'd sleep itself.
          const cmdline = (pid: number) => {
            try {
              return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
            } catch {
              return '';
            }
          };
          execPid = pids.find((p) => p !== c.pid && cmdline(p) === 'sleep\u000030\u0000') ?? 0;
          return execPid > 0;
        });
        expect(fs.readFileSync(`/proc/${execPid}/cgroup`, 'utf8')).toBe(
          fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8'),
        );
        // TERM to tsrunc goes on to the process; once it is gone the cgroup holds the init only.
        bg.child.kill('SIGTERM');
        expect((await bg.done).code).toBe(128 + 15);
        const left = fs.readFileSync(`/sys/fs/cgroup/pids${pidsDir}/cgroup.procs`, 'utf8');
        expect(left.trim().split('\n').map(Number)).toEqual([c.pid]);
      } finally {
        if (bg.child.exitCode === null && bg.child.signalCode === null) bg.child.kill('SIGKILL');
      }
    });
  });
});

describe('exec: the process', () => {
  it('passes stdout, stderr and stdin, and exits with the process exit code', async () => {
    await withRunning(undefined, async (c) => {
      const res = await sh(c.id, 'read line; echo "out $line"; echo err >&2; exit 7', [], {
        input: 'hello\n',
      });
      expect(res).toMatchObject({ code: 7, stdout: 'out hello\n', stderr: 'err\n' });
      const killed = await sh(c.id, 'kill -9 $$');
      expect(killed.code).toBe(128 + 9);
    });
  });

  it('takes the container process (env, cwd, user) and the flags on top: --env, --cwd, --user, --additional-gids', async () => {
    await withRunning(
      (config) => {
        config.process.env = ['PATH=/usr/bin:/bin', 'KEEP=kept', 'OVER=old'];
        config.process.cwd = '/tmp';
      },
      async (c) => {
        const plain = await sh(c.id, 'pwd; echo "$KEEP $OVER"; id -u');
        expect(plain).toMatchObject({ code: 0, stdout: '/tmp\nkept old\n0\n' });
        const flagged = await sh(c.id, 'pwd; echo "$KEEP $OVER $NEW"; id -u; id -g; id -G', [
          '--env',
          'OVER=new',
          '-e',
          'NEW=1',
          '--cwd',
          '/etc',
          '--user',
          '1000:1001',
          '--additional-gids',
          '2000',
          '-g',
          '2001',
        ]);
        expect(flagged).toMatchObject({ code: 0, stdout: '/etc\nkept new 1\n1000\n1001\n1001 2000 2001\n' });
        // A numeric user is an id, never a name of the container's /etc/passwd.
        expect((await sh(c.id, 'id -u', ['-u', '0'])).stdout).toBe('0\n');
      },
    );
  });

  it('--cap adds to bounding, effective and permitted, never inheritable (CVE-2022-29162)', async () => {
    await withRunning(undefined, async (c) => {
      const res = await sh(c.id, 'grep ^Cap /proc/self/status', [
        '--cap',
        'CAP_SYS_ADMIN',
        '--cap',
        'net_raw',
      ]);
      expect(res.code, res.stderr).toBe(0);
      const base = [CAP.AUDIT_WRITE, CAP.KILL, CAP.NET_BIND_SERVICE];
      const withAdded = capMask(...base, CAP.SYS_ADMIN, CAP.NET_RAW);
      expect(statusField(res.stdout, 'CapEff')).toBe(withAdded);
      expect(statusField(res.stdout, 'CapPrm')).toBe(withAdded);
      expect(statusField(res.stdout, 'CapBnd')).toBe(withAdded);
      expect(statusField(res.stdout, 'CapInh')).toBe(capMask());
      expect(statusField(res.stdout, 'CapAmb')).toBe(capMask());
    });
  });

  it("--no-new-privs, the container's rlimits and a clean signal state and environment", async () => {
    await withRunning(
      (config) => {
        config.process.noNewPrivileges = false;
        config.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 321, hard: 654 }];
        config.process.env = ['PATH=/usr/bin:/bin'];
      },
      async (c) => {
        const script =
          'grep -E "^(NoNewPrivs|SigIgn|SigBlk):" /proc/self/status; ulimit -n; ulimit -Hn; env | sort';
        const plain = await sh(c.id, script);
        expect(plain.code, plain.stderr).toBe(0);
        expect(statusField(plain.stdout, 'NoNewPrivs')).toBe('0');
        expect(statusField(plain.stdout, 'SigIgn')).toBe('0000000000000000');
        expect(statusField(plain.stdout, 'SigBlk')).toBe('0000000000000000');
        expect(plain.stdout).toContain('321\n654\n');
        // Only the config's environment (and what sh adds itself), nothing of tsrunc's.
        expect(plain.stdout).not.toMatch(/NODE|TSRUNC|VITEST/);
        expect((await sh(c.id, script, ['--no-new-privs'])).stdout).toMatch(/^NoNewPrivs:\s+1$/m);
      },
    );
  });

  it("the container's seccomp filter applies to the exec process", async () => {
    await withRunning(
      (config) => {
        config.linux.seccomp = {
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }],
        };
      },
      async (c) => {
        const res = await sh(c.id, 'grep ^Seccomp: /proc/self/status; mkdir /tmp/x || echo blocked');
        expect(res.stdout).toMatch(/^Seccomp:\s+2\nblocked\n$/);
        expect(res.stderr).toContain('Permission denied');
      },
    );
  });

  it('--process FILE runs a runtime-spec Process as written', async () => {
    await withRunning(undefined, async (c) => {
      const dir = tempDir('exec-process');
      try {
        const file = path.join(dir, 'process.json');
        fs.writeFileSync(
          file,
          JSON.stringify({
            args: ['sh', '-c', 'echo "$A $(pwd) $(id -u)"'],
            env: ['PATH=/bin', 'A=from-file'],
            cwd: '/proc',
            user: { uid: 1234, gid: 1234 },
          }),
        );
        const res = await tsrunc(['exec', '--process', file, c.id]);
        expect(res).toMatchObject({ code: 0, stdout: 'from-file /proc 1234\n' });
        fs.writeFileSync(file, JSON.stringify({ args: ['true'], cwd: 'relative' }));
        const bad = await tsrunc(['exec', '--process', file, c.id]);
        expect(expectOneLineError(bad, 255)).toMatch(/process\.cwd/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('--preserve-fds passes fd 3 in; without it nothing but stdio is open', async () => {
    await withRunning(undefined, async (c) => {
      const plain = await sh(c.id, 'ls /proc/self/fd');
      expect(plain.stdout.trim().split('\n').sort()).toEqual(['0', '1', '2', '3']); // 3: ls's own dir fd
      const dir = tempDir('exec-fd');
      try {
        const file = path.join(dir, 'data');
        fs.writeFileSync(file, 'through fd 3\n');
        const fd = fs.openSync(file, 'r');
        try {
          const bg = tsruncBackground(['exec', '--preserve-fds', '1', c.id, 'cat', '/proc/self/fd/3'], {
            stdio: ['ignore', 'pipe', 'pipe', fd],
          });
          const res = await bg.done;
          expect(res).toMatchObject({ code: 0, stdout: 'through fd 3\n' });
        } finally {
          fs.closeSync(fd);
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('forwards signals to the process and returns its code', async () => {
    await withRunning(undefined, async (c) => {
      const bg = tsruncBackground([
        'exec',
        c.id,
        'sh',
        '-c',
        'trap "echo got-term; exit 5" TERM; echo ready; while :; do sleep 0.1; done',
      ]);
      await waitFor('the process to be ready', () => bg.stdout().includes('ready\n'));
      bg.child.kill('SIGTERM');
      const res = await bg.done;
      expect(res).toMatchObject({ code: 5, stdout: 'ready\ngot-term\n' });
    });
  });
});

describe('exec: detached, with a terminal', () => {
  it('--detach --pid-file returns at once; the pid is the process, in the container', async () => {
    await withRunning(undefined, async (c) => {
      const dir = tempDir('exec-detach');
      try {
        const pidFile = path.join(dir, 'exec.pid');
        const res = await tsrunc(['exec', '--detach', '--pid-file', pidFile, c.id, 'sleep', '77']);
        expect(res).toMatchObject({ code: 0, stdout: '', stderr: '' });
        const pid = Number(fs.readFileSync(pidFile, 'utf8'));
        expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\u000077\u0000');
        expect(fs.readlinkSync(`/proc/${pid}/ns/pid`)).toBe(fs.readlinkSync(`/proc/${c.pid}/ns/pid`));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      // delete --force takes the exec'd process with the container (same cgroups).
    });
  });

  it("a detached process's exit is left to whoever inherits it (an engine's subreaper sees it)", async () => {
    await withRunning(undefined, async (c) => {
      const dir = tempDir('exec-detach');
      try {
        // A subreaper parent, as containerd's shim is: it runs `tsrunc exec --detach`, reads the
        // pid file and waits for that pid. The process exits at once, while tsrunc still runs:
        // tsrunc must not reap it, or the waitpid below finds no such child.
        const script = [
          'import ctypes, os, subprocess, sys',
          'ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)',
          'pid_file = sys.argv[1]',
          'rc = subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL).returncode',
          'pid = int(open(pid_file).read())',
          'try:',
          '    _, status = os.waitpid(pid, 0)',
          '    print(f"tsrunc {rc} process {os.waitstatus_to_exitcode(status)}")',
          'except ChildProcessError:',
          '    print(f"tsrunc {rc} process reaped by someone else")',
        ].join('\n');
        const pidFile = path.join(dir, 'exec.pid');
        const argv = tsruncArgv(['exec', '--detach', '--pid-file', pidFile, c.id, 'sh', '-c', 'exit 7']);
        const out = execFileSync('python3', ['-c', script, pidFile, ...argv], { encoding: 'utf8' });
        expect(out).toBe('tsrunc 0 process 7\n');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('--tty --console-socket sends a pty master; the process has it as its terminal', async () => {
    await withRunning(undefined, async (c) => {
      const dir = tempDir('exec-tty');
      try {
        const server = await startConsoleServer(path.join(dir, 'console.sock'));
        const res = await tsrunc([
          'exec',
          '--tty',
          '--console-socket',
          server.socketPath,
          '--detach',
          c.id,
          'sh',
          '-c',
          'tty; stty size; echo done',
        ]);
        expect(res.code, res.stderr).toBe(0);
        const { output, log } = await server.done;
        expect(log).toMatch(/pty \/dev\/pts\/\d+/);
        expect(output).toMatch(/\/dev\/pts\/\d+\r\n/);
        expect(output).toContain('done');
        // The init's /dev/console is left as it was.
        const initConsole = await sh(c.id, 'ls -l /dev/console 2>&1 || true');
        expect(initConsole.stdout).not.toMatch(/136,/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('exec: failures exit 255 with one line', () => {
  it('a missing executable, a missing cwd, a bad user, no command', async () => {
    await withRunning(undefined, async (c) => {
      const missing = await tsrunc(['exec', c.id, 'no-such-binary']);
      expect(expectOneLineError(missing, 255)).toBe(
        'unable to start container process: exec: "no-such-binary": executable file not found in $PATH',
      );
      const cwd = await tsrunc(['exec', '--cwd', '/no/such/dir', c.id, 'true']);
      expect(expectOneLineError(cwd, 255)).toMatch(
        /process\.cwd: chdir to \/no\/such\/dir: no such file or directory/,
      );
      const user = await tsrunc(['exec', '--user', 'nobody', c.id, 'true']);
      expect(expectOneLineError(user, 255)).toMatch(/--user/);
      expect(expectOneLineError(await tsrunc(['exec', c.id]), 255)).toBe(
        'exec: no command given (args or --process)',
      );
    });
  });

  it('(uid_t)-1 and (gid_t)-1 from --user, --additional-gids or --process: refused, nothing runs', async () => {
    const user = '((uid_t)-1 means "unchanged" to the kernel)';
    const group = '((gid_t)-1 means "unchanged" to the kernel)';
    expect.hasAssertions();
    await withRunning(undefined, async (c) => {
      const dir = tempDir('exec-process');
      try {
        let files = 0;
        const processFile = (user: object) => {
          const file = path.join(dir, `process-${++files}.json`);
          fs.writeFileSync(file, JSON.stringify({ args: ['id'], cwd: '/', user }));
          return ['--process', file];
        };
        const cases: [string[], string][] = [
          [['--user', '4294967295'], `--user: 4294967295 is not a valid user id ${user}`],
          [['--user', '1000:4294967295'], `--user: 4294967295 is not a valid group id ${group}`],
          [
            ['--additional-gids', '10,4294967295'],
            `--additional-gids: 4294967295 is not a valid group id ${group}`,
          ],
          [
            processFile({ uid: 4294967295, gid: 0 }),
            `exec: process.user.uid: 4294967295 is not a valid user id ${user}`,
          ],
          [
            processFile({ uid: 0, gid: 4294967295 }),
            `exec: process.user.gid: 4294967295 is not a valid group id ${group}`,
          ],
          [
            processFile({ uid: 0, gid: 0, additionalGids: [4294967295] }),
            `exec: process.user.additionalGids[0]: 4294967295 is not a valid group id ${group}`,
          ],
        ];
        for (const [flags, line] of cases) {
          const res = await tsrunc(['exec', ...flags, c.id, 'id']);
          expect(expectOneLineError(res, 255)).toBe(line);
          expect(res.stdout).toBe('');
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('a missing container, a stopped one, a paused one', async () => {
    const missing = await tsrunc(['exec', 'tsrunc-no-such-container', 'true']);
    expect(expectOneLineError(missing, 255)).toBe('container does not exist');
    await withRunning(undefined, async (c) => {
      expect((await tsrunc(['pause', c.id])).code).toBe(0);
      const paused = await tsrunc(['exec', c.id, 'true']);
      expect(expectOneLineError(paused, 255)).toBe('cannot exec in a paused container');
      expect((await tsrunc(['resume', c.id])).code).toBe(0);
      expect((await tsrunc(['kill', c.id, 'KILL'])).code).toBe(0);
      await waitForStatus(c.id, 'stopped');
      const stopped = await tsrunc(['exec', c.id, 'true']);
      expect(expectOneLineError(stopped, 255)).toBe('cannot exec in a stopped container');
    });
  });
});
