// Attacks on the runtime from inside a container (/work/shared/SECURITY.md), each really tried
// and shown to fail: checked from inside the container and on the host.
//
// | SECURITY.md class                                   | Covered by |
// |-----------------------------------------------------|------------|
// | /proc/<pid>/exe overwrite (CVE-2019-5736)           | security: "not dumpable" (second container in the created init's pid ns: exe, fd, environ, mem) |
// | ptrace of the runtime (CVE-2016-9962)               | security: "not dumpable" (PTRACE_ATTACH, PTRACE_SEIZE, process_vm_readv by a static helper) |
// | leaked host fds (CVE-2024-21626)                    | security: "leaked fds" (cwd /proc/self/fd/3..12); process-exec: "file descriptors" (only 0-2, --preserve-fds, an fd passed to tsrunc) |
// | mount target swapped for a symlink (CVE-2019-19921, CVE-2021-30465, CVE-2023-27561) | rootfs-mounts: "mounts: symlink escapes are resolved inside the rootfs" (absolute and ../ links, dangling links, file binds); security: "symlink races" (flip loop) |
// | mkdir through racing symlinks (CVE-2024-45310)      | security: "symlink races"; rootfs-mounts: dangling-link tests |
// | /proc or /sys replaced (CVE-2019-16884)             | rootfs-mounts: "proc onto a /proc that is a symlink", "sysfs onto a /sys that is a symlink"; security: "procfs writes" |
// | fake /dev/null for masks (CVE-2025-31133)           | devices: "maskedPaths" (masking with a /dev/null that is a file, a symlink, another device); security: "masked paths" (a masked path that is a symlink to a host file) |
// | /dev/console from a symlinked pts (CVE-2025-52565)  | security: "/dev/console"; process-terminal: /dev/console is 136:N |
// | procfs writes redirected (CVE-2025-52881)           | security: "procfs writes" (tmpfs over /proc/sys/net, a host procfs file bound over a sysctl) |
// | device setup through a /dev symlink                 | rootfs-mounts: "devices through a /dev symlink to a host dir", "a dangling /dev symlink" |
// | inheritable caps (CVE-2022-29162)                   | process-identity: "process.capabilities" (CapInh for root and uid 1000, empty sets); security: "capabilities" (uid 1000 inheritable without ambient) |
// | numeric user as a name (CVE-2016-3697)              | security: "numeric user" |
// | length overflow in a parent/child message (CVE-2021-43784) | unit/sync-socket.test.ts (oversized and short datagrams on a real SOCK_SEQPACKET pair) |
// | signal state leak (SigIgn/SigBlk/SigCgt)            | process-exec: "signal state of the container process"; spawn: "signals around clone" (strace: blocked across clone, reset before unblock) |
// | runtime environment leak (NODE_*, ...)              | process-exec: "process.env" (exactly the config's env); security: "not dumpable" (environ of pid 1 after start) |
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerId, makeBundle, tempDir, type Bundle, type Config } from '../helpers/bundle';
import { createContainer } from '../helpers/lifecycle-helpers';
import { errLines, hostMountsUnder, listNames, runKeepBundle } from '../helpers/mountinfo';
import { CAP, capMask, startConsoleServer, statusField, tsruncBackground } from '../helpers/process';
import { runContainer, stateRoot, tsrunc } from '../helpers/tsrunc';

// A static helper run inside a container: tries to reach process <pid> through /proc and
// ptrace and prints one `what=result` line per attempt (result: ok or the errno name).
const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char* what, int ok) {
  if (ok) printf("%s=ok\n", what);
  else printf("%s=%s\n", what, strerrorname_np(errno));
}

int main(int argc, char** argv) {
  pid_t pid = argc > 1 ? atoi(argv[1]) : 1;
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/exe", pid);
  report("readlink-exe", readlink(path, buf, sizeof buf) >= 0);
  int fd = open(path, O_RDONLY);
  report("open-exe-ro", fd >= 0);
  if (fd >= 0) close(fd);
  fd = open(path, O_WRONLY);
  report("open-exe-wr", fd >= 0);
  if (fd >= 0) close(fd);
  snprintf(path, sizeof path, "/proc/%d/fd", pid);
  /* The names of the fds may be listed (the init runs as root, like the caller); what they
     point at must not be reachable. */
  DIR* d = opendir(path);
  report("list-fd", d != NULL);
  struct dirent* e;
  while (d && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char what[64], fdpath[128];
    snprintf(fdpath, sizeof fdpath, "/proc/%d/fd/%s", pid, e->d_name);
    snprintf(what, sizeof what, "readlink-fd%s", e->d_name);
    report(what, readlink(fdpath, buf, sizeof buf) >= 0);
    int f = open(fdpath, O_RDONLY);
    snprintf(what, sizeof what, "open-fd%s", e->d_name);
    report(what, f >= 0);
    if (f >= 0) close(f);
  }
  if (d) closedir(d);
  snprintf(path, sizeof path, "/proc/%d/environ", pid);
  fd = open(path, O_RDONLY);
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
  report("read-environ", n >= 0);
  if (fd >= 0) close(fd);
  snprintf(path, sizeof path, "/proc/%d/mem", pid);
  fd = open(path, O_RDONLY);
  report("open-mem", fd >= 0);
  if (fd >= 0) close(fd);
  snprintf(path, sizeof path, "/proc/%d/cwd", pid);
  report("readlink-cwd", readlink(path, buf, sizeof buf) >= 0);
  snprintf(path, sizeof path, "/proc/%d/root", pid);
  report("readlink-root", readlink(path, buf, sizeof buf) >= 0);
  int status;
  long r = ptrace(PTRACE_ATTACH, pid, 0, 0);
  report("ptrace-attach", r == 0);
  if (r == 0) {
    waitpid(pid, &status, __WALL);
    ptrace(PTRACE_DETACH, pid, 0, 0);
  }
  r = ptrace(PTRACE_SEIZE, pid, 0, 0);
  report("ptrace-seize", r == 0);
  if (r == 0) {
    ptrace(PTRACE_INTERRUPT, pid, 0, 0);
    waitpid(pid, &status, __WALL);
    ptrace(PTRACE_DETACH, pid, 0, 0);
  }
  /* The target's addresses are unknown (no maps access): EPERM is a refusal before any address
     is looked at; EFAULT or success means the memory was reachable. */
  char local[16];
  struct iovec l = {local, sizeof local};
  struct iovec rv = {(void*)0x400000, sizeof local};
  ssize_t got = process_vm_readv(pid, &l, 1, &rv, 1, 0);
  if (got >= 0 || errno == EFAULT) printf("process_vm_readv=ok\n");
  else report("process_vm_readv", 0);
  return 0;
}
`;

function parseProbe(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([\w_-]+)=(\S+)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

let probeDir = '';
let probeBinary = '';

beforeAll(() => {
  probeDir = tempDir('probe');
  fs.writeFileSync(path.join(probeDir, 'probe.c'), PROBE_C);
  probeBinary = path.join(probeDir, 'probe');
  execFileSync('gcc', ['-static', '-O1', '-o', probeBinary, path.join(probeDir, 'probe.c')], {
    stdio: 'pipe',
  });
});

afterAll(() => {
  if (probeDir) fs.rmSync(probeDir, { recursive: true, force: true });
});

function installProbe(b: Bundle): void {
  fs.copyFileSync(probeBinary, path.join(b.rootfs, 'bin', 'probe'));
  fs.chmodSync(path.join(b.rootfs, 'bin', 'probe'), 0o755);
}

/** A second container that joins `pid`'s pid namespace and runs `args` there. */
function joinPidNamespaceOf(pid: number, args: string[]) {
  return (c: Config, b: Bundle) => {
    installProbe(b);
    c.linux.namespaces = c.linux.namespaces.map((ns: { type: string }) =>
      ns.type === 'pid' ? { type: 'pid', path: `/proc/${pid}/ns/pid` } : ns,
    );
    c.process.args = args;
  };
}

function files(dir: string): string[] {
  return listNames(dir);
}

// ---------------------------------------------------------------------------------------------

describe('not dumpable: the created init (still a clone of node) is out of reach of a container', () => {
  it('a second container in its pid namespace cannot open /proc/1/exe, fd, environ, mem, nor ptrace it', async () => {
    const a = await createContainer((c) => {
      c.process.args = ['sleep', '1000'];
    });
    try {
      // Host side: the created init really is the node binary with host fds (the exec fifo),
      // so reaching it would matter.
      const nodeExe = fs.realpathSync(process.execPath);
      expect(fs.readlinkSync(`/proc/${a.pid}/exe`)).toBe(nodeExe);
      const hostFds = fs
        .readdirSync(`/proc/${a.pid}/fd`)
        .map((fd) => fs.readlinkSync(`/proc/${a.pid}/fd/${fd}`));
      expect(hostFds.some((t) => t.startsWith(stateRoot()))).toBe(true);
      const nodeBefore = fs.statSync(nodeExe);
      const stateBefore = files(path.join(stateRoot(), a.id));

      const b = await runContainer(
        joinPidNamespaceOf(a.pid, ['sh', '-c', 'echo comm=$(cat /proc/1/comm); probe 1']),
      );
      expect(b.code, b.stderr).toBe(0);
      const seen = parseProbe(b.stdout);
      // pid 1 of the joined namespace is A's init, still a clone of node (named by the runtime).
      expect(seen.comm).toBe('tsrunc:[2:INIT]');
      expect(seen).toMatchObject({
        'readlink-exe': 'EACCES',
        'open-exe-ro': 'EACCES',
        'open-exe-wr': 'EACCES',
        'read-environ': 'EACCES',
        'open-mem': 'EACCES',
        'readlink-cwd': 'EACCES',
        'readlink-root': 'EACCES',
        'ptrace-attach': 'EPERM',
        'ptrace-seize': 'EPERM',
        process_vm_readv: 'EPERM',
      });
      // Every fd of the init (stdio, the exec fifo, its private procfs) is out of reach.
      const fdResults = Object.entries(seen).filter(([k]) => /^(readlink|open)-fd\d+$/.test(k));
      expect(fdResults.length).toBeGreaterThanOrEqual(2 * 4);
      for (const [k, v] of fdResults) expect(v, k).toBe('EACCES');
      // Host side: the node binary and A's state dir are untouched; A is still created.
      const nodeAfter = fs.statSync(nodeExe);
      expect([nodeAfter.mtimeMs, nodeAfter.size, nodeAfter.ino]).toEqual([
        nodeBefore.mtimeMs,
        nodeBefore.size,
        nodeBefore.ino,
      ]);
      expect(files(path.join(stateRoot(), a.id))).toEqual(stateBefore);
      const st = JSON.parse((await tsrunc(['state', a.id])).stdout) as { status: string };
      expect(st.status).toBe('created');
    } finally {
      await a.cleanup();
    }
  });

  it('even a joiner granted CAP_SYS_PTRACE reaches only the exec fifo through the fds of the created init', async () => {
    const a = await createContainer((c) => {
      c.process.args = ['sleep', '1000'];
    });
    try {
      // Through every fd of A's init: what is in (and beside) the object it points at.
      const script = [
        'cat /proc/1/status | grep -E "^(Name|CapEff):"',
        'for f in /proc/1/fd/*; do',
        '  echo "in $f: $(ls -a $f/ 2>/dev/null | tr "\\n" " ")"',
        '  echo "beside $f: $(ls -a $f/../ 2>/dev/null | tr "\\n" " ")"',
        'done',
      ].join('\n');
      const b = await runContainer((c, bundle) => {
        joinPidNamespaceOf(a.pid, ['sh', '-c', script])(c, bundle);
        for (const set of ['bounding', 'effective', 'permitted'])
          c.process.capabilities[set].push('CAP_SYS_PTRACE');
      });
      expect(b.code, b.stderr).toBe(0);
      expect(b.stdout).toContain('Name:\ttsrunc:[2:INIT]');
      expect(b.stdout).toMatch(/^in \/proc\/1\/fd\/\d+: /m);
      // With an fd of the state dir this would list exec.fifo and state.json, and `..` the
      // other containers of the host's state root.
      expect(b.stdout).not.toContain('state.json');
      expect(b.stdout).not.toContain('exec.fifo');
      expect(b.stdout).not.toContain(a.id);
    } finally {
      await a.cleanup();
    }
  });

  it('after start nothing of node remains in pid 1: exe, environ and fds are the container process only', async () => {
    const a = await createContainer((c) => {
      c.process.args = ['sleep', '1000'];
      c.process.env = ['PATH=/bin', 'ONLY=this'];
    });
    try {
      const started = await tsrunc(['start', a.id]);
      expect(started.code, started.stderr).toBe(0);
      const b = await runContainer(
        joinPidNamespaceOf(a.pid, [
          'sh',
          '-c',
          'echo ==exe; readlink /proc/1/exe; echo ==env; tr "\\0" "\\n" < /proc/1/environ; echo ==fd; ls /proc/1/fd; echo ==probe; probe 1',
        ]),
      );
      expect(b.code, b.stderr).toBe(0);
      const out = b.stdout.split(/^==/m);
      expect(out[1]).toBe('exe\n/bin/busybox\n');
      // HOME comes from the container's /etc/passwd when the config has none.
      expect(out[2]).toBe('env\nPATH=/bin\nONLY=this\nHOME=/root\n');
      expect(out[3]).toBe('fd\n0\n1\n2\n');
      // Control: the same probe reaches a dumpable process (so the refusals above are real).
      expect(parseProbe(out[4])).toMatchObject({
        'readlink-exe': 'ok',
        'ptrace-attach': 'ok',
        process_vm_readv: 'ok',
      });
      // Host side: pid 1 is busybox now, not node.
      expect(fs.readlinkSync(`/proc/${a.pid}/exe`)).not.toBe(fs.realpathSync(process.execPath));
    } finally {
      await a.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------

/** A host dir under the run's temp base with these files, removed by the caller. */
function hostFixture(prefix: string, content: Record<string, string> = {}): string {
  const dir = tempDir(prefix);
  fs.chmodSync(dir, 0o755);
  for (const [name, text] of Object.entries(content)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

/** name -> [content, mtimeMs, ino] of every entry of a host dir: must not change. */
function snapshotDir(dir: string): Record<string, [string, number, number]> {
  const out: Record<string, [string, number, number]> = {};
  for (const name of listNames(dir)) {
    const p = path.join(dir, name);
    const st = fs.lstatSync(p);
    out[name] = [
      st.isFile() ? fs.readFileSync(p, 'utf8') : st.isDirectory() ? 'dir' : 'other',
      st.mtimeMs,
      st.ino,
    ];
  }
  return out;
}

/** Exit 1, one stderr line, no state dir, no mounts left: returns the line. */
function expectCleanFailure(r: {
  code: number;
  stderr: string;
  stateLeft: boolean;
  leftoverMounts: string[];
}): string {
  expect(r.code, r.stderr).toBe(1);
  const lines = errLines(r.stderr);
  expect(lines).toHaveLength(1);
  expect(r.stateLeft).toBe(false);
  expect(r.leftoverMounts).toEqual([]);
  return lines[0];
}

describe('leaked fds: process.cwd through /proc/self/fd/N cannot reach the host (CVE-2024-21626)', () => {
  // The fds themselves: process-exec.test.ts "file descriptors" (only 0, 1, 2 inside; an fd
  // passed to tsrunc without --preserve-fds does not arrive; --preserve-fds passes exactly those).
  it('cwd /proc/self/fd/3 .. /proc/self/fd/12: create fails with one line naming process.cwd, or stays inside', async () => {
    for (let n = 3; n <= 12; n++) {
      const r = await runKeepBundle((c) => {
        c.process.cwd = `/proc/self/fd/${n}`;
        c.process.args = ['sh', '-c', 'pwd -P; ls -a'];
      });
      try {
        if (r.code === 0) {
          expect(r.stdout, `fd ${n}`).not.toMatch(/unreachable/);
          expect(r.stdout, `fd ${n}`).not.toMatch(/state\.json|exec\.fifo|config\.json|rootfs/);
        } else {
          const line = expectCleanFailure(r);
          expect(line, `fd ${n}`).toMatch(/^unable to start container process: process\.cwd: /);
        }
        expect(listNames(stateRoot())).toEqual([]);
      } finally {
        await r.bundle.cleanup();
      }
    }
  });

  it('a host dir passed with --preserve-fds as fd 3 and cwd /proc/self/fd/3: refused, the host dir untouched', async () => {
    const dir = hostFixture('leakdir', { 'secret.txt': 'host\n' });
    const before = snapshotDir(dir);
    const dirFd = fs.openSync(dir, 'r');
    try {
      const bundle = await makeBundle((c) => {
        c.process.cwd = '/proc/self/fd/3';
        c.process.args = ['sh', '-c', 'pwd; ls; echo pwned > planted.txt'];
      });
      const id = containerId();
      try {
        const bg = tsruncBackground(['run', '--preserve-fds', '1', '--bundle', bundle.dir, id], {
          stdio: ['ignore', 'pipe', 'pipe', dirFd],
        });
        const res = await bg.done;
        expect(res.code, res.stdout).toBe(1);
        expect(errLines(res.stderr)).toHaveLength(1);
        expect(res.stderr).toMatch(/process\.cwd/);
        expect(res.stdout).toBe('');
        expect(fs.existsSync(path.join(stateRoot(), id))).toBe(false);
      } finally {
        if (fs.existsSync(path.join(stateRoot(), id))) await tsrunc(['delete', '--force', id]);
        await bundle.cleanup();
      }
      expect(snapshotDir(dir)).toEqual(before);
    } finally {
      fs.closeSync(dirFd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Signal state (SigIgn/SigBlk/SigCgt/SigPnd of pid 1 all zero, SIGPIPE default): process-exec.test.ts
// "signal state of the container process". The runtime's environment (NODE_*, PATH, ...):
// process-exec.test.ts "process.env" (exactly the config's env); pid 1's environ after start:
// "not dumpable" above.

describe('masked paths are resolved inside the rootfs: a masked path that is a symlink to a host file', () => {
  for (const [kind, link] of [
    ['absolute', (t: string) => t],
    ['relative', (t: string) => `../../../../../../../..${t}`],
  ] as const) {
    it(`${kind} symlink: the host file keeps its content and mtime, no host mount`, async () => {
      const dir = hostFixture('maskvictim', { 'victim.txt': 'host-original\n' });
      const victim = path.join(dir, 'victim.txt');
      const before = snapshotDir(dir);
      const r = await runKeepBundle((c, b) => {
        // The link's target also exists inside the rootfs: a mask may land there, never on the host.
        fs.mkdirSync(path.join(b.rootfs, dir), { recursive: true });
        fs.writeFileSync(path.join(b.rootfs, victim), 'rootfs-copy\n');
        fs.symlinkSync(link(victim), path.join(b.rootfs, 'etc', 'masked-link'));
        c.linux.maskedPaths = [...c.linux.maskedPaths, '/etc/masked-link'];
        c.process.args = ['sh', '-c', `cat /etc/masked-link; echo rc=$?; cat ${victim}`];
      });
      try {
        expect(snapshotDir(dir)).toEqual(before);
        expect(hostMountsUnder(dir)).toEqual([]);
        expect(r.leftoverMounts).toEqual([]);
        expect(r.stateLeft).toBe(false);
        // The mask went onto the link itself: it reads empty; the link's target in the rootfs is
        // untouched too.
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe('rc=0\nrootfs-copy\n');
      } finally {
        await r.bundle.cleanup();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

// Mount destinations, device paths and mkdir through symlinks, statically (absolute and ../
// links to host dirs, a destination below a symlinked dir, a dangling link, file binds onto a
// link, devices under a /dev that links to a host dir, proc/sysfs onto links): rootfs-mounts.test.ts
// "mounts: symlink escapes are resolved inside the rootfs". Here: the same under a race.

describe('symlink races: a path component flipped between a dir and a link to a host dir (CVE-2024-45310, CVE-2021-30465)', () => {
  it('20 runs with mounts below the flipping component: the host dir gets no entry and no mount', async () => {
    const target = hostFixture('racetarget', { 'keep.txt': 'host\n' });
    const before = snapshotDir(target);
    const hostMountsBefore = hostMountsUnder(target);
    const bundle = await makeBundle((c) => {
      c.process.args = ['true'];
      c.mounts.push(
        { destination: '/race/sub/tmp', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
        { destination: '/race/bound', type: 'bind', source: target, options: ['rbind', 'ro'] },
      );
    });
    // Flips rootfs/race between a real directory and a symlink to the host dir (absolute and
    // ../ forms), as fast as it can, until killed.
    const flipper = spawn(
      'python3',
      [
        '-c',
        [
          'import os, shutil, sys',
          'p, t = sys.argv[1], sys.argv[2]',
          'links = [t, "../../../../../../../.." + t]',
          'i = 0',
          'while True:',
          '    i += 1',
          '    try:',
          '        if os.path.islink(p): os.unlink(p)',
          '        elif os.path.isdir(p): shutil.rmtree(p, ignore_errors=True)',
          '    except OSError: pass',
          '    try:',
          '        if i % 2: os.symlink(links[(i // 2) % 2], p)',
          '        else: os.mkdir(p)',
          '    except OSError: pass',
        ].join('\n'),
        path.join(bundle.rootfs, 'race'),
        target,
      ],
      { stdio: 'ignore' },
    );
    const outcomes: string[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const id = containerId();
        const res = await tsrunc(['run', '--bundle', bundle.dir, id]);
        if (fs.existsSync(path.join(stateRoot(), id))) await tsrunc(['delete', '--force', id]);
        if (res.code === 0) outcomes.push('ok');
        else {
          expect(errLines(res.stderr), res.stderr).toHaveLength(1);
          outcomes.push(errLines(res.stderr)[0]);
        }
        // Nothing was mounted on the host side, nothing created in the host dir.
        expect(hostMountsUnder(target)).toEqual(hostMountsBefore);
        expect(hostMountsUnder(bundle.dir)).toEqual([]);
        expect(snapshotDir(target)).toEqual(before);
      }
    } finally {
      flipper.kill('SIGKILL');
      await new Promise((r) =>
        flipper.exitCode !== null || flipper.signalCode !== null ? r(null) : flipper.once('exit', r),
      );
      await bundle.cleanup();
      try {
        expect(snapshotDir(target)).toEqual(before);
      } finally {
        fs.rmSync(target, { recursive: true, force: true });
      }
    }
    expect(outcomes).toHaveLength(20);
  });
});

describe('procfs writes: linux.sysctl goes only to the kernel, through a private procfs (CVE-2025-52881)', () => {
  // /proc and /sys onto symlinks: rootfs-mounts.test.ts ("proc onto a /proc that is a symlink",
  // "sysfs onto a /sys that is a symlink"). The writes themselves: process-limits.test.ts "linux.sysctl".

  function nsenterCat(pid: number, ns: string, file: string): string {
    return execFileSync('nsenter', ['-t', String(pid), `--${ns}`, 'cat', file], { encoding: 'utf8' }).trim();
  }

  it('a tmpfs over /proc/sys/net: net.ipv4.ip_forward still lands in the container netns, nothing in the tmpfs', async () => {
    const hostValue = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const want = hostValue.trim() === '1' ? '0' : '1';
    const a = await createContainer((c) => {
      c.process.args = ['sleep', '1000'];
      c.linux.sysctl = { 'net.ipv4.ip_forward': want };
      c.mounts.push({ destination: '/proc/sys/net', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
    });
    try {
      expect(nsenterCat(a.pid, 'net', '/proc/sys/net/ipv4/ip_forward')).toBe(want);
      expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(hostValue);
      // Inside the container the tmpfs is still there and empty: the write did not go into it.
      const inside = execFileSync(
        'nsenter',
        ['-t', String(a.pid), '-m', '-r', '/bin/ls', '-A', '/proc/sys/net'],
        {
          encoding: 'utf8',
        },
      );
      expect(inside).toBe('');
    } finally {
      await a.cleanup();
    }
  });

  it('a host procfs file bound over /proc/sys/kernel/shmmax: the write reaches the container ipc ns, the host file is untouched', async () => {
    // fs.lease-break-time is global (no namespace): the write must never arrive there.
    const hostFile = '/proc/sys/fs/lease-break-time';
    const hostBefore = fs.readFileSync(hostFile, 'utf8');
    const shmmaxBefore = fs.readFileSync('/proc/sys/kernel/shmmax', 'utf8');
    const value = '7777777';
    try {
      const a = await createContainer(
        (c) => {
          c.process.args = ['sleep', '1000'];
          c.linux.sysctl = { 'kernel.shmmax': value };
          c.mounts.push({
            destination: '/proc/sys/kernel/shmmax',
            type: 'bind',
            source: hostFile,
            options: ['bind'],
          });
        },
        { allowFail: true },
      );
      try {
        expect(fs.readFileSync(hostFile, 'utf8')).toBe(hostBefore);
        expect(fs.readFileSync('/proc/sys/kernel/shmmax', 'utf8')).toBe(shmmaxBefore);
        if (a.result.code === 0) {
          expect(nsenterCat(a.pid, 'ipc', '/proc/sys/kernel/shmmax')).toBe(value);
        } else {
          expect(errLines(a.result.stderr)).toHaveLength(1);
          expect(a.result.stderr).toMatch(/linux\.sysctl/);
        }
      } finally {
        await a.cleanup();
      }
    } finally {
      if (fs.readFileSync(hostFile, 'utf8') !== hostBefore) fs.writeFileSync(hostFile, hostBefore);
    }
  });

  it('in a user namespace the private procfs works too (the write reaches the container ipc ns)', async () => {
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const a = await createContainer((c, b) => {
      c.process.args = ['sleep', '1000'];
      c.linux.namespaces = [...c.linux.namespaces, { type: 'user' }];
      c.linux.uidMappings = map;
      c.linux.gidMappings = map;
      c.linux.sysctl = { 'kernel.shmmax': '4444444' };
      execFileSync('chown', ['-R', '-h', '100000:100000', b.rootfs]);
      fs.chmodSync(b.dir, 0o755);
    });
    try {
      expect(nsenterCat(a.pid, 'ipc', '/proc/sys/kernel/shmmax')).toBe('4444444');
    } finally {
      await a.cleanup();
    }
  });
});

// The mask source check (a /dev/null that is a file, a symlink to a host file, another device;
// CVE-2025-31133): devices.test.ts "maskedPaths".

describe('/dev/console from a symlink in the rootfs (CVE-2025-52565)', () => {
  for (const [kind, link] of [
    ['absolute', (t: string) => t],
    ['relative', (t: string) => `../../../../../../../..${t}`],
  ] as const) {
    it(`rootfs /dev/console -> ${kind} link to a host file: the host file is untouched, /dev/console is the pty`, async () => {
      const dir = hostFixture('consolevictim', { 'victim.txt': 'host-original\n' });
      const victim = path.join(dir, 'victim.txt');
      const before = snapshotDir(dir);
      const sock = hostFixture('consolesock');
      const server = await startConsoleServer(path.join(sock, 'console.sock'));
      try {
        const r = await runKeepBundle(
          (c, b) => {
            c.process.terminal = true;
            // The rootfs's own /dev (no tmpfs over it), whose console links to the host file.
            c.mounts = c.mounts.filter((m: { destination: string }) => m.destination !== '/dev');
            fs.mkdirSync(path.join(b.rootfs, 'dev'), { recursive: true });
            fs.symlinkSync(link(victim), path.join(b.rootfs, 'dev', 'console'));
            c.process.args = ['sh', '-c', "stat -c '%F %t' /dev/console; tty; echo hi > /dev/console"];
          },
          { runArgs: ['--console-socket', path.join(sock, 'console.sock')] },
        );
        try {
          expect(r.code, r.stderr).toBe(0);
          const out = (await server.done).output.replace(/\r\n/g, '\n');
          // major 136 (0x88): a pty of the container's devpts.
          expect(out).toMatch(/^character special file 88\n\/dev\/pts\/\d+\nhi\n$/);
          expect(snapshotDir(dir)).toEqual(before);
          expect(hostMountsUnder(dir)).toEqual([]);
          expect(r.leftoverMounts).toEqual([]);
          // The link in the rootfs was replaced by the bind target, never followed.
          expect(fs.lstatSync(path.join(r.bundle.rootfs, 'dev', 'console')).isFile()).toBe(true);
        } finally {
          await r.bundle.cleanup();
        }
      } finally {
        server.kill();
        await server.done;
        fs.rmSync(dir, { recursive: true, force: true });
        fs.rmSync(sock, { recursive: true, force: true });
      }
    });
  }
});

describe('capabilities: the inheritable set is exactly the config (CVE-2022-29162)', () => {
  // Root with a set, the default caps, an empty capabilities object, uid 1000 with ambient:
  // process-identity.test.ts "process.capabilities". Here: uid 1000 with inheritable but no
  // ambient, and an empty inheritable with everything else granted.
  it('uid 1000, inheritable KILL+NET_BIND_SERVICE, no ambient: CapInh is that mask, nothing effective', async () => {
    const res = await runContainer((c) => {
      c.process.user = { uid: 1000, gid: 1000 };
      const set = ['CAP_KILL', 'CAP_NET_BIND_SERVICE'];
      c.process.capabilities = { bounding: set, permitted: set, effective: set, inheritable: set };
      c.process.args = ['cat', '/proc/self/status'];
    });
    expect(res.code, res.stderr).toBe(0);
    expect(statusField(res.stdout, 'CapInh')).toBe(capMask(CAP.KILL, CAP.NET_BIND_SERVICE));
    expect(statusField(res.stdout, 'CapEff')).toBe('0000000000000000');
    expect(statusField(res.stdout, 'CapAmb')).toBe('0000000000000000');
  });

  it('root with every set but inheritable granted: CapInh stays empty', async () => {
    const res = await runContainer((c) => {
      const set = ['CAP_CHOWN', 'CAP_KILL', 'CAP_SETUID'];
      c.process.capabilities = { bounding: set, permitted: set, effective: set, ambient: [] };
      c.process.args = ['cat', '/proc/self/status'];
    });
    expect(res.code, res.stderr).toBe(0);
    expect(statusField(res.stdout, 'CapInh')).toBe('0000000000000000');
    expect(statusField(res.stdout, 'CapEff')).toBe('00000000000000a1');
  });
});

describe('numeric user: "uid": 1000 is an id, never a name looked up in /etc/passwd (CVE-2016-3697)', () => {
  it('a container /etc/passwd with a user named "1000" with uid 0: the process runs as uid 1000', async () => {
    const res = await runContainer((c, b) => {
      fs.writeFileSync(
        path.join(b.rootfs, 'etc', 'passwd'),
        'root:x:0:0:root:/root:/bin/sh\n1000:x:0:0:evil:/root:/bin/sh\n',
      );
      fs.writeFileSync(path.join(b.rootfs, 'etc', 'group'), 'root:x:0:\n1000:x:0:\n');
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.args = ['sh', '-c', 'cat /proc/self/status; echo ==id; id -u; id -g'];
    });
    expect(res.code, res.stderr).toBe(0);
    const [status, ids] = res.stdout.split('==id\n');
    expect(statusField(status, 'Uid').split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
    expect(statusField(status, 'Gid').split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
    expect(statusField(status, 'Groups')).toBe('');
    expect(ids).toBe('1000\n1000\n');
  });
});
