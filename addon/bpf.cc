// bpf(2) for the cgroup v2 devices controller: load a BPF_PROG_TYPE_CGROUP_DEVICE program built
// in TypeScript (src/cgroups/v2/devices-bpf.ts), attach it to a cgroup directory, list and
// detach the programs already there. Parent-side N-API code only (never runs after clone).
// Typed counterpart: the device functions of NativeBinding in src/native/index.ts.

#include "bpf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "args.h"
#include "errors.h"

namespace tsrunc {
namespace {

constexpr size_t kInsnSize = sizeof(struct bpf_insn);  // 8 bytes
constexpr size_t kLogSize = 256 * 1024;

int Bpf(int cmd, union bpf_attr* attr) {
  return static_cast<int>(syscall(__NR_bpf, cmd, attr, sizeof(*attr)));
}

Napi::Value ThrowBpfError(Napi::Env env, const std::string& what, int err,
                          const std::string& detail = std::string()) {
  std::string message = what + ": " + strerror(err);
  if (!detail.empty()) message += ": " + detail;
  return ThrowErrnoMessage(env, message, err);
}

// An fd for a program id (BPF_PROG_GET_FD_BY_ID), -1 with errno set on failure.
int ProgramFdById(uint32_t id) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_id = id;
  return Bpf(BPF_PROG_GET_FD_BY_ID, &attr);
}

// openDirectory(path) -> fd: O_RDONLY|O_DIRECTORY|O_CLOEXEC. BPF_PROG_ATTACH and
// BPF_PROG_QUERY refuse O_PATH fds, so openPath does not do here.
Napi::Value OpenDirectory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "openDirectory(path: string)", {Arg::kString})) return env.Undefined();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ThrowBpfError(env, "open " + path, errno);
  return Napi::Number::New(env, fd);
}

// loadDeviceProgram(insns: Uint8Array) -> program fd (O_CLOEXEC, as every bpf fd).
// On a verifier refusal the error carries the verifier log.
Napi::Value LoadDeviceProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "loadDeviceProgram(insns: Uint8Array)", {Arg::kUint8Array})) {
    return env.Undefined();
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  size_t length = bytes.ByteLength();
  if (length == 0 || length % kInsnSize != 0) {
    Napi::RangeError::New(env,
                          "loadDeviceProgram: the program must be a non-empty multiple of 8 bytes")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Copy: the kernel reads the instructions during the call only, but a copy keeps alignment.
  std::vector<struct bpf_insn> insns(length / kInsnSize);
  memcpy(insns.data(), bytes.Data(), length);
  static const char kLicense[] = "GPL";

  auto load = [&](char* log, uint32_t log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = reinterpret_cast<uint64_t>(insns.data());
    attr.insn_cnt = static_cast<uint32_t>(insns.size());
    attr.license = reinterpret_cast<uint64_t>(kLicense);
    strncpy(attr.prog_name, "tsrunc_devices", sizeof(attr.prog_name) - 1);
    if (log != nullptr) {
      attr.log_buf = reinterpret_cast<uint64_t>(log);
      attr.log_size = log_size;
      attr.log_level = 1;
    }
    return Bpf(BPF_PROG_LOAD, &attr);
  };

  // No RLIMIT_MEMLOCK raise on EPERM (runc's workaround for kernels before 5.11, which charged
  // programs to it): that would change a limit of the whole process, which may serve other
  // containers; since 5.11 the memory cgroup is charged instead.
  int fd = load(nullptr, 0);
  if (fd >= 0) return Napi::Number::New(env, fd);

  int err = errno;
  if (err == EPERM) {
    return ThrowBpfError(env, "bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE)", err,
                         "loading a device program needs CAP_SYS_ADMIN (or CAP_BPF and "
                         "CAP_NET_ADMIN) in the initial user namespace");
  }
  // Load again with the verifier log to say why.
  std::vector<char> log(kLogSize, '\0');
  int again = load(log.data(), static_cast<uint32_t>(log.size()));
  if (again >= 0) return Napi::Number::New(env, again);  // passed this time: use it
  std::string text(log.data());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text) {
    if (c == '\n') c = ';';
  }
  return ThrowBpfError(env, "bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE)", err,
                       text.empty() ? std::string() : "verifier: " + text);
}

// attachDeviceProgram(cgroupFd, progFd, replaceProgId?): BPF_PROG_ATTACH with
// BPF_F_ALLOW_MULTI; with replaceProgId also BPF_F_REPLACE, swapping that program atomically.
Napi::Value AttachDeviceProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info,
                 "attachDeviceProgram(cgroupFd: int32 >= 0, progFd: int32 >= 0, "
                 "replaceProgId?: uint32)",
                 {Arg::kFd, Arg::kFd, Arg::kOptionalUint32})) {
    return env.Undefined();
  }
  int cgroup_fd = info[0].As<Napi::Number>().Int32Value();
  int prog_fd = info[1].As<Napi::Number>().Int32Value();
  int replace_fd = -1;
  if (info[2].IsNumber()) {
    uint32_t id = info[2].As<Napi::Number>().Uint32Value();
    replace_fd = ProgramFdById(id);
    if (replace_fd < 0) {
      return ThrowBpfError(env, "bpf(BPF_PROG_GET_FD_BY_ID, " + std::to_string(id) + ")", errno);
    }
  }
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = static_cast<uint32_t>(cgroup_fd);
  attr.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (replace_fd >= 0) {
    attr.attach_flags |= BPF_F_REPLACE;
    attr.replace_bpf_fd = static_cast<uint32_t>(replace_fd);
  }
  int rc = Bpf(BPF_PROG_ATTACH, &attr);
  int err = errno;
  if (replace_fd >= 0) close(replace_fd);
  if (rc < 0) {
    return ThrowBpfError(env,
                         replace_fd >= 0
                             ? "bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, "
                               "BPF_F_ALLOW_MULTI|BPF_F_REPLACE)"
                             : "bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)",
                         err);
  }
  return env.Undefined();
}

// detachDeviceProgram(cgroupFd, progId): BPF_PROG_DETACH of one attached program, by id.
Napi::Value DetachDeviceProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "detachDeviceProgram(cgroupFd: int32 >= 0, progId: uint32)",
                 {Arg::kFd, Arg::kUint32})) {
    return env.Undefined();
  }
  int cgroup_fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t id = info[1].As<Napi::Number>().Uint32Value();
  int prog_fd = ProgramFdById(id);
  if (prog_fd < 0) {
    return ThrowBpfError(env, "bpf(BPF_PROG_GET_FD_BY_ID, " + std::to_string(id) + ")", errno);
  }
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = static_cast<uint32_t>(cgroup_fd);
  attr.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  int rc = Bpf(BPF_PROG_DETACH, &attr);
  int err = errno;
  close(prog_fd);
  if (rc < 0) return ThrowBpfError(env, "bpf(BPF_PROG_DETACH, BPF_CGROUP_DEVICE)", err);
  return env.Undefined();
}

// queryDevicePrograms(cgroupFd) -> number[]: ids of the programs attached to this cgroup
// itself (not inherited ones), BPF_PROG_QUERY.
Napi::Value QueryDevicePrograms(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "queryDevicePrograms(cgroupFd: int32 >= 0)", {Arg::kFd})) {
    return env.Undefined();
  }
  int cgroup_fd = info[0].As<Napi::Number>().Int32Value();
  std::vector<uint32_t> ids(64);
  for (;;) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = static_cast<uint32_t>(cgroup_fd);
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = reinterpret_cast<uint64_t>(ids.data());
    attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
    if (Bpf(BPF_PROG_QUERY, &attr) == 0) {
      Napi::Array out = Napi::Array::New(env, attr.query.prog_cnt);
      for (uint32_t i = 0; i < attr.query.prog_cnt; i++) out.Set(i, Napi::Number::New(env, ids[i]));
      return out;
    }
    if (errno == ENOSPC && attr.query.prog_cnt > ids.size()) {
      ids.resize(attr.query.prog_cnt);
      continue;
    }
    return ThrowBpfError(env, "bpf(BPF_PROG_QUERY, BPF_CGROUP_DEVICE)", errno);
  }
}

}  // namespace

void RegisterBpf(Napi::Env env, Napi::Object exports) {
  exports.Set("openDirectory", Napi::Function::New(env, OpenDirectory));
  exports.Set("loadDeviceProgram", Napi::Function::New(env, LoadDeviceProgram));
  exports.Set("attachDeviceProgram", Napi::Function::New(env, AttachDeviceProgram));
  exports.Set("detachDeviceProgram", Napi::Function::New(env, DetachDeviceProgram));
  exports.Set("queryDevicePrograms", Napi::Function::New(env, QueryDevicePrograms));
}

}  // namespace tsrunc
