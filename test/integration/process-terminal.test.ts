// process.terminal with --console-socket: the container gets a pty from its own devpts as its
// controlling terminal, stdio and /dev/console; the master goes to the console socket (received
// by test/helpers/console-server.py, since Node cannot receive SCM_RIGHTS).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type ConfigMutator, containerId, makeBundle, tempDir } from '../helpers/bundle';
import { type ConsoleServer, leftovers, startConsoleServer } from '../helpers/process';
import { testEnv } from '../helpers/env';
import { runContainer, stateRoot, tsrunc } from '../helpers/tsrunc';

const execFileP = promisify(execFile);
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** tty_nr of /proc/<pid>/stat for a device major:minor. */
function ttyNr(major: number, minor: number): number {
  return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

/** `run` with terminal:true and a console server; returns run's result and what the pty showed. */
async function runWithTerminal(
  mutate: ConfigMutator,
  opts: { input?: string; waitFor?: string } = {},
): Promise<{
  code: number;
  stdout: string;
  stderr: string;
  tty: string;
  log: string;
  serverCode: number | null;
}> {
  const dir = tempDir('console');
  const socketPath = path.join(dir, 'console.sock');
  let server: ConsoleServer | null = null;
  try {
    server = await startConsoleServer(socketPath, opts);
    const res = await runContainer(
      (c, b) => {
        c.process.terminal = true;
        return mutate(c, b);
      },
      { runArgs: ['--console-socket', socketPath] },
    );
    // A failed create may leave the server waiting for a connection that never comes.
    if (res.code !== 0) server.kill();
    const out = await server.done;
    return {
      code: res.code,
      stdout: res.stdout,
      stderr: res.stderr,
      tty: out.output.replace(/\r\n/g, '\n'),
      log: out.log,
      serverCode: out.code,
    };
  } finally {
    server?.kill();
    await server?.done;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('process.terminal', () => {
  it('the container runs on a pty: tty, isatty 0/1/2, /dev/console 136:N, a controlling terminal', async () => {
    const script = [
      'tty',
      '[ -t 0 ] && echo t0',
      '[ -t 1 ] && echo t1',
      '[ -t 2 ] && echo t2',
      'stat -c "%F %t:%T" /dev/console',
      'for fd in 0 1 2; do readlink /proc/self/fd/$fd; done',
      'cut -d" " -f7 /proc/self/stat',
      'cut -d" " -f6,7 /proc/1/stat',
    ].join('; ');
    const res = await runWithTerminal((c) => {
      c.process.args = ['sh', '-c', script];
    });
    expect(res).toMatchObject({ code: 0, stdout: '', stderr: '', serverCode: 0 });
    expect(res.log).toContain('pty /dev/pts/0\n');
    expect(res.tty).toBe(
      [
        '/dev/pts/0',
        't0',
        't1',
        't2',
        'character special file 88:0',
        '/dev/pts/0',
        '/dev/pts/0',
        '/dev/pts/0',
        String(ttyNr(136, 0)),
        // pid 1 is the session leader (session id 1) on /dev/pts/0.
        `1 ${ttyNr(136, 0)}`,
        '',
      ].join('\n'),
    );
  });

  it('a read-only /dev still gets /dev/console (bound before /dev becomes read-only)', async () => {
    const res = await runWithTerminal((c) => {
      c.mounts.find((m: { destination: string }) => m.destination === '/dev').options.push('ro');
      c.process.args = ['sh', '-c', 'stat -c "%F %t:%T" /dev/console; grep " /dev tmpfs" /proc/mounts'];
    });
    expect(res).toMatchObject({ code: 0, stdout: '', stderr: '', serverCode: 0 });
    expect(res.tty).toBe(
      'character special file 88:0\ntmpfs /dev tmpfs ro,nosuid,size=65536k,mode=755 0 0\n',
    );
  });

  it('a non-root process.user owns its pty (/dev/pts/N and /dev/console); the group stays tty (gid=5)', async () => {
    const res = await runWithTerminal((c) => {
      c.process.user = { uid: 42, gid: 43 };
      c.process.args = ['sh', '-c', 'stat -c "%u %g %a" $(tty) /dev/console; echo hi > $(tty)'];
    });
    expect(res).toMatchObject({ code: 0, stdout: '', stderr: '', serverCode: 0 });
    // As runc: the owner becomes the process's uid; the group is the devpts gid= option's.
    expect(res.tty).toBe('42 5 620\n42 5 620\nhi\n');
  });

  it("exec --tty: the pty of the exec'd process is owned by its user", async () => {
    const bundle = await makeBundle((c) => {
      c.process.user = { uid: 42, gid: 43 };
      c.process.args = ['sleep', '1000'];
    });
    const id = containerId();
    const dir = tempDir('exec-tty-owner');
    try {
      expect((await tsrunc(['create', '--bundle', bundle.dir, id])).stderr).toBe('');
      expect((await tsrunc(['start', id])).code).toBe(0);
      for (const [user, expected] of [
        [[], '42 5\n'],
        [['--user', '7:8'], '7 5\n'],
      ] as const) {
        const server = await startConsoleServer(path.join(dir, `console-${user.length}.sock`));
        const script = 'stat -c "%u %g" $(tty)';
        const args = [
          'exec',
          '--tty',
          '--console-socket',
          server.socketPath,
          ...user,
          id,
          'sh',
          '-c',
          script,
        ];
        const res = await tsrunc(args);
        expect(res.code, res.stderr).toBe(0);
        expect((await server.done).output.replace(/\r\n/g, '\n')).toBe(expected);
      }
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('input written to the master reaches the container', async () => {
    const res = await runWithTerminal(
      (c) => {
        c.process.args = ['sh', '-c', 'read line; echo "got:[$line]"'];
      },
      { input: 'hello pty\n' },
    );
    expect(res).toMatchObject({ code: 0, stdout: '', stderr: '', serverCode: 0 });
    // The pty echoes the input line, then the container's answer.
    expect(res.tty).toBe('hello pty\ngot:[hello pty]\n');
  });

  it('Ctrl-C on the terminal sends SIGINT to the container (the pty is its controlling tty)', async () => {
    const res = await runWithTerminal(
      (c) => {
        c.process.args = [
          'sh',
          '-c',
          'trap "echo got-int; exit 9" INT; echo ready; while :; do sleep 0.05; done',
        ];
      },
      { input: '\x03', waitFor: 'ready' },
    );
    expect(res).toMatchObject({ code: 9, stdout: '', stderr: '', serverCode: 0 });
    expect(res.tty).toBe('ready\n^Cgot-int\n');
  });

  it('process.consoleSize sets the window size of the pty', async () => {
    const res = await runWithTerminal((c) => {
      c.process.consoleSize = { height: 33, width: 111 };
      c.process.args = ['stty', 'size'];
    });
    expect(res).toMatchObject({ code: 0, stdout: '', stderr: '', serverCode: 0 });
    expect(res.tty).toBe('33 111\n');
  });

  it('create with terminal:true but without --console-socket fails with one line and leaves nothing', async () => {
    const bundle = await makeBundle((c) => {
      c.process.terminal = true;
      c.process.args = ['tty'];
    });
    const id = containerId();
    try {
      for (const args of [['create'], ['run', '--detach']]) {
        const res = await tsrunc([...args, '--bundle', bundle.dir, id]);
        expect(res.code).toBe(1);
        expect(res.stdout).toBe('');
        expect(lines(res.stderr)).toHaveLength(1);
        expect(res.stderr).toMatch(/process\.terminal/);
        expect(res.stderr).toMatch(/--console-socket/);
        expect(await leftovers()).toEqual({ list: '', entries: [] });
      }
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });

  it('a foreground run with terminal:true and no --console-socket proxies the pty to its stdio', async () => {
    const res = await runContainer((c) => {
      c.process.terminal = true;
      c.process.args = ['sh', '-c', 'tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; exit 4'];
    });
    expect(res).toMatchObject({ code: 4, stderr: '' });
    expect(res.stdout.replace(/\r\n/g, '\n')).toBe('/dev/pts/0\nall-ttys\n');
    expect(await leftovers()).toEqual({ list: '', entries: [] });
  });

  it('a foreground run on a host terminal: raw meanwhile, window size changes forwarded, modes restored', async () => {
    const id = containerId();
    const bundle = await makeBundle((c) => {
      c.process.terminal = true;
      c.process.args = ['sh', '-c', 'stty size; echo ready; read x; stty size; echo "got-$x"; exit 6'];
    });
    try {
      const { stdout } = await execFileP(
        PYTHON,
        [
          path.join(__dirname, '..', 'helpers', 'pty-run.py'),
          '--rows',
          '30',
          '--cols',
          '100',
          '--marker',
          'ready',
          '--resize',
          '40',
          '120',
          '--input',
          'go\r',
          '--',
          process.execPath,
          path.join(testEnv().repo, 'bin', 'tsrunc'),
          '--root',
          stateRoot(),
          'run',
          '--bundle',
          bundle.dir,
          id,
        ],
        { timeout: 30_000 },
      );
      const report = JSON.parse(stdout) as {
        exit: number;
        output: string;
        rawWhileRunning: boolean;
        restored: boolean;
        timedOut: boolean;
      };
      expect(report.timedOut).toBe(false);
      expect(report.exit, report.output).toBe(6);
      const out = report.output.replace(/\r+\n/g, '\n');
      // The container's pty started at our size and followed the resize; input went through.
      expect(out).toMatch(/^30 100\nready\n(go\n)?40 120\ngot-go\n$/);
      expect(report.rawWhileRunning).toBe(true);
      expect(report.restored).toBe(true);
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });

  it('--console-socket without terminal:true fails with one line and leaves nothing', async () => {
    const dir = tempDir('console');
    const socketPath = path.join(dir, 'console.sock');
    const server = await startConsoleServer(socketPath, { timeoutS: 3 });
    try {
      const res = await runContainer(
        (c) => {
          c.process.terminal = false;
          c.process.args = ['tty'];
        },
        { runArgs: ['--console-socket', socketPath] },
      );
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(lines(res.stderr)).toHaveLength(1);
      expect(res.stderr).toMatch(/--console-socket/);
      expect(res.stderr).toMatch(/terminal/);
      expect(await leftovers()).toEqual({ list: '', entries: [] });
    } finally {
      server.kill();
      await server.done;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a console socket nobody listens on fails create with one line and leaves nothing', async () => {
    const dir = tempDir('console');
    const bundle = await makeBundle((c) => {
      c.process.terminal = true;
      c.process.args = ['tty'];
    });
    const id = containerId();
    try {
      const res = await tsrunc([
        'create',
        '--console-socket',
        path.join(dir, 'nobody.sock'),
        '--bundle',
        bundle.dir,
        id,
      ]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(lines(res.stderr)).toHaveLength(1);
      expect(res.stderr).toMatch(/--console-socket: cannot connect to .*nobody\.sock/);
      expect(await leftovers()).toEqual({ list: '', entries: [] });
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
