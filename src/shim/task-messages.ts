// The Task service's messages alone (src/shim/generated/task.js, from task.proto and what it
// imports): the `delete` command needs only DeleteResponse.
import './protobuf-numbers';
import * as generated from './generated/task';

export const task = generated.containerd.task.v2;
export const types = generated.containerd.types;
export const processTypes = generated.containerd.v1.types;
export const wellKnown = generated.google.protobuf;
export type { generated };
