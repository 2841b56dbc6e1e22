// Runs every config document in spec-fixtures/{good,bad} through loadConfig + validateConfig and
// compares with spec-fixtures/expected.json. Needs `node scripts/build-validators.js` first.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

import { RuntimeError } from '../../src/errors';
import {
  CONFIG_CHECKS,
  CONFIG_MAX_BYTES,
  CONFIG_MAX_DEPTH,
  loadConfig,
  validateConfig,
} from '../../src/spec/validate';
import { expected, FIXTURES, fixtureFiles } from '../helpers/fixtures';

/** Copies one fixture into a fresh bundle dir as config.json, so loadConfig reads it for real. */
function bundleWith(file: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-fixture-'));
  fs.copyFileSync(file, path.join(dir, 'config.json'));
  return dir;
}

function run(file: string, requireProcess: boolean): { warnings: string[] } {
  const bundle = bundleWith(file);
  try {
    return validateConfig(loadConfig(bundle), { requireProcess });
  } finally {
    fs.rmSync(bundle, { recursive: true, force: true });
  }
}

for (const kind of ['good', 'bad'] as const) {
  describe(`spec-fixtures/${kind}`, () => {
    const files = fixtureFiles(kind);

    it('has an expectation for every file and a file for every expectation', () => {
      expect(Object.keys(expected[kind]).sort()).toEqual(files);
    });

    for (const name of files) {
      const expectation = expected[kind][name];
      it(name, () => {
        const file = path.join(FIXTURES, kind, name);
        const requireProcess = expectation?.requireProcess ?? true;
        if (kind === 'good' || expectation?.stage === 'create') {
          const result = run(file, requireProcess);
          expect(result.warnings).toEqual(expectation?.warnings ?? []);
          return;
        }
        let caught: unknown;
        try {
          run(file, requireProcess);
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(RuntimeError);
        const message = (caught as Error).message;
        // One line, `config.json: ...`, no trailing period.
        expect(message).not.toMatch(/\n/);
        expect(message).toMatch(/^config\.json: /);
        expect(message).not.toMatch(/\.$/);
        if (expectation?.error !== undefined) expect(message).toBe(expectation.error);
        else expect(message).toMatch(new RegExp(expectation?.errorMatch ?? '^$'));
      });
    }
  });
}

describe('loadConfig', () => {
  it('names the bundle when config.json is missing', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-fixture-'));
    try {
      expect(() => loadConfig(dir)).toThrow(`config.json: no such file in bundle ${dir}`);
      expect(() => loadConfig(path.join(dir, 'missing'))).toThrow(/^config\.json: no such file in bundle /);
      fs.mkdirSync(path.join(dir, 'config.json'));
      expect(() => loadConfig(dir)).toThrow(`config.json: is a directory in bundle ${dir}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses what is not a regular file without blocking on it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-fixture-'));
    try {
      const config = path.join(dir, 'config.json');
      execFileSync('mkfifo', [config]);
      expect(() => loadConfig(dir)).toThrow(`config.json: is not a regular file in bundle ${dir}`);
      fs.rmSync(config);
      fs.symlinkSync('/dev/zero', config);
      expect(() => loadConfig(dir)).toThrow(`config.json: is not a regular file in bundle ${dir}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a config over CONFIG_MAX_BYTES and nesting over CONFIG_MAX_DEPTH', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-fixture-'));
    try {
      const config = path.join(dir, 'config.json');
      fs.writeFileSync(config, '{}');
      fs.truncateSync(config, CONFIG_MAX_BYTES + 1);
      expect(() => loadConfig(dir)).toThrow(
        `config.json: too large (${CONFIG_MAX_BYTES + 1} bytes, at most ${CONFIG_MAX_BYTES})`,
      );
      const nested = (depth: number) => `{"x": ${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
      fs.writeFileSync(config, nested(CONFIG_MAX_DEPTH));
      expect(loadConfig(dir)).toBeTypeOf('object');
      fs.writeFileSync(config, nested(CONFIG_MAX_DEPTH + 1));
      expect(() => loadConfig(dir)).toThrow(`config.json: nested more than ${CONFIG_MAX_DEPTH} levels deep`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the semantic checks', () => {
  it('have unique names', () => {
    const names = CONFIG_CHECKS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('every fatal check is exercised by at least one bad fixture', () => {
    // Run each bad fixture's document through the checks alone and record which check fires.
    const fired = new Set<string>();
    for (const name of Object.keys(expected.bad)) {
      if (expected.bad[name].stage === 'create') continue;
      let doc: unknown;
      try {
        doc = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'bad', name), 'utf8'));
      } catch {
        continue;
      }
      const opts = { requireProcess: expected.bad[name].requireProcess ?? true };
      for (const check of CONFIG_CHECKS) {
        let messages: string[];
        try {
          messages = check.check(doc as never, opts);
        } catch {
          break; // schema-invalid documents can trip later checks; the schema rejects them first
        }
        if (messages.length > 0) {
          if (check.fatal) fired.add(check.name);
          if (check.fatal) break;
        }
      }
    }
    const fatal = CONFIG_CHECKS.filter((c) => c.fatal).map((c) => c.name);
    expect(fatal.filter((n) => !fired.has(n))).toEqual([]);
  });

  it('keeps going past warnings to the first fatal problem', () => {
    const spec = {
      ociVersion: '1.0.0',
      root: { path: 'rootfs' },
      process: { cwd: 'relative', args: ['sh'], apparmorProfile: 'x' },
    };
    expect(() => validateConfig(spec, { requireProcess: true })).toThrow(
      'config.json: process.cwd: must be an absolute path',
    );
  });
});

describe('a container without a mount namespace', () => {
  const base = () => ({
    ociVersion: '1.0.2',
    root: { path: 'rootfs' } as { path: string; readonly?: boolean },
    process: { cwd: '/', args: ['sh'] },
    linux: { namespaces: [{ type: 'pid' }] } as Record<string, unknown>,
  });
  const why = "needs a mount namespace (without one the container shares the runtime's)";

  it('is valid as such', () => {
    expect(validateConfig(base(), { requireProcess: true }).warnings).toEqual([]);
  });

  it("refuses what would change the runtime's own mounts", () => {
    const cases: Array<[string, (spec: ReturnType<typeof base>) => void]> = [
      ['linux.maskedPaths', (s) => (s.linux.maskedPaths = ['/proc/kcore'])],
      ['linux.readonlyPaths', (s) => (s.linux.readonlyPaths = ['/proc/sys'])],
      ['root.readonly', (s) => (s.root.readonly = true)],
      ['linux.rootfsPropagation', (s) => (s.linux.rootfsPropagation = 'rprivate')],
    ];
    expect.assertions(2 * cases.length);
    for (const [field, change] of cases) {
      const spec = base();
      change(spec);
      expect(() => validateConfig(spec, { requireProcess: true })).toThrow(`config.json: ${field}: ${why}`);
      // The same config with a mount namespace is fine.
      (spec.linux.namespaces as unknown[]).push({ type: 'mount' });
      expect(validateConfig(spec, { requireProcess: true }).warnings).toEqual([]);
    }
  });
});
