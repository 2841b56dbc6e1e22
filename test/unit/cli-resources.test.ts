import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { parseDuration } from '../../src/cli/commands/events';
import { filterPsOutput, prepareArgs as preparePsArgs } from '../../src/cli/commands/ps';
import { parseSize, resourcesFromArgs } from '../../src/cli/commands/update';
import { mergeResources } from '../../src/runtime/resources';

describe('update flags', () => {
  it('reads sizes as runc does: -1, binary units, fractions', () => {
    expect(parseSize('memory', '64m')).toBe(64 * 1024 * 1024);
    expect(parseSize('memory', '1g')).toBe(1024 ** 3);
    expect(parseSize('memory', '1.5g')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('memory', '512 KiB')).toBe(512 * 1024);
    expect(parseSize('memory', '1024')).toBe(1024);
    expect(parseSize('memory', '-1')).toBe(-1);
  });

  it('refuses garbage, naming the flag', () => {
    expect(() => parseSize('memory', 'lots')).toThrow('--memory: invalid value "lots"');
    expect(() => parseSize('memory', '-2')).toThrow('--memory: invalid value "-2"');
    expect(() => resourcesFromArgs({ 'cpu-quota': '5k' })).toThrow('--cpu-quota: invalid value "5k"');
    expect(() => resourcesFromArgs({ 'cpu-share': '-1' })).toThrow('--cpu-share: invalid value "-1"');
    expect(() => resourcesFromArgs({ 'pids-limit': 'abc' })).toThrow('--pids-limit: invalid value "abc"');
  });

  it("turns runc's flags into a LinuxResources document; 0 leaves a value alone", () => {
    expect(
      resourcesFromArgs({
        'blkio-weight': '500',
        'cpu-period': '50000',
        'cpu-quota': '-1',
        'cpu-share': '512',
        'cpu-rt-period': '900000',
        'cpu-rt-runtime': '0',
        'cpuset-cpus': '0',
        'cpuset-mems': '',
        memory: '64m',
        'memory-reservation': '32m',
        'memory-swap': '-1',
        'kernel-memory': '0',
        'kernel-memory-tcp': '8m',
        'pids-limit': '-5',
      }),
    ).toEqual({
      blockIO: { weight: 500 },
      cpu: { period: 50000, quota: -1, shares: 512, realtimePeriod: 900000, cpus: '0' },
      memory: {
        limit: 64 * 1024 * 1024,
        reservation: 32 * 1024 * 1024,
        swap: -1,
        kernelTCP: 8 * 1024 * 1024,
      },
      pids: { limit: -1 },
    });
  });

  it("refuses Intel RDT in runc's words; with --resources ignores the flags, as runc", () => {
    expect(() => resourcesFromArgs({ 'l3-cache-schema': 'L3:0=f' })).toThrow(
      'Intel RDT/CAT: l3 cache schema is not enabled',
    );
    expect(() => resourcesFromArgs({ 'mem-bw-schema': 'MB:0=50' })).toThrow(
      'Intel RDT/MBA: memory bandwidth schema is not enabled',
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-update-'));
    try {
      const file = path.join(dir, 'r.json');
      fs.writeFileSync(file, '{"pids":{"limit":7}}');
      const warnings: string[] = [];
      expect(resourcesFromArgs({ resources: file, memory: '1g' }, (m) => warnings.push(m))).toEqual({
        pids: { limit: 7 },
      });
      expect(warnings).toEqual(['--memory ignored: --resources is given (as runc does)']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mergeResources', () => {
  it('keeps fields an update does not name', () => {
    expect(
      mergeResources({ memory: { limit: 1, swap: 2 }, pids: { limit: 5 } }, { memory: { limit: 3 } }),
    ).toEqual({
      memory: { limit: 3, swap: 2 },
      pids: { limit: 5 },
    });
  });
});

describe('ps arguments', () => {
  it("leaves everything after the id to ps(1), runc's flags before it to tsrunc", () => {
    expect(preparePsArgs(['c1', '-e', '-x'])).toEqual(['c1', '--', '-e', '-x']);
    expect(preparePsArgs(['-f', 'json', 'c1'])).toEqual(['-f', 'json', 'c1', '--']);
    expect(preparePsArgs(['--format=json', 'c1', '--format', 'json'])).toEqual([
      '--format=json',
      'c1',
      '--',
      '--format',
      'json',
    ]);
    expect(preparePsArgs(['c1', '--', 'x'])).toEqual(['c1', '--', '--', 'x']);
  });
});

describe('ps table', () => {
  it('keeps the header and the rows of the given pids', () => {
    const out = [
      'UID PID PPID C STIME TTY TIME CMD',
      'root 1 0 0 08:00 ? 00:00:01 init',
      'root 42 1 0 08:00 ? 00:00:00 sleep 100',
      'root 420 1 0 08:00 ? 00:00:00 other',
    ].join('\n');
    expect(filterPsOutput(out, [42])).toBe(
      'UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 08:00 ? 00:00:00 sleep 100',
    );
  });

  it("refuses an output without a PID column with runc's words", () => {
    expect(() => filterPsOutput('COMMAND\nsleep\n', [42])).toThrow("couldn't find PID field in ps output");
    expect(() => filterPsOutput('', [42])).toThrow("couldn't find PID field in ps output");
  });
});

describe('events --interval', () => {
  it('reads Go durations', () => {
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(() => parseDuration('5')).toThrow('--interval: invalid duration "5"');
  });
});
