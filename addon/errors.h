// Errors the exports throw for a failed system call, shaped like Node's own (fs, child_process):
// a one-line message, `errno` (the number) and `code` (its name, "ESRCH"), so that callers tell
// cases apart by name without a table of numbers.
#pragma once

#include <napi.h>
#include <string.h>

#include <string>

namespace tsrunc {

// "ESRCH" for ESRCH; glibc knows every Linux errno (strerrorname_np, glibc 2.32).
inline std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? std::string(name) : "E" + std::to_string(err);
}

// Throws Error(message) with errno and code; returns undefined for the caller to return.
inline Napi::Value ThrowErrnoMessage(Napi::Env env, const std::string& message, int err) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

// Throws Error("<what>: <strerror>") with errno and code.
inline Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  return ThrowErrnoMessage(env, what + ": " + strerror(err), err);
}

}  // namespace tsrunc
