// protobufjs decodes 64-bit integers as Long objects whenever the `long` package is installed
// (protobufjs 8 depends on it), whatever pbjs --force-number says: that flag only changes the
// declarations. The Reader and the generated code's field defaults pick Long when they load. The
// shim wants the plain numbers its declarations promise, so Long is switched off here, before
// the generated code loads (proto.ts imports this module first).
import * as protobuf from 'protobufjs/minimal';

(protobuf.util as { Long: unknown }).Long = null;
protobuf.configure();
