// The shim's log: lines in logrus's text format written to a bundle's `log` FIFO, which
// containerd reads and copies to its own log while it has a connection to that container. A
// grouped shim serves several bundles: it writes to the newest one still present (the first
// bundle is removed when its container goes). Writes never block: the FIFO is opened
// non-blocking and a line that does not fit (or has no reader) is dropped.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { formatLine, type Level, type Logger, oneLine } from '../util/log';

export class ShimLog implements Logger {
  /** Log FIFOs by container id, oldest first. */
  private readonly sinks = new Map<string, number>();

  constructor(private readonly debugEnabled: boolean) {}

  /** Log to `<bundle>/log` (too) while container `id` is served. */
  addBundle(id: string, bundle: string): void {
    if (this.sinks.has(id)) return;
    try {
      const fd = fs.openSync(path.join(bundle, 'log'), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      this.sinks.set(id, fd);
    } catch {
      // No FIFO (a test, or containerd gone): nothing to log to for this bundle.
    }
  }

  removeBundle(id: string): void {
    const fd = this.sinks.get(id);
    if (fd === undefined) return;
    this.sinks.delete(id);
    fs.closeSync(fd);
  }

  debug(msg: string): void {
    if (this.debugEnabled) this.write('debug', msg);
  }
  info(msg: string): void {
    this.write('info', msg);
  }
  warn(msg: string): void {
    this.write('warning', msg);
  }
  error(msg: string): void {
    this.write('error', msg);
  }

  private write(level: Level, msg: string): void {
    const fd = [...this.sinks.values()].pop();
    if (fd === undefined) return;
    const line = formatLine({ format: 'text' }, level, oneLine(msg));
    try {
      fs.writeSync(fd, line);
    } catch {
      // EAGAIN (containerd is behind) or EPIPE (nobody reads): the line is dropped.
    }
  }
}
