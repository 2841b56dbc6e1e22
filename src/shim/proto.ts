// The shim's protobuf messages (generated at build time by scripts/build-proto.js from
// src/shim/proto/*.proto), under short names. Loading this module costs ~30 ms of compile:
// only the shim's server and its `delete` command load it.
// First: 64-bit fields decode as numbers only if Long is off before the generated code loads.
import './protobuf-numbers';
import * as generated from './generated/messages';

export const ttrpcWire = generated.ttrpc;
export const task = generated.containerd.task.v2;
export const types = generated.containerd.types;
export const processTypes = generated.containerd.v1.types;
export const events = generated.containerd.events;
export const forward = generated.containerd.services.events.ttrpc.v1;
export const runcOptions = generated.containerd.runc.v1;
export const runtimeOptions = generated.runtimeoptions.v1;
export const metricsV1 = generated.io.containerd.cgroups.v1;
export const metricsV2 = generated.io.containerd.cgroups.v2;
export const wellKnown = generated.google.protobuf;

export type { generated };

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
