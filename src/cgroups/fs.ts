// Reading and writing cgroup files, with errors that name the file and the value.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { resourceFieldOf } from './fields';
import { RuntimeError } from '../errors';

/**
 * Write one value; the kernel's refusal becomes `cgroup: write "<value>" to <path>: <reason>`.
 * The file is opened without O_CREAT: cgroupfs answers a create with EACCES, which would
 * report a missing file (a controller or feature this kernel or hierarchy lacks) as
 * "permission denied". O_TRUNC is harmless there (the shell's `>` uses it) and keeps the temp
 * dir trees of the unit tests holding only the last value, as a cgroup file does.
 */
export function writeCgroupFile(dir: string, file: string, value: string | number): void {
  const target = path.join(dir, file);
  const text = String(value);
  let fd = -1;
  try {
    fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
    // One write: a cgroup file takes each write(2) as one whole value.
    fs.writeSync(fd, text);
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    const field = resourceFieldOf(file);
    const prefix = field === null ? '' : `${field}: `;
    throw new RuntimeError(`${prefix}cgroup: write "${text}" to ${target}: ${describeErrno(err)}`);
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

export function readCgroupFile(dir: string, file: string): string {
  return fs.readFileSync(path.join(dir, file), 'utf8').trim();
}

/** The file's content, or null when it does not exist (a controller this kernel lacks). */
export function readCgroupFileOrNull(dir: string, file: string): string | null {
  try {
    return readCgroupFile(dir, file);
  } catch {
    return null;
  }
}

export function cgroupFileExists(dir: string, file: string): boolean {
  return fs.existsSync(path.join(dir, file));
}

/** "key value" lines (memory.stat, cpu.stat) as numbers. */
export function readKeyValues(dir: string, file: string): Record<string, number> {
  const out: Record<string, number> = {};
  const text = readCgroupFileOrNull(dir, file);
  if (text === null) return out;
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^-?\d+$/.test(value)) out[key] = Number(value);
  }
  return out;
}

// Node's fs errors read "ERANGE: result too large, write": keep the description.
function describeErrno(err: NodeJS.ErrnoException): string {
  const match = /^[A-Z0-9]+: ([^,]+)/.exec(err.message);
  return match ? match[1] : (err.code ?? err.message);
}
