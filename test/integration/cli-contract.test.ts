// What callers (docker, containerd, podman, people) rely on: the list formats, the one-line
// errors and exit codes, the --log file, and that a create that fails leaves nothing behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerId, makeBundle, tempDir } from '../helpers/bundle';
import {
  createContainer,
  expectOneLineError,
  killChild,
  spawnHostSleep,
  stateDirOf,
  stateOf,
  waitFor,
  waitForStatus,
} from '../helpers/lifecycle-helpers';
import { tsrunc } from '../helpers/tsrunc';

const HEADER_COLUMNS = ['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'];

/** Split a `list` table into header column offsets and checked rows. */
function parseTable(text: string): { offsets: number[]; rows: string[][] } {
  expect(text.endsWith('\n')).toBe(true);
  const [header, ...rowLines] = text.slice(0, -1).split('\n');
  expect(header).toMatch(/^ID +PID +STATUS +BUNDLE +CREATED +OWNER$/);
  const offsets = HEADER_COLUMNS.map((name) => header.indexOf(name));
  const rows = rowLines.map((line) => {
    // Every cell starts exactly under its header (cells contain no spaces here).
    const cells = offsets.map((start, i) => {
      const end = i + 1 < offsets.length ? offsets[i + 1] : line.length;
      const cell = line.slice(start, end);
      if (i > 0)
        expect(line[start - 1], `before column ${HEADER_COLUMNS[i]} in ${JSON.stringify(line)}`).toBe(' ');
      return cell.trimEnd();
    });
    for (const cell of cells.slice(0, -1)) expect(cell).not.toContain(' ');
    return cells;
  });
  return { offsets, rows };
}

describe('list', () => {
  it('prints only the header on an empty root', async () => {
    const res = await tsrunc(['list']);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(parseTable(res.stdout).rows).toEqual([]);
    const q = await tsrunc(['list', '-q']);
    expect(q).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('table, --format json and -q agree with state', async () => {
    const a = await createContainer((c) => {
      c.process.args = ['sleep', '1000'];
    });
    const b = await createContainer((c) => {
      c.process.args = ['sleep', '1000'];
      c.annotations = { 'org.test': 'b' };
    });
    try {
      expect((await tsrunc(['start', b.id])).code).toBe(0);
      const states = [await stateOf(a.id), await stateOf(b.id)];
      expect(states.map((s) => s.status)).toEqual(['created', 'running']);

      const table = await tsrunc(['list']);
      expect(table).toMatchObject({ code: 0, stderr: '' });
      const { rows } = parseTable(table.stdout);
      expect(rows).toHaveLength(2);
      const expectedRows = states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner]);
      expect([...rows].sort()).toEqual([...expectedRows].sort());

      for (const args of [
        ['list', '--format', 'json'],
        ['list', '-f', 'json'],
        ['list', '--format=json'],
      ]) {
        const json = await tsrunc(args);
        expect(json, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
        const parsed = JSON.parse(json.stdout);
        expect(Array.isArray(parsed)).toBe(true);
        const byId = (x: { id: string }, y: { id: string }) => x.id.localeCompare(y.id);
        expect([...parsed].sort(byId)).toEqual([...states].sort(byId));
      }

      for (const args of [
        ['list', '-q'],
        ['list', '--quiet'],
      ]) {
        const q = await tsrunc(args);
        expect(q).toMatchObject({ code: 0, stderr: '' });
        expect(q.stdout.split('\n').filter(Boolean).sort()).toEqual([a.id, b.id].sort());
        expect(q.stdout.endsWith('\n')).toBe(true);
      }

      // A stopped container is listed as stopped with pid 0.
      expect((await tsrunc(['kill', b.id, 'KILL'])).code).toBe(0);
      await waitForStatus(b.id, 'stopped');
      const after = parseTable((await tsrunc(['list'])).stdout).rows.find((r) => r[0] === b.id);
      expect(after?.slice(1, 3)).toEqual(['0', 'stopped']);
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });

  it('an unknown --format is an error', async () => {
    const res = await tsrunc(['list', '--format', 'yaml']);
    expect(expectOneLineError(res)).toContain('yaml');
    expect(res.stdout).toBe('');
  });
});

describe('errors and --log', () => {
  it('--log FILE --log-format json appends an error line with level, msg and time', async () => {
    const dir = tempDir('log');
    const log = path.join(dir, 'log.json');
    try {
      fs.writeFileSync(log, '{"level":"info","msg":"earlier","time":"2026-01-01T00:00:00Z"}\n');
      const missing = containerId();
      const res = await tsrunc(['--log', log, '--log-format', 'json', 'state', missing]);
      expect(expectOneLineError(res)).toBe('container does not exist');
      const res2 = await tsrunc(['--log', log, '--log-format', 'json', 'kill', missing, 'KILL']);
      expect(expectOneLineError(res2)).toBe('container does not exist');
      const text = fs.readFileSync(log, 'utf8');
      const logLines = text.split('\n');
      expect(logLines.pop()).toBe('');
      expect(logLines).toHaveLength(3);
      expect(logLines[0]).toBe('{"level":"info","msg":"earlier","time":"2026-01-01T00:00:00Z"}');
      for (const line of logLines.slice(1)) {
        const entry = JSON.parse(line);
        expect(Object.keys(entry).sort()).toEqual(['level', 'msg', 'time']);
        expect(entry).toMatchObject({ level: 'error', msg: 'container does not exist' });
        expect(entry.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        expect(Math.abs(Date.parse(entry.time) - Date.now())).toBeLessThan(60_000);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--log FILE in text format writes a logrus-style error line', async () => {
    const dir = tempDir('log');
    const log = path.join(dir, 'log.txt');
    try {
      const res = await tsrunc(['--log', log, 'delete', containerId()]);
      expect(expectOneLineError(res)).toBe('container does not exist');
      const text = fs.readFileSync(log, 'utf8');
      expect(text).toMatch(
        /^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=error msg="container does not exist"\n$/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failing create logs its error line too', async () => {
    const dir = tempDir('log');
    const log = path.join(dir, 'log.json');
    const bundle = await makeBundle((c) => {
      c.process.cwd = 'relative';
    });
    try {
      const res = await tsrunc([
        '--log',
        log,
        '--log-format',
        'json',
        'create',
        '--bundle',
        bundle.dir,
        containerId(),
      ]);
      const line = expectOneLineError(res);
      const entries = fs
        .readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(entries.at(-1)).toMatchObject({ level: 'error', msg: line });
    } finally {
      await bundle.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--log FILE is created even when nothing is logged', async () => {
    const dir = tempDir('log');
    const log = path.join(dir, 'quiet.log');
    try {
      expect(await tsrunc(['--log', log, 'list', '-q'])).toMatchObject({ code: 0, stderr: '' });
      expect(fs.readFileSync(log, 'utf8')).toBe('');
      expect(fs.statSync(log).mode & 0o777).toBe(0o644);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--debug: debug lines naming what is done, on stderr or in the --log file; none without it', async () => {
    const dir = tempDir('log');
    const bundle = await makeBundle((c) => {
      c.process.args = ['true'];
    });
    try {
      const id = containerId();
      const res = await tsrunc(['--debug', 'run', '--bundle', bundle.dir, id]);
      expect(res).toMatchObject({ code: 0, stdout: '' });
      const lines = res.stderr.trimEnd().split('\n');
      for (const line of lines) expect(line).toMatch(/^time="[^"]+" level=debug msg=/);
      expect(res.stderr).toContain(`msg="create ${id}: `);
      expect(res.stderr).toContain(`msg="start ${id}: `);
      expect(lines.length).toBeGreaterThanOrEqual(5);

      const log = path.join(dir, 'debug.json');
      const id2 = containerId();
      const logged = await tsrunc([
        '--debug',
        '--log',
        log,
        '--log-format',
        'json',
        'run',
        '--bundle',
        bundle.dir,
        id2,
      ]);
      expect(logged).toMatchObject({ code: 0, stdout: '', stderr: '' });
      const entries = fs
        .readFileSync(log, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { level: string; msg: string });
      expect(entries.length).toBeGreaterThanOrEqual(5);
      expect(new Set(entries.map((e) => e.level))).toEqual(new Set(['debug']));
      expect(entries.some((e) => e.msg.startsWith(`create ${id2}: `))).toBe(true);

      const quiet = await tsrunc(['run', '--bundle', bundle.dir, containerId()]);
      expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' });
    } finally {
      await bundle.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('usage errors are one line with exit 1', async () => {
    for (const args of [['create'], ['frobnicate'], ['state'], ['kill'], ['list', '--bogus-flag']]) {
      const res = await tsrunc(args);
      expect(expectOneLineError(res).length, args.join(' ')).toBeGreaterThan(0);
      expect(res.stdout).toBe('');
    }
    expect(expectOneLineError(await tsrunc(['frobnicate']))).toContain('frobnicate');
  });

  it('--version prints the version and the spec version', async () => {
    const res = await tsrunc(['--version']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^tsrunc version \d+\.\d+\.\d+\nspec: \d+\.\d+\.\d+\n$/);
  });

  it('an invalid id is rejected by every command', async () => {
    for (const cmd of ['state', 'start', 'kill', 'delete']) {
      const res = await tsrunc([cmd, 'a/b']);
      expect(expectOneLineError(res), cmd).toBe('invalid container id: "a/b"');
    }
  });
});

describe('ps', () => {
  /** Rows of a ps table as [header fields, ...rows of fields]. */
  const table = (stdout: string) =>
    stdout
      .trimEnd()
      .split('\n')
      .map((line) => line.trim().split(/\s+/));

  it("passes the arguments after the id to ps(1) and keeps only the container's rows", async () => {
    // A host process running the same command: ps -e lists it, the filter must drop it.
    const host = spawnHostSleep();
    const c = await createContainer((cfg) => {
      cfg.process.args = ['sh', '-c', 'sleep 1000 & sleep 1000 & wait'];
    });
    try {
      expect((await tsrunc(['start', c.id])).code).toBe(0);
      let pids: number[] = [];
      await waitFor('three processes', () => {
        const children = fs.readFileSync(`/proc/${c.pid}/task/${c.pid}/children`, 'utf8').trim();
        pids = [c.pid, ...children.split(/\s+/).filter(Boolean).map(Number)].sort((a, b) => a - b);
        return pids.length === 3;
      });
      for (const args of [
        ['--format', 'json', c.id],
        ['-f', 'json', c.id],
      ]) {
        const json = await tsrunc(['ps', ...args]);
        expect(json.code, json.stderr).toBe(0);
        expect(JSON.parse(json.stdout), args.join(' ')).toEqual(pids);
      }
      // The command of each pid, as the rows must show them (in ps's order, which is /proc's).
      const comm = (pid: number) => (pid === c.pid ? 'sh' : 'sleep');
      // -e -x: ps's BSD-style columns (STAT), so the flags reached ps; only our pids.
      const ex = await tsrunc(['ps', c.id, '-e', '-x']);
      expect(ex.code, ex.stderr).toBe(0);
      const [header, ...rows] = table(ex.stdout);
      expect(header).toEqual(['PID', 'TTY', 'STAT', 'TIME', 'COMMAND']);
      expect(rows.map((r) => Number(r[0])).sort((a, b) => a - b)).toEqual(pids);
      for (const r of rows) expect(r[4], r.join(' ')).toBe(comm(Number(r[0])));
      const o = await tsrunc(['ps', c.id, '-o', 'comm,pid']);
      expect(o.code, o.stderr).toBe(0);
      const [oHeader, ...oRows] = table(o.stdout);
      expect(oHeader).toEqual(['COMMAND', 'PID']);
      expect(oRows.map((r) => Number(r[1])).sort((a, b) => a - b)).toEqual(pids);
      for (const r of oRows) expect(r[0], r.join(' ')).toBe(comm(Number(r[1])));
      // Without arguments: ps -ef.
      const ef = await tsrunc(['ps', c.id]);
      expect(table(ef.stdout)[0]).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
      expect(
        table(ef.stdout)
          .slice(1)
          .map((r) => Number(r[1])),
      ).toEqual(pids);
      // An output with no PID column cannot be filtered: runc's error.
      for (const args of [
        ['-o', 'comm'],
        ['-o', 'pid='],
      ]) {
        const res = await tsrunc(['ps', c.id, ...args]);
        expect(expectOneLineError(res), args.join(' ')).toBe("couldn't find PID field in ps output");
      }
      // After the id even --format is ps's (as runc): ps refuses it.
      expect(expectOneLineError(await tsrunc(['ps', c.id, '--format', 'json']))).toMatch(
        /^ps: exit status 1: error: /,
      );
    } finally {
      await c.cleanup();
      await killChild(host);
    }
  });
});

// The table of bad creates (bad configs, ids, bundle paths, flags) is in bad-input.test.ts.
describe('a create that fails leaves nothing', () => {
  it('the same bad create repeated leaves nothing and a good create of that id then works', async () => {
    const id = containerId();
    const bundle = await makeBundle((c) => {
      c.process.args = ['sleep', '1000'];
      c.process.cwd = 'rel';
    });
    try {
      for (let i = 0; i < 3; i++) expectOneLineError(await tsrunc(['create', '--bundle', bundle.dir, id]));
      expect(fs.existsSync(stateDirOf(id))).toBe(false);
      bundle.config.process.cwd = '/';
      bundle.writeConfig();
      const ok = await tsrunc(['create', '--bundle', bundle.dir, id]);
      expect(ok.code, ok.stderr).toBe(0);
      expect((await stateOf(id)).status).toBe('created');
    } finally {
      await tsrunc(['delete', '--force', id]);
      await bundle.cleanup();
    }
  });
});
