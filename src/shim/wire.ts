// The ttrpc envelope's messages and the helpers every shim module shares, without the Task
// service's or the events' generated code: `start` (its probe) and the ttrpc client/server load
// only this (src/shim/generated/wire.js, from ttrpc.proto).
// First: 64-bit fields decode as numbers only if Long is off before generated code loads.
import './protobuf-numbers';
import * as wire from './generated/wire';

export const ttrpcWire = wire.ttrpc;

/** A message type of the generated code: what the ttrpc glue needs to decode and encode. */
export interface MessageType<T> {
  decode(bytes: Uint8Array): T;
  encode(message: T): { finish(): Uint8Array };
}

/** The zero time as Go's gogo decodes it: what the Go shim sends for "not exited". */
export const GO_ZERO_TIME = { seconds: -62135596800, nanos: 0 };

/** A Date as a google.protobuf.Timestamp. */
export function timestampOf(date: Date): { seconds: number; nanos: number } {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}
