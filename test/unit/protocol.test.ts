import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import type { NativeBinding } from '../../src/native';
import type { BuiltPlan } from '../../src/plan/build';
import { Step } from '../../src/plan/generated/protocol';
import { SyncMessage, type SyncRecord } from '../../src/plan/types';
import { describeFailure, runCreateHandshake } from '../../src/runtime/protocol';

function record(type: number, fields: Partial<SyncRecord> = {}): SyncRecord {
  return { type, stage: 0, step: 0, errno: 0, index: 0, pid: 0, fd: -1, ...fields };
}

// A fake native binding that plays back the child's side of the handshake.
// `null` in the script is the child closing the socket; `deliver` queues a record later, as a
// child would, and wakes the handshake through its fd watch.
function fakeNative(script: (SyncRecord | null)[]): {
  native: NativeBinding;
  sent: number[];
  closed: number[];
  deliver: (rec: SyncRecord) => void;
  watching: () => number;
} {
  const sent: number[] = [];
  const closed: number[] = [];
  const queue = [...script];
  const watchers = new Set<() => void>();
  const native = {
    syncTryRecv: () => {
      if (queue.length === 0) return null;
      const next = queue.shift()!;
      return next === null ? 'eof' : next;
    },
    watchReadable: (_fd: number, onEvent: () => void) => {
      watchers.add(onEvent);
      return { stop: () => watchers.delete(onEvent), ref() {}, unref() {} };
    },
    syncSend: (_fd: number, type: number) => sent.push(type),
    closeFd: (fd: number) => closed.push(fd),
    strerror: (errno: number) =>
      errno === 1 ? 'Operation not permitted' : errno === 2 ? 'No such file or directory' : `errno ${errno}`,
  } as unknown as NativeBinding;
  const deliver = (rec: SyncRecord) => {
    queue.push(rec);
    for (const wake of [...watchers]) wake();
  };
  return { native, sent, closed, deliver, watching: () => watchers.size };
}

const built = {
  plan: {
    args: ['sh'],
    cwd: '/work',
    maskedPaths: [],
    readonlyPaths: [],
    sysctl: [],
    plan: 0,
    mounts: [{ fstype: 'proc' }, { fstype: 'tmpfs' }],
  },
  labels: {
    mounts: ['mounts[0] (proc on /proc)', 'mounts[1] (tmpfs on /dev)'],
    devices: ['linux.devices[0] (/dev/fuse)'],
    symlinks: [],
  },
  uidMappings: '',
  gidMappings: '',
} as unknown as BuiltPlan;

const noHandlers = {
  onIntermediateReady: () => {},
  onInitPid: () => {},
  onRunCreateHooks: async () => {},
  onSeccompListener: () => {},
};
const notifyingPlan = {
  ...built,
  plan: { ...built.plan, seccomp: { notify: true } },
} as unknown as BuiltPlan;

describe('runCreateHandshake', () => {
  it('walks the messages in order and answers each request', async () => {
    const { native, sent } = fakeNative([
      record(SyncMessage.IntermediateReady, { pid: 10 }),
      record(SyncMessage.InitPid, { pid: 11 }),
      record(SyncMessage.RunCreateHooks),
      record(SyncMessage.InitReady),
    ]);
    const seen: string[] = [];
    await runCreateHandshake(native, 3, built, {
      onIntermediateReady: (pid) => {
        seen.push(`maps ${pid}`);
      },
      onInitPid: (pid) => {
        seen.push(`init ${pid}`);
      },
      onRunCreateHooks: async () => {
        seen.push('hooks');
      },
      onSeccompListener: () => {
        seen.push('listener');
      },
    });
    expect(seen).toEqual(['maps 10', 'init 11', 'hooks']);
    expect(sent).toEqual([SyncMessage.IntermediateGo, SyncMessage.CreateHooksDone]);
  });

  it('rejects a message out of order', async () => {
    const { native, sent } = fakeNative([record(SyncMessage.InitPid, { pid: 11 })]);
    await expect(runCreateHandshake(native, 3, built, noHandlers)).rejects.toThrow(
      /unexpected sync message InitPid, wanted IntermediateReady/,
    );
    expect(sent).toEqual([]);
  });

  it('rejects a repeated message', async () => {
    const { native } = fakeNative([
      record(SyncMessage.IntermediateReady),
      record(SyncMessage.IntermediateReady),
    ]);
    await expect(runCreateHandshake(native, 3, built, noHandlers)).rejects.toThrow(
      /unexpected sync message IntermediateReady, wanted InitPid/,
    );
  });

  it('reports a child that went away', async () => {
    const { native } = fakeNative([record(SyncMessage.IntermediateReady), null]);
    await expect(runCreateHandshake(native, 3, built, noHandlers)).rejects.toThrow(
      'unable to start container process: container init exited during setup',
    );
  });

  it('waits on the event loop for records that come later, and stops watching when done', async () => {
    const { native, sent, deliver, watching } = fakeNative([]);
    const done = runCreateHandshake(native, 3, built, noHandlers);
    const later = [
      SyncMessage.IntermediateReady,
      SyncMessage.InitPid,
      SyncMessage.RunCreateHooks,
      SyncMessage.InitReady,
    ];
    for (const type of later) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(watching()).toBe(1);
      deliver(record(type));
    }
    await done;
    expect(sent).toEqual([SyncMessage.IntermediateGo, SyncMessage.CreateHooksDone]);
    expect(watching()).toBe(0);
  });

  it('gives up on a child that says nothing, naming the message it waited for', async () => {
    const { native, watching } = fakeNative([record(SyncMessage.IntermediateReady)]);
    await expect(runCreateHandshake(native, 3, built, noHandlers, 50)).rejects.toThrow(
      'unable to start container process: timed out after 0.05 s waiting for InitPid',
    );
    expect(watching()).toBe(0);
  });

  it('turns an error record into a message naming the config field', async () => {
    const { native } = fakeNative([
      record(SyncMessage.IntermediateReady),
      record(SyncMessage.InitPid),
      record(SyncMessage.Error, { stage: 2, step: Step.Mount, errno: 1, index: 1 }),
    ]);
    await expect(runCreateHandshake(native, 3, built, noHandlers)).rejects.toThrow(
      'unable to start container process: mounts[1] (tmpfs on /dev): mount: operation not permitted',
    );
  });
});

describe('runCreateHandshake with a notifying seccomp filter', () => {
  const prefix = [
    record(SyncMessage.IntermediateReady),
    record(SyncMessage.InitPid),
    record(SyncMessage.RunCreateHooks),
  ];

  it('passes the listener fd on, closes it, and answers SeccompNotifyDone before InitReady', async () => {
    const { native, sent, closed } = fakeNative([
      ...prefix,
      record(SyncMessage.SeccompNotifyFd, { fd: 42 }),
      record(SyncMessage.InitReady),
    ]);
    const passed: number[] = [];
    await runCreateHandshake(native, 3, notifyingPlan, {
      ...noHandlers,
      onSeccompListener: (fd) => {
        passed.push(fd);
      },
    });
    expect(passed).toEqual([42]);
    expect(closed).toEqual([42]);
    expect(sent).toEqual([
      SyncMessage.IntermediateGo,
      SyncMessage.CreateHooksDone,
      SyncMessage.SeccompNotifyDone,
    ]);
  });

  it('insists on the listener fd before InitReady', async () => {
    const { native } = fakeNative([...prefix, record(SyncMessage.InitReady)]);
    await expect(runCreateHandshake(native, 3, notifyingPlan, noHandlers)).rejects.toThrow(
      /unexpected sync message InitReady, wanted SeccompNotifyFd/,
    );
  });

  it('closes the listener fd when passing it on fails', async () => {
    const { native, closed } = fakeNative([...prefix, record(SyncMessage.SeccompNotifyFd, { fd: 42 })]);
    const failing = {
      ...noHandlers,
      onSeccompListener: () => {
        throw new Error('linux.seccomp.listenerPath: cannot connect');
      },
    };
    await expect(runCreateHandshake(native, 3, notifyingPlan, failing)).rejects.toThrow(/cannot connect/);
    expect(closed).toEqual([42]);
  });

  it('closes an fd that arrives with any other record, and one sent when nothing notifies', async () => {
    const { native, closed } = fakeNative([
      record(SyncMessage.IntermediateReady, { fd: 7 }),
      record(SyncMessage.InitPid),
      record(SyncMessage.RunCreateHooks),
      record(SyncMessage.SeccompNotifyFd, { fd: 9 }),
    ]);
    await expect(runCreateHandshake(native, 3, built, noHandlers)).rejects.toThrow(
      /unexpected sync message SeccompNotifyFd, wanted InitReady/,
    );
    expect(closed).toEqual([7, 9]);
  });
});

describe('describeFailure', () => {
  const { native } = fakeNative([]);
  it('uses runc wording for a missing executable', () => {
    expect(
      describeFailure(record(SyncMessage.Error, { step: Step.ExecLookup, errno: 2 }), built, native),
    ).toBe('unable to start container process: exec: "sh": executable file not found in $PATH');
  });
  it("uses runc's wording, without an errno, for proc or sysfs onto a symlink or a file", () => {
    const failure = record(SyncMessage.Error, { step: Step.MountNotDirectory, errno: 40, index: 0 });
    expect(describeFailure(failure, built, native)).toBe(
      'unable to start container process: mounts[0] (proc on /proc): filesystem "proc" must be mounted on ordinary directory',
    );
  });
  it('names the cwd', () => {
    expect(describeFailure(record(SyncMessage.Error, { step: Step.Chdir, errno: 2 }), built, native)).toBe(
      'unable to start container process: process.cwd: chdir to /work: no such file or directory',
    );
  });

  it("names the container's fd of a stdio map entry that failed, or the move of the runtime's own", () => {
    const { native } = fakeNative([]);
    expect(
      describeFailure(record(SyncMessage.Error, { step: Step.Stdio, errno: 1, index: 4 }), built, native),
    ).toBe('unable to start container process: stdio: fd 4: operation not permitted');
    expect(
      describeFailure(record(SyncMessage.Error, { step: Step.Stdio, errno: 1, index: -1 }), built, native),
    ).toBe(
      "unable to start container process: stdio: move the runtime's own fds above the container's: operation not permitted",
    );
  });
});

describe('the protocol tables generated from addon/protocol.h', () => {
  const header = fs.readFileSync(path.join(__dirname, '../../addon/protocol.h'), 'utf8');
  const enumerators = (prefix: string) =>
    [...header.matchAll(new RegExp(`^\\s*k${prefix}(\\w+) = (\\d+),`, 'gm'))].map((m) => [
      m[1],
      Number(m[2]),
    ]);

  it('name every step and message of the header with its number', () => {
    expect(Object.entries(Step)).toEqual(enumerators('Step'));
    const messages = enumerators('').filter(([name]) => !String(name).startsWith('Step'));
    expect(Object.entries(SyncMessage)).toEqual(messages);
  });

  it("describe every step but the exec lookup (which has runc's own wording) in one line", () => {
    const { native } = fakeNative([]);
    expect(Object.keys(Step).length).toBeGreaterThan(40);
    for (const [name, step] of Object.entries(Step)) {
      if (name === 'ExecLookup') continue;
      const message = describeFailure(record(SyncMessage.Error, { step, errno: 2, index: 0 }), built, native);
      // MountNotDirectory is whole in runc's words (tested above).
      const reason =
        name === 'MountNotDirectory'
          ? 'must be mounted on ordinary directory'
          : ': no such file or directory';
      expect(message, name).toMatch(/^unable to start container process: \S.*/);
      expect(message.endsWith(reason), `${name}: ${message}`).toBe(true);
      expect(message, name).not.toMatch(/step \d+: /);
      expect(message, name).not.toContain('\n');
    }
  });
});
