// The runtime library: what the CLI and a shim call. `Runtime` is the front door; the functions
// below it take a RuntimeContext first.
export { Runtime, type RuntimeOptions, type ContainerHandle } from './runtime';
export {
  createRuntimeContext,
  type RuntimeContext,
  type RuntimeContextOptions,
  type CreateStep,
} from './context';
export { createContainer, type CreateOptions, type CreatedContainer } from './create';
export { start } from './start';
export { run } from './run';
export { exec, type ExecOptions, type ExecProcess } from './exec';
export { state, list, kill, deleteContainer } from './lifecycle';
export { pause, resume, update, ps, stats, watchEvents, type ContainerEvent } from './resources';
export { defaultSpec } from './default-spec';
export { features } from './features';
export type { StdioMap } from './stdio';
export type { ExitStatus, ChildWatch } from './reaper';
export { RuntimeError } from '../errors';
export type { Logger } from '../util/log';
export { createLogger } from '../util/log';
export type { OciState, Status } from '../state/store';
