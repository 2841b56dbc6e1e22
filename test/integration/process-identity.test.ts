// process.user (uid, gid, additionalGids, umask), process.capabilities (all five sets) and
// process.noNewPrivileges, checked from inside the container.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Config, containerId, makeBundle } from '../helpers/bundle';
import { expectOneLineError } from '../helpers/lifecycle-helpers';
import { CAP, capMask, leftovers, statusField } from '../helpers/process';
import { runContainer, tsrunc } from '../helpers/tsrunc';

/** A writable tmpfs on /tmp (the default config's root is read-only). */
function tmpfsTmp(c: Config): void {
  c.mounts.push({
    destination: '/tmp',
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'nodev', 'mode=1777'],
  });
}

const CAP_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(CAP).map(([name, n]) => [n, `CAP_${name}`]),
);
const names = (...caps: number[]) => caps.map((c) => CAP_NAMES[c]);

const SETS = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'] as const;
function capLines(status: string): Record<(typeof SETS)[number], string> {
  return Object.fromEntries(SETS.map((s) => [s, statusField(status, s)])) as Record<
    (typeof SETS)[number],
    string
  >;
}

describe('process.user', () => {
  it('uid and gid: id and /proc/self/status show them for all four ids, no supplementary groups', async () => {
    const res = await runContainer((c) => {
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.args = ['sh', '-c', 'id; cat /proc/self/status'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    const [id, ...status] = res.stdout.split('\n');
    expect(id).toBe('uid=1000(u1000) gid=1000(u1000)');
    const text = status.join('\n');
    expect(statusField(text, 'Uid')).toBe('1000\t1000\t1000\t1000');
    expect(statusField(text, 'Gid')).toBe('1000\t1000\t1000\t1000');
    expect(text).toContain('\nGroups:\t \n');
  });

  it('ids without a passwd entry work (uid 4242, gid 4343)', async () => {
    const res = await runContainer((c) => {
      c.process.user = { uid: 4242, gid: 4343 };
      c.process.args = ['id'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: 'uid=4242 gid=4343\n' });
  });

  it('root with no user field stays root with no supplementary groups', async () => {
    const res = await runContainer((c) => {
      delete c.process.user;
      c.process.args = ['sh', '-c', 'id; grep -E "^(Uid|Gid|Groups):" /proc/self/status'];
    });
    expect(res).toMatchObject({
      code: 0,
      stderr: '',
      stdout: 'uid=0(root) gid=0(root)\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t \n',
    });
  });

  it('additionalGids become the supplementary groups', async () => {
    const res = await runContainer((c) => {
      c.process.user = { uid: 1000, gid: 1000, additionalGids: [65534, 10, 1000] };
      c.process.args = ['sh', '-c', 'id; id -G; grep ^Groups: /proc/self/status'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    const [id, idG, groups] = res.stdout.split('\n');
    expect(id).toBe('uid=1000(u1000) gid=1000(u1000) groups=10,1000(u1000),65534(nogroup)');
    expect(idG).toBe('1000 10 65534');
    expect(groups).toBe('Groups:\t10 1000 65534 ');
  });

  it('umask from the config (0077) applies to the container process and the files it creates', async () => {
    const res = await runContainer((c) => {
      tmpfsTmp(c);
      c.process.user = { uid: 0, gid: 0, umask: 0o077 };
      c.process.args = [
        'sh',
        '-c',
        'umask; grep ^Umask: /proc/self/status; touch /tmp/f; mkdir /tmp/d; stat -c %a /tmp/f /tmp/d',
      ];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '0077\nUmask:\t0077\n600\n700\n' });
  });

  it('umask 0 is honoured (not mistaken for "unset")', async () => {
    const res = await runContainer((c) => {
      tmpfsTmp(c);
      c.process.user = { uid: 0, gid: 0, umask: 0 };
      c.process.args = ['sh', '-c', 'umask; touch /tmp/f; stat -c %a /tmp/f'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '0000\n666\n' });
  });

  it('the default umask is 0022', async () => {
    // The runtime runs with umask 0077 here: the container must not inherit it.
    const old = process.umask(0o077);
    let res;
    try {
      res = await runContainer((c) => {
        tmpfsTmp(c);
        c.process.user = { uid: 0, gid: 0 };
        c.process.args = [
          'sh',
          '-c',
          'umask; grep ^Umask: /proc/self/status; touch /tmp/f; mkdir /tmp/d; stat -c %a /tmp/f /tmp/d',
        ];
      });
    } finally {
      process.umask(old);
    }
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: '0022\nUmask:\t0022\n644\n755\n' });
  });
});

describe('process.user: (uid_t)-1 and (gid_t)-1', () => {
  // setresuid(-1, -1, -1) and setresgid(-1, ...) mean "leave unchanged": a process that asked for
  // uid 4294967295 used to stay root (`id` printed uid=0 gid=0). It must never start at all.
  const USER = '((uid_t)-1 means "unchanged" to the kernel)';
  const GROUP = '((gid_t)-1 means "unchanged" to the kernel)';

  it.each([
    ['uid', { uid: 4294967295, gid: 1000 }, `process.user.uid: 4294967295 is not a valid user id ${USER}`],
    ['gid', { uid: 1000, gid: 4294967295 }, `process.user.gid: 4294967295 is not a valid group id ${GROUP}`],
    [
      'additionalGids',
      { uid: 1000, gid: 1000, additionalGids: [10, 4294967295] },
      `process.user.additionalGids[1]: 4294967295 is not a valid group id ${GROUP}`,
    ],
  ])('%s 4294967295: create fails with one line naming the field, nothing runs', async (_, user, line) => {
    const bundle = await makeBundle((c) => {
      c.process.user = user;
      c.process.args = ['id'];
    });
    try {
      const id = containerId();
      const created = await tsrunc(['create', '--bundle', bundle.dir, id]);
      expect(expectOneLineError(created)).toBe(`config.json: ${line}`);
      expect(created.stdout).toBe('');
      expect(await leftovers()).toEqual({ list: '', entries: [] });
      // run (create + start) in the foreground: the container's own stdout would show `id`.
      const ran = await tsrunc(['run', '--bundle', bundle.dir, id]);
      expect(expectOneLineError(ran)).toBe(`config.json: ${line}`);
      expect(ran.stdout).toBe('');
      expect(await leftovers()).toEqual({ list: '', entries: [] });
    } finally {
      await bundle.cleanup();
    }
  });
});

describe('process.capabilities', () => {
  // execve as root: P' = (I & fI) | (fP & bounding) | A with fI = fP = all, E' = P'; with
  // no_new_privs the kernel then caps P' at the permitted set before execve.
  for (const nnp of [false, true]) {
    it(`root: all five sets as the kernel computes them at execve (noNewPrivileges ${nnp})`, async () => {
      const bounding = [CAP.CHOWN, CAP.KILL, CAP.NET_BIND_SERVICE, CAP.NET_RAW, CAP.SYS_ADMIN];
      const permitted = [CAP.CHOWN, CAP.KILL, CAP.NET_BIND_SERVICE, CAP.NET_RAW];
      const effective = [CAP.CHOWN, CAP.KILL];
      const inheritable = [CAP.KILL, CAP.NET_BIND_SERVICE];
      const ambient = [CAP.KILL];
      const res = await runContainer((c) => {
        c.process.user = { uid: 0, gid: 0 };
        c.process.noNewPrivileges = nnp;
        c.process.capabilities = {
          bounding: names(...bounding),
          permitted: names(...permitted),
          effective: names(...effective),
          inheritable: names(...inheritable),
          ambient: names(...ambient),
        };
        c.process.args = ['cat', '/proc/self/status'];
      });
      expect(res).toMatchObject({ code: 0, stderr: '' });
      const prm = nnp ? '0000000000002421' : '0000000000202421';
      expect(capLines(res.stdout)).toEqual({
        CapInh: capMask(...inheritable),
        CapPrm: prm,
        CapEff: prm,
        CapBnd: capMask(...bounding),
        CapAmb: capMask(...ambient),
      });
      expect(capMask(...bounding)).toBe('0000000000202421');
      expect(capMask(...permitted)).toBe('0000000000002421');
    });
  }

  it('uid 1000 with ambient caps keeps them in CapEff and CapPrm after exec', async () => {
    const set = [CAP.KILL, CAP.NET_BIND_SERVICE];
    const res = await runContainer((c) => {
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.capabilities = {
        bounding: names(CAP.CHOWN, ...set),
        permitted: names(...set),
        effective: names(...set),
        inheritable: names(...set),
        ambient: names(...set),
      };
      c.process.args = ['cat', '/proc/self/status'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(capLines(res.stdout)).toEqual({
      CapInh: '0000000000000420',
      CapPrm: '0000000000000420',
      CapEff: '0000000000000420',
      CapBnd: '0000000000000421',
      CapAmb: '0000000000000420',
    });
  });

  it('uid 1000 without ambient caps has an empty effective and permitted set after exec', async () => {
    const set = [CAP.KILL, CAP.NET_BIND_SERVICE];
    const res = await runContainer((c) => {
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.capabilities = {
        bounding: names(...set),
        permitted: names(...set),
        effective: names(...set),
      };
      c.process.args = ['cat', '/proc/self/status'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(capLines(res.stdout)).toEqual({
      CapInh: '0000000000000000',
      CapPrm: '0000000000000000',
      CapEff: '0000000000000000',
      CapBnd: '0000000000000420',
      CapAmb: '0000000000000000',
    });
  });

  it('the default spec caps (AUDIT_WRITE, KILL, NET_BIND_SERVICE) for root', async () => {
    const res = await runContainer((c) => {
      c.process.args = ['cat', '/proc/self/status'];
    });
    const mask = capMask(CAP.AUDIT_WRITE, CAP.KILL, CAP.NET_BIND_SERVICE);
    expect(mask).toBe('0000000020000420');
    expect(capLines(res.stdout)).toEqual({
      CapInh: '0000000000000000',
      CapPrm: mask,
      CapEff: mask,
      CapBnd: mask,
      CapAmb: '0000000000000000',
    });
  });

  it('an empty capabilities object means no capabilities at all, even for root', async () => {
    const res = await runContainer((c) => {
      c.process.user = { uid: 0, gid: 0 };
      c.process.capabilities = {};
      c.process.args = ['cat', '/proc/self/status'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    const zero = '0000000000000000';
    expect(capLines(res.stdout)).toEqual({
      CapInh: zero,
      CapPrm: zero,
      CapEff: zero,
      CapBnd: zero,
      CapAmb: zero,
    });
  });

  it('without CAP_CHOWN root cannot chown; with it, it can', async () => {
    const script = 'touch /tmp/x && chown 1000 /tmp/x; echo "rc=$?"; stat -c %u /tmp/x';
    const without = await runContainer((c) => {
      tmpfsTmp(c);
      c.process.capabilities = {
        bounding: names(CAP.KILL),
        permitted: names(CAP.KILL),
        effective: names(CAP.KILL),
      };
      c.process.args = ['sh', '-c', script];
    });
    expect(without).toMatchObject({ code: 0, stdout: 'rc=1\n0\n' });
    expect(without.stderr).toMatch(/chown: \/tmp\/x: Operation not permitted/);
    const withCap = await runContainer((c) => {
      tmpfsTmp(c);
      const caps = names(CAP.KILL, CAP.CHOWN);
      c.process.capabilities = { bounding: caps, permitted: caps, effective: caps };
      c.process.args = ['sh', '-c', script];
    });
    expect(withCap).toMatchObject({ code: 0, stderr: '', stdout: 'rc=0\n1000\n' });
  });

  it("without CAP_DAC_OVERRIDE root cannot read another user's 0600 file; with it, it can", async () => {
    const setup = (c: Config, rootfs: string, caps: number[]) => {
      const f = path.join(rootfs, 'home/u1000/secret');
      fs.writeFileSync(f, 'secret-data\n', { mode: 0o600 });
      fs.chownSync(f, 1000, 1000);
      c.process.capabilities = {
        bounding: names(...caps),
        permitted: names(...caps),
        effective: names(...caps),
      };
      c.process.args = ['sh', '-c', 'cat /home/u1000/secret; echo "rc=$?"'];
    };
    const without = await runContainer((c, b) => setup(c, b.rootfs, [CAP.KILL]));
    expect(without).toMatchObject({ code: 0, stdout: 'rc=1\n' });
    expect(without.stderr).toMatch(/Permission denied/);
    const withCap = await runContainer((c, b) => setup(c, b.rootfs, [CAP.KILL, CAP.DAC_OVERRIDE]));
    expect(withCap).toMatchObject({ code: 0, stderr: '', stdout: 'secret-data\nrc=0\n' });
  });

  it('uid 1000 can chown only with CAP_CHOWN in its ambient set', async () => {
    const script = 'touch /tmp/x && chown 0 /tmp/x; echo "rc=$?"; stat -c %u /tmp/x';
    const caps = names(CAP.CHOWN);
    const withAmbient = await runContainer((c) => {
      tmpfsTmp(c);
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.capabilities = {
        bounding: caps,
        permitted: caps,
        effective: caps,
        inheritable: caps,
        ambient: caps,
      };
      c.process.args = ['sh', '-c', script];
    });
    expect(withAmbient).toMatchObject({ code: 0, stderr: '', stdout: 'rc=0\n0\n' });
    const withoutAmbient = await runContainer((c) => {
      tmpfsTmp(c);
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.capabilities = { bounding: caps, permitted: caps, effective: caps, inheritable: caps };
      c.process.args = ['sh', '-c', script];
    });
    expect(withoutAmbient).toMatchObject({ code: 0, stdout: 'rc=1\n1000\n' });
    expect(withoutAmbient.stderr).toMatch(/Operation not permitted/);
  });
});

describe('process.noNewPrivileges', () => {
  it('true sets NoNewPrivs', async () => {
    const res = await runContainer((c) => {
      c.process.noNewPrivileges = true;
      c.process.args = ['grep', '^NoNewPrivs:', '/proc/self/status'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: 'NoNewPrivs:\t1\n' });
  });

  it('false leaves NoNewPrivs clear', async () => {
    const res = await runContainer((c) => {
      c.process.noNewPrivileges = false;
      c.process.args = ['grep', '^NoNewPrivs:', '/proc/self/status'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: 'NoNewPrivs:\t0\n' });
  });

  it('absent leaves NoNewPrivs clear', async () => {
    const res = await runContainer((c) => {
      delete c.process.noNewPrivileges;
      c.process.args = ['grep', '^NoNewPrivs:', '/proc/self/status'];
    });
    expect(res).toMatchObject({ code: 0, stderr: '', stdout: 'NoNewPrivs:\t0\n' });
  });
});
