// Every function the addon exports checks the count and the types of its arguments before it
// does anything: a wrong call throws a TypeError that names the function and what it takes, and
// has no side effect. node-addon-api's As<Number>() on a non-number throws *and* still returns
// 0, so closeFd(undefined) used to close fd 0. Tried on the real addon; /proc/self/fd is compared
// before and after every call.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { native, type NativeBinding } from '../../src/native';

type AnyFunction = (...args: unknown[]) => unknown;

function call(name: string, args: unknown[]): unknown {
  return (native() as unknown as Record<string, AnyFunction>)[name](...args);
}

/** The open fds of this process (the listing's own fd is the same number each time). */
function openFds(): string[] {
  return fs.readdirSync('/proc/self/fd').sort((a, b) => Number(a) - Number(b));
}

function shown(args: unknown[]): string {
  return args
    .map((a) => (typeof a === 'bigint' ? `${a}n` : a === undefined ? 'undefined' : JSON.stringify(a)))
    .join(', ');
}

// Fds of our own, so that a call that (wrongly) went ahead only touches a socket of this test.
let socket = -1;
let peer = -1;
let dir = '';
const missing = () => path.join(dir, 'missing');

beforeAll(() => {
  [socket, peer] = native().seqpacketPair();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-native-args-'));
});

afterAll(() => {
  fs.closeSync(socket);
  fs.closeSync(peer);
  fs.rmSync(dir, { recursive: true, force: true });
});

const NOT_INTEGERS = [undefined, null, '3', 1.5, -1.5, Number.NaN, Number.POSITIVE_INFINITY, 3n, {}, [3]];

/** Wrong calls of every export. Functions of the fds above: they exist once beforeAll ran. */
const BAD_CALLS: Record<keyof NativeBinding, () => unknown[][]> = {
  spawnInit: () => [[], [undefined], ['plan'], [{}], [{}, 1]],
  syncRecv: () => [[], [socket], [undefined, 0], [socket, '10'], [socket, 1.5], [-1, 0], [2 ** 31, 0]],
  syncTryRecv: () => [[], [undefined], ['3'], [-1], [1.5], [socket, 0]],
  syncSend: () => [[], [socket], [socket, undefined], ['3', 1], [socket, 2 ** 31], [socket, 1, 2]],
  sendFds: () => [
    [socket, 'x'],
    [socket, 'x', []],
    [socket, 'x', [undefined]],
    [socket, 'x', ['0']],
    [socket, 'x', [peer, 1.5]],
    [socket, 'x', Array(9).fill(peer)],
    [socket, 5, [peer]],
    [1.5, 'x', [peer]],
  ],
  seqpacketPair: () => [[1]],
  pipe: () => [[1], [undefined]],
  waitPid: () => [[], [1], [1.5, false], ['1', false], [1, 'false'], [2 ** 31, false]],
  namespaceType: () => [[], [undefined], ['3'], [-1], [0.5]],
  connectUnix: () => [[], [undefined], [3], [path.join(dir, 'sock\0x')]],
  openPath: () => [[], [undefined], ['/', 'yes'], ['/', 1], ['/', true, 1], ['/\0etc']],
  openInRoot: () => [[], ['/'], ['/', 1], [1, 'etc/passwd'], ['/', 'etc\0x'], ['/', 'a', 'b']],
  // A path that does not exist, should a call go ahead; a propagation other than MS_SLAVE
  // (0x80000) or MS_PRIVATE (0x40000) is refused too (MS_SHARED would join the host's group).
  openTreeClone: () => [
    [],
    [missing()],
    [missing(), true],
    [missing(), 'true', 0x80000],
    [missing(), true, '0x80000'],
    [missing(), true, 1.5],
    [`${missing()}\0x`, true, 0x80000],
    [missing(), true, 0x100000],
    [missing(), true, 0x80000, 1],
  ],
  closeFd: () => [...NOT_INTEGERS.map((v) => [v]), [], [-1], [2 ** 31], [socket, 1]],
  renameNoReplace: () => [[], [path.join(dir, 'a')], [path.join(dir, 'a'), 3]],
  setChildSubreaper: () => [[], ['yes'], [1], [true, 1]],
  // A target that does not exist, should a call go ahead (the real dir: the test further down).
  mount: () => [
    [],
    ['none', missing(), 'tmpfs', 0],
    ['none', missing(), 'tmpfs', 1.5, ''],
    ['none', missing(), 'tmpfs', -1, ''],
    ['none', missing(), 'tmpfs', '0', ''],
    ['none', missing(), 3, 0, ''],
    ['none', `${missing()}\0/x`, 'tmpfs', 0, ''],
  ],
  umount: () => [[], [dir], [dir, 'x'], [dir, 1.5], [3, 0]],
  listenUnix: () => [[], [undefined], [3], [path.join(dir, 'listen\0x')]],
  receiveFd: () => [[], [socket], [undefined, 0], [socket, '0'], [socket, 0.5]],
  acceptUnix: () => [[], [undefined], ['3'], [-1], [0.5], [socket, 0]],
  tryReceiveFd: () => [[], [undefined], ['3'], [-1], [2 ** 31], [socket, 0]],
  setWindowSize: () => [
    [],
    [socket, 24],
    [socket, 24, '80'],
    [socket, 70000, 80],
    [socket, -1, 80],
    ['0', 24, 80],
  ],
  mkfifo: () => [
    [],
    [path.join(dir, 'f')],
    [path.join(dir, 'f'), -1],
    [path.join(dir, 'f'), 1.5],
    [1, 0o600],
  ],
  strerror: () => [[], [undefined], ['2'], [2.5]],
  // A pid of 0 or below would name a process group or "any child" to other calls: never a pid.
  pidfdOpen: () => [[], [undefined], ['1'], [0], [-1], [1.5], [2 ** 31], [1, 0]],
  pidfdReap: () => [[], [undefined], ['3'], [-1], [0.5], [socket, 0]],
  pidfdSignal: () => [
    [],
    [socket],
    [socket, '9'],
    [socket, 1.5],
    [socket, undefined],
    [-1, 0],
    [socket, 0, 0],
  ],
  // A socket of ours: libuv could poll it, should a call go ahead.
  watchReadable: () => [
    [],
    [socket],
    [socket, 'onEvent'],
    [socket, {}],
    ['3', () => {}],
    [-1, () => {}],
    [socket, () => {}, 1],
  ],
  tryFlock: () => [[], [socket], [socket, 1], [socket, 'true'], ['3', true], [-1, false], [socket, true, 1]],
  unflock: () => [[], [undefined], ['3'], [-1], [socket, 1]],
  openDirectory: () => [[], [undefined], [3], ['/\0etc']],
  loadDeviceProgram: () => [[], [undefined], [[0, 0, 0, 0, 0, 0, 0, 0]], [new Uint16Array(4)]],
  attachDeviceProgram: () => [
    [],
    [socket],
    [-1, -1],
    [socket, 1.5],
    [socket, socket, 'x'],
    [socket, socket, -1],
  ],
  detachDeviceProgram: () => [[], [socket], [socket, -1], [socket, 1.5], [2.5, 1]],
  queryDevicePrograms: () => [[], ['3'], [2.5], [-1]],
  compileSeccomp: () => [
    [],
    [undefined],
    ['{}'],
    [{ defaultAction: 2147418112.5, architectures: [], rules: [], enosysNames: [] }],
    [
      {
        defaultAction: 2147418112,
        architectures: [],
        rules: [{ name: 'read', action: 0.5, args: [] }],
        enosysNames: [],
      },
    ],
    [{ defaultAction: 2147418112, architectures: [], rules: [] }],
    [{ defaultAction: 2147418112, architectures: [], rules: [], enosysNames: [1] }],
  ],
};

describe('argument checks of the native exports', () => {
  it('every export has its wrong calls in this table', () => {
    expect(Object.keys(BAD_CALLS).sort()).toEqual(Object.keys(native()).sort());
  });

  for (const name of Object.keys(BAD_CALLS) as (keyof NativeBinding)[]) {
    it(`${name}: wrong or missing arguments throw a TypeError naming it, and touch no fd`, () => {
      const calls = BAD_CALLS[name]();
      expect(calls.length).toBeGreaterThan(0);
      for (const args of calls) {
        const before = openFds();
        let caught: unknown;
        try {
          call(name, args);
        } catch (error) {
          caught = error;
        }
        const what = `${name}(${shown(args)})`;
        expect(caught, what).toBeInstanceOf(TypeError);
        expect((caught as Error | undefined)?.message, what).toMatch(new RegExp(`^${name}\\b`));
        expect(openFds(), what).toEqual(before);
      }
    });
  }

  it('closeFd of a non-integer, a negative or an out-of-range fd leaves fd 0 and every other fd open', () => {
    // fd 0 open whatever ran before (the lowest free fd is what open returns).
    if (!openFds().includes('0')) expect(fs.openSync('/dev/null', 'r')).toBe(0);
    const stdin = fs.fstatSync(0);
    const before = openFds();
    expect(before).toContain('0');
    for (const fd of [...NOT_INTEGERS, -1, -0.5, 0.5, 2 ** 31, -(2 ** 31) - 1]) {
      expect(() => native().closeFd(fd as number), `closeFd(${shown([fd])})`).toThrow(TypeError);
    }
    expect(() => (native().closeFd as AnyFunction)()).toThrow(TypeError);
    expect(openFds()).toEqual(before);
    const after = fs.fstatSync(0);
    expect([after.dev, after.ino]).toEqual([stdin.dev, stdin.ino]);
  });

  it('a refused mkfifo, renameNoReplace or mount leaves the file system as it was', () => {
    const source = path.join(dir, 'source');
    fs.writeFileSync(source, 'x');
    const entries = () => fs.readdirSync(dir).sort();
    const before = entries();
    const device = fs.statSync(dir).dev;
    try {
      expect(() => native().mkfifo(path.join(dir, 'fifo'), undefined as unknown as number)).toThrow(
        TypeError,
      );
      expect(() => native().mkfifo(path.join(dir, 'fifo\0x'), 0o600)).toThrow(TypeError);
      expect(() => native().renameNoReplace(source, path.join(dir, 'target\0x'))).toThrow(TypeError);
      expect(() => native().mount('none', dir, 'tmpfs', 0.5, '')).toThrow(TypeError);
      expect(entries()).toEqual(before);
      expect(fs.statSync(dir).dev).toBe(device);
    } finally {
      // Only if a check was missing (the defect this test is for): undo what the call did.
      if (fs.statSync(dir).dev !== device) native().umount(dir, 2 /* MNT_DETACH */);
    }
  });

  it('right calls still work: optional arguments may be left out', () => {
    const [a, b] = native().seqpacketPair();
    native().closeFd(a);
    native().closeFd(b);
    expect(() => fs.fstatSync(b)).toThrow(/EBADF/);
    const root = native().openPath('/');
    native().closeFd(root);
    const file = native().openPath('/proc/self/status', false);
    native().closeFd(file);
    expect(native().strerror(2)).toBe('No such file or directory');
  });
});
