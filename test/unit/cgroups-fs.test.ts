// writeCgroupFile against a temp dir: a missing file is reported as missing (and never made),
// an existing one gets exactly the value written.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { writeCgroupFile } from '../../src/cgroups/fs';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-cgfs-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('writeCgroupFile', () => {
  it('a missing file says so, naming the field and the file, and is not created', () => {
    expect(() => writeCgroupFile(dir, 'pids.max', 10)).toThrow(
      `linux.resources.pids.limit: cgroup: write "10" to ${path.join(dir, 'pids.max')}: no such file or directory`,
    );
    expect(() => writeCgroupFile(dir, 'cgroup.procs', 1)).toThrow(
      `cgroup: write "1" to ${path.join(dir, 'cgroup.procs')}: no such file or directory`,
    );
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('replaces the content of an existing file', () => {
    fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), '9223372036854771712\n');
    writeCgroupFile(dir, 'memory.limit_in_bytes', 1048576);
    expect(fs.readFileSync(path.join(dir, 'memory.limit_in_bytes'), 'utf8')).toBe('1048576');
  });
});
