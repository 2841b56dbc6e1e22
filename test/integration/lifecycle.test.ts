// create / start / kill / delete / run and the state they leave, against real containers.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerId, makeBundle, tempDir, type Config } from '../helpers/bundle';
import {
  cgroupDirsNamed,
  childExited,
  createContainer,
  expectOneLineError,
  killChild,
  mountsContaining,
  procAlive,
  processesMatching,
  procStartTime,
  readLinkOrNull,
  RFC3339,
  sleep,
  spawnTsrunc,
  stateDirOf,
  stateOf,
  waitFor,
  waitForStatus,
} from '../helpers/lifecycle-helpers';
import { runContainer, tsrunc } from '../helpers/tsrunc';

/** Writable rootfs; the process records that it ran and which signals it caught in /tmp. */
const SIGNAL_SCRIPT = [
  'trap "echo TERM >> /tmp/sig; exit 7" TERM',
  'trap "echo USR1 >> /tmp/sig" USR1',
  'trap "echo HUP >> /tmp/sig" HUP',
  'touch /tmp/ran',
  'while :; do sleep 0.1; done',
].join('; ');

function signalContainer(c: Config): void {
  c.root.readonly = false;
  c.process.args = ['sh', '-c', SIGNAL_SCRIPT];
}

function sleeper(c: Config): void {
  c.process.args = ['sleep', '1000'];
}

function readSig(rootfs: string): string[] {
  try {
    return fs
      .readFileSync(path.join(rootfs, 'tmp', 'sig'), 'utf8')
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
}

describe('create', () => {
  it('reports status created with the init pid, bundle, rootfs, created, owner and annotations', async () => {
    const before = Date.now();
    const c = await createContainer((cfg) => {
      signalContainer(cfg);
      cfg.annotations = { 'org.example.key': 'value-1', 'tsrunc.test': 'yes' };
    });
    try {
      expect(c.result.code).toBe(0);
      const raw = await tsrunc(['state', c.id]);
      expect(raw).toMatchObject({ code: 0, stderr: '' });
      // Pretty-printed (2 spaces), keys in runc's order, one trailing newline.
      expect(raw.stdout).toMatch(/^\{\n  "ociVersion": "[^"]+",\n  "id": /);
      expect(raw.stdout.endsWith('}\n')).toBe(true);
      expect(Object.keys(JSON.parse(raw.stdout))).toEqual([
        'ociVersion',
        'id',
        'pid',
        'status',
        'bundle',
        'rootfs',
        'created',
        'owner',
        'annotations',
      ]);
      const s = await stateOf(c.id);
      expect(s).toMatchObject({
        id: c.id,
        status: 'created',
        pid: c.pid,
        bundle: c.bundle.dir,
        rootfs: c.bundle.rootfs,
        owner: '',
        annotations: { 'org.example.key': 'value-1', 'tsrunc.test': 'yes' },
      });
      expect(typeof s.ociVersion).toBe('string');
      expect(s.ociVersion).toMatch(/^1\.\d+\.\d+/);
      expect(s.created).toMatch(RFC3339);
      const created = Date.parse(s.created);
      expect(created).toBeGreaterThanOrEqual(before - 2000);
      expect(created).toBeLessThanOrEqual(Date.now() + 2000);
      // The pid is a live host process in a pid namespace of its own.
      expect(c.pid).toBeGreaterThan(1);
      expect(procAlive(c.pid)).toBe(true);
      const ns = readLinkOrNull(`/proc/${c.pid}/ns/pid`);
      expect(ns).toMatch(/^pid:\[\d+\]$/);
      expect(ns).not.toBe(fs.readlinkSync('/proc/self/ns/pid'));
      // The state dir holds state.json with the init's start time.
      const stateFile = path.join(stateDirOf(c.id), 'state.json');
      expect(fs.existsSync(stateFile)).toBe(true);
      const rec = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
      const startTime = procStartTime(c.pid);
      expect(startTime).toMatch(/^\d+$/);
      const values = Object.values(rec).map(String);
      expect(values).toContain(String(c.pid));
      expect(values).toContain(startTime);
    } finally {
      await c.cleanup();
    }
  });

  it('omits annotations from the state when the config has none', async () => {
    const c = await createContainer(sleeper);
    try {
      const s = await stateOf(c.id);
      expect(s.status).toBe('created');
      expect(s).not.toHaveProperty('annotations');
    } finally {
      await c.cleanup();
    }
  });

  it('writes --pid-file given as an absolute path and as a path relative to the cwd', async () => {
    const bundle = await makeBundle(sleeper);
    const cwd = tempDir('cwd');
    const idAbs = containerId();
    const idRel = containerId();
    const absFile = path.join(cwd, 'abs.pid');
    try {
      const a = await tsrunc(['create', '--bundle', bundle.dir, '--pid-file', absFile, idAbs]);
      expect(a.code, a.stderr).toBe(0);
      const r = await tsrunc(['create', '--bundle', bundle.dir, '--pid-file', 'sub/../rel.pid', idRel], {
        cwd,
      });
      expect(r.code, r.stderr).toBe(0);
      const pidAbs = Number(fs.readFileSync(absFile, 'utf8').trim());
      const pidRel = Number(fs.readFileSync(path.join(cwd, 'rel.pid'), 'utf8').trim());
      expect(fs.readFileSync(absFile, 'utf8')).toMatch(/^\d+\n?$/);
      expect(pidAbs).toBe((await stateOf(idAbs)).pid);
      expect(pidRel).toBe((await stateOf(idRel)).pid);
      expect(pidAbs).not.toBe(pidRel);
      // No pid file in the repository (the CLI's default cwd) or the bundle.
      expect(fs.existsSync(path.join(bundle.dir, 'rel.pid'))).toBe(false);
    } finally {
      for (const id of [idAbs, idRel]) await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('does not run the process before start; start runs it', async () => {
    const c = await createContainer(signalContainer);
    const ran = path.join(c.bundle.rootfs, 'tmp', 'ran');
    try {
      await sleep(300);
      expect(fs.existsSync(ran)).toBe(false);
      expect((await stateOf(c.id)).status).toBe('created');
      const res = await tsrunc(['start', c.id]);
      expect(res).toMatchObject({ code: 0, stderr: '' });
      await waitFor('/tmp/ran in the container', () => fs.existsSync(ran));
      const s = await stateOf(c.id);
      expect(s).toMatchObject({ status: 'running', pid: c.pid });
      // The init's pid is now the container's process (no exec of a new pid).
      expect(procAlive(c.pid)).toBe(true);
    } finally {
      await c.cleanup();
    }
  });
});

describe('start', () => {
  it('a second start fails with one line and leaves the container running', async () => {
    const c = await createContainer(signalContainer);
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const again = await tsrunc(['start', c.id]);
      expect(expectOneLineError(again)).toBe('cannot start an already running container');
      expect(await stateOf(c.id)).toMatchObject({ status: 'running', pid: c.pid });
    } finally {
      await c.cleanup();
    }
  });

  it('start of a stopped container fails with one line', async () => {
    const c = await createContainer((cfg) => {
      cfg.process.args = ['true'];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      await waitForStatus(c.id, 'stopped');
      const res = await tsrunc(['start', c.id]);
      expect(expectOneLineError(res)).toBe('cannot start a container that has stopped');
      expect(await stateOf(c.id)).toMatchObject({ status: 'stopped', pid: 0 });
    } finally {
      await c.cleanup();
    }
  });
});

describe('start (concurrent)', () => {
  it('3 concurrent starts of one created container: exactly one succeeds, the process runs once', async () => {
    const c = await createContainer((cfg) => {
      cfg.root.readonly = false;
      cfg.process.args = ['sh', '-c', 'echo x >> /tmp/starts; sleep 1000'];
    });
    try {
      const results = await Promise.all([1, 2, 3].map(() => tsrunc(['start', c.id])));
      const ok = results.filter((r) => r.code === 0);
      expect(ok.length, results.map((r) => `${r.code}: ${r.stderr}`).join(' | ')).toBe(1);
      for (const r of results.filter((x) => x.code !== 0)) {
        expect(expectOneLineError(r)).toBe('cannot start an already running container');
      }
      await waitFor('the process', () => fs.existsSync(path.join(c.bundle.rootfs, 'tmp', 'starts')));
      await sleep(200);
      expect(fs.readFileSync(path.join(c.bundle.rootfs, 'tmp', 'starts'), 'utf8')).toBe('x\n');
      expect(await stateOf(c.id)).toMatchObject({ status: 'running', pid: c.pid });
    } finally {
      await c.cleanup();
    }
  });
});

describe('kill', () => {
  it('sends SIGTERM by default; the container stops', async () => {
    const c = await createContainer(signalContainer);
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      await waitFor('the traps', () => fs.existsSync(path.join(c.bundle.rootfs, 'tmp', 'ran')));
      const res = await tsrunc(['kill', c.id]);
      expect(res).toMatchObject({ code: 0, stdout: '', stderr: '' });
      await waitForStatus(c.id, 'stopped');
      expect(readSig(c.bundle.rootfs)).toEqual(['TERM']);
      expect(procAlive(c.pid)).toBe(false);
      expect((await stateOf(c.id)).pid).toBe(0);
    } finally {
      await c.cleanup();
    }
  });

  it('takes a signal by name with and without SIG, in any case, and by number', async () => {
    const c = await createContainer(signalContainer);
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      await waitFor('the traps', () => fs.existsSync(path.join(c.bundle.rootfs, 'tmp', 'ran')));
      const expected: string[] = [];
      for (const [sig, caught] of [
        ['USR1', 'USR1'],
        ['SIGUSR1', 'USR1'],
        ['sigusr1', 'USR1'],
        ['10', 'USR1'],
        ['HUP', 'HUP'],
        ['1', 'HUP'],
      ]) {
        const res = await tsrunc(['kill', c.id, sig]);
        expect(res, `kill ${sig}`).toMatchObject({ code: 0, stderr: '' });
        expected.push(caught);
        await waitFor(`trap of ${sig}`, () => readSig(c.bundle.rootfs).length === expected.length);
        expect(readSig(c.bundle.rootfs)).toEqual(expected);
        expect((await stateOf(c.id)).status).toBe('running');
      }
      expect((await tsrunc(['kill', c.id, '15'])).code).toBe(0);
      await waitForStatus(c.id, 'stopped');
      expect(readSig(c.bundle.rootfs)).toEqual([...expected, 'TERM']);
    } finally {
      await c.cleanup();
    }
  });

  it('KILL stops a created container that never started', async () => {
    const c = await createContainer(signalContainer);
    try {
      expect((await tsrunc(['kill', c.id, 'KILL'])).code).toBe(0);
      await waitForStatus(c.id, 'stopped');
      expect(procAlive(c.pid)).toBe(false);
      expect(fs.existsSync(path.join(c.bundle.rootfs, 'tmp', 'ran'))).toBe(false);
    } finally {
      await c.cleanup();
    }
  });

  it('an unknown signal fails with one line and leaves the container alone', async () => {
    const c = await createContainer(signalContainer);
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      for (const sig of ['FOO', 'SIGFOO', 'SIG0', '65', '-9', 'RTMIN-1']) {
        const res = await tsrunc(['kill', c.id, sig]);
        expect(expectOneLineError(res)).toBe(`unknown signal ${JSON.stringify(sig)}`);
      }
      await sleep(200);
      expect(readSig(c.bundle.rootfs)).toEqual([]);
      expect(await stateOf(c.id)).toMatchObject({ status: 'running', pid: c.pid });
    } finally {
      await c.cleanup();
    }
  });

  it('signal 0 (with and without --all) only checks that the processes exist', async () => {
    const c = await createContainer(signalContainer);
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      await waitFor('the traps', () => fs.existsSync(path.join(c.bundle.rootfs, 'tmp', 'ran')));
      expect(await tsrunc(['kill', c.id, '0'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
      expect(await tsrunc(['kill', '--all', c.id, '0'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
      // HUP after 0: its trap is the first line, so 0 delivered nothing.
      expect((await tsrunc(['kill', c.id, 'HUP'])).code).toBe(0);
      await waitFor('the HUP trap', () => readSig(c.bundle.rootfs).length > 0);
      expect(readSig(c.bundle.rootfs)).toEqual(['HUP']);
      expect(await stateOf(c.id)).toMatchObject({ status: 'running', pid: c.pid });
    } finally {
      await c.cleanup();
    }
  });

  it('kill --all signals every process of the container, not only the init', async () => {
    const c = await createContainer((cfg) => {
      cfg.root.readonly = false;
      cfg.process.args = [
        'sh',
        '-c',
        'trap "echo TERM >> /tmp/sig" TERM; sleep 1000 & sleep 1001 & touch /tmp/ran; while :; do sleep 0.1; done',
      ];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      await waitFor('the container', () => fs.existsSync(path.join(c.bundle.rootfs, 'tmp', 'ran')));
      const ns = readLinkOrNull(`/proc/${c.pid}/ns/pid`)!;
      const inContainer = () =>
        fs
          .readdirSync('/proc')
          .filter(
            (n) => /^\d+$/.test(n) && readLinkOrNull(`/proc/${n}/ns/pid`) === ns && procAlive(Number(n)),
          )
          .map((n) => fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0').join(' ').trim());
      await waitFor('both sleeps', () => inContainer().filter((x) => /^sleep 100[01]$/.test(x)).length === 2);
      const res = await tsrunc(['kill', '--all', c.id, 'TERM']);
      expect(res).toMatchObject({ code: 0, stderr: '' });
      await waitFor(
        'the sleeps to die',
        () => inContainer().filter((x) => /^sleep 100[01]$/.test(x)).length === 0,
      );
      await waitFor('the trap', () => readSig(c.bundle.rootfs).length === 1);
      expect(readSig(c.bundle.rootfs)).toEqual(['TERM']);
      // The init trapped TERM and lives on.
      expect(await stateOf(c.id)).toMatchObject({ status: 'running', pid: c.pid });
    } finally {
      await c.cleanup();
    }
  });

  it('kill of a stopped container fails with "container not running"; kill --all exits 0', async () => {
    const c = await createContainer(signalContainer);
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      expect((await tsrunc(['kill', c.id, 'KILL'])).code).toBe(0);
      await waitForStatus(c.id, 'stopped');
      const res = await tsrunc(['kill', c.id, 'KILL']);
      expect(expectOneLineError(res)).toContain('container not running');
      const res2 = await tsrunc(['kill', c.id]);
      expect(expectOneLineError(res2)).toContain('container not running');
      expect(expectOneLineError(await tsrunc(['kill', c.id, '0']))).toContain('container not running');
      // --all has nothing left to signal, which is no error (runc: exit 0), for 0 and KILL alike.
      expect(await tsrunc(['kill', '--all', c.id, '0'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
      expect(await tsrunc(['kill', '--all', c.id, 'KILL'])).toMatchObject({
        code: 0,
        stdout: '',
        stderr: '',
      });
    } finally {
      await c.cleanup();
    }
  });
});

describe('delete', () => {
  it('refuses a running container without --force and leaves it running', async () => {
    const c = await createContainer(signalContainer);
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const res = await tsrunc(['delete', c.id]);
      expect(expectOneLineError(res)).toContain(c.id);
      expect(res.stderr).toContain('running');
      expect(await stateOf(c.id)).toMatchObject({ status: 'running', pid: c.pid });
      expect(procAlive(c.pid)).toBe(true);
      expect(readSig(c.bundle.rootfs)).toEqual([]);
    } finally {
      await c.cleanup();
    }
  });

  it('--force kills a running container and removes everything', async () => {
    const c = await createContainer(signalContainer);
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      const startTime = procStartTime(c.pid);
      const res = await tsrunc(['delete', '--force', c.id]);
      expect(res).toMatchObject({ code: 0, stdout: '', stderr: '' });
      expect(fs.existsSync(stateDirOf(c.id))).toBe(false);
      expect(procAlive(c.pid, startTime)).toBe(false);
      expect(processesMatching(c.id)).toEqual([]);
      expect(mountsContaining(c.bundle.dir)).toEqual([]);
      expect(expectOneLineError(await tsrunc(['state', c.id]))).toBe('container does not exist');
      // SIGKILL, not SIGTERM: the trap did not run.
      expect(readSig(c.bundle.rootfs)).toEqual([]);
    } finally {
      await c.cleanup();
    }
  });

  it('deletes a stopped container without --force', async () => {
    const c = await createContainer(signalContainer);
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      expect((await tsrunc(['kill', c.id, 'KILL'])).code).toBe(0);
      await waitForStatus(c.id, 'stopped');
      const res = await tsrunc(['delete', c.id]);
      expect(res).toMatchObject({ code: 0, stdout: '', stderr: '' });
      expect(fs.existsSync(stateDirOf(c.id))).toBe(false);
      expect(processesMatching(c.id)).toEqual([]);
    } finally {
      await c.cleanup();
    }
  });

  it('refuses a created container without --force and changes nothing: start still runs it', async () => {
    const c = await createContainer(signalContainer);
    const ran = path.join(c.bundle.rootfs, 'tmp', 'ran');
    try {
      const startTime = procStartTime(c.pid);
      const res = await tsrunc(['delete', c.id]);
      expect(expectOneLineError(res)).toBe(`cannot delete container ${c.id} that is not stopped: created`);
      expect(res.stdout).toBe('');
      // Exactly as it was: the same init still waiting on the exec fifo, its process not run.
      expect(await stateOf(c.id)).toMatchObject({ status: 'created', pid: c.pid });
      expect(procAlive(c.pid, startTime)).toBe(true);
      expect(fs.statSync(path.join(stateDirOf(c.id), 'exec.fifo')).isFIFO()).toBe(true);
      expect(fs.existsSync(ran)).toBe(false);
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      await waitFor('/tmp/ran in the container', () => fs.existsSync(ran));
      expect(await stateOf(c.id)).toMatchObject({ status: 'running', pid: c.pid });
    } finally {
      await c.cleanup();
    }
  });

  it('--force removes a created container; its process never runs', async () => {
    const c = await createContainer(signalContainer);
    try {
      const startTime = procStartTime(c.pid);
      const res = await tsrunc(['delete', '--force', c.id]);
      expect(res).toMatchObject({ code: 0, stdout: '', stderr: '' });
      expect(fs.existsSync(stateDirOf(c.id))).toBe(false);
      expect(procAlive(c.pid, startTime)).toBe(false);
      expect(cgroupDirsNamed(c.id)).toEqual([]);
      expect(fs.existsSync(path.join(c.bundle.rootfs, 'tmp', 'ran'))).toBe(false);
    } finally {
      await c.cleanup();
    }
  });

  it('operations on a missing id fail with "container does not exist"', async () => {
    const id = containerId();
    for (const args of [
      ['delete', id],
      ['state', id],
      ['kill', id],
      ['kill', id, 'KILL'],
      ['start', id],
    ]) {
      const res = await tsrunc(args);
      expect(expectOneLineError(res), args.join(' ')).toBe('container does not exist');
      expect(res.stdout).toBe('');
    }
    expect(fs.existsSync(stateDirOf(id))).toBe(false);
  });
});

describe('duplicate ids', () => {
  it('a second create of the same id fails and leaves the first container alone', async () => {
    const c = await createContainer(signalContainer);
    const other = await makeBundle(sleeper);
    try {
      const startTime = procStartTime(c.pid);
      const stateBefore = fs.readFileSync(path.join(stateDirOf(c.id), 'state.json'), 'utf8');
      const res = await tsrunc(['create', '--bundle', other.dir, c.id]);
      expect(expectOneLineError(res)).toBe('container with given ID already exists');
      expect(await stateOf(c.id)).toMatchObject({ status: 'created', pid: c.pid, bundle: c.bundle.dir });
      expect(procAlive(c.pid, startTime)).toBe(true);
      expect(fs.readFileSync(path.join(stateDirOf(c.id), 'state.json'), 'utf8')).toBe(stateBefore);
      expect(fs.existsSync(path.join(stateDirOf(c.id), 'exec.fifo'))).toBe(true);
      // The first one still starts.
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      await waitFor('/tmp/ran', () => fs.existsSync(path.join(c.bundle.rootfs, 'tmp', 'ran')));
    } finally {
      await c.cleanup();
      await other.cleanup();
    }
  });
});

describe('run', () => {
  it('passes the exit code through', async () => {
    for (const code of [0, 1, 42, 255]) {
      const res = await runContainer((c) => {
        c.process.args = ['sh', '-c', `exit ${code}`];
      });
      expect(res.code, `exit ${code}: ${res.stderr}`).toBe(code);
      expect(res.stderr).toBe('');
    }
  });

  it('exits 128+N when the process dies of signal N', async () => {
    const pidDir = tempDir('pid');
    const pidFile = path.join(pidDir, 'run.pid');
    let killed = 0;
    try {
      const running = runContainer(
        (c) => {
          c.process.args = ['sleep', '1000'];
        },
        { runArgs: ['--pid-file', pidFile] },
      );
      await waitFor('the run pid file', () => fs.existsSync(pidFile), 10_000);
      killed = Number(fs.readFileSync(pidFile, 'utf8').trim());
      await sleep(100);
      process.kill(killed, 'SIGKILL');
      const res = await running;
      expect(res.code, res.stderr).toBe(128 + 9);
      expect(fs.existsSync(stateDirOf(res.id))).toBe(false);
    } finally {
      fs.rmSync(pidDir, { recursive: true, force: true });
    }
  });

  it('forwards SIGTERM to the container and exits with its code', async () => {
    const pidDir = tempDir('pid');
    const pidFile = path.join(pidDir, 'run.pid');
    const id = containerId();
    const bundle = await makeBundle(signalContainer);
    const runner = spawnTsrunc(['run', '--pid-file', pidFile, '--bundle', bundle.dir, id]);
    try {
      await waitFor(
        'the container to start',
        () => fs.existsSync(path.join(bundle.rootfs, 'tmp', 'ran')),
        10_000,
      );
      runner.kill('SIGTERM');
      await childExited(runner);
      expect(runner.exitCode).toBe(7);
      expect(readSig(bundle.rootfs)).toEqual(['TERM']);
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
    } finally {
      await killChild(runner);
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fs.rmSync(pidDir, { recursive: true, force: true });
    }
  });

  it('passes stdout and stderr through separately', async () => {
    const res = await runContainer((c) => {
      c.process.args = ['sh', '-c', 'echo out-line; echo err-line >&2; printf "no newline"'];
    });
    expect(res).toMatchObject({ code: 0, stdout: 'out-line\nno newline', stderr: 'err-line\n' });
  });

  it('passes stdin through', async () => {
    const input = 'line one\nline two\n\u00e9\u00e8 utf8\n';
    const res = await runContainer(
      (c) => {
        c.process.args = ['cat'];
      },
      { input },
    );
    expect(res).toMatchObject({ code: 0, stdout: input, stderr: '' });
  });

  it('removes the state dir after a foreground run', async () => {
    const id = containerId();
    const res = await runContainer(
      (c) => {
        c.process.args = ['true'];
      },
      { id },
    );
    expect(res.code).toBe(0);
    expect(fs.existsSync(stateDirOf(id))).toBe(false);
    expect(expectOneLineError(await tsrunc(['state', id]))).toBe('container does not exist');
  });

  it('--detach returns at once and the container keeps running', async () => {
    const id = containerId();
    const bundle = await makeBundle(signalContainer);
    try {
      const res = await tsrunc(['run', '--detach', '--bundle', bundle.dir, id]);
      expect(res.code, res.stderr).toBe(0);
      const s = await stateOf(id);
      expect(s.status).toBe('running');
      await waitFor('/tmp/ran', () => fs.existsSync(path.join(bundle.rootfs, 'tmp', 'ran')));
      await sleep(300);
      expect((await stateOf(id)).status).toBe('running');
      expect((await tsrunc(['kill', id, 'KILL'])).code).toBe(0);
      await waitForStatus(id, 'stopped');
      expect((await tsrunc(['delete', id])).code).toBe(0);
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });
});
