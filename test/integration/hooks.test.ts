// OCI lifecycle hooks against real containers: when each runs, in which namespaces, with what
// stdin, argv and environment, and what a failing or hanging hook does to the operation.
//
// Every hook here is a shell script that records what it saw into files (on the host, or in a
// host dir bind-mounted at /hookout for hooks that run inside the container).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { containerId, makeBundle, tempDir, type Bundle, type Config } from '../helpers/bundle';
import {
  cgroupDirsNamed,
  createContainer,
  expectOneLineError,
  mountsContaining,
  procAlive,
  processesMatching,
  procStartTime,
  readLinkOrNull,
  sleep,
  stateDirOf,
  stateOf,
  waitFor,
  waitForStatus,
  writeScript,
} from '../helpers/lifecycle-helpers';
import { startSeccompAgent, tsruncBackground } from '../helpers/process';
import { runContainer, tsrunc } from '../helpers/tsrunc';

/**
 * A recorder: `$1` names the record. It writes <out>/<name>.{stdin,mnt,pidns,env,args,root,cwd}
 * and appends the name to <out>/order. `out` is where the script sees the output dir.
 */
function recorderScript(out: string): string {
  return `#!/bin/sh
n=$1
o=${out}/$n
/bin/cat > $o.stdin
/bin/readlink /proc/self/ns/mnt > $o.mnt
/bin/readlink /proc/self/ns/pid > $o.pidns
/bin/tr '\\0' '\\n' < /proc/$$/environ > $o.env
for a in "$@"; do echo "$a"; done > $o.args
if [ -e /marker ]; then /bin/cat /marker > $o.root; else echo no-marker > $o.root; fi
/bin/pwd -P > $o.cwd
echo $n >> ${out}/order
`;
}

interface HookFixture {
  /** Host dir the recorders write to (mounted at /hookout in the container). */
  out: string;
  /** Recorder on the host (in the bundle dir, outside the rootfs). */
  hostHook: string;
  /** Recorder inside the rootfs, as the container sees it. */
  containerHook: string;
  /** Contents of /marker, which exists only in the rootfs. */
  marker: string;
  cleanup(): void;
}

/** Set up recorders, /marker and the /hookout bind mount in a bundle's config. */
function hookFixture(c: Config, b: Bundle): HookFixture {
  const out = tempDir('hookout');
  const marker = `marker-${path.basename(b.dir)}`;
  fs.writeFileSync(path.join(b.rootfs, 'marker'), `${marker}\n`);
  fs.mkdirSync(path.join(b.rootfs, 'hookout'), { recursive: true });
  const hostHook = writeScript(path.join(b.dir, 'hooks', 'record.sh'), recorderScript(out));
  writeScript(path.join(b.rootfs, 'hookbin', 'record.sh'), recorderScript('/hookout'));
  c.mounts.push({ destination: '/hookout', type: 'bind', source: out, options: ['rbind', 'rw'] });
  return {
    out,
    hostHook,
    containerHook: '/hookbin/record.sh',
    marker,
    cleanup: () => fs.rmSync(out, { recursive: true, force: true }),
  };
}

function hook(
  p: string,
  name: string,
  extra: Partial<{ env: string[]; timeout: number; args: string[] }> = {},
) {
  return {
    path: p,
    args: [p, name, ...(extra.args ?? [])],
    ...(extra.env ? { env: extra.env } : {}),
    ...(extra.timeout ? { timeout: extra.timeout } : {}),
  };
}

function readRec(out: string, name: string, what: string): string | null {
  try {
    return fs.readFileSync(path.join(out, `${name}.${what}`), 'utf8');
  } catch {
    return null;
  }
}

function lines(text: string | null): string[] {
  return (text ?? '').split('\n').filter((l) => l !== '');
}

function order(out: string): string[] {
  return lines(safeRead(path.join(out, 'order')));
}

function safeRead(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

const execFileP = promisify(execFile);

const HOST_MNT = fs.readlinkSync('/proc/self/ns/mnt');
const HOST_PIDNS = fs.readlinkSync('/proc/self/ns/pid');

describe('hooks: when and where they run', () => {
  it('prestart and createRuntime run during create in the runtime namespaces, with state, env and args', async () => {
    let fx!: HookFixture;
    const env = ['HOOK_A=1', 'HOOK_B=two words', 'PATH=/nowhere'];
    const c = await createContainer((cfg, b) => {
      fx = hookFixture(cfg, b);
      cfg.annotations = { 'org.test.hooks': 'yes' };
      cfg.process.args = ['sh', '-c', 'echo ran > /hookout/proc-ran; sleep 1000'];
      cfg.hooks = {
        prestart: [hook(fx.hostHook, 'prestart', { env, args: ['x1', 'x 2'] })],
        createRuntime: [hook(fx.hostHook, 'createRuntime', { env: ['ONLY=this'], args: ['--flag', ''] })],
      };
    });
    try {
      // Both ran during create, before the process.
      expect(order(fx.out)).toEqual(['prestart', 'createRuntime']);
      expect(fs.existsSync(path.join(fx.out, 'proc-ran'))).toBe(false);
      for (const name of ['prestart', 'createRuntime']) {
        const st = JSON.parse(readRec(fx.out, name, 'stdin')!);
        expect(st, name).toMatchObject({
          id: c.id,
          status: 'creating',
          pid: c.pid,
          bundle: c.bundle.dir,
          annotations: { 'org.test.hooks': 'yes' },
        });
        expect(typeof st.ociVersion).toBe('string');
        expect(readRec(fx.out, name, 'mnt')?.trim(), name).toBe(HOST_MNT);
        expect(readRec(fx.out, name, 'pidns')?.trim(), name).toBe(HOST_PIDNS);
        // Host paths: no /marker on the host.
        expect(readRec(fx.out, name, 'root')?.trim()).toBe('no-marker');
      }
      expect(lines(readRec(fx.out, 'prestart', 'env'))).toEqual(env);
      expect(lines(readRec(fx.out, 'createRuntime', 'env'))).toEqual(['ONLY=this']);
      // args[1..] exactly as given ("$@" of the script).
      expect(readRec(fx.out, 'prestart', 'args')).toBe('prestart\nx1\nx 2\n');
      expect(readRec(fx.out, 'createRuntime', 'args')).toBe('createRuntime\n--flag\n\n');
      expect((await stateOf(c.id)).status).toBe('created');
    } finally {
      await c.cleanup();
      fx?.cleanup();
    }
  });

  it('createContainer runs during create in the container mount namespace, before pivot_root', async () => {
    let fx!: HookFixture;
    const c = await createContainer((cfg, b) => {
      fx = hookFixture(cfg, b);
      cfg.process.args = ['sleep', '1000'];
      cfg.hooks = { createContainer: [hook(fx.hostHook, 'createContainer', { env: ['X=1'] })] };
    });
    try {
      // It wrote to the output dir at its host path and ran the script from the bundle dir:
      // host paths were still visible.
      expect(order(fx.out)).toEqual(['createContainer']);
      const initMnt = readLinkOrNull(`/proc/${c.pid}/ns/mnt`);
      expect(initMnt).toMatch(/^mnt:\[\d+\]$/);
      expect(initMnt).not.toBe(HOST_MNT);
      expect(readRec(fx.out, 'createContainer', 'mnt')?.trim()).toBe(initMnt);
      // Before pivot_root: / is not yet the container's rootfs.
      expect(readRec(fx.out, 'createContainer', 'root')?.trim()).toBe('no-marker');
      // Its cwd is the rootfs (runc's), at its host path there.
      expect(readRec(fx.out, 'createContainer', 'cwd')).toBe(`${fs.realpathSync(c.bundle.rootfs)}\n`);
      const st = JSON.parse(readRec(fx.out, 'createContainer', 'stdin')!);
      expect(st).toMatchObject({ id: c.id, status: 'creating', pid: c.pid, bundle: c.bundle.dir });
      expect(readRec(fx.out, 'createContainer', 'args')).toBe('createContainer\n');
    } finally {
      await c.cleanup();
      fx?.cleanup();
    }
  });

  it('startContainer runs during start in the container, after pivot_root, before the process', async () => {
    let fx!: HookFixture;
    const c = await createContainer((cfg, b) => {
      fx = hookFixture(cfg, b);
      cfg.process.args = [
        'sh',
        '-c',
        'if [ -e /hookout/startContainer.mnt ]; then echo yes; else echo no; fi > /hookout/proc-saw-hook; sleep 1000',
      ];
      cfg.hooks = {
        startContainer: [hook(fx.containerHook, 'startContainer', { env: ['IN=container'], args: ['a b'] })],
      };
    });
    try {
      await sleep(200);
      expect(order(fx.out)).toEqual([]);
      const res = await tsrunc(['start', c.id]);
      expect(res).toMatchObject({ code: 0, stderr: '' });
      expect(order(fx.out)).toEqual(['startContainer']);
      const initMnt = readLinkOrNull(`/proc/${c.pid}/ns/mnt`);
      expect(initMnt).not.toBe(HOST_MNT);
      expect(readRec(fx.out, 'startContainer', 'mnt')?.trim()).toBe(initMnt);
      expect(readRec(fx.out, 'startContainer', 'pidns')?.trim()).toBe(
        readLinkOrNull(`/proc/${c.pid}/ns/pid`),
      );
      // After pivot_root: its / is the container rootfs.
      expect(readRec(fx.out, 'startContainer', 'root')?.trim()).toBe(fx.marker);
      expect(lines(readRec(fx.out, 'startContainer', 'env'))).toEqual(['IN=container']);
      expect(readRec(fx.out, 'startContainer', 'args')).toBe('startContainer\na b\n');
      const st = JSON.parse(readRec(fx.out, 'startContainer', 'stdin')!);
      expect(st).toMatchObject({ id: c.id, pid: c.pid, bundle: c.bundle.dir });
      // The process ran after the hook.
      await waitFor('the process', () => fs.existsSync(path.join(fx.out, 'proc-saw-hook')));
      expect(fs.readFileSync(path.join(fx.out, 'proc-saw-hook'), 'utf8')).toBe('yes\n');
    } finally {
      await c.cleanup();
      fx?.cleanup();
    }
  });

  it('poststart runs after start in the runtime namespaces with status running; poststop on delete with status stopped', async () => {
    let fx!: HookFixture;
    const c = await createContainer((cfg, b) => {
      fx = hookFixture(cfg, b);
      cfg.process.args = ['sh', '-c', 'echo ran > /hookout/proc-ran; sleep 1000'];
      cfg.hooks = {
        poststart: [hook(fx.hostHook, 'poststart')],
        poststop: [hook(fx.hostHook, 'poststop', { env: ['STOP=1'] })],
      };
    });
    try {
      expect(order(fx.out)).toEqual([]);
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      expect(order(fx.out)).toEqual(['poststart']);
      const ps = JSON.parse(readRec(fx.out, 'poststart', 'stdin')!);
      expect(ps).toMatchObject({ id: c.id, status: 'running', pid: c.pid, bundle: c.bundle.dir });
      expect(readRec(fx.out, 'poststart', 'mnt')?.trim()).toBe(HOST_MNT);
      expect(readRec(fx.out, 'poststart', 'pidns')?.trim()).toBe(HOST_PIDNS);
      // No env: the runtime's environment, as runc's hooks get it (PATH included).
      expect(lines(readRec(fx.out, 'poststart', 'env')).some((l) => l.startsWith('PATH='))).toBe(true);

      // poststop does not run on kill, only on delete.
      expect((await tsrunc(['kill', c.id, 'KILL'])).code).toBe(0);
      await waitForStatus(c.id, 'stopped');
      await sleep(100);
      expect(order(fx.out)).toEqual(['poststart']);
      const del = await tsrunc(['delete', c.id]);
      expect(del).toMatchObject({ code: 0, stderr: '' });
      expect(order(fx.out)).toEqual(['poststart', 'poststop']);
      const stop = JSON.parse(readRec(fx.out, 'poststop', 'stdin')!);
      expect(stop).toMatchObject({ id: c.id, status: 'stopped', bundle: c.bundle.dir });
      expect(readRec(fx.out, 'poststop', 'mnt')?.trim()).toBe(HOST_MNT);
      expect(lines(readRec(fx.out, 'poststop', 'env'))).toEqual(['STOP=1']);
      expect(fs.existsSync(stateDirOf(c.id))).toBe(false);
    } finally {
      await c.cleanup();
      fx?.cleanup();
    }
  });

  it('every hook of a full create/start/delete runs once, in order', async () => {
    let fx!: HookFixture;
    const c = await createContainer((cfg, b) => {
      fx = hookFixture(cfg, b);
      cfg.process.args = ['sleep', '1000'];
      cfg.hooks = {
        prestart: [hook(fx.hostHook, 'prestart')],
        createRuntime: [hook(fx.hostHook, 'createRuntime0'), hook(fx.hostHook, 'createRuntime1')],
        createContainer: [hook(fx.hostHook, 'createContainer')],
        startContainer: [hook(fx.containerHook, 'startContainer')],
        poststart: [hook(fx.hostHook, 'poststart')],
        poststop: [hook(fx.hostHook, 'poststop')],
      };
    });
    try {
      expect(order(fx.out)).toEqual(['prestart', 'createRuntime0', 'createRuntime1', 'createContainer']);
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      expect((await tsrunc(['delete', '--force', c.id])).code).toBe(0);
      expect(order(fx.out)).toEqual([
        'prestart',
        'createRuntime0',
        'createRuntime1',
        'createContainer',
        'startContainer',
        'poststart',
        'poststop',
      ]);
    } finally {
      await c.cleanup();
      fx?.cleanup();
    }
  });

  it("hooks that provide libraries: createRuntime by nsenter, createContainer relative to its cwd (the rootfs), startContainer's ldconfig", async () => {
    // Two real shared libraries of the host (ldconfig reads their SONAME) and the host's static
    // ldconfig in the rootfs; busybox has none.
    const hostLibs = new Map<string, string>();
    for (const line of (await execFileP('/sbin/ldconfig', ['-p'])).stdout.split('\n')) {
      const m = /^\s+(libz\.so\.1|libm\.so\.6) \(libc6,x86-64\) => (\S+)$/.exec(line);
      if (m && !hostLibs.has(m[1])) hostLibs.set(m[1], fs.realpathSync(m[2]));
    }
    expect([...hostLibs.keys()].sort()).toEqual(['libm.so.6', 'libz.so.1']);
    const res = await runContainer((cfg, b) => {
      cfg.root.readonly = false;
      fs.mkdirSync(path.join(b.rootfs, 'lib'), { recursive: true });
      fs.mkdirSync(path.join(b.rootfs, 'sbin'), { recursive: true });
      fs.copyFileSync('/sbin/ldconfig', path.join(b.rootfs, 'sbin/ldconfig'));
      fs.chmodSync(path.join(b.rootfs, 'sbin/ldconfig'), 0o755);
      // The mount points; the hooks bind the host's libraries onto them.
      fs.writeFileSync(path.join(b.rootfs, 'lib/libm.so.6'), '');
      fs.writeFileSync(path.join(b.rootfs, 'lib/libz.so.1'), '');
      // createRuntime runs in the runtime's namespaces: it enters the container's mount
      // namespace by the pid of the state on its stdin, where the rootfs is at its host path.
      const createRuntime = writeScript(
        path.join(b.dir, 'hooks/create-runtime.sh'),
        '#!/bin/sh\n' +
          'pid=$(/bin/sed -n \'s/.*"pid":\\([0-9]*\\).*/\\1/p\')\n' +
          `exec /usr/bin/nsenter --target "$pid" --mount /bin/mount --bind ${hostLibs.get('libm.so.6')} ${b.rootfs}/lib/libm.so.6\n`,
      );
      // createContainer runs in the container's mount namespace with the rootfs as its cwd.
      const createContainer = writeScript(
        path.join(b.dir, 'hooks/create-container.sh'),
        `#!/bin/sh\nexec /bin/mount --bind ${hostLibs.get('libz.so.1')} ./lib/libz.so.1\n`,
      );
      cfg.hooks = {
        createRuntime: [{ path: createRuntime }],
        createContainer: [{ path: createContainer }],
        startContainer: [{ path: '/sbin/ldconfig' }],
      };
      cfg.process.args = ['/sbin/ldconfig', '-p'];
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^2 libs found in cache/);
    expect(res.stdout).toContain('libz.so.1 (libc6,x86-64) => /lib/libz.so.1\n');
    expect(res.stdout).toContain('libm.so.6 (libc6,x86-64) => /lib/libm.so.6\n');
  });

  it('poststop runs after a foreground run', async () => {
    let fx!: HookFixture;
    const res = await runContainer((cfg, b) => {
      fx = hookFixture(cfg, b);
      cfg.process.args = ['sh', '-c', 'exit 3'];
      cfg.hooks = { poststop: [hook(fx.hostHook, 'poststop')] };
    });
    try {
      expect(res.code, res.stderr).toBe(3);
      expect(order(fx.out)).toEqual(['poststop']);
      const stop = JSON.parse(readRec(fx.out, 'poststop', 'stdin')!);
      expect(stop).toMatchObject({ id: res.id, status: 'stopped' });
    } finally {
      fx?.cleanup();
    }
  });
});

describe('hooks: startContainer runs as the container process would (runc)', () => {
  const KILL_MKDIR = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL' }],
  };

  for (const noNewPrivileges of [true, false]) {
    it(`with the container's seccomp filter (noNewPrivileges ${noNewPrivileges}): a killed mkdir fails start`, async () => {
      const c = await createContainer((cfg, b) => {
        writeScript(path.join(b.rootfs, 'hookbin', 'mkdir.sh'), '#!/bin/sh\nmkdir /tmp/by-hook\n');
        cfg.process.noNewPrivileges = noNewPrivileges;
        cfg.process.args = ['sleep', '1000'];
        cfg.root.readonly = false;
        cfg.linux.seccomp = KILL_MKDIR;
        cfg.hooks = { startContainer: [{ path: '/hookbin/mkdir.sh' }] };
      });
      try {
        // runc 1.1.5's words for the same hook, but for the kind and index.
        expect(expectOneLineError(await tsrunc(['start', c.id]))).toBe(
          'error running startContainer hook #0: exit status 159, stdout: , stderr: Bad system call',
        );
        expect(fs.existsSync(path.join(c.bundle.rootfs, 'tmp', 'by-hook'))).toBe(false);
        await waitForStatus(c.id, 'stopped');
      } finally {
        await c.cleanup();
      }
    });
  }

  it("with the process's user, capabilities, no_new_privs, cwd and cgroups", async () => {
    const c = await createContainer((cfg, b) => {
      writeScript(
        path.join(b.rootfs, 'hookbin', 'whoami.sh'),
        '#!/bin/sh\n{ id -u; id -g; pwd; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; ' +
          'cat /proc/self/cgroup; } > /tmp/hook-report\n',
      );
      cfg.root.readonly = false;
      cfg.process.user = { uid: 1000, gid: 1000 };
      cfg.process.cwd = '/home/u1000';
      cfg.process.noNewPrivileges = true;
      cfg.process.args = ['sleep', '1000'];
      cfg.linux.seccomp = KILL_MKDIR;
      cfg.hooks = { startContainer: [{ path: '/hookbin/whoami.sh' }] };
    });
    try {
      expect(await tsrunc(['start', c.id])).toMatchObject({ code: 0, stderr: '' });
      const report = fs.readFileSync(path.join(c.bundle.rootfs, 'tmp', 'hook-report'), 'utf8');
      const initCgroups = fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8');
      expect(report).toBe(
        `1000\n1000\n/home/u1000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n${initCgroups}`,
      );
    } finally {
      await c.cleanup();
    }
  });

  it('past its timeout it is killed with its process group; start fails', async () => {
    const tag = `100.${process.pid}${Date.now() % 100000}`;
    const c = await createContainer((cfg, b) => {
      writeScript(path.join(b.rootfs, 'hookbin', 'slow.sh'), `#!/bin/sh\nsleep ${tag} &\nsleep ${tag}\n`);
      cfg.process.args = ['sleep', '1000'];
      // No pid namespace: the init's death would not take the hook's processes with it.
      cfg.linux.namespaces = cfg.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'pid');
      cfg.hooks = { startContainer: [{ path: '/hookbin/slow.sh', timeout: 1 }] };
    });
    try {
      expect(expectOneLineError(await tsrunc(['start', c.id]))).toBe(
        'error running startContainer hook #0: hook ran past specified timeout of 1.0s',
      );
      await waitFor(
        'the hook and its child to die',
        () => processesMatching(`sleep ${tag}`).length === 0,
        3000,
      );
      expect(processesMatching(`sleep ${tag}`)).toEqual([]);
    } finally {
      for (const p of processesMatching(`sleep ${tag}`)) process.kill(p.pid, 'SIGKILL');
      await c.cleanup();
    }
  });

  it('with SCMP_ACT_NOTIFY its syscalls reach the agent (a listener of its own), and it gets no fd of the runtime', async () => {
    const ENOSPC = 28;
    const dir = tempDir('hook-agent');
    const agent = await startSeccompAgent(
      path.join(dir, 'agent.sock'),
      path.join(dir, 'report.json'),
      ENOSPC,
      2,
    );
    // An fd the runtime inherited without close-on-exec (Node marks only its low fds): a hook
    // run by a process the runtime spawns would inherit it.
    const inherited = fs.openSync('/dev/null', 'r');
    const c = await createContainer((cfg, b) => {
      writeScript(
        path.join(b.rootfs, 'hookbin', 'notify.sh'),
        '#!/bin/sh\nls /proc/self/fd > /tmp/hook-fds\nmkdir /tmp/hook-dir 2> /tmp/hook-mkdir\necho $? >> /tmp/hook-mkdir\n',
      );
      cfg.process.args = ['sleep', '1000'];
      cfg.root.readonly = false;
      cfg.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        listenerPath: agent.socketPath,
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
      };
      cfg.hooks = { startContainer: [{ path: '/hookbin/notify.sh' }] };
    });
    try {
      const start = tsruncBackground(['start', c.id], {
        stdio: ['ignore', 'pipe', 'pipe', ...Array<'ignore'>(17).fill('ignore'), inherited],
      });
      expect(await start.done).toMatchObject({ code: 0, stderr: '' });
      const tmp = path.join(c.bundle.rootfs, 'tmp');
      // runc's hook sees 4: its stdio and the fd ls reads /proc/self/fd through.
      expect(fs.readFileSync(path.join(tmp, 'hook-fds'), 'utf8')).toBe('0\n1\n2\n3\n');
      expect(fs.readFileSync(path.join(tmp, 'hook-mkdir'), 'utf8')).toBe(
        "mkdir: can't create directory '/tmp/hook-dir': No space left on device\n1\n",
      );
      expect((await tsrunc(['delete', '--force', c.id])).code).toBe(0);
      const { code, report } = await agent.done;
      expect(code).toBe(0);
      expect(report!.states.map((s) => s.state.status)).toEqual(['creating', 'created']);
      expect(report!.notifications.map((n) => n.nr)).toContain(83); // mkdir
    } finally {
      agent.kill();
      fs.closeSync(inherited);
      await c.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('hooks: failures', () => {
  const FAIL = '#!/bin/sh\necho hook-out\necho hook-err >&2\nexit 1\n';

  for (const kind of ['prestart', 'createRuntime', 'createContainer'] as const) {
    it(`a failing ${kind} hook fails create and leaves nothing behind`, async () => {
      const id = containerId();
      const bundle = await makeBundle((cfg, b) => {
        const failing = writeScript(path.join(b.dir, 'fail.sh'), FAIL);
        cfg.process.args = ['sleep', '1000'];
        cfg.hooks = { [kind]: [{ path: failing }] };
      });
      try {
        const res = await tsrunc(['create', '--bundle', bundle.dir, id]);
        const line = expectOneLineError(res);
        expect(line.startsWith(`error running ${kind} hook #0: exit status 1`), line).toBe(true);
        expect(line).toContain('hook-out');
        expect(line).toContain('hook-err');
        expect(fs.existsSync(stateDirOf(id))).toBe(false);
        await waitFor('no process of the container', () => processesMatching(id).length === 0, 2000);
        expect(mountsContaining(bundle.dir)).toEqual([]);
        expect(expectOneLineError(await tsrunc(['state', id]))).toBe('container does not exist');
      } finally {
        await tsrunc(['delete', '--force', id]);
        await bundle.cleanup();
      }
    });
  }

  it('a second hook that fails reports its index; the first one ran', async () => {
    const id = containerId();
    const out = tempDir('hookout');
    const bundle = await makeBundle((cfg, b) => {
      const ok = writeScript(path.join(b.dir, 'ok.sh'), `#!/bin/sh\n: > ${out}/first-ran\n`);
      const failing = writeScript(path.join(b.dir, 'fail.sh'), '#!/bin/sh\nexit 3\n');
      const never = writeScript(path.join(b.dir, 'never.sh'), `#!/bin/sh\n: > ${out}/third-ran\n`);
      cfg.process.args = ['sleep', '1000'];
      cfg.hooks = { createRuntime: [{ path: ok }, { path: failing }, { path: never }] };
    });
    try {
      const res = await tsrunc(['create', '--bundle', bundle.dir, id]);
      expect(expectOneLineError(res)).toMatch(/^error running createRuntime hook #1: exit status 3/);
      expect(fs.existsSync(path.join(out, 'first-ran'))).toBe(true);
      expect(fs.existsSync(path.join(out, 'third-ran'))).toBe(false);
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('a hook that cannot be executed fails create with one line naming it', async () => {
    const id = containerId();
    const bundle = await makeBundle((cfg) => {
      cfg.process.args = ['sleep', '1000'];
      cfg.hooks = { createRuntime: [{ path: '/nonexistent/tsrunc-hook' }] };
    });
    try {
      const res = await tsrunc(['create', '--bundle', bundle.dir, id]);
      const line = expectOneLineError(res);
      expect(line).toMatch(/^error running createRuntime hook #0: /);
      expect(line).toContain('/nonexistent/tsrunc-hook');
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
      await waitFor('no process of the container', () => processesMatching(id).length === 0, 2000);
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });

  it('a failing startContainer hook fails start; the process never runs; the container is stopped', async () => {
    let fx!: HookFixture;
    const c = await createContainer((cfg, b) => {
      fx = hookFixture(cfg, b);
      writeScript(path.join(b.rootfs, 'hookbin', 'fail.sh'), '#!/bin/sh\necho nope >&2\nexit 1\n');
      cfg.process.args = ['sh', '-c', 'echo ran > /hookout/proc-ran; sleep 1000'];
      cfg.hooks = { startContainer: [{ path: '/hookbin/fail.sh' }] };
    });
    try {
      const res = await tsrunc(['start', c.id]);
      const line = expectOneLineError(res);
      expect(line).toMatch(/^error running startContainer hook #0: exit status 1/);
      expect(line).toContain('nope');
      const s = await waitForStatus(c.id, 'stopped');
      expect(s.pid).toBe(0);
      await waitFor('the init to go', () => !procAlive(c.pid));
      expect(fs.existsSync(path.join(fx.out, 'proc-ran'))).toBe(false);
      const del = await tsrunc(['delete', c.id]);
      expect(del).toMatchObject({ code: 0, stderr: '' });
      expect(fs.existsSync(stateDirOf(c.id))).toBe(false);
    } finally {
      await c.cleanup();
      fx?.cleanup();
    }
  });

  it('run with a failing startContainer hook exits 1 with one line and leaves nothing', async () => {
    const id = containerId();
    const out = tempDir('hookout');
    const res = await runContainer(
      (cfg, b) => {
        writeScript(path.join(b.rootfs, 'hookbin', 'fail.sh'), '#!/bin/sh\nexit 2\n');
        cfg.mounts.push({ destination: '/hookout', type: 'bind', source: out, options: ['rbind', 'rw'] });
        fs.mkdirSync(path.join(b.rootfs, 'hookout'));
        cfg.process.args = ['sh', '-c', 'echo ran > /hookout/proc-ran'];
        cfg.hooks = { startContainer: [{ path: '/hookbin/fail.sh' }] };
      },
      { id },
    );
    try {
      expect(expectOneLineError(res)).toMatch(/^error running startContainer hook #0: exit status 2/);
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
      expect(fs.existsSync(path.join(out, 'proc-ran'))).toBe(false);
      await waitFor('no process of the container', () => processesMatching(id).length === 0, 2000);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  // The process writes proc-ran at once and proc-late a second later: if the container were
  // left running after its poststart hook failed, proc-late would appear.
  const RAN_THEN_LATE = 'echo ran > /hookout/proc-ran; sleep 1; echo late > /hookout/proc-late';
  const POSTSTART_FAIL = '#!/bin/sh\necho post-out\necho post-err >&2\nexit 4\n';

  it('a failing poststart hook fails start and stops the container; later ones do not run; delete runs poststop', async () => {
    let fx!: HookFixture;
    const c = await createContainer((cfg, b) => {
      fx = hookFixture(cfg, b);
      const failing = writeScript(path.join(b.dir, 'fail.sh'), POSTSTART_FAIL);
      cfg.process.args = ['sh', '-c', RAN_THEN_LATE];
      cfg.hooks = {
        poststart: [hook(fx.hostHook, 'poststart0'), { path: failing }, hook(fx.hostHook, 'poststart2')],
        poststop: [hook(fx.hostHook, 'poststop')],
      };
    });
    try {
      const startTime = procStartTime(c.pid);
      const cgroups = cgroupDirsNamed(c.id);
      expect(cgroups.length).toBeGreaterThan(0);
      const res = await tsrunc(['start', c.id]);
      const line = expectOneLineError(res);
      expect(line).toMatch(
        /^error running poststart hook #1: exit status 4, stdout: post-out, stderr: post-err$/,
      );
      // start returned only once the container was stopped: the init gone, its cgroups empty.
      expect(procAlive(c.pid, startTime)).toBe(false);
      for (const dir of cgroups)
        expect(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8'), dir).toBe('');
      expect(await stateOf(c.id)).toMatchObject({ status: 'stopped', pid: 0 });
      expect(order(fx.out)).toEqual(['poststart0']);
      await sleep(1500);
      expect(fs.existsSync(path.join(fx.out, 'proc-late'))).toBe(false);
      // The rest of the lifecycle is delete's: a stopped container needs no --force.
      const del = await tsrunc(['delete', c.id]);
      expect(del).toMatchObject({ code: 0, stderr: '' });
      expect(order(fx.out)).toEqual(['poststart0', 'poststop']);
      const stop = JSON.parse(readRec(fx.out, 'poststop', 'stdin')!);
      expect(stop).toMatchObject({ id: c.id, status: 'stopped', bundle: c.bundle.dir });
      expect(fs.existsSync(stateDirOf(c.id))).toBe(false);
      expect(cgroupDirsNamed(c.id)).toEqual([]);
    } finally {
      await c.cleanup();
      fx?.cleanup();
    }
  });

  it('run with a failing poststart hook exits 1 with its message, runs poststop and leaves nothing', async () => {
    const id = containerId();
    let fx!: HookFixture;
    const bundle = await makeBundle((cfg, b) => {
      fx = hookFixture(cfg, b);
      const failing = writeScript(path.join(b.dir, 'fail.sh'), POSTSTART_FAIL);
      cfg.process.args = ['sh', '-c', RAN_THEN_LATE];
      cfg.hooks = { poststart: [{ path: failing }], poststop: [hook(fx.hostHook, 'poststop')] };
    });
    try {
      const res = await tsrunc(['run', '--bundle', bundle.dir, id]);
      expect(expectOneLineError(res)).toMatch(
        /^error running poststart hook #0: exit status 4, stdout: post-out/,
      );
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
      expect(cgroupDirsNamed(id)).toEqual([]);
      expect(processesMatching(id)).toEqual([]);
      expect(mountsContaining(bundle.dir)).toEqual([]);
      expect(order(fx.out)).toEqual(['poststop']);
      expect(JSON.parse(readRec(fx.out, 'poststop', 'stdin')!)).toMatchObject({ id, status: 'stopped' });
      await sleep(1500);
      expect(fs.existsSync(path.join(fx.out, 'proc-late'))).toBe(false);
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fx?.cleanup();
    }
  });

  it('a failing poststop hook is a warning in the log; delete succeeds', async () => {
    const logDir = tempDir('log');
    const log = path.join(logDir, 'log.json');
    const c = await createContainer((cfg, b) => {
      const failing = writeScript(path.join(b.dir, 'fail.sh'), FAIL);
      cfg.process.args = ['sleep', '1000'];
      cfg.hooks = { poststop: [{ path: failing }] };
    });
    try {
      const res = await tsrunc(['--log', log, '--log-format', 'json', 'delete', '--force', c.id]);
      expect(res).toMatchObject({ code: 0, stderr: '' });
      expect(fs.existsSync(stateDirOf(c.id))).toBe(false);
      await waitFor('the init to go', () => !procAlive(c.pid));
      const entries = lines(fs.readFileSync(log, 'utf8')).map((l) => JSON.parse(l));
      const warning = entries.find((e) => e.level === 'warning' && /poststop/.test(e.msg));
      expect(warning, JSON.stringify(entries)).toBeDefined();
      expect(warning.msg).toMatch(/^error running poststop hook #0: exit status 1/);
    } finally {
      await c.cleanup();
      fs.rmSync(logDir, { recursive: true, force: true });
    }
  });
});

describe('hooks: validation', () => {
  const cases: [string, (c: Config) => void, string][] = [
    [
      'a relative prestart path',
      (c) => (c.hooks = { prestart: [{ path: 'hooks/x.sh' }] }),
      'hooks.prestart[0].path',
    ],
    [
      'a relative poststop path (second hook)',
      (c) => (c.hooks = { poststop: [{ path: '/bin/true' }, { path: 'true' }] }),
      'hooks.poststop[1].path',
    ],
    [
      'a relative createContainer path',
      (c) => (c.hooks = { createContainer: [{ path: './x' }] }),
      'hooks.createContainer[0].path',
    ],
  ];
  for (const [name, mutate, field] of cases) {
    it(`${name} is rejected by create, naming ${field}`, async () => {
      const id = containerId();
      const bundle = await makeBundle((c) => {
        c.process.args = ['sleep', '1000'];
        mutate(c);
      });
      try {
        const res = await tsrunc(['create', '--bundle', bundle.dir, id]);
        const line = expectOneLineError(res);
        expect(line).toContain(field);
        expect(line).toContain('absolute');
        expect(fs.existsSync(stateDirOf(id))).toBe(false);
        expect(processesMatching(id)).toEqual([]);
      } finally {
        await tsrunc(['delete', '--force', id]);
        await bundle.cleanup();
      }
    });
  }
});
