// Seccomp filter compilation with libseccomp, parent side (src/plan/seccomp.ts builds the input).
#ifndef TSRUNC_ADDON_SECCOMP_H_
#define TSRUNC_ADDON_SECCOMP_H_

#include <napi.h>

namespace tsrunc {

// Adds compileSeccomp to the module's exports.
void RegisterSeccomp(Napi::Env env, Napi::Object exports);

}  // namespace tsrunc

#endif  // TSRUNC_ADDON_SECCOMP_H_
