// CVE-2021-43784 class: a parent/child message whose length is not checked. The sync protocol
// uses one fixed-size record (addon/plan.h SyncRecord, 6 x int32); the parent's syncRecv must
// reject any datagram of another length instead of parsing it. Tried on a real SOCK_SEQPACKET
// pair, with datagrams written by hand.
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { native } from '../../src/native';
import { SyncMessage } from '../../src/plan/types';

const RECORD_BYTES = 6 * 4;

function record(values: number[], extraBytes = 0): Buffer {
  const buf = Buffer.alloc(RECORD_BYTES + extraBytes, 0x41);
  values.forEach((v, i) => buf.writeInt32LE(v, i * 4));
  return buf;
}

const open: number[] = [];

function pair(): [number, number] {
  const fds = native().seqpacketPair();
  open.push(...fds);
  return fds;
}

afterEach(() => {
  for (const fd of open.splice(0)) fs.closeSync(fd);
});

describe('sync socket records', () => {
  it('an exact record is parsed field by field', () => {
    const [parent, child] = pair();
    fs.writeSync(child, record([SyncMessage.InitPid, 1, 2, 3, 4, 4242]));
    expect(native().syncRecv(parent, 1000)).toEqual({
      type: SyncMessage.InitPid,
      stage: 1,
      step: 2,
      errno: 3,
      index: 4,
      pid: 4242,
      fd: -1,
    });
  });

  it.each([
    ['one byte longer', 1],
    ['a record and a half', RECORD_BYTES / 2],
    ['64 KiB longer', 65536],
  ])('an oversized datagram (%s) is rejected, not cut to a record', (_, extra) => {
    const [parent, child] = pair();
    fs.writeSync(child, record([SyncMessage.InitPid, 1, 2, 3, 4, 4242], extra));
    expect(() => native().syncRecv(parent, 1000)).toThrow(/sync record of unexpected size/);
  });

  it.each([1, 4, RECORD_BYTES - 1])('a short datagram (%i bytes) is rejected', (size) => {
    const [parent, child] = pair();
    fs.writeSync(child, record([SyncMessage.InitPid, 1, 2, 3, 4, 4242]).subarray(0, size));
    expect(() => native().syncRecv(parent, 1000)).toThrow(/sync record of unexpected size/);
  });

  it('a rejected datagram is consumed whole: the next exact record still parses', () => {
    const [parent, child] = pair();
    fs.writeSync(child, record([SyncMessage.Error, 9, 9, 9, 9, 9], 100));
    fs.writeSync(child, record([SyncMessage.InitReady, 0, 0, 0, 0, 0]));
    expect(() => native().syncRecv(parent, 1000)).toThrow(/unexpected size/);
    expect(native().syncRecv(parent, 1000)?.type).toBe(SyncMessage.InitReady);
  });

  it('EOF (the child side closed) is null, not a record', () => {
    const [parent, child] = pair();
    fs.closeSync(child);
    open.splice(open.indexOf(child), 1);
    expect(native().syncRecv(parent, 1000)).toBeNull();
  });
});
