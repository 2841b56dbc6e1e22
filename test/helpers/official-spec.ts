// The official runtime-spec v1.3 (schemas and test documents) lives in shared/ beside the
// repository: /work/shared for the main checkout at /work/main, and a level further up for a
// worktree (/work/wt/<name>). Used by the unit tests that compare against the official schema.
import * as fs from 'node:fs';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '../..');
const NAME = path.join('shared', 'oci-runtime-spec-v1.3');

/** The nearest `<ancestor of the repo>/shared/oci-runtime-spec-v1.3`; throws when there is none. */
export function officialSpecDir(): string {
  for (let dir = path.dirname(REPO); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, NAME);
    if (fs.existsSync(path.join(candidate, 'config-schema.json'))) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw new Error(`no ${NAME} in any parent directory of ${REPO}: the official schema is needed here`);
}
