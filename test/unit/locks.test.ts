// Container locks (src/runtime/locks.ts) with the real addon on a temp state root.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CONTAINER_NOT_EXIST } from '../../src/errors';
import { native } from '../../src/native';
import { ContainerLocks } from '../../src/runtime/locks';

let root: string;
let locks: ContainerLocks;
const children: ChildProcess[] = [];

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-locks-'));
  fs.mkdirSync(path.join(root, 'c1'));
  locks = new ContainerLocks(native);
});

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  fs.rmSync(root, { recursive: true, force: true });
});

/** A process of its own that holds LOCK_EX on `dir` until killed (as a creating tsrunc does). */
function lockHolder(dir: string): ChildProcess {
  const script =
    'import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_EX)\ntime.sleep(100)\n';
  return spawn('python3', ['-c', script, dir], { stdio: 'ignore' });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ContainerLocks', () => {
  it('serialises two operations of one process on one container, in order', async () => {
    const order: string[] = [];
    const first = await locks.acquire(root, 'c1', { timeoutMs: 5000 });
    expect(locks.isHeld(root, 'c1')).toBe(true);
    const second = locks.acquire(root, 'c1', { timeoutMs: 5000 }).then((lock) => {
      order.push('second got it');
      return lock;
    });
    await sleep(50);
    order.push('first releases');
    first.release();
    (await second).release();
    expect(order).toEqual(['first releases', 'second got it']);
    expect(locks.isHeld(root, 'c1')).toBe(false);
  });

  it('waits for another process holding the flock, and says the container is busy after the timeout', async () => {
    const holder = lockHolder(path.join(root, 'c1'));
    children.push(holder);
    for (let i = 0; i < 200 && !locks.isHeld(root, 'c1'); i++) await sleep(10);
    expect(locks.isHeld(root, 'c1')).toBe(true);
    await expect(locks.acquire(root, 'c1', { timeoutMs: 200, busyMessage: 'busy!' })).rejects.toThrow(
      'busy!',
    );
    const waiting = locks.acquire(root, 'c1', { timeoutMs: 5000 });
    await sleep(50);
    holder.kill('SIGKILL'); // the kernel drops the lock of a dead holder
    const lock = await waiting;
    expect(locks.isHeld(root, 'c1')).toBe(true);
    lock.release();
  });

  it('a container deleted while we waited does not exist for us', async () => {
    const first = await locks.acquire(root, 'c1', { timeoutMs: 5000 });
    const second = locks.acquire(root, 'c1', { timeoutMs: 5000 });
    fs.rmSync(path.join(root, 'c1'), { recursive: true }); // what `delete` does with the lock held
    first.release();
    await expect(second).rejects.toThrow(CONTAINER_NOT_EXIST);
    await expect(locks.acquire(root, 'missing', { timeoutMs: 100 })).rejects.toThrow(CONTAINER_NOT_EXIST);
  });

  it('releases the fd it held', async () => {
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    const before = fds();
    const lock = await locks.acquire(root, 'c1', { timeoutMs: 5000 });
    expect(fds()).toBe(before + 1);
    lock.release();
    lock.release(); // idempotent
    expect(fds()).toBe(before);
  });
});
