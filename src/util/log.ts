// Loggers. There is no process-global one: the CLI makes one from --log/--log-format/--debug
// and the library gets its logger from the RuntimeContext, so two contexts in one process log
// to their own sinks. Writes are synchronous so nothing is lost when the CLI calls
// process.exit() right after an error.
import * as fs from 'node:fs';

import { writeAllSync } from './fs';

export type LogFormat = 'text' | 'json';
export type Level = 'debug' | 'info' | 'warning' | 'error';

export interface LoggerConfig {
  /** --log FILE: lines are appended there instead of going to stderr. */
  file?: string;
  format: LogFormat;
  debug: boolean;
}

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** A logger with its sink fixed at creation: each RuntimeContext (and the CLI) has its own. */
export interface ConfiguredLogger extends Logger {
  readonly config: Readonly<LoggerConfig>;
  /**
   * How the CLI reports the error that ends a command: one bare line on stderr (what a person and
   * the contract expect) and, when a log file is set, an error line in that file, which containerd
   * shows to its user. Without a file nothing else is printed: stderr already has the line.
   */
  fatal(msg: string): void;
}

export function createLogger(config: LoggerConfig): ConfiguredLogger {
  const frozen = Object.freeze({ ...config });
  const emit = (level: Level, msg: string): void => {
    const line = formatLine(frozen, level, oneLine(msg));
    if (frozen.file) appendToFile(frozen.file, line);
    else writeStderr(line);
  };
  return {
    config: frozen,
    debug: (msg) => {
      if (frozen.debug) emit('debug', msg);
    },
    info: (msg) => emit('info', msg),
    warn: (msg) => emit('warning', msg),
    error: (msg) => emit('error', msg),
    fatal: (msg) => {
      const line = oneLine(msg);
      writeStderr(`${line}\n`);
      if (frozen.file) emit('error', line);
    },
  };
}

/** What a library caller gets without choosing: text lines on stderr, no debug. */
export function defaultLogger(): ConfiguredLogger {
  return createLogger({ format: 'text', debug: false });
}

/** RFC3339 in UTC with second precision, as logrus writes it: 2026-11-22T06:35:16Z. */
export function rfc3339Now(): string {
  return `${new Date().toISOString().slice(0, 19)}Z`;
}

/** One log line as this project writes them (logrus's text or JSON format); `msg` one line. */
export function formatLine(config: Pick<LoggerConfig, 'format'>, level: Level, msg: string): string {
  const time = rfc3339Now();
  if (config.format === 'json') return `${JSON.stringify({ level, msg, time })}\n`;
  return `time="${time}" level=${level} msg=${quoteText(msg)}\n`;
}

// logrus quotes a text value only when it needs it.
function quoteText(msg: string): string {
  return /^[A-Za-z0-9_./:-]+$/.test(msg) ? msg : JSON.stringify(msg);
}

// A log line is one line: embedded newlines would split one error across several records.
export function oneLine(msg: string): string {
  return msg.replace(/\r?\n/g, '\\n');
}

function appendToFile(file: string, line: string): void {
  try {
    fs.appendFileSync(file, line, { mode: 0o644 });
  } catch {
    // An unwritable log must not turn a working command into a failing one.
    writeStderr(line);
  }
}

// Synchronous, so a process.exit() right after loses nothing.
function writeStderr(text: string): void {
  try {
    writeAllSync(2, text);
  } catch {
    // stderr closed: nowhere left to report
  }
}
