// The package's entry (`import { Runtime } from 'tsrunc'`): the runtime library and its types.
export * from './runtime';
