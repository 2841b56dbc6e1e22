// The shim's protobuf messages (generated at build time by scripts/build-proto.js from
// src/shim/proto/*.proto into three modules: wire, task, messages), under short names. This
// module loads all three (~50 ms of compile): the shim's server needs them all; `start` and
// `delete` load only wire.ts or task-messages.ts.
import { GO_ZERO_TIME, type MessageType, timestampOf, ttrpcWire } from './wire';
import { task, types, processTypes, wellKnown } from './task-messages';
import * as generated from './generated/messages';

export { GO_ZERO_TIME, type MessageType, timestampOf, ttrpcWire, task, types, processTypes, wellKnown };
export const events = generated.containerd.events;
export const forward = generated.containerd.services.events.ttrpc.v1;
export const runcOptions = generated.containerd.runc.v1;
export const runtimeOptions = generated.runtimeoptions.v1;
export const metricsV1 = generated.io.containerd.cgroups.v1;
export const metricsV2 = generated.io.containerd.cgroups.v2;

export type { generated };
