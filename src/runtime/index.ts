// The runtime library: what the CLI and (later) the shim call.
export { create, createContainer } from './create';
export { start } from './start';
export { run } from './run';
export { state, list, kill, deleteContainer } from './lifecycle';
export { defaultSpec } from './default-spec';
export { features } from './features';
export { RuntimeError } from './errors';
export type { GlobalOptions, CreateOptions, RunOptions } from './options';
