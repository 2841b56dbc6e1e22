// Process environment, capabilities, sysctls, devices and exec details that runc and crun get
// right: unknown capabilities are warnings, HOME comes from the container's /etc/passwd, hooks
// without `env` inherit the runtime's, kernel.hostname is never a sysctl, devices may live
// outside /dev.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { tempDir } from '../helpers/bundle';
import { createContainer, expectOneLineError } from '../helpers/lifecycle-helpers';
import { leftovers } from '../helpers/process';
import { runContainer, tsrunc } from '../helpers/tsrunc';

const CAP_KILL = 5;

/** Warning lines (logrus text format) of a stderr. */
function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.includes('level=warning'));
}

describe('unknown capability names (runtime-spec: warn, do not fail)', () => {
  it('are left out of every set with one warning each; the known ones apply', async () => {
    const res = await runContainer((c) => {
      const caps = ['CAP_KILL', 'CAP_NOT_A_CAP'];
      c.process.capabilities = {
        bounding: caps,
        effective: caps,
        permitted: caps,
        inheritable: [],
        ambient: [],
      };
      c.process.args = ['grep', '^CapBnd:', '/proc/self/status'];
    });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`CapBnd:\t${(1n << BigInt(CAP_KILL)).toString(16).padStart(16, '0')}\n`);
    const lines = warnings(res.stderr);
    expect(lines).toHaveLength(3);
    for (const set of ['bounding', 'effective', 'permitted']) {
      expect(
        lines.some((l) => l.includes(`process.capabilities.${set}[1]`) && l.includes('CAP_NOT_A_CAP')),
      ).toBe(true);
    }
  });

  it('exec --cap with an unknown name warns and runs; the known one is added', async () => {
    const c = await createContainer((config) => {
      config.process.args = ['sleep', '1000'];
      config.process.capabilities = { bounding: [], effective: [], permitted: [] };
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const res = await tsrunc([
        'exec',
        '--cap',
        'CAP_NOT_A_CAP',
        '--cap',
        'KILL',
        c.id,
        'grep',
        '^CapEff:',
        '/proc/self/status',
      ]);
      expect(res.code).toBe(0);
      expect(res.stdout).toBe(`CapEff:\t${(1n << BigInt(CAP_KILL)).toString(16).padStart(16, '0')}\n`);
      expect(warnings(res.stderr).join('\n')).toMatch(
        /exec: process\.capabilities\.bounding\[\d\]: unknown capability \\"CAP_NOT_A_CAP\\", ignored/,
      );
    } finally {
      await c.cleanup();
    }
  });
});

describe("HOME from the container's /etc/passwd when process.env has none", () => {
  function withPasswd(c: { process: { env: string[]; user: unknown } }, rootfs: string, uid: number): void {
    c.process.env = c.process.env.filter((e) => !e.startsWith('HOME='));
    c.process.user = { uid, gid: uid };
    fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
    fs.writeFileSync(
      path.join(rootfs, 'etc', 'passwd'),
      'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n',
    );
  }

  it.each([
    [1000, '/home/alice'],
    [0, '/root'],
    [4242, '/'],
  ])('uid %i gets HOME=%s', async (uid, home) => {
    const res = await runContainer((c, b) => {
      withPasswd(c, b.rootfs, uid);
      c.process.args = ['sh', '-c', 'echo "$HOME"'];
    });
    expect(res).toMatchObject({ code: 0, stdout: `${home}\n` });
  });

  it('an explicit HOME stays', async () => {
    const res = await runContainer((c, b) => {
      withPasswd(c, b.rootfs, 1000);
      c.process.env.push('HOME=/mine');
      c.process.args = ['sh', '-c', 'echo "$HOME"'];
    });
    expect(res).toMatchObject({ code: 0, stdout: '/mine\n' });
  });

  it('an /etc/passwd symlink pointing at a host file is read inside the rootfs, never on the host', async () => {
    const host = tempDir('passwd');
    const hostPasswd = path.join(host, 'passwd');
    fs.writeFileSync(hostPasswd, 'evil:x:1000:1000::/from-the-host:/bin/sh\n');
    try {
      const res = await runContainer((c, b) => {
        withPasswd(c, b.rootfs, 1000);
        fs.rmSync(path.join(b.rootfs, 'etc', 'passwd'));
        fs.symlinkSync(hostPasswd, path.join(b.rootfs, 'etc', 'passwd'));
        c.process.args = ['sh', '-c', 'echo "$HOME"'];
      });
      expect(res).toMatchObject({ code: 0, stdout: '/\n' });
    } finally {
      fs.rmSync(host, { recursive: true, force: true });
    }
  });

  it('exec takes HOME of the exec user from the container', async () => {
    const c = await createContainer((config, b) => {
      withPasswd(config, b.rootfs, 0);
      config.process.args = ['sleep', '1000'];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const alice = await tsrunc(['exec', '--user', '1000', c.id, 'sh', '-c', 'echo "$HOME"']);
      expect(alice).toMatchObject({ code: 0, stdout: '/home/alice\n' });
      const root = await tsrunc(['exec', c.id, 'sh', '-c', 'echo "$HOME"']);
      expect(root).toMatchObject({ code: 0, stdout: '/root\n' });
    } finally {
      await c.cleanup();
    }
  });
});

describe('hooks without env', () => {
  it("inherit the runtime's environment; a hook with env gets exactly that", async () => {
    const out = tempDir('hookenv');
    const script = path.join(out, 'hook.sh');
    fs.writeFileSync(script, `#!/bin/sh\nenv > ${out}/"$1"\n`, { mode: 0o755 });
    try {
      const res = await runContainer(
        (c) => {
          c.hooks = {
            createRuntime: [
              { path: script, args: ['hook.sh', 'inherited'] },
              { path: script, args: ['hook.sh', 'given'], env: ['ONLY=this'] },
            ],
          };
          c.process.args = ['true'];
        },
        { env: { TSRUNC_TEST_HOOK_MARKER: 'from-the-runtime' } },
      );
      expect(res).toMatchObject({ code: 0, stderr: '' });
      const inherited = fs.readFileSync(path.join(out, 'inherited'), 'utf8');
      expect(inherited).toMatch(/^TSRUNC_TEST_HOOK_MARKER=from-the-runtime$/m);
      expect(inherited).toMatch(/^PATH=/m);
      const given = fs.readFileSync(path.join(out, 'given'), 'utf8');
      expect(given).toMatch(/^ONLY=this$/m);
      expect(given).not.toMatch(/TSRUNC_TEST_HOOK_MARKER/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('startContainer hooks (run in the container) without env', () => {
  it("inherit the container process's environment, never the runtime's; with env, exactly that", async () => {
    const check = 'test "$MARKER" = container && test -z "$TSRUNC_TEST_HOOK_MARKER"';
    const inherited = await runContainer(
      (c) => {
        c.process.env.push('MARKER=container');
        c.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', check] }] };
        c.process.args = ['true'];
      },
      { env: { TSRUNC_TEST_HOOK_MARKER: 'from-the-runtime' } },
    );
    expect(inherited).toMatchObject({ code: 0, stderr: '' });
    const own = await runContainer((c) => {
      c.process.env.push('MARKER=container');
      c.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', check], env: ['OTHER=1'] }] };
      c.process.args = ['true'];
    });
    expect(expectOneLineError(own)).toMatch(/^error running startContainer hook #0: exit status 1/);
  });
});

describe('linux.sysctl kernel.hostname and kernel.domainname', () => {
  it('kernel.hostname is always refused: the hostname field sets it', async () => {
    const res = await runContainer((c) => {
      c.linux.sysctl = { 'kernel.hostname': 'other' };
      c.process.args = ['true'];
    });
    expect(expectOneLineError(res)).toBe(
      'config.json: linux.sysctl["kernel.hostname"]: not allowed as it conflicts with the OCI "hostname" field',
    );
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });

  it('kernel.domainname is refused without a UTS namespace and when it contradicts domainname', async () => {
    const noUts = await runContainer((c) => {
      c.linux.namespaces = c.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'uts');
      delete c.hostname;
      c.linux.sysctl = { 'kernel.domainname': 'example' };
      c.process.args = ['true'];
    });
    expect(expectOneLineError(noUts)).toMatch(
      /linux\.sysctl\["kernel\.domainname"\]: not allowed without a private UTS namespace/,
    );
    const conflict = await runContainer((c) => {
      c.domainname = 'one';
      c.linux.sysctl = { 'kernel.domainname': 'two' };
      c.process.args = ['true'];
    });
    expect(expectOneLineError(conflict)).toBe(
      'config.json: linux.sysctl["kernel.domainname"]: "two" conflicts with the OCI "domainname" field "one"',
    );
    const same = await runContainer((c) => {
      c.domainname = 'one';
      c.linux.sysctl = { 'kernel.domainname': 'one' };
      c.process.args = ['cat', '/proc/sys/kernel/domainname'];
    });
    expect(same).toMatchObject({ code: 0, stdout: 'one\n' });
  });
});

describe('linux.devices outside /dev', () => {
  it('are made at any absolute path, parents created inside the rootfs', async () => {
    const res = await runContainer((c) => {
      c.linux.devices = [
        { path: '/foo-dev', type: 'c', major: 1, minor: 3, fileMode: 0o666 },
        { path: '/subdir/deeper/foo-dev', type: 'c', major: 1, minor: 5, fileMode: 0o640 },
      ];
      c.process.args = ['sh', '-c', 'stat -c "%n %F %t:%T %a" /foo-dev /subdir/deeper/foo-dev'];
    });
    expect(res).toMatchObject({
      code: 0,
      stdout:
        '/foo-dev character special file 1:3 666\n/subdir/deeper/foo-dev character special file 1:5 640\n',
    });
  });

  it('a parent that is a symlink out of the rootfs is followed inside it, never on the host', async () => {
    const host = tempDir('devhost');
    try {
      const res = await runContainer((c, b) => {
        fs.symlinkSync(host, path.join(b.rootfs, 'escape'));
        c.linux.devices = [{ path: '/escape/foo-dev', type: 'c', major: 1, minor: 3 }];
        c.process.args = ['sh', '-c', `stat -c %F ${host}/foo-dev`];
      });
      expect(res).toMatchObject({ code: 0, stdout: 'character special file\n' });
      expect(fs.readdirSync(host)).toEqual([]);
    } finally {
      fs.rmSync(host, { recursive: true, force: true });
    }
  });

  it.each([
    ['relative', 'foo-dev'],
    ['with ..', '/dev/../foo-dev'],
  ])('a %s path is refused', async (_, devicePath) => {
    const res = await runContainer((c) => {
      c.linux.devices = [{ path: devicePath, type: 'c', major: 1, minor: 3 }];
      c.process.args = ['true'];
    });
    // A relative path fails the schema first (the spec's FilePath pattern), '..' our check.
    expect(expectOneLineError(res)).toMatch(/linux\.devices\[0\]\.path/);
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });
});
