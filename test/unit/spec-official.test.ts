// Our schema (src/spec/schema/config.schema.json, precompiled) against the official runtime-spec
// v1.3 schema on the official test documents, plus our own fixtures. The official schema is
// compiled here, at test time only. It lives in shared/ beside the repository (see
// test/helpers/official-spec.ts).
//
// Deliberate disagreements (each one listed below where it matters):
// - linux.rootfsPropagation: we also accept rprivate/rshared/rslave/runbindable, as runc does
//   (podman writes them); the official enum has only the four non-recursive values.
// - process.rlimits[].type: the official schema has the pattern ^RLIMIT_[A-Z]+$; ours leaves the
//   name to the semantic check, which knows the real list (`unknown rlimit type "..."`).
// - Non-Linux sections (solaris, windows, vm, zos, freebsd) are not described by our schema, so
//   they are ignored like any unknown field; documents for those platforms are skipped.
import * as fs from 'fs';
import * as path from 'path';
import Ajv, { type ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';

import { schemaValidator } from '../../src/spec/generated-validator';
import { validateConfig } from '../../src/spec/validate';
import { FIXTURES, fixtureFiles } from '../helpers/fixtures';
import { officialSpecDir } from '../helpers/official-spec';

const SPEC = officialSpecDir();

/** Loads the official config schema with all its defs-*.json files (draft-04 keywords only). */
function officialValidator(main: string): ValidateFunction {
  const ajv = new Ajv({ strict: false, allErrors: false });
  for (const file of fs.readdirSync(SPEC).filter((f) => f.endsWith('.json'))) {
    const schema = JSON.parse(fs.readFileSync(path.join(SPEC, file), 'utf8')) as Record<string, unknown>;
    // draft-04 and draft-07 agree on everything these files use; ajv 8 needs no draft-04 meta.
    delete schema.$schema;
    ajv.addSchema(schema, `https://opencontainers.org/schema/${file}`);
  }
  const validate = ajv.getSchema(`https://opencontainers.org/schema/${main}`);
  if (!validate) throw new Error(`cannot compile ${main}`);
  return validate;
}

const NON_LINUX = /^(freebsd|zos|windows|solaris|vm)-/;
const NON_LINUX_KEYS = ['freebsd', 'zos', 'windows', 'solaris', 'vm'];

function linuxDocuments(kind: 'good' | 'bad'): { name: string; text: string }[] {
  const dir = path.join(SPEC, 'test/config', kind);
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.json') && !NON_LINUX.test(name))
    .map((name) => ({ name, text: fs.readFileSync(path.join(dir, name), 'utf8') }))
    .filter(({ text }) => {
      try {
        const doc = JSON.parse(text) as Record<string, unknown>;
        return !NON_LINUX_KEYS.some((key) => key in doc);
      } catch {
        return true; // invalid JSON: a Linux runtime must reject it too
      }
    });
}

function parse(text: string): { ok: true; doc: unknown } | { ok: false } {
  try {
    return { ok: true, doc: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

let official: ValidateFunction;
beforeAll(() => {
  official = officialValidator('config-schema.json');
});

describe('official runtime-spec test documents', () => {
  for (const kind of ['good', 'bad'] as const) {
    const docs = linuxDocuments(kind);

    it(`finds the Linux ${kind} documents`, () => {
      expect(docs.length).toBeGreaterThan(kind === 'good' ? 3 : 2);
    });

    for (const { name, text } of docs) {
      it(`${kind}/${name}: both schemas agree`, () => {
        const parsed = parse(text);
        const ours = parsed.ok && schemaValidator()(parsed.doc);
        const theirs = parsed.ok && official(parsed.doc);
        expect(theirs).toBe(kind === 'good');
        expect(ours).toBe(theirs);
      });
    }
  }

  // Beyond the schema, the semantic checks reject some official "good" documents on purpose.
  const SEMANTIC_REJECTS: Record<string, string> = {
    // An old example document; tsrunc implements 1.x only.
    'spec-example.json': 'config.json: ociVersion: unsupported version "0.5.0-dev" (want 1.x)',
    // A schema-only document: it moves devices without asking for a network namespace, which
    // runc refuses too ("unable to move network devices without a private NET namespace").
    'linux-netdevice.json': 'config.json: linux.netDevices: requires a new network namespace',
  };
  for (const { name, text } of linuxDocuments('good')) {
    it(`good/${name}: full validation`, () => {
      const run = (): unknown => validateConfig(JSON.parse(text), { requireProcess: false });
      if (SEMANTIC_REJECTS[name]) expect(run).toThrow(SEMANTIC_REJECTS[name]);
      else expect(run).not.toThrow();
    });
  }
  it('the semantically fixed spec example passes full validation', () => {
    const doc = JSON.parse(fs.readFileSync(path.join(SPEC, 'test/config/good/spec-example.json'), 'utf8'));
    doc.ociVersion = '1.3.0';
    expect(() => validateConfig(doc, { requireProcess: true })).not.toThrow();
  });
});

describe('our fixtures against the official schema', () => {
  // Good fixtures that the official schema rejects, and why.
  const OFFICIAL_REJECTS_GOOD: Record<string, string> = {
    'full.json': 'rootfsPropagation "rslave": runc and tsrunc accept the recursive forms',
  };
  // Bad fixtures that our schema rejects but the official one accepts, and why.
  const OURS_ONLY: Record<string, string> = {};

  for (const name of fixtureFiles('good')) {
    it(`good/${name}`, () => {
      // A good fixture is JSON: a parse error fails the test here.
      const doc: unknown = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'good', name), 'utf8'));
      expect(schemaValidator()(doc)).toBe(true);
      expect(official(doc)).toBe(!(name in OFFICIAL_REJECTS_GOOD));
    });
  }

  // Only the bad fixtures that our schema rejects are a schema matter, so only those are compared.
  // Left out, and why: a fixture that is not JSON is refused before any schema applies, and one
  // that our schema accepts is refused by a named semantic check (src/spec/validate.ts) or by
  // create on the host; spec-fixtures.test.ts and bad-input.test.ts check the line of each.
  const bad = fixtureFiles('bad').map((name) => {
    const parsed = parse(fs.readFileSync(path.join(FIXTURES, 'bad', name), 'utf8'));
    const kind = !parsed.ok ? 'not JSON' : schemaValidator()(parsed.doc) ? 'semantic' : 'schema';
    return { name, kind, doc: parsed.ok ? parsed.doc : undefined };
  });
  const schemaRejected = bad.filter((b) => b.kind === 'schema');

  it('sorts the bad fixtures into not JSON, refused by a semantic check, refused by our schema', () => {
    const count = (kind: string) => bad.filter((b) => b.kind === kind).length;
    expect(count('not JSON')).toBeGreaterThan(0);
    expect(count('semantic')).toBeGreaterThan(0);
    expect(count('schema')).toBeGreaterThan(0);
  });

  for (const { name, doc } of schemaRejected) {
    it(`bad/${name}: our schema rejects it, and so does the official one`, () => {
      expect(official(doc)).toBe(name in OURS_ONLY);
    });
  }
});
