// Run the real CLI (node bin/tsrunc, which uses dist/) with a per-test --root.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { constants as osConstants } from 'node:os';
import { containerId, makeBundle, type ConfigMutator } from './bundle';
import { testEnv } from './env';

export interface TsruncOptions {
  /** Written to the process's stdin, then stdin is closed. Without it stdin is /dev/null. */
  input?: string;
  /** Kill the CLI (SIGKILL) and reject after this long. Default 20000. */
  timeoutMs?: number;
  /** Extra environment for the CLI (undefined deletes a variable). */
  env?: Record<string, string | undefined>;
  /** State root; default: the current test's root (see stateRoot()). */
  root?: string;
  /** Working directory of the CLI; default: the repository. */
  cwd?: string;
}

export interface TsruncResult {
  /** Exit code, or 128+N when the CLI died of signal N. */
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let currentRoot: string | null = null;

/**
 * The `--root` the helpers use: a fresh dir per test (set by leak-guard's beforeEach), or a
 * per-worker dir outside tests (beforeAll/afterAll).
 */
export function stateRoot(): string {
  if (currentRoot) return currentRoot;
  const root = path.join(testEnv().stateBase, `w${process.pid}`);
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  return root;
}

/** Used by leak-guard.ts; null returns to the per-worker root. */
export function setStateRoot(root: string | null): void {
  currentRoot = root;
}

/** How long to wait for stdout/stderr EOF after the CLI exited. `create` hands the pipes to the
 *  container init, which keeps them open: then we return what we have and keep draining. */
const CLOSE_GRACE_MS = 300;

/** The full argv of a tsrunc call with the current test's --root, for a caller that runs it. */
export function tsruncArgv(args: string[], root = stateRoot()): string[] {
  return [process.execPath, path.join(testEnv().repo, 'bin', 'tsrunc'), '--root', root, ...args];
}

/** `node <repo>/bin/tsrunc --root <root> ...args`. Never rejects on a non-zero exit. */
export function tsrunc(args: string[], opts: TsruncOptions = {}): Promise<TsruncResult> {
  const env = testEnv();
  const root = opts.root ?? stateRoot();
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.NODE_OPTIONS;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  const argv = [path.join(env.repo, 'bin', 'tsrunc'), '--root', root, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, {
      cwd: opts.cwd ?? env.repo,
      env: childEnv,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {}); // EPIPE when the process does not read its input
      child.stdin!.end(opts.input);
    }
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill('SIGKILL');
      reject(
        new Error(
          `tsrunc ${args.join(' ')}: timed out after ${timeoutMs}ms\n--- stdout\n${stdout}\n--- stderr\n${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on('error', (e) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const signo = signal ? (osConstants.signals[signal] ?? 0) : 0;
        resolve({ code: code ?? 128 + signo, signal, stdout, stderr });
      };
      if (child.stdout!.readableEnded && child.stderr!.readableEnded) return finish();
      let closed = 0;
      const onEnd = () => {
        if (++closed === 2) finish();
      };
      for (const s of [child.stdout!, child.stderr!]) {
        if (s.readableEnded) onEnd();
        else s.once('end', onEnd).once('close', () => s.readableEnded || onEnd());
      }
      setTimeout(finish, CLOSE_GRACE_MS).unref();
    });
  });
}

export interface RunOptions extends TsruncOptions {
  id?: string;
  /** Extra arguments after `run` (before --bundle), e.g. ['--no-pivot']. */
  runArgs?: string[];
}

/**
 * makeBundle(mutate) + `tsrunc run --bundle <dir> <id>` + cleanup (a `delete --force` when the
 * state dir is still there, then the bundle is removed). The workhorse of "check from inside".
 */
export async function runContainer(
  mutate?: ConfigMutator,
  opts: RunOptions = {},
): Promise<TsruncResult & { id: string }> {
  const id = opts.id ?? containerId();
  const root = opts.root ?? stateRoot();
  const bundle = await makeBundle(mutate);
  try {
    const res = await tsrunc(['run', ...(opts.runArgs ?? []), '--bundle', bundle.dir, id], { ...opts, root });
    return { ...res, id };
  } finally {
    if (fs.existsSync(path.join(root, id))) {
      await tsrunc(['delete', '--force', id], { root, timeoutMs: 20_000 }).catch(() => undefined);
    }
    await bundle.cleanup();
  }
}
