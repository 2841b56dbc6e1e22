// Every failure a user sees is one of these: a single lowercase line that names what is wrong.
// The CLI prints `message` and exits 1; it never prints a stack for a RuntimeError.

export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
}

/** An error about a config field: `config.json: process.cwd: must be an absolute path`. */
export function configError(field: string, problem: string): RuntimeError {
  return new RuntimeError(`config.json: ${field}: ${problem}`);
}

// Exact phrases callers (containerd, docker) match on; see shared/CONTRACTS.md.
export const CONTAINER_NOT_EXIST = 'container does not exist';
export const CONTAINER_NOT_RUNNING = 'container not running';
export const CONTAINER_EXISTS = 'container with given ID already exists';
export const NO_SUCH_PROCESS = 'no such process';
