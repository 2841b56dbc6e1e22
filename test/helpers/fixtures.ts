// spec-fixtures/: good and bad configs, and what spec-fixtures/expected.json says of each. Read by
// the validator's unit test and by the integration test that runs them through `tsrunc create`.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const FIXTURES = path.resolve(__dirname, '../../spec-fixtures');

export interface Expectation {
  requireProcess?: boolean;
  /** 'create': the validator accepts it; only `tsrunc create` finds the problem (on the host,
   *  in the init). */
  stage?: 'create';
  warnings?: string[];
  error?: string;
  errorMatch?: string;
}

export const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8')) as {
  good: Record<string, Expectation>;
  bad: Record<string, Expectation>;
};

/** The fixture files of one kind, sorted. */
export function fixtureFiles(kind: 'good' | 'bad'): string[] {
  return fs
    .readdirSync(path.join(FIXTURES, kind))
    .filter((f) => f.endsWith('.json'))
    .sort();
}
