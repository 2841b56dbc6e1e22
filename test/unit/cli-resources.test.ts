import { describe, expect, it } from 'vitest';

import { parseDuration } from '../../src/cli/commands/events';
import { filterPsOutput, prepareArgs as preparePsArgs } from '../../src/cli/commands/ps';
import { parseNumber, resourcesFromArgs } from '../../src/cli/commands/update';
import { mergeResources } from '../../src/runtime/resources';

describe('update flags', () => {
  it('reads sizes with runc suffixes', () => {
    expect(parseNumber('memory', '64m', true)).toBe(64 * 1024 * 1024);
    expect(parseNumber('memory', '1g', true)).toBe(1024 ** 3);
    expect(parseNumber('memory', '1024', true)).toBe(1024);
    expect(parseNumber('memory', '-1', true)).toBe(-1);
  });
  it('refuses garbage', () => {
    expect(() => parseNumber('memory', 'lots', true)).toThrow('--memory: invalid value "lots"');
    expect(() => parseNumber('cpu-quota', '5k', false)).toThrow('--cpu-quota: invalid value "5k"');
  });
  it('turns flags into a LinuxResources document', () => {
    expect(
      resourcesFromArgs({
        memory: '64m',
        'memory-swap': '-1',
        'cpu-quota': '50000',
        'cpuset-cpus': '0',
        'pids-limit': '20',
      }),
    ).toEqual({
      memory: { limit: 64 * 1024 * 1024, swap: -1 },
      cpu: { quota: 50000, cpus: '0' },
      pids: { limit: 20 },
    });
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
