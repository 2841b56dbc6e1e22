// Small file helpers shared by the state store and the CLI (--pid-file).
import * as fs from 'node:fs';
import * as path from 'node:path';

let tempSeq = 0;

/**
 * Write `data` to `file` so that a reader sees either the old content or all of the new one:
 * write a temp file in the same directory, fsync it, rename it over the target. Through libuv's
 * thread pool: the fsync (a disk write when the state root is not a tmpfs) never holds the event
 * loop. The temp name carries our pid and a per-call number: no
 * two writers (processes or calls) ever share one.
 */
export async function writeFileAtomicAsync(
  file: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<void> {
  const tmp = path.join(path.dirname(file), `${path.basename(file)}.tmp-${process.pid}-${++tempSeq}`);
  let handle: fs.promises.FileHandle | null = null;
  try {
    // libuv opens every file O_CLOEXEC: nothing we open leaks into a container process.
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

/**
 * Write all of `text` to `fd` (1 or 2: the CLI's stdout and stderr) with write(2), as runc does.
 * process.stdout/stderr would do the same synchronously, but building them loads Node's stream
 * and net modules, a few ms of every tsrunc call. A non-blocking fd that is full is waited for.
 */
export function writeAllSync(fd: number, text: string | Uint8Array): void {
  const data = typeof text === 'string' ? Buffer.from(text) : text;
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(fd, data, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}
