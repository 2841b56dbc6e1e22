// Tests that cannot fail, found by test/helpers/check-assertions.ts: first the checker itself on
// small sources (each rule seen to fire, and not to fire on the right form), then every test file
// of test/ (unit, integration, e2e, soak) and every helper, which must have no finding.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { AssertionChecker, type Finding, testFiles } from '../helpers/check-assertions';

const TEST_DIR = path.resolve(__dirname, '..');

/** Findings of one source `a.test.ts`, with helper modules beside it, as "rule: what" lines. */
function findingsOf(source: string, helpers: Record<string, string> = {}): string[] {
  const files: Record<string, string> = { '/v/a.test.ts': source };
  for (const [name, text] of Object.entries(helpers)) files[`/v/${name}`] = text;
  const checker = new AssertionChecker({ root: '/v', readFile: (f) => files[f] });
  return checker.check('/v/a.test.ts').findings.map((f) => `${f.rule}: ${f.what}`);
}

describe('the assertion checker', () => {
  it('accepts a test with an expect, and flags one without', () => {
    expect(findingsOf(`it('a', () => { expect(1).toBe(1); });`)).toEqual([]);
    expect(findingsOf(`it('b', () => { run(); });`)).toEqual(['no-assertion: b']);
    expect(findingsOf(`test('c', async () => { await run(); });`)).toEqual(['no-assertion: c']);
    expect(findingsOf(`it.todo('d');`)).toEqual(['skip-without-reason: d', 'no-assertion: d']);
  });

  it('finds tests of it.each and in loops, and reads names of template literals', () => {
    const source = [
      `it.each([1, 2])('each %s', (n) => { use(n); });`,
      'for (const x of xs) { it(`loop ${x}`, () => { use(x); }); }',
    ].join('\n');
    expect(findingsOf(source)).toEqual(['no-assertion: each %s', 'no-assertion: `loop ${x}`']);
  });

  it('sees assertions in helpers of the file and of imported test modules', () => {
    const helper = `export function expectOk(r) { expect(r.code).toBe(0); }
      export async function run(args) { return spawn(args); }
      export function maybe(r) { if (r) expect(r).toBe(1); }`;
    const source = `import { expectOk, run, maybe } from './helper';
      function local(x) { expectOk(x); }
      it('via import', () => { expectOk(run()); });
      it('via local', () => { local(run()); });
      it('via a callback', () => { withIt(() => { expect(1).toBe(1); }); });
      it('only a non-asserting helper', async () => { await run(); });
      it('a helper that checks by throwing', async () => { assertNoLeaks(await snapshot()); });
      it('a helper that asserts only sometimes', () => { maybe(run()); });`;
    expect(findingsOf(source, { 'helper.ts': helper })).toEqual([
      'no-assertion: only a non-asserting helper',
      'conditional-assertion: a helper that asserts only sometimes',
    ]);
  });

  it('flags an assertion only on some paths', () => {
    const source = `
      it('if without else', () => { if (c) expect(1).toBe(1); });
      it('if with else', () => { if (c) expect(1).toBe(1); else expect(2).toBe(2); });
      it('loop over a list', () => { for (const x of xs) expect(x).toBe(1); });
      it('loop over a literal', () => { for (const x of [1, 2]) expect(x).toBe(x); });
      it('counted loop', () => { for (let i = 0; i < 3; i++) expect(i).toBe(i); });
      it('forEach over a list', () => { xs.forEach((x) => expect(x).toBe(1)); });
      it('event listener', () => { child.on('exit', () => expect(1).toBe(1)); });
      it('counted with expect.assertions', () => { expect.assertions(1); for (const x of xs) expect(x).toBe(1); });
      it('and', () => { ok && expect(1).toBe(1); });
      it('return before', () => { if (c) return; expect(1).toBe(1); });
      it('switch without default', () => { switch (k) { case 1: expect(1).toBe(1); } });
      it('switch with default', () => { switch (k) { case 1: expect(1).toBe(1); break; default: expect(2).toBe(2); } });`;
    expect(findingsOf(source)).toEqual([
      'conditional-assertion: if without else',
      'conditional-assertion: loop over a list',
      'conditional-assertion: forEach over a list',
      'conditional-assertion: event listener',
      'conditional-assertion: and',
      'conditional-assertion: return before',
      'early-return: return before',
      'conditional-assertion: switch without default',
    ]);
  });

  it('flags an early return that skips later assertions, also inside a callback the test runs', () => {
    const source = `
      it('partly', () => { expect(1).toBe(1); if (c) return; expect(2).toBe(2); });
      it('in a callback', () => { withIt(() => { expect(1).toBe(1); if (c) return; expect(2).toBe(2); }); });
      it('asserts before it returns', () => { if (c) { expect(1).toBe(1); return; } expect(2).toBe(2); });
      it('a throw instead', () => { expect(1).toBe(1); if (c) throw new Error('x'); expect(2).toBe(2); });
      it('a filter in forEach', () => { expect(xs).toHaveLength(2); xs.forEach((x) => { if (!x) return; expect(x).toBe(1); }); });`;
    expect(findingsOf(source)).toEqual(['early-return: partly', 'early-return: in a callback']);
  });

  it('flags a catch that swallows an assertion, not one that rethrows or a finally', () => {
    const source = `
      it('swallowed', () => { try { expect(1).toBe(2); } catch {} });
      it('swallowed, asserted elsewhere', () => { expect(0).toBe(0); try { expect(1).toBe(2); } catch (e) { log(e); } });
      it('rethrown', () => { try { expect(1).toBe(2); } catch (e) { cleanup(); throw e; } });
      it('finally', () => { try { expect(1).toBe(1); } finally { cleanup(); } });
      it('catch of the code under test', () => { let err; try { run(); } catch (e) { err = e; } expect(err).toBeDefined(); });`;
    expect(findingsOf(source)).toEqual([
      'conditional-assertion: swallowed',
      'swallowed-assertion: try { ...expect... } catch { no rethrow }',
      'swallowed-assertion: try { ...expect... } catch { no rethrow }',
    ]);
  });

  it('flags a helper named expect... that may return without asserting', () => {
    const source = `
      function expectGone(dir) { if (exists(dir)) expect(list(dir)).toEqual([]); }
      const expectFailure = (r) => { expect(r.code).toBe(1); };
      async function expectState(id) { for (const s of await states(id)) expect(s).toBe('ok'); }
      function checkMaybe(x) { if (x) expect(x).toBe(1); }`;
    expect(findingsOf(source)).toEqual(['conditional-helper: expectGone', 'conditional-helper: expectState']);
  });

  it('flags expect without a matcher and async matchers not awaited', () => {
    const source = `
      it('no matcher', () => { expect(x); expect(y).not; expect(z).toBe(1); });
      it('unawaited', () => { expect(p).resolves.toBe(1); expect.poll(f).toBe(1); });
      it('awaited', async () => { await expect(p).rejects.toThrow('x'); await expect.poll(f).toBe(1); });
      it('returned', () => expect(p).resolves.toBe(1));
      it('matcher values', () => { expect(o).toEqual({ a: expect.any(String) }); });`;
    expect(findingsOf(source)).toEqual([
      'expect-without-matcher: expect(x)',
      'expect-without-matcher: expect(y)',
      'unawaited-assertion: expect(p)',
      'unawaited-assertion: expect.poll(f)',
    ]);
  });

  it('flags an asserting async helper whose promise is dropped', () => {
    const source = `
      async function check(id) { expect(await state(id)).toBe('ok'); }
      it('dropped', async () => { check(1); expect(1).toBe(1); });
      it('awaited', async () => { await check(1); });`;
    expect(findingsOf(source)).toEqual(['unawaited-assertion: check(1)']);
  });

  it('wants a skip, conditional or not, to say why in its name; never .only', () => {
    const source = `
      it.skip('later', () => { expect(1).toBe(1); });
      it.skipIf(noSwap)('swap limits (skipped without swap accounting)', () => { expect(1).toBe(1); });
      it.runIf(root)('as root', () => { expect(1).toBe(1); });
      describe.skip('suite', () => {});
      it('context, unnamed', (ctx) => { if (c) ctx.skip(); expect(1).toBe(1); });
      it('context skip, named (skipped when c)', ({ skip }) => { if (c) skip(); expect(1).toBe(1); });
      it.only('focused', () => { expect(1).toBe(1); });`;
    expect(findingsOf(source)).toEqual([
      'skip-without-reason: later',
      'skip-without-reason: as root',
      'skip-without-reason: suite',
      'skip-without-reason: context, unnamed',
      'focused: focused',
    ]);
  });
});

describe('every test in test/ can fail', () => {
  const files = testFiles(TEST_DIR);
  const helpers = fs
    .readdirSync(path.join(TEST_DIR, 'helpers'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(TEST_DIR, 'helpers', f));
  const checker = new AssertionChecker({ root: TEST_DIR });
  const results = files.map((file) => ({ file, ...checker.check(file) }));
  const helperFindings = helpers.flatMap((file) => checker.check(file).findings);
  const where = (f: Finding) => `${path.relative(TEST_DIR, f.file)}:${f.line}`;

  it('finds the test files of every project, and tests in each', () => {
    for (const project of ['unit', 'integration', 'e2e', 'soak']) {
      expect(
        files.some((f) => f.startsWith(path.join(TEST_DIR, project) + path.sep)),
        project,
      ).toBe(true);
    }
    expect(results.filter((r) => r.tests.length === 0).map((r) => r.file)).toEqual([]);
  });

  it('no test without an assertion on every path, and no expect that cannot fail', () => {
    const findings = [...results.flatMap((r) => r.findings), ...helperFindings].map(
      (f) => `${where(f)} ${f.rule}: ${f.what}`,
    );
    expect(findings).toEqual([]);
  });
});
