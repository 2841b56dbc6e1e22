// Calls for a long-lived process that serves many containers without blocking its event loop
// (the shim): pidfds, fd readiness through libuv, non-blocking flock.
#pragma once

#include <napi.h>

namespace tsrunc {

// Adds pidfdOpen, pidfdReap, pidfdSignal, watchReadable, tryFlock and unflock to the exports.
void RegisterAsync(Napi::Env env, Napi::Object exports);

}  // namespace tsrunc
