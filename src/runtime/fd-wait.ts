// Waiting on fds without blocking the event loop: libuv watches the fd (FdWatch), a timer bounds
// the wait, and both are gone when the promise settles.
import type { FdWatch, NativeBinding } from '../native';

/** Resolves true once `fd` (or any of `fd`) is readable or hung up, false after `timeoutMs`. */
export function waitReadable(
  native: Pick<NativeBinding, 'watchReadable'>,
  fd: number | number[],
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const watches: FdWatch[] = [];
    // Only ever called from the watches' and the timer's callbacks, after `timer` is set.
    function finish(readable: boolean): void {
      if (settled) return;
      settled = true;
      for (const watch of watches) watch.stop();
      clearTimeout(timer);
      resolve(readable);
    }
    try {
      for (const one of Array.isArray(fd) ? fd : [fd])
        watches.push(native.watchReadable(one, () => finish(true)));
    } catch (error) {
      // One fd could not be watched: none stays watched.
      settled = true;
      for (const watch of watches) watch.stop();
      reject(error);
      return;
    }
    const timer = setTimeout(() => finish(false), Math.max(0, timeoutMs));
  });
}

/**
 * Poll `attempt` (which must not block) each time `fd` is readable, until it returns something
 * other than null; null when `timeoutMs` passes first.
 */
export async function readWhenReady<T>(
  native: Pick<NativeBinding, 'watchReadable'>,
  fd: number,
  timeoutMs: number,
  attempt: () => T | null,
): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = attempt();
    if (value !== null) return value;
    const left = deadline - Date.now();
    if (left <= 0 || !(await waitReadable(native, fd, left))) return attempt();
  }
}
