// Small file helpers shared by the state store and the CLI (--pid-file).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Write `data` to `file` so that a reader sees either the old content or all of the new one:
 * write a temp file in the same directory, fsync it, rename it over the target. The temp name
 * carries our pid so that concurrent writers never share a temp file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = path.join(path.dirname(file), `${path.basename(file)}.tmp-${process.pid}`);
  let fd = -1;
  try {
    // libuv opens every file O_CLOEXEC: nothing we open leaks into a container process.
    fd = fs.openSync(tmp, 'w', mode);
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, file);
  } catch (error) {
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}

/**
 * writeFileAtomic through libuv's thread pool: the fsync (a disk write when the state root is not
 * a tmpfs) never holds the event loop. The temp name is unique per call, so two writers in one
 * process never share it either.
 */
export async function writeFileAtomicAsync(
  file: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<void> {
  const tmp = path.join(
    path.dirname(file),
    `${path.basename(file)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`,
  );
  let handle: fs.promises.FileHandle | null = null;
  try {
    handle = await fs.promises.open(tmp, 'w', mode);
    await handle.writeFile(typeof data === 'string' ? Buffer.from(data) : data);
    await handle.sync();
    await handle.close();
    handle = null;
    await fs.promises.rename(tmp, file);
  } catch (error) {
    await handle?.close().catch(() => {});
    await fs.promises.rm(tmp, { force: true });
    throw error;
  }
}
