// eBPF device filter calls for the cgroup v2 devices controller (src/cgroups/v2/devices.ts).
#ifndef TSRUNC_ADDON_BPF_H_
#define TSRUNC_ADDON_BPF_H_

#include <napi.h>

namespace tsrunc {

// Adds openDirectory, loadDeviceProgram, attachDeviceProgram, detachDeviceProgram and
// queryDevicePrograms to the module's exports.
void RegisterBpf(Napi::Env env, Napi::Object exports);

}  // namespace tsrunc

#endif  // TSRUNC_ADDON_BPF_H_
