// process.rlimits, process.oomScoreAdj, hostname/domainname, linux.sysctl and
// linux.personality, checked from inside the container and, where that is the point, the host.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { containerId, makeBundle } from '../helpers/bundle';
import { leftovers, limitOf, waitFor } from '../helpers/process';
import { runContainer, tsrunc } from '../helpers/tsrunc';

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** This process's hard limit of a resource as /proc/self/limits prints it ("unlimited" or n). */
function ownHardLimit(name: string): string {
  return limitOf(fs.readFileSync('/proc/self/limits', 'utf8'), name)[1];
}

describe('process.rlimits', () => {
  it('NOFILE, NPROC and CORE soft/hard limits are what /proc/self/limits shows', async () => {
    const res = await runContainer((c) => {
      c.process.rlimits = [
        { type: 'RLIMIT_NOFILE', soft: 512, hard: 1000 },
        { type: 'RLIMIT_NPROC', soft: 3000, hard: 4000 },
        { type: 'RLIMIT_CORE', soft: 0, hard: 4096 },
      ];
      c.process.args = ['cat', '/proc/self/limits'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(limitOf(res.stdout, 'Max open files')).toEqual(['512', '1000']);
    expect(limitOf(res.stdout, 'Max processes')).toEqual(['3000', '4000']);
    expect(limitOf(res.stdout, 'Max core file size')).toEqual(['0', '4096']);
  });

  it('the shell sees them through ulimit too', async () => {
    const res = await runContainer((c) => {
      c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 256, hard: 768 }];
      c.process.args = ['sh', '-c', 'ulimit -n; ulimit -Hn'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '256\n768\n' });
  });

  it('a small NOFILE limit (16) applies to the container, not to the runtime setting it up', async () => {
    const res = await runContainer((c) => {
      c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 16, hard: 16 }];
      c.process.args = ['sh', '-c', 'ulimit -n; ls /proc/self/fd | tr "\\n" " "'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '16\n0 1 2 3 ' });
  });

  it('a NOFILE limit is enforced: with 3, ls cannot open its dir fd 3; with 4 it can', async () => {
    const limited = await runContainer((c) => {
      c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 3, hard: 3 }];
      c.process.args = ['ls', '/proc/self/fd'];
    });
    expect(limited.code).toBe(1);
    expect(limited.stdout).toBe('');
    expect(limited.stderr).toMatch(/^ls: .*Too many open files\n$/);
    const enough = await runContainer((c) => {
      c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 4, hard: 4 }];
      c.process.args = ['ls', '/proc/self/fd'];
    });
    expect(enough).toMatchObject({ code: 0, stderr: '', stdout: '0\n1\n2\n3\n' });
  });

  it('an NPROC limit is enforced for a non-root user: with 1 the shell cannot fork', async () => {
    // A uid no other process on the host uses: NPROC counts the user's processes host-wide.
    const script = '/bin/true; echo "forked rc=$?"';
    const limited = await runContainer((c) => {
      c.process.user = { uid: 54321, gid: 54321 };
      c.process.rlimits = [{ type: 'RLIMIT_NPROC', soft: 1, hard: 1 }];
      c.process.args = ['sh', '-c', script];
    });
    expect(limited.stdout).not.toContain('forked rc=0');
    expect(limited.stderr).toMatch(/can't fork: Resource temporarily unavailable/);
    const enough = await runContainer((c) => {
      c.process.user = { uid: 54321, gid: 54321 };
      c.process.rlimits = [{ type: 'RLIMIT_NPROC', soft: 2, hard: 2 }];
      c.process.args = ['sh', '-c', script];
    });
    expect(enough).toMatchObject({ code: 0, stderr: '', stdout: 'forked rc=0\n' });
  });

  it("raising a hard limit above the host's fails with one line naming process.rlimits[0] and leaves nothing", async () => {
    // The bounding set lacks CAP_SYS_RESOURCE: a hard limit can only be lowered.
    const hostHard = ownHardLimit('Max open files');
    expect(hostHard).not.toBe('unlimited');
    const bundle = await makeBundle((c) => {
      c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: Number(hostHard) + 1 }];
      c.process.args = ['true'];
    });
    const id = containerId();
    try {
      const res = await tsrunc(['create', '--bundle', bundle.dir, id]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(lines(res.stderr)).toHaveLength(1);
      expect(res.stderr).toMatch(/process\.rlimits\[0\]/);
      expect(res.stderr).toMatch(/operation not permitted\n$/);
      expect(await leftovers()).toEqual({ list: '', entries: [] });
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });

  it('soft greater than hard is refused at validation, naming the rlimit', async () => {
    const res = await runContainer((c) => {
      c.process.rlimits = [
        { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
        { type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 },
      ];
      c.process.args = ['true'];
    });
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/process\.rlimits\[1\]/);
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });
});

describe('process.oomScoreAdj', () => {
  it('500 is visible inside the container', async () => {
    const res = await runContainer((c) => {
      c.process.oomScoreAdj = 500;
      c.process.args = ['cat', '/proc/self/oom_score_adj'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '500\n' });
  });

  it('500 is on the init from the host after create (before start)', async () => {
    const bundle = await makeBundle((c) => {
      c.process.oomScoreAdj = 500;
      c.process.args = ['sh', '-c', 'cat /proc/self/oom_score_adj'];
    });
    const id = containerId();
    try {
      expect(await tsrunc(['create', '--bundle', bundle.dir, id])).toMatchObject({ code: 0, stderr: '' });
      const state = JSON.parse((await tsrunc(['state', id])).stdout);
      expect(state.status).toBe('created');
      expect(fs.readFileSync(`/proc/${state.pid}/oom_score_adj`, 'utf8')).toBe('500\n');
      expect(await tsrunc(['start', id])).toMatchObject({ code: 0, stderr: '' });
      await waitFor('the container to stop', async () => {
        const st = await tsrunc(['state', id]);
        return st.code === 0 && JSON.parse(st.stdout).status === 'stopped';
      });
      expect(await tsrunc(['delete', id])).toMatchObject({ code: 0, stderr: '' });
      expect(await leftovers()).toEqual({ list: '', entries: [] });
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });

  it('unset leaves the inherited value (0)', async () => {
    const res = await runContainer((c) => {
      delete c.process.oomScoreAdj;
      c.process.args = ['cat', '/proc/self/oom_score_adj'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '0\n' });
  });

  it('a negative value needs CAP_SYS_RESOURCE (absent here): one line naming process.oomScoreAdj, nothing left', async () => {
    expect(fs.readFileSync('/proc/self/oom_score_adj', 'utf8')).toBe('0\n');
    const bundle = await makeBundle((c) => {
      c.process.oomScoreAdj = -500;
      c.process.args = ['true'];
    });
    const id = containerId();
    try {
      const res = await tsrunc(['create', '--bundle', bundle.dir, id]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(lines(res.stderr)).toHaveLength(1);
      expect(res.stderr).toMatch(/process\.oomScoreAdj/);
      expect(res.stderr).toMatch(/-500/);
      expect(res.stderr).toMatch(/permission denied\n$/);
      expect(await leftovers()).toEqual({ list: '', entries: [] });
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });

  it('out of range (1001) is refused at validation', async () => {
    const res = await runContainer((c) => {
      c.process.oomScoreAdj = 1001;
      c.process.args = ['true'];
    });
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/process\.oomScoreAdj/);
  });
});

describe('hostname and domainname', () => {
  it('are set in a new uts namespace; the host keeps its own', async () => {
    const hostBefore = os.hostname();
    const domainBefore = fs.readFileSync('/proc/sys/kernel/domainname', 'utf8');
    const res = await runContainer((c) => {
      c.hostname = 'ctr-host';
      c.domainname = 'example.test';
      c.process.args = [
        'sh',
        '-c',
        'hostname; uname -n; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname; hostname -d 2>/dev/null || true',
      ];
    });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout.startsWith('ctr-host\nctr-host\nctr-host\nexample.test\n')).toBe(true);
    expect(os.hostname()).toBe(hostBefore);
    expect(fs.readFileSync('/proc/sys/kernel/hostname', 'utf8')).toBe(`${hostBefore}\n`);
    expect(fs.readFileSync('/proc/sys/kernel/domainname', 'utf8')).toBe(domainBefore);
  });

  it('without hostname or domainname the new uts namespace keeps the host values', async () => {
    const res = await runContainer((c) => {
      delete c.hostname;
      delete c.domainname;
      c.process.args = ['cat', '/proc/sys/kernel/hostname', '/proc/sys/kernel/domainname'];
    });
    expect(res).toMatchObject({
      code: 0,
      stderr: '',
      stdout: `${os.hostname()}\n${fs.readFileSync('/proc/sys/kernel/domainname', 'utf8')}`,
    });
  });

  it('a hostname without a uts namespace is refused at validation, naming hostname', async () => {
    const hostBefore = os.hostname();
    const res = await runContainer((c) => {
      c.hostname = 'must-not-apply';
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'uts');
      c.process.args = ['hostname'];
    });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/hostname/);
    expect(os.hostname()).toBe(hostBefore);
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });
});

describe('linux.sysctl', () => {
  it('net.ipv4.ip_forward=1 in a new network namespace; the host value is unchanged', async () => {
    const hostBefore = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    expect(hostBefore).toBe('0\n');
    const res = await runContainer((c) => {
      c.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
      c.process.args = ['cat', '/proc/sys/net/ipv4/ip_forward'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '1\n' });
    expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(hostBefore);
  });

  it('kernel.shmmax in a new ipc namespace; the host value is unchanged', async () => {
    const hostBefore = fs.readFileSync('/proc/sys/kernel/shmmax', 'utf8');
    const res = await runContainer((c) => {
      c.linux.sysctl = { 'kernel.shmmax': '123456789' };
      c.process.args = ['cat', '/proc/sys/kernel/shmmax'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '123456789\n' });
    expect(fs.readFileSync('/proc/sys/kernel/shmmax', 'utf8')).toBe(hostBefore);
  });

  it('/proc/sys stays read-only for the container after the sysctls are written', async () => {
    const res = await runContainer((c) => {
      c.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
      c.process.args = [
        'sh',
        '-c',
        'echo 0 > /proc/sys/net/ipv4/ip_forward; echo "rc=$?"; cat /proc/sys/net/ipv4/ip_forward',
      ];
    });
    expect(res).toMatchObject({ code: 0, stdout: 'rc=1\n1\n' });
    expect(res.stderr).toMatch(/Read-only file system/);
  });

  it('the sysctl write itself works when /proc/sys is not in readonlyPaths', async () => {
    const res = await runContainer((c) => {
      c.linux.readonlyPaths = c.linux.readonlyPaths.filter((p: string) => p !== '/proc/sys');
      c.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '123456789' };
      c.process.args = ['cat', '/proc/sys/net/ipv4/ip_forward', '/proc/sys/kernel/shmmax'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '1\n123456789\n' });
    expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe('0\n');
  });

  it('kernel.shmmax without a new ipc namespace is refused at validation', async () => {
    const hostBefore = fs.readFileSync('/proc/sys/kernel/shmmax', 'utf8');
    const res = await runContainer((c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'ipc');
      c.linux.sysctl = { 'kernel.shmmax': '123456789' };
      c.process.args = ['true'];
    });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/linux\.sysctl/);
    expect(res.stderr).toMatch(/kernel\.shmmax/);
    expect(fs.readFileSync('/proc/sys/kernel/shmmax', 'utf8')).toBe(hostBefore);
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });

  it('net.* without a new network namespace is refused at validation', async () => {
    const res = await runContainer((c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
      c.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
      c.process.args = ['true'];
    });
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/linux\.sysctl.*net\.ipv4\.ip_forward/);
    expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe('0\n');
  });

  it('a sysctl in no kernel namespace (vm.swappiness) is refused at validation', async () => {
    const hostBefore = fs.readFileSync('/proc/sys/vm/swappiness', 'utf8');
    const res = await runContainer((c) => {
      c.linux.sysctl = { 'vm.swappiness': '1' };
      c.process.args = ['true'];
    });
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/linux\.sysctl.*vm\.swappiness/);
    expect(fs.readFileSync('/proc/sys/vm/swappiness', 'utf8')).toBe(hostBefore);
  });

  it('an unknown sysctl fails create with one line naming it, and leaves nothing', async () => {
    const res = await runContainer((c) => {
      c.linux.sysctl = { 'net.ipv4.no_such_sysctl': '1' };
      c.process.args = ['true'];
    });
    expect(res.code).toBe(1);
    expect(lines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/linux\.sysctl.*net\.ipv4\.no_such_sysctl/);
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });
});

describe('linux.personality', () => {
  it('LINUX32: uname -m says i686 and /proc/self/personality is 00000008', async () => {
    const res = await runContainer((c) => {
      c.linux.personality = { domain: 'LINUX32' };
      c.process.args = ['sh', '-c', 'uname -m; cat /proc/self/personality'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: 'i686\n00000008\n' });
  });

  it('LINUX: the native personality', async () => {
    const res = await runContainer((c) => {
      c.linux.personality = { domain: 'LINUX' };
      c.process.args = ['sh', '-c', 'uname -m; cat /proc/self/personality'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: `${os.machine()}\n00000000\n` });
  });
});
