// tsrunc under a real Docker 20.10 (dockerd -> containerd -> io.containerd.runc.v2 shim ->
// tsrunc), started privately by the test (no bridge, --network none everywhere). Every test
// looks at what the container sees (/proc/self/status, mounts, cgroup files inside) and what
// the host sees (the container's cgroup dir, its processes), not only at exit codes.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import * as fs from 'node:fs';
import * as path from 'node:path';

import { tempDir } from '../helpers/bundle';
import {
  type CommandResult,
  type DockerEngine,
  engineCgroupParent,
  engineDir,
  importImage,
  removeEngineDir,
  runtimeCalls,
  startDockerEngine,
  writeRuntimeWrapper,
} from '../helpers/docker';
import { testEnv } from '../helpers/env';
import { guardHostNetwork } from '../helpers/host-network';
import { procAlive, readLinkOrNull, sleep, waitFor } from '../helpers/lifecycle-helpers';
import { CAP, capMask, statusField } from '../helpers/process';

const IMAGE = 'busybox:local';
const RT = ['--runtime', 'tsrunc', '--network', 'none'];

guardHostNetwork();

let engine: DockerEngine;
let wrapperDir: string;
let callLog: string;
let names: string[] = [];
let seq = 0;

beforeAll(async () => {
  wrapperDir = engineDir('rt');
  callLog = path.join(wrapperDir, 'runtime-calls.log');
  fs.writeFileSync(callLog, '');
  const wrapper = writeRuntimeWrapper(wrapperDir, { callLog });
  engine = await startDockerEngine({ tsrunc: wrapper });
  await importImage(engine, testEnv().rootfs, IMAGE);
});

afterAll(async () => {
  await engine?.stop();
  if (wrapperDir) await removeEngineDir(wrapperDir);
});

afterEach(async () => {
  // Before the leak guard (after hooks run last-registered first): no container may outlive its test.
  for (const n of names) await engine.docker(['rm', '-f', n], { allowFail: true });
  names = [];
});

function docker(args: string[], allowFail = false): Promise<CommandResult> {
  return engine.docker(args, { allowFail });
}

/** `docker run --rm --runtime tsrunc --network none ...args`, resolving on any exit code. */
function run(args: string[]): Promise<CommandResult> {
  return docker(['run', '--rm', ...RT, ...args], true);
}

/** Output of a `run` that must succeed. */
async function runOk(args: string[]): Promise<string> {
  const res = await run(args);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout;
}

/** Starts `docker run -d` with a fresh name (removed after the test); returns the name. */
async function detached(args: string[]): Promise<string> {
  const name = `e2e-${process.pid}-${++seq}`;
  names.push(name);
  await docker(['run', '-d', '--name', name, ...RT, ...args]);
  return name;
}

async function inspect(name: string, format: string): Promise<string> {
  return (await docker(['inspect', '-f', format, name])).stdout.trim();
}

async function fullId(name: string): Promise<string> {
  return inspect(name, '{{.Id}}');
}

async function pidOf(name: string): Promise<number> {
  return Number(await inspect(name, '{{.State.Pid}}'));
}

/** The container's cgroup dir of a v1 controller, as the host sees it. */
async function hostCgroup(controller: string, name: string): Promise<string> {
  return path.join('/sys/fs/cgroup', controller, engineCgroupParent(), await fullId(name));
}

async function logs(name: string): Promise<string> {
  const res = await docker(['logs', name]);
  return res.stdout + res.stderr;
}

async function waitForLogs(name: string, re: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await logs(name);
    if (re.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`logs of ${name} never matched ${re}:\n${text}`);
    await sleep(100);
  }
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

describe('docker run --runtime tsrunc', () => {
  it('prints the output of the container and removes it with --rm', async () => {
    const res = await run([IMAGE, 'sh', '-c', 'echo hello from $(hostname); echo to-stderr >&2']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^hello from [0-9a-f]{12}\n$/);
    expect(res.stderr).toContain('to-stderr');
    expect((await docker(['ps', '-aq'])).stdout.trim()).toBe('');
  });

  it('passes exit codes through', async () => {
    expect((await run([IMAGE, 'sh', '-c', 'exit 3'])).code).toBe(3);
    expect((await run([IMAGE, 'sh', '-c', 'exit 0'])).code).toBe(0);
    expect((await run([IMAGE, 'sh', '-c', 'exit 255'])).code).toBe(255);
  });

  it('runs under tsrunc: the runtime docker reports and the process tree the shim holds', async () => {
    const name = await detached([IMAGE, 'sleep', '1000']);
    expect(await inspect(name, '{{.HostConfig.Runtime}}')).toBe('tsrunc');
    const pid = await pidOf(name);
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\x001000\x00');
    // The init's parent is the shim (a subreaper), not a leftover tsrunc.
    const ppid = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    expect(fs.readFileSync(`/proc/${ppid}/cmdline`, 'utf8')).toContain('containerd-shim-runc-v2');
    // Its state record (tsrunc's format: initPid, phase) is in the --root the shim passes:
    // Docker 20.10 names it runtime-runc for every runtime.
    const root = path.join(engine.dir, 'exec', 'runtime-runc', 'moby', await fullId(name));
    const record = JSON.parse(fs.readFileSync(path.join(root, 'state.json'), 'utf8'));
    expect(record.initPid).toBe(pid);
    expect(record.phase).toBe('created');
  });
});

describe('docker lifecycle commands on a tsrunc container', () => {
  it('logs and top', async () => {
    const name = await detached([IMAGE, 'sh', '-c', 'echo first; echo err >&2; exec sleep 1000']);
    const text = await waitForLogs(name, /first/);
    expect(text).toContain('err');
    const top = await docker(['top', name]);
    const rows = lines(top.stdout);
    expect(rows[0]).toMatch(/PID/);
    expect(rows.slice(1).some((r) => /sleep 1000$/.test(r))).toBe(true);
    expect(rows.slice(1).map((r) => Number(r.trim().split(/\s+/)[1]))).toContain(await pidOf(name));
  });

  it('pause stops the processes (frozen cgroup, no progress) and unpause resumes them', async () => {
    const name = await detached([
      IMAGE,
      'sh',
      '-c',
      'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done',
    ]);
    await waitForLogs(name, /tick 3/);
    const freezer = path.join(await hostCgroup('freezer', name), 'freezer.state');
    await docker(['pause', name]);
    expect(await inspect(name, '{{.State.Status}}')).toBe('paused');
    expect(fs.readFileSync(freezer, 'utf8').trim()).toBe('FROZEN');
    // Output already in the pipe still reaches the log: let it, then count.
    await sleep(300);
    const atPause = lines(await logs(name)).length;
    await sleep(700);
    expect(lines(await logs(name)).length).toBe(atPause);
    await docker(['unpause', name]);
    expect(await inspect(name, '{{.State.Status}}')).toBe('running');
    expect(fs.readFileSync(freezer, 'utf8').trim()).toBe('THAWED');
    await waitForLogs(name, new RegExp(`tick ${atPause + 3}\\b`));
  });

  it('update --memory changes the cgroup file, and stats shows the new limit', async () => {
    const name = await detached(['--memory', '128m', IMAGE, 'sleep', '1000']);
    const limit = path.join(await hostCgroup('memory', name), 'memory.limit_in_bytes');
    expect(fs.readFileSync(limit, 'utf8').trim()).toBe(String(128 * 1024 * 1024));
    await docker(['update', '--memory', '64m', '--memory-swap', '-1', name]);
    expect(fs.readFileSync(limit, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
    expect(await inspect(name, '{{.HostConfig.Memory}}')).toBe(String(64 * 1024 * 1024));
    const stats = await docker(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}}', name]);
    expect(stats.stdout.trim()).toMatch(new RegExp(`^${name} [0-9.]+[KMG]?i?B / 64MiB$`));
  });

  it('update --cpus, --pids-limit and --cpu-shares change the cgroup files of a running container', async () => {
    const name = await detached([IMAGE, 'sleep', '1000']);
    await docker(['update', '--cpus', '0.25', '--pids-limit', '20', '--cpu-shares', '512', name]);
    const host = async (c: string, f: string) =>
      fs.readFileSync(path.join(await hostCgroup(c, name), f), 'utf8').trim();
    expect(await host('cpu', 'cpu.cfs_quota_us')).toBe('25000');
    expect(await host('cpu', 'cpu.shares')).toBe('512');
    expect(await host('pids', 'pids.max')).toBe('20');
    expect(await inspect(name, '{{.State.Status}}')).toBe('running');
  });

  it('stop sends SIGTERM first and SIGKILL after the timeout to a process that ignores it', async () => {
    const name = await detached([
      IMAGE,
      'sh',
      '-c',
      'trap "echo got-term" TERM; echo ready; while true; do sleep 0.1; done',
    ]);
    await waitForLogs(name, /ready/);
    const pid = await pidOf(name);
    const t0 = Date.now();
    await docker(['stop', '-t', '2', name]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(await logs(name)).toContain('got-term');
    expect(await inspect(name, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 137');
    await waitFor('the init to be gone', () => !procAlive(pid));
  });

  it('stop ends a process that exits on SIGTERM with its own exit code', async () => {
    const name = await detached([
      IMAGE,
      'sh',
      '-c',
      'trap "echo bye; exit 5" TERM; echo ready; while true; do sleep 0.1; done',
    ]);
    await waitForLogs(name, /ready/);
    await docker(['stop', '-t', '20', name]);
    expect(await logs(name)).toContain('bye');
    expect(await inspect(name, '{{.State.ExitCode}}')).toBe('5');
  });

  it('kill -s delivers the signal; kill (KILL) ends the container with 137', async () => {
    const name = await detached([
      IMAGE,
      'sh',
      '-c',
      'trap "echo got-usr1" USR1; echo ready; while true; do sleep 0.1; done',
    ]);
    await waitForLogs(name, /ready/);
    await docker(['kill', '-s', 'USR1', name]);
    await waitForLogs(name, /got-usr1/);
    expect(await inspect(name, '{{.State.Status}}')).toBe('running');
    await docker(['kill', name]);
    for (let i = 0; i < 50 && (await inspect(name, '{{.State.Status}}')) !== 'exited'; i++) await sleep(100);
    expect(await inspect(name, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 137');
  });

  it('restart runs the command again in a new init', async () => {
    const name = await detached([IMAGE, 'sh', '-c', 'echo started; exec sleep 1000']);
    await waitForLogs(name, /started/);
    const pid1 = await pidOf(name);
    await docker(['restart', '-t', '1', name]);
    expect(await inspect(name, '{{.State.Status}} {{.RestartCount}}')).toMatch(/^running /);
    const pid2 = await pidOf(name);
    expect(pid2).not.toBe(pid1);
    expect(procAlive(pid1)).toBe(false);
    expect(fs.readFileSync(`/proc/${pid2}/cmdline`, 'utf8')).toBe('sleep\x001000\x00');
    const text = await waitForLogs(name, /started[\s\S]*started/);
    expect(text.match(/started/g)).toHaveLength(2);
  });

  it('rm -f removes a running container: process, cgroup and runtime state gone', async () => {
    const name = await detached([IMAGE, 'sleep', '1000']);
    const pid = await pidOf(name);
    const cg = await hostCgroup('memory', name);
    const state = path.join(engine.dir, 'exec', 'runtime-runc', 'moby', await fullId(name));
    expect(fs.existsSync(cg)).toBe(true);
    expect(fs.existsSync(state)).toBe(true);
    await docker(['rm', '-f', name]);
    expect((await docker(['inspect', name], true)).code).not.toBe(0);
    await waitFor('the init to be gone', () => !procAlive(pid));
    await waitFor('the cgroup to be removed', () => !fs.existsSync(cg));
    expect(fs.existsSync(state)).toBe(false);
  });
});

describe('docker create: a container that is never started', () => {
  it('create then rm never reaches the runtime; create then start runs it, rm -f removes it', async () => {
    const name = `e2e-${process.pid}-${++seq}`;
    names.push(name);
    await docker(['create', '--name', name, ...RT, IMAGE, 'sleep', '1000']);
    const id = await fullId(name);
    expect(await inspect(name, '{{.State.Status}}')).toBe('created');
    // Docker makes the task only at start: nothing of it in the runtime yet, and nothing to delete.
    await docker(['rm', name]);
    expect((await docker(['inspect', name], true)).code).not.toBe(0);
    expect(runtimeCalls(callLog, id)).toEqual([]);

    const started = `e2e-${process.pid}-${++seq}`;
    names.push(started);
    await docker(['create', '--name', started, ...RT, IMAGE, 'sleep', '1000']);
    await docker(['start', started]);
    const pid = await pidOf(started);
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\x001000\x00');
    const startedId = await fullId(started);
    await docker(['rm', '-f', started]);
    await waitFor('the init to be gone', () => !procAlive(pid));
    expect(fs.existsSync(path.join(engine.dir, 'exec', 'runtime-runc', 'moby', startedId))).toBe(false);
    // Killed before the shim asks for the delete: a plain delete of a stopped container.
    const calls = runtimeCalls(callLog, startedId).map((c) => c.split(' ')[0]);
    expect(calls.slice(0, 4)).toEqual(['create', 'start', 'kill', 'delete']);
    expect(runtimeCalls(callLog, startedId)[3]).toBe('delete <id>');
  });
});

describe('docker run options through tsrunc', () => {
  it('-v bind mounts rw and ro: writes land on the host, a write to the ro one fails', async () => {
    const dir = tempDir('e2e-vol');
    try {
      fs.writeFileSync(path.join(dir, 'in'), 'from-host\n');
      const res = await run([
        '-v',
        `${dir}:/rw`,
        '-v',
        `${dir}:/ro:ro`,
        IMAGE,
        'sh',
        '-c',
        'cat /ro/in; echo from-container > /rw/out; echo x > /ro/nope || echo ro-refused; grep -E " /(rw|ro) " /proc/mounts',
      ]);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('from-host');
      expect(res.stdout).toContain('ro-refused');
      expect(res.stderr).toMatch(/Read-only file system/);
      expect(res.stdout).toMatch(/ \/rw \S+ rw[,\s]/);
      expect(res.stdout).toMatch(/ \/ro \S+ ro[,\s]/);
      expect(fs.readFileSync(path.join(dir, 'out'), 'utf8')).toBe('from-container\n');
      expect(fs.existsSync(path.join(dir, 'nope'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--read-only with --tmpfs: / refuses writes, the tmpfs takes them', async () => {
    const out = await runOk([
      '--read-only',
      '--tmpfs',
      '/scratch:size=1m',
      IMAGE,
      'sh',
      '-c',
      'touch /a 2>/dev/null || echo root-ro; touch /scratch/a && echo tmpfs-rw; grep -E " / | /scratch " /proc/mounts',
    ]);
    expect(out).toContain('root-ro');
    expect(out).toContain('tmpfs-rw');
    expect(out).toMatch(/^tmpfs \/scratch tmpfs rw,.*size=1024k/m);
    expect(out).toMatch(/ \/ \S+ ro[,\s]/);
  });

  it('-t gives the container a terminal (the console socket the shim passes)', async () => {
    const res = await run(['-t', IMAGE, 'sh', '-c', 'tty; [ -t 1 ] && echo stdout-is-tty; stty size']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^\/dev\/pts\/\d+\r$/m);
    expect(res.stdout).toContain('stdout-is-tty\r\n');
  });

  it('-e, -h, -w and -u 1000', async () => {
    const out = await runOk([
      '-e',
      'FOO=bar baz',
      '-h',
      'myhost',
      '-w',
      '/tmp',
      '-u',
      '1000',
      IMAGE,
      'sh',
      '-c',
      'echo "$FOO"; hostname; pwd; grep -E "^(Uid|Gid):" /proc/self/status',
    ]);
    const l = lines(out);
    expect(l[0]).toBe('bar baz');
    expect(l[1]).toBe('myhost');
    expect(l[2]).toBe('/tmp');
    expect(statusField(out, 'Uid').split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
    // The test rootfs's /etc/passwd gives user 1000 the group 1000.
    expect(statusField(out, 'Gid').split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
  });

  it('--cap-drop ALL --cap-add gives exactly those capabilities', async () => {
    const out = await runOk([
      '--cap-drop',
      'ALL',
      '--cap-add',
      'NET_RAW',
      '--cap-add',
      'CHOWN',
      IMAGE,
      'cat',
      '/proc/self/status',
    ]);
    const want = capMask(CAP.CHOWN, CAP.NET_RAW);
    for (const f of ['CapEff', 'CapPrm', 'CapBnd']) expect(statusField(out, f)).toBe(want);
    expect(statusField(out, 'CapAmb')).toBe(capMask());
  });

  it('--memory, --cpus, --pids-limit, --cpuset-cpus: the host cgroup files and what the container sees', async () => {
    const name = await detached([
      '--memory',
      '32m',
      '--cpus',
      '0.5',
      '--pids-limit',
      '50',
      '--cpuset-cpus',
      '1',
      IMAGE,
      'sh',
      '-c',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max; ' +
        'grep Cpus_allowed_list /proc/self/status; echo done; exec sleep 1000',
    ]);
    const text = await waitForLogs(name, /done/);
    expect(lines(text).slice(0, 4)).toEqual([
      String(32 * 1024 * 1024),
      '50000',
      '50',
      'Cpus_allowed_list:\t1',
    ]);
    const host = async (c: string, f: string) =>
      fs.readFileSync(path.join(await hostCgroup(c, name), f), 'utf8').trim();
    expect(await host('memory', 'memory.limit_in_bytes')).toBe(String(32 * 1024 * 1024));
    expect(await host('cpu', 'cpu.cfs_quota_us')).toBe('50000');
    expect(await host('cpu', 'cpu.cfs_period_us')).toBe('100000');
    expect(await host('pids', 'pids.max')).toBe('50');
    expect(await host('cpuset', 'cpuset.cpus')).toBe('1');
    // The init really is in those cgroups.
    const pid = await pidOf(name);
    const procCgroups = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    expect(procCgroups).toMatch(new RegExp(`:memory:${engineCgroupParent()}/${await fullId(name)}$`, 'm'));
  });

  it('--device with r permission: the node is there, opening it for reading works, for writing is refused', async () => {
    // /dev/fuse (10:229) is not among Docker's default device rules, so only --device allows it.
    const out = await runOk([
      '--device',
      '/dev/fuse:/dev/myfuse:r',
      IMAGE,
      'sh',
      '-c',
      'ls -l /dev/myfuse; true </dev/myfuse && echo open-r-ok; true >/dev/myfuse || echo open-w-refused; ' +
        'grep " 10:229 " /sys/fs/cgroup/devices/devices.list',
    ]);
    expect(out).toMatch(/^c\S+\s+1\s+\S+\s+\S+\s+10,\s+229 .* \/dev\/myfuse$/m);
    expect(out).toContain('open-r-ok');
    expect(out).toContain('open-w-refused');
    expect(out).toMatch(/^c 10:229 r$/m);
  });

  it('--ulimit sets the soft and hard limits', async () => {
    const out = await runOk([
      '--ulimit',
      'nofile=512:1024',
      IMAGE,
      'sh',
      '-c',
      'grep "Max open files" /proc/self/limits',
    ]);
    expect(out).toMatch(/Max open files\s+512\s+1024\s+files/);
  });

  it('--sysctl is set in the container network namespace, not on the host', async () => {
    const hostBefore = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const out = await runOk([
      '--sysctl',
      'net.ipv4.ip_forward=1',
      '--sysctl',
      'net.ipv4.ip_default_ttl=42',
      IMAGE,
      'sh',
      '-c',
      'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ip_default_ttl',
    ]);
    expect(lines(out)).toEqual(['1', '42']);
    expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(hostBefore);
  });

  it('--shm-size sizes /dev/shm', async () => {
    const out = await runOk([
      '--shm-size',
      '8m',
      IMAGE,
      'sh',
      '-c',
      'grep " /dev/shm " /proc/mounts; df -k /dev/shm | tail -1',
    ]);
    expect(out).toMatch(/ \/dev\/shm tmpfs .*size=8192k/);
    expect(out).toMatch(/\s8192\s/);
  });

  it('--init runs docker-init as pid 1 with the command below it', async () => {
    const out = await runOk([
      '--init',
      IMAGE,
      'sh',
      '-c',
      'cat /proc/1/cmdline | tr "\\0" " "; echo; echo mypid=$$',
    ]);
    expect(lines(out)[0]).toBe(
      '/sbin/docker-init -- sh -c cat /proc/1/cmdline | tr "\\0" " "; echo; echo mypid=$$ ',
    );
    expect(out).not.toContain('mypid=1\n');
  });

  it('--ipc, --pid and --network container:<other> join the other container namespaces', async () => {
    const other = await detached(['--ipc', 'shareable', IMAGE, 'sleep', '1000']);
    const otherPid = await pidOf(other);
    const ns = (pid: number | 'self', t: string) => readLinkOrNull(`/proc/${pid}/ns/${t}`);
    const res = await docker([
      'run',
      '--rm',
      '--runtime',
      'tsrunc',
      '--ipc',
      `container:${other}`,
      '--pid',
      `container:${other}`,
      '--network',
      `container:${other}`,
      IMAGE,
      'sh',
      '-c',
      'for t in ipc pid net uts mnt; do echo $t $(readlink /proc/self/ns/$t); done; ps -o pid,args',
    ]);
    expect(res.code, res.stderr).toBe(0);
    const seen = Object.fromEntries(
      lines(res.stdout)
        .filter((l) => /^(ipc|pid|net|uts|mnt) /.test(l))
        .map((l) => l.split(' ')),
    );
    for (const t of ['ipc', 'pid', 'net']) expect(seen[t], t).toBe(ns(otherPid, t));
    // Its own mount and uts namespaces, and neither is the host's.
    for (const t of ['uts', 'mnt']) {
      expect(seen[t], t).toMatch(new RegExp(`^${t}:\\[\\d+\\]$`));
      expect(seen[t], t).not.toBe(ns(otherPid, t));
      expect(seen[t], t).not.toBe(ns('self', t));
    }
    // In the other's pid namespace, its init (sleep) is pid 1.
    expect(res.stdout).toMatch(/^\s*1 sleep 1000$/m);
  });

  it('seccomp: Docker default profile blocks unshare(CLONE_NEWUSER); unconfined allows it', async () => {
    const cmd = [
      IMAGE,
      'sh',
      '-c',
      'grep ^Seccomp: /proc/self/status; unshare -U true && echo unshare-ok || echo unshare-failed',
    ];
    const confined = await run(cmd);
    expect(confined.code, confined.stderr).toBe(0);
    expect(confined.stdout).toMatch(/Seccomp:\s+2/);
    expect(confined.stdout).toContain('unshare-failed');
    expect(confined.stderr).toMatch(/Operation not permitted/);
    const unconfined = await run(['--security-opt', 'seccomp=unconfined', ...cmd]);
    expect(unconfined.code, unconfined.stderr).toBe(0);
    expect(unconfined.stdout).toMatch(/Seccomp:\s+0/);
    expect(unconfined.stdout).toContain('unshare-ok');
  });

  it('an error in the bundle reaches the docker user with tsrunc message, and nothing is left', async () => {
    // Docker passes net.* sysctls through unchecked; tsrunc cannot write a missing one.
    const res = await run(['--sysctl', 'net.ipv4.no_such_sysctl=1', IMAGE, 'true']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('OCI runtime create failed');
    expect(res.stderr).toContain('linux.sysctl: write net.ipv4.no_such_sysctl: no such file or directory');
    expect((await docker(['ps', '-aq'])).stdout.trim()).toBe('');
    // And a missing command is tsrunc's exec error.
    const missing = await run([IMAGE, '/no/such/binary']);
    console.log(JSON.stringify(missing));
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('exec: "/no/such/binary": no such file or directory');
  });
});

describe('docker exec on a tsrunc container', () => {
  it('docker exec runs in the container namespaces and passes the exit code', async () => {
    const name = await detached(['-h', 'exec-host', IMAGE, 'sleep', '1000']);
    const pid = await pidOf(name);
    const res = await docker(
      ['exec', name, 'sh', '-c', 'hostname; readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; exit 4'],
      true,
    );
    expect(res.code, res.stderr).toBe(4);
    const l = lines(res.stdout);
    expect(l[0]).toBe('exec-host');
    expect(l[1]).toBe(readLinkOrNull(`/proc/${pid}/ns/pid`));
    expect(l[2]).toBe(readLinkOrNull(`/proc/${pid}/ns/mnt`));
  });

  it('docker exec -u 1000 runs as that user', async () => {
    const name = await detached([IMAGE, 'sleep', '1000']);
    const res = await docker(['exec', '-u', '1000', name, 'cat', '/proc/self/status']);
    expect(statusField(res.stdout, 'Uid').split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
  });

  it('docker exec -t gets a terminal', async () => {
    const name = await detached([IMAGE, 'sleep', '1000']);
    const res = await docker(['exec', '-t', name, 'sh', '-c', 'tty; stty size 2>/dev/null; echo done']);
    expect(res.stdout).toMatch(/^\/dev\/pts\/\d+\r?$/m);
    expect(res.stdout).toContain('done');
  });

  it('docker exec -i feeds stdin; a missing binary fails with the runtime message', async () => {
    const name = await detached([IMAGE, 'sleep', '1000']);
    const piped = await engine.docker(['exec', '-i', name, 'sh', '-c', 'tr a-z A-Z; echo eof'], {
      input: 'piped in\n',
    });
    expect(piped.stdout).toBe('PIPED IN\neof\n');
    const missing = await docker(['exec', name, '/no/such/binary'], true);
    // Docker 20.10 answers 126 for any failed runtime exec (with runc too), and prints the
    // runtime's message on stdout.
    expect(missing.code).toBe(126);
    expect(missing.stdout + missing.stderr).toContain(
      'OCI runtime exec failed: unable to start container process: exec: "/no/such/binary": no such file or directory',
    );
    // The container itself is untouched.
    expect(await inspect(name, '{{.State.Status}}')).toBe('running');
  });
});
