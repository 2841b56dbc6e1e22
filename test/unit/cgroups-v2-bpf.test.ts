// The cgroup v2 device filter: the compiler instruction by instruction, then for real (root) on
// this host's cgroup2 hierarchy: load, attach, a process in the cgroup opens what the rules let
// it open and nothing else, replace, detach, and nothing left behind.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { type DeviceRule, deviceRules } from '../../src/cgroups/device-rules';
import {
  BPF_DEVCG_ACC_READ,
  BPF_DEVCG_DEV_CHAR,
  OP,
  compileDeviceRules,
  decodeProgram,
  deviceFilterProgram,
  disassemble,
  encodeProgram,
} from '../../src/cgroups/v2/devices-bpf';
import { attachedDeviceFilters, installDeviceFilter } from '../../src/cgroups/v2/devices';
import { native } from '../../src/native';

const PROLOGUE = [
  'r2 = *(u32 *)(r1 + 0)',
  'w2 &= 0xffff',
  'r3 = *(u32 *)(r1 + 0)',
  'w3 >>= 16',
  'r4 = *(u32 *)(r1 + 4)',
  'r5 = *(u32 *)(r1 + 8)',
];

const rule = (
  allow: boolean,
  type: DeviceRule['type'],
  major: number,
  minor: number,
  access: string,
): DeviceRule => ({
  allow,
  type,
  major,
  minor,
  access,
});

describe('device filter compiler', () => {
  it('compiles rules last first, each returning on a match, then denies', () => {
    const insns = compileDeviceRules([rule(true, 'c', 1, 3, 'rwm'), rule(true, 'c', 1, 5, 'r')]);
    expect(disassemble(insns)).toEqual([
      ...PROLOGUE,
      // c 1:5 r (the last rule) first
      'if r2 != 2 goto +7',
      'w1 = w3',
      'w1 &= 0x2',
      'if r1 != r3 goto +4',
      'if r4 != 1 goto +3',
      'if r5 != 5 goto +2',
      'w0 = 1',
      'exit',
      // c 1:3 rwm: no access test
      'if r2 != 2 goto +4',
      'if r4 != 1 goto +3',
      'if r5 != 3 goto +2',
      'w0 = 1',
      'exit',
      // default deny
      'w0 = 0',
      'exit',
    ]);
    expect(insns).toHaveLength(6 + 8 + 5 + 2);
    const last = insns.slice(-2);
    expect(last).toEqual([
      { code: OP.MOV32_IMM, dst: 0, src: 0, off: 0, imm: 0 },
      { code: OP.EXIT, dst: 0, src: 0, off: 0, imm: 0 },
    ]);
    expect(insns[6]).toEqual({ code: OP.JNE_IMM, dst: 2, src: 0, off: 7, imm: BPF_DEVCG_DEV_CHAR });
    expect(insns[8].imm).toBe(BPF_DEVCG_ACC_READ);
  });

  it('every jump lands on the next rule or the default', () => {
    const insns = compileDeviceRules(deviceRules({ devices: [{ allow: false, access: 'rwm' }] }));
    const jumps = insns
      .map((ins, pc) => ({ ins, pc }))
      .filter(({ ins }) => ins.code === OP.JNE_IMM || ins.code === OP.JNE_REG || ins.code === OP.JEQ_IMM);
    // The default rules test type, major, minor and access: a program without jumps checks nothing.
    expect(jumps.length).toBeGreaterThan(3);
    for (const { ins, pc } of jumps) {
      const target = pc + 1 + ins.off;
      expect(target).toBeLessThan(insns.length);
      // a block starts right after an exit
      expect(insns[target - 1].code).toBe(OP.EXIT);
    }
  });

  it('a deny rule matches on any access it names; wildcards skip their test', () => {
    const insns = compileDeviceRules([rule(false, 'b', -1, -1, 'w')]);
    expect(disassemble(insns)).toEqual([
      ...PROLOGUE,
      'if r2 != 1 goto +5',
      'w1 = w3',
      'w1 &= 0x4',
      'if r1 == 0 goto +2',
      'w0 = 0',
      'exit',
      'w0 = 0',
      'exit',
    ]);
  });

  it('stops at a rule that decides everything (the verifier refuses dead code)', () => {
    const insns = compileDeviceRules([rule(true, 'c', 1, 3, 'rwm'), rule(true, 'a', -1, -1, 'rwm')]);
    expect(disassemble(insns)).toEqual([...PROLOGUE, 'w0 = 1', 'exit']);
    // "deny all" then the defaults: defaults tested first, the deny-all ends the program
    const list = deviceRules({ devices: [{ allow: false, access: 'rwm' }] });
    expect(disassemble(compileDeviceRules(list)).slice(-2)).toEqual(['w0 = 0', 'exit']);
  });

  it('skips rules with no access, refuses bad ones', () => {
    expect(compileDeviceRules([rule(true, 'c', 1, 3, '')])).toHaveLength(8);
    expect(() => compileDeviceRules([rule(true, 'c', 1, 3, 'rx')])).toThrow(
      'device rule 0: unknown access "x" in "rx"',
    );
    expect(() => compileDeviceRules([rule(true, 'x' as 'c', 1, 3, 'r')])).toThrow(
      'device rule 0: invalid type "x"',
    );
    expect(() => compileDeviceRules([rule(true, 'c', -2, 3, 'r')])).toThrow(
      'device rule 0: invalid major -2',
    );
  });

  it('encodes struct bpf_insn little-endian, 8 bytes each', () => {
    const insns = compileDeviceRules([rule(true, 'c', 1, 5, 'r')]);
    const bytes = encodeProgram(insns);
    expect(bytes.length).toBe(insns.length * 8);
    expect([...bytes.subarray(0, 8)]).toEqual([0x61, 0x12, 0, 0, 0, 0, 0, 0]); // r2 = *(u32 *)(r1 + 0)
    expect([...bytes.subarray(8, 16)]).toEqual([0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0]); // w2 &= 0xffff
    expect(decodeProgram(bytes)).toEqual(insns);
    expect(deviceFilterProgram([rule(true, 'c', 1, 5, 'r')])).toEqual(bytes);
  });
});

describe('device filter on a real cgroup2 hierarchy', () => {
  it('lets a process in the cgroup open only what the rules allow', () => {
    if (process.getuid?.() !== 0) throw new Error('this test must run as root (it attaches eBPF programs)');
    const mount = '/sys/fs/cgroup/unified';
    if (!fs.existsSync(path.join(mount, 'cgroup.controllers'))) {
      throw new Error(`no cgroup2 hierarchy at ${mount}`);
    }
    const dir = path.join(mount, `tsrunc-unit-${process.pid}`);
    fs.mkdirSync(dir);
    try {
      // Only /dev/null (rwm) and /dev/zero (read).
      const rules = [rule(true, 'c', 1, 3, 'rwm'), rule(true, 'c', 1, 5, 'r')];
      expect(attachedDeviceFilters(dir)).toEqual([]);
      installDeviceFilter(dir, deviceFilterProgram(rules));
      const first = attachedDeviceFilters(dir);
      expect(first).toHaveLength(1);

      // Replacing keeps exactly one program (the new one).
      installDeviceFilter(dir, deviceFilterProgram(rules));
      const second = attachedDeviceFilters(dir);
      expect(second).toHaveLength(1);
      expect(second[0]).not.toBe(first[0]);

      const inner =
        'cat /dev/zero | head -c1 >/dev/null && echo zero-ok; ' +
        'echo x > /dev/null && echo null-ok; ' +
        'head -c1 /dev/urandom >/dev/null 2>&1 || echo urandom-denied; ' +
        '(echo x > /dev/zero) 2>/dev/null || echo zero-write-denied';
      const child = spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs; exec sh -c '${inner}'`], {
        encoding: 'utf8',
        timeout: 10_000,
      });
      expect(child.error).toBeUndefined();
      expect(child.stdout.split('\n').filter(Boolean)).toEqual([
        'zero-ok',
        'null-ok',
        'urandom-denied',
        'zero-write-denied',
      ]);
      // The child has exited: the cgroup is empty again.
      expect(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')).toBe('');

      // Detach: no program left.
      const n = native();
      const fd = n.openDirectory(dir);
      try {
        for (const id of n.queryDevicePrograms(fd)) n.detachDeviceProgram(fd, id);
        expect(n.queryDevicePrograms(fd)).toEqual([]);
      } finally {
        n.closeFd(fd);
      }
    } finally {
      fs.rmdirSync(dir);
    }
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('loads the full default rule list, and says why the verifier refuses a program', () => {
    if (process.getuid?.() !== 0) throw new Error('this test must run as root (it loads eBPF programs)');
    const n = native();
    const fd = n.loadDeviceProgram(
      deviceFilterProgram(deviceRules({ devices: [{ allow: false, access: 'rwm' }] })),
    );
    expect(fd).toBeGreaterThan(2);
    n.closeFd(fd);
    // No exit and r0 never set: the verifier refuses it and its log is in the message.
    const bad = encodeProgram([{ code: OP.MOV32_IMM, dst: 1, src: 0, off: 0, imm: 0 }]);
    expect(() => n.loadDeviceProgram(bad)).toThrow(
      /^bpf\(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE\): .*verifier: /,
    );
    expect(() => n.loadDeviceProgram(Buffer.alloc(5))).toThrow('multiple of 8 bytes');
  });

  it('a refused load (EPERM) stays an error, and no limit of the process is raised for it', () => {
    // Unprivileged, with a low RLIMIT_MEMLOCK: the pre-5.11 workaround raised it to unlimited for
    // the whole process, which may be a shim serving other containers. Since 5.11 programs are
    // charged to the memory cgroup instead. (Raising the hard limit needs CAP_SYS_RESOURCE, which
    // the test host may lack: then only the message tells the old code from the new.)
    const program = Buffer.from(deviceFilterProgram(deviceRules({ devices: [] }))).toString('base64');
    const addon = path.resolve(__dirname, '../../build/addon/Release/tsrunc_native.node');
    const script = `
      const n = require(${JSON.stringify(addon)});
      let outcome;
      try {
        outcome = 'loaded ' + n.loadDeviceProgram(Buffer.from('${program}', 'base64'));
      } catch (error) {
        outcome = error.code + ': ' + error.message;
      }
      const limits = require('node:fs').readFileSync('/proc/self/limits', 'utf8');
      console.log(JSON.stringify({ outcome, memlock: /^Max locked memory +(\\S+)/m.exec(limits)[1] }));
    `;
    const run = spawnSync(
      'prlimit',
      ['--memlock=65536:', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'].concat([
        process.execPath,
        '-e',
        script,
      ]),
      { encoding: 'utf8', cwd: '/', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      outcome:
        'EPERM: bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE): Operation not permitted: loading a ' +
        'device program needs CAP_SYS_ADMIN (or CAP_BPF and CAP_NET_ADMIN) in the initial user namespace',
      memlock: '65536',
    });
  });

  it('reports a missing cgroup directory clearly', () => {
    expect(() => installDeviceFilter('/sys/fs/cgroup/unified/tsrunc-no-such-dir', Buffer.alloc(8))).toThrow(
      'cgroup: device filter of /sys/fs/cgroup/unified/tsrunc-no-such-dir: open /sys/fs/cgroup/unified/tsrunc-no-such-dir: No such file or directory',
    );
  });
});
