// process.args, process.env, process.cwd, exit codes, signal state and fds, checked from inside
// the container (and from the host where that is the point).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerId, makeBundle, tempDir } from '../helpers/bundle';
import { leftovers, statusField, tsruncBackground, waitFor } from '../helpers/process';
import { runContainer, tsrunc } from '../helpers/tsrunc';

/** Writes an executable shell script into the rootfs. */
function writeScript(rootfs: string, file: string, body: string): void {
  const p = path.join(rootfs, file);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

describe('process.args', () => {
  it('passes every argument verbatim: spaces, quotes, empty strings, shell characters', async () => {
    const res = await runContainer((c) => {
      c.process.args = [
        'sh',
        '-c',
        'for a in "$@"; do printf "[%s]\\n" "$a"; done',
        'argv0',
        'a b',
        '"q"',
        "it's",
        '',
        '$HOME;*',
        'tab\there',
      ];
    });
    expect(res.stderr).toBe('');
    expect(res).toMatchObject({ code: 0, stdout: '[a b]\n["q"]\n[it\'s]\n[]\n[$HOME;*]\n[tab\there]\n' });
  });

  it('keeps argv[0] as given (no path substitution) for the container process', async () => {
    const res = await runContainer((c) => {
      c.process.args = ['cat', '/proc/self/cmdline'];
    });
    expect(res).toMatchObject({ code: 0, stdout: 'cat\0/proc/self/cmdline\0' });
  });

  it("looks argv[0] up through the config's PATH, in order", async () => {
    const res = await runContainer((c, b) => {
      writeScript(b.rootfs, 'opt/first/whoami-tool', 'echo first "$@"');
      writeScript(b.rootfs, 'opt/second/whoami-tool', 'echo second "$@"');
      writeScript(b.rootfs, 'opt/second/only-second', 'echo only-second');
      c.process.env = ['PATH=/opt/nonexistent:/opt/first:/opt/second:/bin'];
      c.process.args = ['sh', '-c', 'whoami-tool x; only-second'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: 'first x\nonly-second\n' });
    const direct = await runContainer((c, b) => {
      writeScript(b.rootfs, 'opt/second/whoami-tool', 'echo second "$@"');
      c.process.env = ['PATH=/opt/second:/bin'];
      c.process.args = ['whoami-tool', 'y'];
    });
    expect(direct).toMatchObject({ code: 0, stderr: '', stdout: 'second y\n' });
  });

  it('skips a PATH entry whose file is not executable', async () => {
    const res = await runContainer((c, b) => {
      writeScript(b.rootfs, 'opt/a/tool', 'echo from-a');
      fs.chmodSync(path.join(b.rootfs, 'opt/a/tool'), 0o644);
      writeScript(b.rootfs, 'opt/b/tool', 'echo from-b');
      c.process.env = ['PATH=/opt/a:/opt/b'];
      c.process.args = ['tool'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: 'from-b\n' });
  });

  it('runs an absolute path without a PATH lookup', async () => {
    const res = await runContainer((c, b) => {
      writeScript(b.rootfs, 'opt/tools/abs-tool', 'echo abs "$0" "$@"');
      c.process.env = ['PATH=/bin'];
      c.process.args = ['/opt/tools/abs-tool', 'arg'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: 'abs /opt/tools/abs-tool arg\n' });
  });

  it('does not find a binary that is only on the runtime PATH, not the config PATH', async () => {
    const res = await runContainer(
      (c, b) => {
        writeScript(b.rootfs, 'opt/hidden/hidden-tool', 'echo should-not-run');
        c.process.env = ['PATH=/bin'];
        c.process.args = ['hidden-tool'];
      },
      { env: { PATH: `/opt/hidden:${process.env.PATH}` } },
    );
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/exec: "hidden-tool": executable file not found in \$PATH\n$/);
  });

  it("a missing executable fails create with runc's message and leaves nothing behind", async () => {
    const bundle = await makeBundle((c) => {
      c.process.args = ['nope'];
    });
    const id = containerId();
    try {
      const res = await tsrunc(['create', '--bundle', bundle.dir, id]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(lines(res.stderr)).toHaveLength(1);
      expect(res.stderr).toMatch(/(^|: )exec: "nope": executable file not found in \$PATH\n$/);
      expect(await leftovers()).toEqual({ list: '', entries: [] });
      const state = await tsrunc(['state', id]);
      expect(state.code).toBe(1);
      expect(state.stderr).toContain('container does not exist');
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });

  it('a missing absolute path fails with "no such file or directory"', async () => {
    const res = await runContainer((c) => {
      c.process.args = ['/no/such/binary'];
    });
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/exec: "\/no\/such\/binary": no such file or directory\n$/);
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });

  it('a non-executable absolute path fails with "permission denied"', async () => {
    const res = await runContainer((c) => {
      c.process.args = ['/etc/passwd'];
    });
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/exec: "\/etc\/passwd": permission denied\n$/);
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });
});

describe('process.env', () => {
  // The one entry added: HOME, from the container's /etc/passwd (root's home is /root there),
  // when the config has none (runc and crun do the same).
  it("is exactly the config's env (and HOME): nothing of the runtime's environment leaks in", async () => {
    const env = ['PATH=/bin:/usr/bin', 'A=1', 'WITH_SPACE=a b c', 'EMPTY=', 'EQ=x=y=z', 'TERM=dumb'];
    const res = await runContainer(
      (c) => {
        c.process.env = env;
        c.process.args = ['env'];
      },
      { env: { TSRUNC_LEAK_CANARY: '1', HOME: '/leak/home', LANG: 'C.UTF-8' } },
    );
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(lines(res.stdout).sort()).toEqual([...env, 'HOME=/root'].sort());
    expect(res.stdout).not.toContain('TSRUNC_LEAK_CANARY');
    expect(res.stdout).not.toContain('/leak/home');
  });

  it('the environ of the container process holds the entries in config order', async () => {
    const env = ['Z_LAST=z', 'PATH=/bin', 'A_FIRST=a'];
    const res = await runContainer((c) => {
      c.process.env = env;
      c.process.args = ['cat', '/proc/self/environ'];
    });
    expect(res).toMatchObject({
      code: 0,
      stderr: '',
      stdout: [...env, 'HOME=/root'].map((e) => `${e}\0`).join(''),
    });
  });

  it('no env at all gives an environment of HOME alone', async () => {
    const res = await runContainer(
      (c) => {
        delete c.process.env;
        c.process.args = ['/bin/env'];
      },
      { env: { TSRUNC_LEAK_CANARY: '1' } },
    );
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: 'HOME=/root\n' });
  });

  it('an empty env list gives HOME alone and argv[0] is found through the default PATH', async () => {
    const res = await runContainer(
      (c) => {
        c.process.env = [];
        c.process.args = ['cat', '/proc/self/environ'];
      },
      { env: { TSRUNC_LEAK_CANARY: '1' } },
    );
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: 'HOME=/root\0' });
  });
});

describe('process.cwd', () => {
  it('starts in an existing directory', async () => {
    const res = await runContainer((c) => {
      c.process.cwd = '/etc';
      c.process.args = ['sh', '-c', 'pwd; pwd -P; ls passwd'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '/etc\n/etc\npasswd\n' });
  });

  it('creates a missing cwd (mode 0755, owned by root) inside the rootfs', async () => {
    const res = await runContainer((c) => {
      c.process.cwd = '/work/deep/dir';
      c.process.args = ['sh', '-c', 'pwd -P; stat -c "%a %u %g" /work /work/deep /work/deep/dir'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '/work/deep/dir\n755 0 0\n755 0 0\n755 0 0\n' });
    expect(fs.existsSync('/work/deep/dir')).toBe(false);
  });

  it('follows a symlink inside the rootfs (an absolute link target resolves in the container)', async () => {
    const hostTarget = '/opt/tsrunc-inside-only';
    expect(fs.existsSync(hostTarget)).toBe(false);
    const res = await runContainer((c, b) => {
      fs.mkdirSync(path.join(b.rootfs, 'opt/tsrunc-inside-only'), { recursive: true });
      fs.symlinkSync('/opt/tsrunc-inside-only', path.join(b.rootfs, 'abslink'));
      fs.symlinkSync('../opt/tsrunc-inside-only', path.join(b.rootfs, 'etc/rellink'));
      c.process.cwd = '/abslink/sub';
      c.process.args = ['sh', '-c', 'pwd -P; cd /etc/rellink && pwd -P'];
    });
    expect(res).toMatchObject({
      code: 0,
      stderr: '',
      stdout: '/opt/tsrunc-inside-only/sub\n/opt/tsrunc-inside-only\n',
    });
    // The missing "sub" was created in the container's rootfs, not on the host.
    expect(fs.existsSync(hostTarget)).toBe(false);
  });

  it('a symlink escaping the rootfs with .. stays inside it (a missing cwd is made in the rootfs)', async () => {
    const name = `tsrunc-escape-${process.pid}-${Date.now()}`;
    const res = await runContainer((c, b) => {
      fs.symlinkSync('../../../../../../tmp', path.join(b.rootfs, 'escape'));
      c.process.cwd = `/escape/${name}`;
      c.process.args = ['sh', '-c', `pwd -P; ls -d /tmp/${name}`];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: `/tmp/${name}\n/tmp/${name}\n` });
    expect(fs.existsSync(`/tmp/${name}`)).toBe(false);
  });

  it('a cwd only root may enter (/root, mode 700) works for uid 42: entered before the user switch', async () => {
    const res = await runContainer((c, b) => {
      expect(fs.statSync(path.join(b.rootfs, 'root')).mode & 0o777).toBe(0o700);
      c.process.cwd = '/root';
      c.process.user = { uid: 42, gid: 42 };
      // The process is uid 42 in /root, which it may not read: the privileges are gone.
      c.process.args = ['sh', '-c', 'pwd; id -u; ls . 2>/dev/null || echo cannot-list'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '/root\n42\ncannot-list\n' });
  });

  it('exec with the same cwd and user, and with --user 0, starts in /root too', async () => {
    const bundle = await makeBundle((c) => {
      c.process.cwd = '/root';
      c.process.user = { uid: 42, gid: 42 };
      c.process.args = ['sleep', '1000'];
    });
    const id = containerId();
    try {
      expect((await tsrunc(['create', '--bundle', bundle.dir, id])).stderr).toBe('');
      expect((await tsrunc(['start', id])).code).toBe(0);
      const asUser = await tsrunc(['exec', id, 'sh', '-c', 'pwd; id -u']);
      expect(asUser).toMatchObject({ code: 0, stderr: '', stdout: '/root\n42\n' });
      const asRoot = await tsrunc(['exec', '--user', '0', id, 'sh', '-c', 'pwd; id -u']);
      expect(asRoot).toMatchObject({ code: 0, stderr: '', stdout: '/root\n0\n' });
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });

  it('a relative cwd is refused at validation, naming process.cwd', async () => {
    const res = await runContainer((c) => {
      c.process.cwd = 'relative/dir';
      c.process.args = ['true'];
    });
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toEqual(['config.json: process.cwd: must be an absolute path']);
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });

  it('a cwd that is a file fails create with one line naming process.cwd', async () => {
    const res = await runContainer((c) => {
      c.process.cwd = '/etc/passwd';
      c.process.args = ['true'];
    });
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/process\.cwd/);
    expect(res.stderr).toMatch(/not a directory/);
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });
});

describe('exit codes', () => {
  it("run exits with the container's exit code", async () => {
    for (const code of [0, 3, 42, 255]) {
      const res = await runContainer((c) => {
        c.process.args = ['sh', '-c', `exit ${code}`];
      });
      expect({ code: res.code, stderr: res.stderr }).toEqual({ code, stderr: '' });
    }
  });

  it('run exits with 137 when the container is killed with KILL from the host', async () => {
    const bundle = await makeBundle((c) => {
      c.process.args = ['sleep', '100'];
    });
    const id = containerId();
    const bg = tsruncBackground(['run', '--bundle', bundle.dir, id]);
    try {
      await waitFor('the container to run', async () => {
        const st = await tsrunc(['state', id]);
        return st.code === 0 && JSON.parse(st.stdout).status === 'running';
      });
      const kill = await tsrunc(['kill', id, 'KILL']);
      expect(kill).toMatchObject({ code: 0, stderr: '' });
      const res = await bg.done;
      expect(res).toMatchObject({ code: 137, stderr: '' });
      expect(await leftovers()).toEqual({ list: '', entries: [] });
    } finally {
      bg.child.kill('SIGKILL');
      await bg.done;
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });

  it('pid 1 ignores TERM it has no handler for; a trap handles it; run forwards TERM', async () => {
    const bundle = await makeBundle((c) => {
      c.process.args = [
        'sh',
        '-c',
        'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done',
      ];
    });
    const id = containerId();
    const bg = tsruncBackground(['run', '--bundle', bundle.dir, id]);
    try {
      await waitFor('the container to be ready', () => bg.stdout().includes('ready\n'));
      // TERM sent to the `tsrunc run` process is forwarded to the container.
      bg.child.kill('SIGTERM');
      const res = await bg.done;
      expect(res).toMatchObject({ code: 7, stdout: 'ready\ngot-term\n', stderr: '' });
    } finally {
      bg.child.kill('SIGKILL');
      await bg.done;
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });

  it('TERM to a pid 1 without a handler is ignored (a new pid namespace); KILL is not', async () => {
    const bundle = await makeBundle((c) => {
      c.process.args = ['sleep', '100'];
    });
    const id = containerId();
    try {
      expect(await tsrunc(['create', '--bundle', bundle.dir, id])).toMatchObject({ code: 0, stderr: '' });
      expect(await tsrunc(['start', id])).toMatchObject({ code: 0, stderr: '' });
      const pid = JSON.parse((await tsrunc(['state', id])).stdout).pid as number;
      expect(pid).toBeGreaterThan(0);
      expect(await tsrunc(['kill', id, 'TERM'])).toMatchObject({ code: 0, stderr: '' });
      await new Promise((r) => setTimeout(r, 200));
      expect(JSON.parse((await tsrunc(['state', id])).stdout).status).toBe('running');
      expect(await tsrunc(['kill', id, 'KILL'])).toMatchObject({ code: 0, stderr: '' });
      await waitFor('the container to stop', async () => {
        const st = await tsrunc(['state', id]);
        return st.code === 0 && JSON.parse(st.stdout).status === 'stopped';
      });
      const st = JSON.parse((await tsrunc(['state', id])).stdout);
      expect(st).toMatchObject({ status: 'stopped', pid: 0 });
      expect(await tsrunc(['delete', id])).toMatchObject({ code: 0, stderr: '' });
      expect(await leftovers()).toEqual({ list: '', entries: [] });
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });
});

describe('signal state of the container process', () => {
  it('nothing ignored, blocked or caught in pid 1 (Node ignores SIGPIPE: it must not leak)', async () => {
    const res = await runContainer((c) => {
      c.process.args = ['cat', '/proc/1/status'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(statusField(res.stdout, 'Name')).toBe('cat');
    expect(statusField(res.stdout, 'SigIgn')).toBe('0000000000000000');
    expect(statusField(res.stdout, 'SigBlk')).toBe('0000000000000000');
    expect(statusField(res.stdout, 'SigCgt')).toBe('0000000000000000');
    expect(statusField(res.stdout, 'SigPnd')).toBe('0000000000000000');
    expect(statusField(res.stdout, 'ShdPnd')).toBe('0000000000000000');
  });

  it('SIGPIPE kills a writer to a closed pipe (default disposition)', async () => {
    const res = await runContainer((c) => {
      // yes gets SIGPIPE once head exits: its status is 128+13.
      c.process.args = ['sh', '-c', '(yes; echo "yes-exit=$?" >&2) | head -n 1'];
    });
    expect(res).toMatchObject({ code: 0, stdout: 'y\n' });
    expect(res.stderr).toBe('yes-exit=141\n');
  });
});

describe('file descriptors', () => {
  it('the container process has only 0, 1 and 2 open (ls adds its own dir fd 3)', async () => {
    const res = await runContainer((c) => {
      c.process.args = ['ls', '/proc/self/fd'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '0\n1\n2\n3\n' });
  });

  it('--preserve-fds 2 passes fds 3 and 4 into the container, readable and writable', async () => {
    const dir = tempDir('fds');
    const inputFile = path.join(dir, 'input');
    fs.writeFileSync(inputFile, 'from-four\n');
    const inputFd = fs.openSync(inputFile, 'r');
    const bundle = await makeBundle((c) => {
      c.process.args = ['sh', '-c', 'echo to-three >&3; cat <&4; ls /proc/self/fd | tr "\\n" " "'];
    });
    const id = containerId();
    try {
      const bg = tsruncBackground(['run', '--preserve-fds', '2', '--bundle', bundle.dir, id], {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', inputFd],
      });
      let fd3 = '';
      (bg.child.stdio[3] as NodeJS.ReadableStream).setEncoding('utf8');
      (bg.child.stdio[3] as NodeJS.ReadableStream).on('data', (d: string) => (fd3 += d));
      const res = await bg.done;
      expect(res).toMatchObject({ code: 0, stderr: '' });
      expect(fd3).toBe('to-three\n');
      // sh's child `ls` inherits 0-4 and opens its dir fd as 5; tr's pipe is its stdout.
      expect(res.stdout).toBe('from-four\n0 1 2 3 4 5 ');
    } finally {
      fs.closeSync(inputFd);
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without --preserve-fds an fd passed to tsrunc does not reach the container', async () => {
    const bundle = await makeBundle((c) => {
      c.process.args = ['ls', '/proc/self/fd'];
    });
    const id = containerId();
    try {
      const bg = tsruncBackground(['run', '--bundle', bundle.dir, id], {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      });
      const res = await bg.done;
      expect(res).toMatchObject({ code: 0, stderr: '', stdout: '0\n1\n2\n3\n' });
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });

  it('--preserve-fds 2 without fds 3 and 4 passed fails with one clear line and leaves nothing', async () => {
    const res = await runContainer(
      (c) => {
        c.process.args = ['ls', '/proc/self/fd'];
      },
      { runArgs: ['--preserve-fds', '2'] },
    );
    expect(res.stdout).toBe('');
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/--preserve-fds/);
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });
});

describe('process fields this host cannot apply', () => {
  it('apparmorProfile, selinuxLabel, ioPriority and scheduler are ignored with one warning each', async () => {
    const res = await runContainer((c) => {
      c.process.apparmorProfile = 'tsrunc-test-profile';
      c.process.selinuxLabel = 'system_u:system_r:container_t:s0';
      c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 4 };
      c.process.scheduler = { policy: 'SCHED_OTHER', nice: 5 };
      c.process.args = ['echo', 'ran'];
    });
    expect(res).toMatchObject({ code: 0, stdout: 'ran\n' });
    const warnings = lines(res.stderr);
    expect(warnings).toHaveLength(4);
    for (const field of ['apparmorProfile', 'selinuxLabel', 'ioPriority', 'scheduler']) {
      expect(warnings.filter((w) => w.includes(`process.${field}:`) && /level=warning/.test(w))).toHaveLength(
        1,
      );
    }
  });
});
