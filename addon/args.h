// Argument checks for the exported N-API functions. Each export checks the count and the types
// of its arguments before it does anything, and throws a TypeError naming itself and what it
// takes: node-addon-api's As<Napi::Number>() on a non-number raises an exception but still hands
// back a value (undefined reads as 0), which the call would otherwise go on to use
// (closeFd(undefined) closed fd 0).
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace tsrunc {

enum class Arg {
  kFd,      // integral, 0..INT32_MAX
  kPid,     // integral, 1..INT32_MAX (one process, never a group or "any")
  kInt32,   // integral, INT32_MIN..INT32_MAX (pids, timeouts with -1, flags)
  kUint16,  // integral, 0..65535 (terminal rows and columns)
  kUint32,  // integral, 0..UINT32_MAX (ids, mode bits, mount flags)
  kString,  // a path or a name: no NUL byte, which would cut the C string short
  kText,    // any string (a payload sent as bytes)
  kBoolean,
  kObject,
  kArray,
  kUint8Array,  // a Uint8Array or a Buffer
  kFunction,
  kOptionalBoolean,
  kOptionalUint32,
};

inline bool IsIntegerIn(const Napi::Value& value, double min, double max) {
  if (!value.IsNumber()) return false;
  double d = value.As<Napi::Number>().DoubleValue();
  return std::isfinite(d) && std::trunc(d) == d && d >= min && d <= max;
}

inline bool ArgMatches(const Napi::Value& value, Arg kind) {
  switch (kind) {
    case Arg::kFd:
      return IsIntegerIn(value, 0, INT32_MAX);
    case Arg::kPid:
      return IsIntegerIn(value, 1, INT32_MAX);
    case Arg::kInt32:
      return IsIntegerIn(value, INT32_MIN, INT32_MAX);
    case Arg::kUint16:
      return IsIntegerIn(value, 0, UINT16_MAX);
    case Arg::kUint32:
      return IsIntegerIn(value, 0, UINT32_MAX);
    case Arg::kString:
      return value.IsString() &&
             value.As<Napi::String>().Utf8Value().find('\0') == std::string::npos;
    case Arg::kText:
      return value.IsString();
    case Arg::kBoolean:
      return value.IsBoolean();
    case Arg::kObject:
      return value.IsObject();
    case Arg::kArray:
      return value.IsArray();
    case Arg::kUint8Array:
      return value.IsTypedArray() &&
             value.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
    case Arg::kFunction:
      return value.IsFunction();
    case Arg::kOptionalBoolean:
      return value.IsUndefined() || value.IsBoolean();
    case Arg::kOptionalUint32:
      return value.IsUndefined() || IsIntegerIn(value, 0, UINT32_MAX);
  }
  return false;
}

inline bool IsOptional(Arg kind) {
  return kind == Arg::kOptionalBoolean || kind == Arg::kOptionalUint32;
}

// True when `info` holds exactly the arguments `kinds` lists (optional ones may be left out or
// undefined). Otherwise throws TypeError(signature), e.g. "closeFd(fd: non-negative int32)",
// and returns false: the caller returns at once.
inline bool CheckArgs(const Napi::CallbackInfo& info, const char* signature,
                      std::initializer_list<Arg> kinds) {
  size_t required = 0;
  for (Arg kind : kinds) {
    if (!IsOptional(kind)) required++;
  }
  bool ok = info.Length() >= required && info.Length() <= kinds.size();
  size_t i = 0;
  for (Arg kind : kinds) {
    if (!ok) break;
    ok = ArgMatches(info[i++], kind);  // info[i] past Length() is undefined
  }
  if (!ok) Napi::TypeError::New(info.Env(), signature).ThrowAsJavaScriptException();
  return ok;
}

}  // namespace tsrunc
