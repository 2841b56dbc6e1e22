// The runtime's children between clone and execve (addon/binding.cc SpawnInit, addon/child.cc):
// every signal is blocked across clone and the parent's mask restored right after it; the child
// puts every disposition back to SIG_DFL before it unblocks, so no handler of Node's can run in
// the copy of the process (a signal meanwhile stays pending). Seen with strace, which records
// the exact order of the calls in the parent thread and in the child. And the stages carry
// names that `ps` shows.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { containerId, makeBundle } from '../helpers/bundle';
import { testEnv } from '../helpers/env';
import { childExited, killChild, procAlive, procState, waitFor } from '../helpers/lifecycle-helpers';
import { tsruncBackground } from '../helpers/process';
import { stateRoot, tsrunc } from '../helpers/tsrunc';

const execFileP = promisify(execFile);

/** strace -f output as each thread's completed calls, in order (unfinished/resumed joined). */
function callsByPid(trace: string): Map<number, string[]> {
  const byPid = new Map<number, string[]>();
  const pending = new Map<number, string>();
  for (const line of trace.split('\n')) {
    const m = /^(\d+) +(.*)$/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    let call = m[2];
    if (call.endsWith(' <unfinished ...>')) {
      pending.set(pid, call.slice(0, -' <unfinished ...>'.length));
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(call);
    if (resumed) {
      call = (pending.get(pid) ?? '') + resumed[1];
      pending.delete(pid);
    }
    if (!byPid.has(pid)) byPid.set(pid, []);
    byPid.get(pid)!.push(call);
  }
  return byPid;
}

/** /proc/<pid>/comm, or null when the process is gone. */
function commOf(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((p) => p !== '')
      .map(Number);
  } catch {
    return [];
  }
}

describe('signals around clone', () => {
  it('the parent blocks every signal across clone and restores its mask; the child resets every handler before it unblocks', async () => {
    const env = testEnv();
    const id = containerId();
    const bundle = await makeBundle((c) => (c.process.args = ['true']));
    const traceFile = path.join(bundle.dir, 'strace.txt');
    try {
      await execFileP(
        'strace',
        [
          ...['-f', '-qq', '-o', traceFile, '-e', 'trace=clone,rt_sigprocmask,rt_sigaction,prctl'],
          ...[process.execPath, path.join(env.repo, 'bin', 'tsrunc'), '--root', stateRoot()],
          ...['run', '--bundle', bundle.dir, id],
        ],
        { env: { ...process.env, NODE_OPTIONS: '' } },
      );
      const calls = callsByPid(fs.readFileSync(traceFile, 'utf8'));
      // The first pid in the trace is tsrunc's node process; its main thread has the same id.
      const node = Number(/^(\d+)/.exec(fs.readFileSync(traceFile, 'utf8'))![1]);
      const main = calls.get(node)!;
      const cloneAt = main.findIndex((c) => /^clone\(child_stack=NULL, flags=SIGCHLD\) = \d+$/.test(c));
      expect(cloneAt, main.join('\n')).toBeGreaterThan(0);
      const stage1 = Number(/= (\d+)$/.exec(main[cloneAt])![1]);

      // Right before clone: everything blocked (glibc keeps its two internal signals out).
      const blocked = /^rt_sigprocmask\(SIG_SETMASK, ~\[((?:RTMIN|RT_1| )*)\], (\[[^\]]*\]), 8\) = 0$/.exec(
        main[cloneAt - 1],
      );
      expect(blocked, main[cloneAt - 1]).not.toBeNull();
      // Right after: the mask it had, restored.
      expect(main[cloneAt + 1]).toBe(`rt_sigprocmask(SIG_SETMASK, ${blocked![2]}, NULL, 8) = 0`);

      // In the child: every disposition back to SIG_DFL first, then the mask cleared.
      const child = calls.get(stage1)!;
      const unblockAt = child.findIndex((c) => c.startsWith('rt_sigprocmask('));
      expect(child[unblockAt]).toBe('rt_sigprocmask(SIG_SETMASK, [], NULL, 8) = 0');
      const resets = child.slice(0, unblockAt);
      expect(
        resets.every((c) => /^rt_sigaction\(SIG\w+, \{sa_handler=SIG_DFL/.test(c)),
        resets.join('\n'),
      ).toBe(true);
      // 64 signals less SIGKILL, SIGSTOP and glibc's two internal ones.
      expect(resets).toHaveLength(60);
      expect(child[unblockAt + 1]).toBe('prctl(PR_SET_NAME, "tsrunc:[1:NS]") = 0');
    } finally {
      if (fs.existsSync(path.join(stateRoot(), id))) await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });
});

describe('names of the stages (ps shows them until execve)', () => {
  it('stage 1 is "tsrunc:[1:NS]" and the created init "tsrunc:[2:INIT]"', async () => {
    const id = containerId();
    const bundle = await makeBundle((c) => (c.process.args = ['sleep', '1000']));
    // Stop create right after the clone: stage 1 is then waiting for the parent's go.
    const bg = tsruncBackground(['create', '--bundle', bundle.dir, id], {
      env: { TSRUNC_FAULT_STOP: 'spawned' },
    });
    try {
      await waitFor('create to stop after the clone', () => procState(bg.child.pid!) === 'T');
      const [stage1] = childrenOf(bg.child.pid!);
      expect(stage1).toBeGreaterThan(0);
      await waitFor('stage 1 to name itself', () => commOf(stage1) !== 'node');
      expect(commOf(stage1)).toBe('tsrunc:[1:NS]');
      bg.child.kill('SIGCONT');
      // (Not bg.done: the init holds create's stdout pipe until it execs.)
      await childExited(bg.child);
      expect(bg.child.exitCode, bg.stderr()).toBe(0);
      const state = JSON.parse((await tsrunc(['state', id])).stdout) as { pid: number; status: string };
      expect(state.status).toBe('created');
      // Blocked on the exec fifo, before execve.
      expect(commOf(state.pid)).toBe('tsrunc:[2:INIT]');
      expect(procAlive(stage1)).toBe(false);
    } finally {
      await killChild(bg.child);
      await childExited(bg.child);
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });
});
