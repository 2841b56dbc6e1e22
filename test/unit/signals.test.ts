import { describe, expect, it } from 'vitest';

import { parseSignal } from '../../src/runtime/signals';

describe('parseSignal', () => {
  it.each([
    [undefined, 15],
    ['', 15],
    ['TERM', 15],
    ['SIGTERM', 15],
    ['sigterm', 15],
    ['term', 15],
    ['15', 15],
    ['0', 0],
    ['00', 0],
    ['9', 9],
    ['KILL', 9],
    ['SIGKILL', 9],
    ['HUP', 1],
    ['USR1', 10],
    ['SIGCHLD', 17],
    ['WINCH', 28],
    ['SIGSYS', 31],
    ['IOT', 6],
    ['64', 64],
    ['SIGRTMIN', 34],
    ['RTMIN', 34],
    ['SIGRTMIN+3', 37],
    ['rtmin+30', 64],
    ['SIGRTMAX', 64],
    ['RTMAX-2', 62],
    ['SIGRTMAX-30', 34],
  ])('%j -> %d', (raw, expected) => {
    expect(parseSignal(raw)).toBe(expected);
  });

  it.each([
    'FOO',
    'SIGFOO',
    'SIG0',
    '65',
    '-9',
    '1.5',
    'RTMIN+31',
    'RTMAX-31',
    'RTMIN-1',
    'RTMAX+1',
    'SIG',
    ' 9',
  ])('rejects %j with runc wording', (raw) => {
    expect(() => parseSignal(raw)).toThrow(`unknown signal ${JSON.stringify(raw)}`);
  });
});
