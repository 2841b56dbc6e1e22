// N-API surface of tsrunc: decodes the launch plan built in TypeScript into plain C data,
// clones the stage-1 child, and offers the few parent-side calls Node does not have
// (SEQPACKET sync records, waitpid, setns-type checks, unix connect, mount), with non-blocking
// variants for a caller that must never wait (syncTryRecv, acceptUnix, tryReceiveFd; the rest
// of those are in async.cc).
// Typed counterpart: src/native/index.ts.

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <linux/openat2.h>
#include <napi.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "async.h"
#include "bpf.h"
#include "errors.h"
#include "fdpass.h"
#include "plan.h"
#include "seccomp.h"

namespace tsrunc {
namespace {

Napi::Value ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Owns every byte the Plan points at. Built in the parent before clone; the child reads its
// copy-on-write image and the parent frees this once clone has returned.
class PlanStorage {
 public:
  Plan plan{};

  const char* Keep(std::string s) {
    strings_.push_back(std::move(s));
    return strings_.back().c_str();
  }
  template <typename T>
  T* KeepArray(std::vector<T> items) {
    auto holder = std::make_shared<std::vector<T>>(std::move(items));
    arrays_.push_back(holder);
    return holder->data();
  }

 private:
  std::deque<std::string> strings_;
  std::vector<std::shared_ptr<void>> arrays_;
};

// Decoding helpers. Each records the first problem in `error_` and returns a zero value; the
// plan comes from our own TypeScript, so a problem here is a programming error.
class Decoder {
 public:
  static constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1
  static constexpr double kMaxId = 4294967294.0;                 // (uid_t)-1 - 1
  static constexpr const char* kIdExpected =
      "id 0..4294967294 (4294967295, (uid_t)-1 or (gid_t)-1, means \"unchanged\")";

  Decoder(Napi::Env env, PlanStorage* storage) : env_(env), storage_(storage) {}
  bool ok() const { return error_.empty(); }
  // Records a problem the typed getters cannot see (a length, a combination).
  void Refuse(const char* key, const char* expected) { Fail(key, expected); }
  const std::string& error() const { return error_; }

  // A NUL byte would cut the C string the child uses short: another path or value than planned.
  std::string Str(const Napi::Object& o, const char* key) {
    Napi::Value v = o.Get(key);
    if (!v.IsString()) return Fail(key, "string"), std::string();
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.find('\0') != std::string::npos)
      return Fail(key, "string without a NUL byte"), std::string();
    return s;
  }
  const char* KeptStr(const Napi::Object& o, const char* key) {
    return storage_->Keep(Str(o, key));
  }
  const char* KeptStrOrNull(const Napi::Object& o, const char* key) {
    Napi::Value v = o.Get(key);
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    return KeptStr(o, key);
  }
  int64_t Int(const Napi::Object& o, const char* key) {
    Napi::Value v = o.Get(key);
    if (!IsIntegerIn(v, -kMaxSafeInteger, kMaxSafeInteger)) return Fail(key, "integer"), 0;
    return v.As<Napi::Number>().Int64Value();
  }
  // A user or group id. (uid_t)-1 and (gid_t)-1 mean "leave unchanged" to setresuid, setresgid,
  // setgroups and fchown: the child would stay root, so they are never an id here (the config
  // checks refuse them first; this is the last line).
  uint32_t Id(const Napi::Value& v, const char* key) {
    if (!IsIntegerIn(v, 0, kMaxId)) return Fail(key, kIdExpected), 0;
    return (uint32_t)v.As<Napi::Number>().Int64Value();
  }
  uint32_t Id(const Napi::Object& o, const char* key) { return Id(o.Get(key), key); }
  // An fd of this process to hand on (a stdio map source).
  int Fd(const Napi::Value& v, const char* key) {
    if (!IsIntegerIn(v, 0, INT32_MAX)) return Fail(key, "fd 0..2147483647"), 0;
    return v.As<Napi::Number>().Int32Value();
  }
  // An fd of this process, or -1 for none.
  int FdOrNone(const Napi::Object& o, const char* key) {
    Napi::Value v = o.Get(key);
    if (!IsIntegerIn(v, -1, INT32_MAX)) return Fail(key, "fd 0..2147483647 or -1"), -1;
    return v.As<Napi::Number>().Int32Value();
  }
  bool Bool(const Napi::Object& o, const char* key) {
    Napi::Value v = o.Get(key);
    if (!v.IsBoolean()) return Fail(key, "boolean"), false;
    return v.As<Napi::Boolean>().Value();
  }
  uint64_t Big(const Napi::Object& o, const char* key) {
    Napi::Value v = o.Get(key);
    if (!v.IsBigInt()) return Fail(key, "bigint"), 0;
    bool lossless = true;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  Napi::Array Arr(const Napi::Object& o, const char* key) {
    Napi::Value v = o.Get(key);
    if (!v.IsArray()) {
      Fail(key, "array");
      return Napi::Array::New(env_);
    }
    return v.As<Napi::Array>();
  }
  Napi::Object Obj(const Napi::Value& v, const char* what) {
    if (!v.IsObject()) {
      Fail(what, "object");
      return Napi::Object::New(env_);
    }
    return v.As<Napi::Object>();
  }
  // NULL-terminated char* array (argv/envp style), or plain const char* list.
  char* const* StrList(const Napi::Object& o, const char* key, int* count) {
    Napi::Array a = Arr(o, key);
    std::vector<char*> out;
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      std::string item = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
      if (!v.IsString() || item.find('\0') != std::string::npos) {
        Fail(key, "string[] without NUL bytes");
        break;
      }
      out.push_back(const_cast<char*>(storage_->Keep(std::move(item))));
    }
    if (count) *count = (int)out.size();
    out.push_back(nullptr);
    return storage_->KeepArray(std::move(out));
  }

 private:
  void Fail(const char* key, const char* type) {
    if (error_.empty()) error_ = std::string("plan field ") + key + ": expected " + type;
  }
  Napi::Env env_;
  PlanStorage* storage_;
  std::string error_;
};

void DecodePlan(Decoder& d, PlanStorage& s, const Napi::Object& o) {
  Plan& p = s.plan;
  {
    Napi::Array joins = d.Arr(o, "joinNamespaces");
    std::vector<NamespaceJoin> out;
    for (uint32_t i = 0; i < joins.Length(); i++) {
      Napi::Object j = d.Obj(joins.Get(i), "joinNamespaces[]");
      out.push_back({(int)d.Int(j, "type"), (int)d.Int(j, "fd")});
    }
    p.join_count = (int)out.size();
    p.joins = s.KeepArray(std::move(out));
  }
  p.new_user_namespace = d.Bool(o, "newUserNamespace");
  p.new_namespace_flags = (int)d.Int(o, "newNamespaceFlags");
  p.time_offsets = d.KeptStr(o, "timeOffsets");
  Napi::Value oom = o.Get("oomScoreAdj");
  p.set_oom_score_adj = oom.IsNumber();
  p.oom_score_adj = p.set_oom_score_adj ? oom.As<Napi::Number>().Int32Value() : 0;
  {
    Napi::Array limits = d.Arr(o, "rlimits");
    std::vector<RlimitRecord> out;
    for (uint32_t i = 0; i < limits.Length(); i++) {
      Napi::Object r = d.Obj(limits.Get(i), "rlimits[]");
      out.push_back({(int)d.Int(r, "resource"), d.Big(r, "soft"), d.Big(r, "hard")});
    }
    p.rlimit_count = (int)out.size();
    p.rlimits = s.KeepArray(std::move(out));
  }
  p.session_keyring = d.KeptStrOrNull(o, "sessionKeyringName");

  p.rootfs = d.KeptStr(o, "rootfs");
  p.build_rootfs = d.Bool(o, "buildRootfs");
  {
    std::string entry = d.Str(o, "enterRoot");
    if (entry == "pivot_root") {
      p.enter_root = kEnterPivotRoot;
    } else if (entry == "chroot") {
      p.enter_root = kEnterChroot;
    } else if (entry == "none") {
      p.enter_root = kEnterNone;
    } else if (d.ok()) {
      d.Str(o, "enterRoot-must-be-pivot_root-chroot-or-none");
    }
  }
  p.root_propagation = (unsigned long)d.Int(o, "rootPropagation");
  p.root_propagation_after_pivot = (unsigned long)d.Int(o, "rootPropagationAfterPivot");
  p.root_readonly = d.Bool(o, "rootReadonly");
  p.no_pivot = d.Bool(o, "noPivot");
  {
    Napi::Array mounts = d.Arr(o, "mounts");
    std::vector<MountRecord> out;
    for (uint32_t i = 0; i < mounts.Length(); i++) {
      Napi::Object m = d.Obj(mounts.Get(i), "mounts[]");
      MountRecord r{};
      r.source = d.KeptStr(m, "source");
      r.destination = d.KeptStr(m, "destination");
      r.fstype = d.KeptStr(m, "fstype");
      r.flags = (unsigned long)d.Int(m, "flags");
      r.propagation = (unsigned long)d.Int(m, "propagation");
      r.data = d.KeptStr(m, "data");
      r.remount_flags = (unsigned long)d.Int(m, "remountFlags");
      r.destination_is_file = d.Str(m, "destinationKind") == "file";
      r.no_symlinks = d.Bool(m, "noSymlinks");
      r.readonly_late_flags = (unsigned long)d.Int(m, "readonlyLateFlags");
      r.recursive_attr_set = (uint64_t)d.Int(m, "recursiveAttrSet");
      r.recursive_attr_clear = (uint64_t)d.Int(m, "recursiveAttrClear");
      r.recursive_attr_optional = d.Bool(m, "recursiveAttrOptional");
      r.source_fd = d.FdOrNone(m, "sourceFd");
      out.push_back(r);
    }
    p.mount_count = (int)out.size();
    p.mounts = s.KeepArray(std::move(out));
  }
  {
    Napi::Array devices = d.Arr(o, "devices");
    std::vector<DeviceRecord> out;
    for (uint32_t i = 0; i < devices.Length(); i++) {
      Napi::Object dv = d.Obj(devices.Get(i), "devices[]");
      DeviceRecord r{};
      r.path = d.KeptStr(dv, "path");
      r.type = (unsigned)d.Int(dv, "type");
      r.major = (unsigned)d.Int(dv, "major");
      r.minor = (unsigned)d.Int(dv, "minor");
      r.mode = (unsigned)d.Int(dv, "mode");
      r.uid = (uid_t)d.Id(dv, "uid");
      r.gid = (gid_t)d.Id(dv, "gid");
      r.bind_from_host = d.Bool(dv, "bindFromHost");
      out.push_back(r);
    }
    p.device_count = (int)out.size();
    p.devices = s.KeepArray(std::move(out));
  }
  {
    Napi::Array links = d.Arr(o, "symlinks");
    std::vector<SymlinkRecord> out;
    for (uint32_t i = 0; i < links.Length(); i++) {
      Napi::Object l = d.Obj(links.Get(i), "symlinks[]");
      out.push_back({d.KeptStr(l, "target"), d.KeptStr(l, "path")});
    }
    p.symlink_count = (int)out.size();
    p.symlinks = s.KeepArray(std::move(out));
  }
  p.masked_paths = d.StrList(o, "maskedPaths", &p.masked_count);
  p.readonly_paths = d.StrList(o, "readonlyPaths", &p.readonly_count);
  {
    Napi::Array sysctl = d.Arr(o, "sysctl");
    std::vector<SysctlRecord> out;
    for (uint32_t i = 0; i < sysctl.Length(); i++) {
      Napi::Object e = d.Obj(sysctl.Get(i), "sysctl[]");
      out.push_back({d.KeptStr(e, "path"), d.KeptStr(e, "value")});
    }
    p.sysctl_count = (int)out.size();
    p.sysctls = s.KeepArray(std::move(out));
  }
  p.hostname = d.KeptStrOrNull(o, "hostname");
  p.domainname = d.KeptStrOrNull(o, "domainname");
  p.cwd = d.KeptStr(o, "cwd");

  int argc = 0;
  p.argv = d.StrList(o, "args", &argc);
  p.envp = d.StrList(o, "env", nullptr);
  p.search_path = d.KeptStr(o, "searchPath");
  p.executable = d.KeptStrOrNull(o, "executable");
  p.uid = (uid_t)d.Id(o, "uid");
  p.gid = (gid_t)d.Id(o, "gid");
  {
    // Every entry an id: a non-number must never become group 0.
    Napi::Array gids = d.Arr(o, "additionalGids");
    std::vector<gid_t> out;
    for (uint32_t i = 0; i < gids.Length(); i++) {
      out.push_back((gid_t)d.Id(gids.Get(i), "additionalGids[]"));
    }
    p.additional_gid_count = (int)out.size();
    p.additional_gids = s.KeepArray(std::move(out));
  }
  p.umask_value = (int)d.Int(o, "umask");
  Napi::Value caps = o.Get("capabilities");
  p.has_capabilities = caps.IsObject();
  if (p.has_capabilities) {
    Napi::Object c = caps.As<Napi::Object>();
    p.cap_bounding = d.Big(c, "bounding");
    p.cap_effective = d.Big(c, "effective");
    p.cap_permitted = d.Big(c, "permitted");
    p.cap_inheritable = d.Big(c, "inheritable");
    p.cap_ambient = d.Big(c, "ambient");
    p.cap_last = (int)d.Int(c, "lastCap");
  }
  p.no_new_privileges = d.Bool(o, "noNewPrivileges");
  p.personality_domain = (int)d.Int(o, "personality");
  p.terminal = d.Bool(o, "terminal");
  p.exec_mode = d.Bool(o, "execMode");
  p.console_rows = (unsigned)d.Int(o, "consoleRows");
  p.console_columns = (unsigned)d.Int(o, "consoleColumns");
  p.console_socket_fd = (int)d.Int(o, "consoleSocketFd");
  p.exec_fifo_fd = (int)d.Int(o, "execFifoFd");
  {
    Napi::Array stdio = d.Arr(o, "stdio");
    if (stdio.Length() != 3) d.Refuse("stdio", "array of 3 fds");
    for (uint32_t i = 0; i < 3; i++) p.stdio_fds[i] = d.Fd(stdio.Get(i), "stdio[]");
    Napi::Array extra = d.Arr(o, "extraFds");
    std::vector<int> out;
    for (uint32_t i = 0; i < extra.Length(); i++) out.push_back(d.Fd(extra.Get(i), "extraFds[]"));
    p.extra_fd_count = (int)out.size();
    p.extra_fds = s.KeepArray(std::move(out));
  }
  Napi::Value seccomp = o.Get("seccomp");
  if (seccomp.IsObject()) {
    Napi::Object sc = seccomp.As<Napi::Object>();
    Napi::Value filter = sc.Get("filter");
    size_t size = filter.IsBuffer() ? filter.As<Napi::Buffer<uint8_t>>().Length() : 0;
    // 8-byte struct sock_filter records, at most BPF_MAXINSNS of them.
    if (size == 0 || size % 8 != 0 || size / 8 > 4096) {
      d.Str(sc, "filter-must-be-a-bpf-program");
    } else {
      const uint8_t* bytes = filter.As<Napi::Buffer<uint8_t>>().Data();
      // uint64_t storage keeps the copy 8-byte aligned, as struct sock_filter wants.
      std::vector<uint64_t> copy(size / 8);
      memcpy(copy.data(), bytes, size);
      p.seccomp_filter = s.KeepArray(std::move(copy));
      p.seccomp_instructions = (unsigned short)(size / 8);
      p.seccomp_flags = (unsigned)d.Int(sc, "flags");
      p.seccomp_notify = d.Bool(sc, "notify");
    }
  } else if (!seccomp.IsNull()) {
    d.Obj(seccomp, "seccomp");
  }
  if (argc == 0 && d.ok()) d.Str(o, "args-must-not-be-empty");
}

// spawnInit(plan) -> {intermediatePid, syncFd}
Napi::Value SpawnInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "spawnInit(plan: object)", {Arg::kObject})) return env.Undefined();
  auto storage = std::make_unique<PlanStorage>();
  Decoder decoder(env, storage.get());
  DecodePlan(decoder, *storage, info[0].As<Napi::Object>());
  if (!decoder.ok()) return ThrowType(env, "spawnInit: " + decoder.error());
  // Every fd the container is to get must be open now: one closed here could otherwise be
  // reused below for the sync socket, and hand it to the container.
  const Plan& plan = storage->plan;
  for (int target = 0; target < 3 + plan.extra_fd_count; target++) {
    int source = target < 3 ? plan.stdio_fds[target] : plan.extra_fds[target - 3];
    if (fcntl(source, F_GETFD) < 0) {
      std::string field = target < 3 ? "stdio[" + std::to_string(target) + "]"
                                     : "extraFds[" + std::to_string(target - 3) + "]";
      return ThrowErrno(env, "spawnInit: " + field + ": fd " + std::to_string(source), errno);
    }
  }

  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
    return ThrowErrno(env, "socketpair", errno);
  }
  // Every signal blocked across clone: until the child has put each disposition back to
  // SIG_DFL, a signal must not run one of Node's handlers there (they write to libuv's pipes,
  // which the child shares with us). The child unblocks once it has reset them (RunStage1); we
  // restore our own mask right after clone. (glibc keeps its internal signals out of the set.)
  sigset_t all_signals;
  sigset_t saved_mask;
  sigfillset(&all_signals);
  pthread_sigmask(SIG_SETMASK, &all_signals, &saved_mask);
  // A raw clone behaves like fork without running pthread_atfork handlers, which could take
  // locks that another Node thread held at this instant.
  long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    close(fds[0]);
    RunStage1(storage->plan, fds[1]);
  }
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &saved_mask, nullptr);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return ThrowErrno(env, "clone", err);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("intermediatePid", Napi::Number::New(env, (double)pid));
  result.Set("syncFd", Napi::Number::New(env, fds[0]));
  return result;
}

// The outcome of reading one record from the sync socket.
enum class RecordRead { kRecord, kEof, kNothingYet };

// One recv of a sync record from fd (flags: 0 or MSG_DONTWAIT). *outcome kRecord: the record
// object, with the fd that came with it (SCM_RIGHTS; at most one rides along, the seccomp
// listener) in `fd`, else -1; it belongs to the caller. kEof: every peer end is closed.
// kNothingYet: MSG_DONTWAIT and nothing queued. Throws (and returns undefined) otherwise.
Napi::Value ReadRecord(Napi::Env env, int fd, int flags, RecordRead* outcome) {
  *outcome = RecordRead::kRecord;
  SyncRecord rec;
  int passed_fd;
  bool truncated;
  // MSG_TRUNC: the real length of a longer datagram, so it is refused, not cut to size.
  ssize_t n = ReceiveWithFd(fd, &rec, sizeof(rec), MSG_TRUNC | flags, &passed_fd, &truncated);
  if (n < 0 && (flags & MSG_DONTWAIT) != 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    *outcome = RecordRead::kNothingYet;
    return env.Null();
  }
  if (n < 0) return ThrowErrno(env, "recv sync socket", errno);
  if (n == 0 || truncated || n != (ssize_t)sizeof(rec)) {
    if (passed_fd >= 0) close(passed_fd);
    if (n == 0) {
      *outcome = RecordRead::kEof;
      return env.Null();
    }
    // Fixed-size records only: anything else is a corrupted or hostile peer.
    return ThrowType(env, "sync record of unexpected size");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("type", rec.type);
  out.Set("stage", rec.stage);
  out.Set("step", rec.step);
  out.Set("errno", rec.error);
  out.Set("index", rec.index);
  out.Set("pid", rec.pid);
  out.Set("fd", passed_fd);
  return out;
}

Napi::Value SyncRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "syncRecv(fd: int32 >= 0, timeoutMs: int32)", {Arg::kFd, Arg::kInt32})) {
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int timeout_ms = info[1].As<Napi::Number>().Int32Value();
  struct pollfd pfd = {fd, POLLIN, 0};
  int ready;
  do {
    ready = poll(&pfd, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) return ThrowErrno(env, "poll sync socket", errno);
  if (ready == 0) return env.Null();
  RecordRead outcome;
  // EOF reads as null here, as a timeout does (its callers tell them apart by the timeout).
  return ReadRecord(env, fd, 0, &outcome);
}

// syncTryRecv(fd) -> record | 'eof' | null: syncRecv that never waits, for a socket watched by
// libuv (watchReadable).
Napi::Value SyncTryRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "syncTryRecv(fd: int32 >= 0)", {Arg::kFd})) return env.Undefined();
  RecordRead outcome;
  Napi::Value record =
      ReadRecord(env, info[0].As<Napi::Number>().Int32Value(), MSG_DONTWAIT, &outcome);
  if (outcome == RecordRead::kEof) return Napi::String::New(env, "eof");
  return record;
}

// sendFds(socketFd, payload: string, fds: number[]): one sendmsg with the payload and the fds
// attached (SCM_RIGHTS), as a seccomp listener expects them.
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* signature = "sendFds(socketFd: int32 >= 0, payload: string, fds: 1 to 8 int32 >= 0)";
  if (!CheckArgs(info, signature, {Arg::kFd, Arg::kText, Arg::kArray})) return env.Undefined();
  Napi::Array list = info[2].As<Napi::Array>();
  if (list.Length() == 0 || list.Length() > kMaxPassedFds) return ThrowType(env, signature);
  int fds[kMaxPassedFds];
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value fd = list.Get(i);
    if (!ArgMatches(fd, Arg::kFd)) return ThrowType(env, signature);
    fds[i] = fd.As<Napi::Number>().Int32Value();
  }
  int sock = info[0].As<Napi::Number>().Int32Value();
  std::string payload = info[1].As<Napi::String>().Utf8Value();
  ssize_t n = SendWithFds(sock, payload.data(), payload.size(), fds, list.Length());
  if (n < 0) return ThrowErrno(env, "sendmsg", errno);
  if ((size_t)n != payload.size()) return ThrowErrno(env, "sendmsg (short write)", EMSGSIZE);
  return env.Undefined();
}

// seqpacketPair() -> [fd, fd]: a SOCK_SEQPACKET socketpair like the sync socket, for tests of
// the record checks (O_CLOEXEC).
Napi::Value SeqpacketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "seqpacketPair()", {})) return env.Undefined();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
    return ThrowErrno(env, "socketpair", errno);
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set((uint32_t)0, fds[0]);
  out.Set((uint32_t)1, fds[1]);
  return out;
}

// pipe() -> [read, write]: pipe2(O_CLOEXEC), for the stdio of a hook run in the container.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "pipe()", {})) return env.Undefined();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return ThrowErrno(env, "pipe", errno);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set((uint32_t)0, fds[0]);
  out.Set((uint32_t)1, fds[1]);
  return out;
}

Napi::Value SyncSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "syncSend(fd: int32 >= 0, type: int32)", {Arg::kFd, Arg::kInt32})) {
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  SyncRecord rec = {info[1].As<Napi::Number>().Int32Value(), 0, 0, 0, 0, 0};
  ssize_t n;
  do {
    n = send(fd, &rec, sizeof(rec), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, "send sync socket", errno);
  return env.Undefined();
}

Napi::Value WaitPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "waitPid(pid: int32, block: boolean)", {Arg::kInt32, Arg::kBoolean})) {
    return env.Undefined();
  }
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  bool block = info[1].As<Napi::Boolean>().Value();
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(env, "waitpid", errno);
  int code = 0;
  if (r > 0) code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", r);
  out.Set("exitCode", code);
  return out;
}

Napi::Value NamespaceType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "namespaceType(fd: int32 >= 0)", {Arg::kFd})) return env.Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) return ThrowErrno(env, "not a namespace file", errno);
  return Napi::Number::New(env, type);
}

Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "connectUnix(socketPath: string)", {Arg::kString})) return env.Undefined();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return ThrowErrno(env, "connect", ENAMETOOLONG);
  memcpy(addr.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket", errno);
  if (connect(fd, (struct sockaddr*)&addr, sizeof(addr)) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "connect", err);
  }
  return Napi::Number::New(env, fd);
}

Napi::Value OpenPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "openPath(filePath: string, directory?: boolean)",
                 {Arg::kString, Arg::kOptionalBoolean})) {
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  bool directory = !info[1].IsBoolean() || info[1].As<Napi::Boolean>().Value();
  int fd = open(path.c_str(), O_PATH | O_CLOEXEC | (directory ? O_DIRECTORY : O_NOFOLLOW));
  if (fd < 0) return ThrowErrno(env, "open", errno);
  return Napi::Number::New(env, fd);
}

// openInRoot(root, path) -> fd: a regular file opened for reading with `path` resolved as if
// `root` were "/" (openat2 RESOLVE_IN_ROOT): a symlink in a container's rootfs cannot lead the
// runtime to one of the host's files (the container's /etc/passwd, read for HOME).
Napi::Value OpenInRoot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "openInRoot(root: string, path: string)", {Arg::kString, Arg::kString})) {
    return env.Undefined();
  }
  std::string root = info[0].As<Napi::String>().Utf8Value();
  std::string path = info[1].As<Napi::String>().Utf8Value();
  int root_fd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return ThrowErrno(env, "open root", errno);
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof(how));
  int err = errno;
  close(root_fd);
  if (fd < 0) return ThrowErrno(env, "openat2", err);
  struct stat st;
  if (fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close((int)fd);
    return ThrowErrno(env, "openat2", EINVAL);
  }
  return Napi::Number::New(env, (double)fd);
}

// open_tree(OPEN_TREE_CLONE): a detached copy of the mount at `path` (with `recursive`, of the
// mounts below it too), made a slave or private (`propagation`: MS_SLAVE or MS_PRIVATE) so it
// never propagates back to the mount it copies. The container's init attaches it with
// move_mount: a bind source it could not reach by path (a user namespace).
Napi::Value OpenTreeClone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "openTreeClone(sourcePath: string, recursive: boolean, propagation: uint32)",
                 {Arg::kString, Arg::kBoolean, Arg::kUint32})) {
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  bool recursive = info[1].As<Napi::Boolean>().Value();
  uint64_t propagation = (uint64_t)info[2].As<Napi::Number>().Int64Value();
  if (propagation != MS_SLAVE && propagation != MS_PRIVATE) {
    Napi::TypeError::New(env, "openTreeClone: propagation must be MS_SLAVE or MS_PRIVATE")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path.c_str(), flags);
  if (fd < 0) return ThrowErrno(env, "open_tree", errno);
  struct mount_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.propagation = propagation;
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
              sizeof(attr)) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "mount_setattr", err);
  }
  return Napi::Number::New(env, fd);
}

Napi::Value RenameNoReplace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "renameNoReplace(from: string, to: string)", {Arg::kString, Arg::kString})) {
    return env.Undefined();
  }
  std::string from = info[0].As<Napi::String>().Utf8Value();
  std::string to = info[1].As<Napi::String>().Utf8Value();
  if (syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) < 0) {
    return ThrowErrno(env, "rename", errno);
  }
  return env.Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, "closeFd(fd: int32 >= 0)", {Arg::kFd})) return info.Env().Undefined();
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "setChildSubreaper(on: boolean)", {Arg::kBoolean})) return env.Undefined();
  if (prctl(PR_SET_CHILD_SUBREAPER, info[0].As<Napi::Boolean>().Value() ? 1 : 0, 0, 0, 0) < 0) {
    return ThrowErrno(env, "prctl(PR_SET_CHILD_SUBREAPER)", errno);
  }
  return env.Undefined();
}

Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info,
                 "mount(source: string, target: string, fstype: string, flags: uint32, "
                 "data: string)",
                 {Arg::kString, Arg::kString, Arg::kString, Arg::kUint32, Arg::kString})) {
    return env.Undefined();
  }
  std::string source = info[0].As<Napi::String>().Utf8Value();
  std::string target = info[1].As<Napi::String>().Utf8Value();
  std::string fstype = info[2].As<Napi::String>().Utf8Value();
  unsigned long flags = (unsigned long)info[3].As<Napi::Number>().Int64Value();
  std::string data = info[4].As<Napi::String>().Utf8Value();
  if (mount(source.empty() ? nullptr : source.c_str(), target.c_str(),
            fstype.empty() ? nullptr : fstype.c_str(), flags,
            data.empty() ? nullptr : data.c_str()) < 0) {
    return ThrowErrno(env, "mount", errno);
  }
  return env.Undefined();
}

Napi::Value Umount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "umount(target: string, flags: int32)", {Arg::kString, Arg::kInt32})) {
    return env.Undefined();
  }
  std::string target = info[0].As<Napi::String>().Utf8Value();
  if (umount2(target.c_str(), info[1].As<Napi::Number>().Int32Value()) < 0) {
    return ThrowErrno(env, "umount", errno);
  }
  return env.Undefined();
}

Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "listenUnix(socketPath: string)", {Arg::kString})) return env.Undefined();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return ThrowErrno(env, "bind", ENAMETOOLONG);
  memcpy(addr.sun_path, path.c_str(), path.size());
  // Non-blocking: acceptUnix must never wait for a connection (receiveFd polls first).
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ThrowErrno(env, "socket", errno);
  if (bind(fd, (struct sockaddr*)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "listen", err);
  }
  return Napi::Number::New(env, fd);
}

// Accepts one connection on a listening socket and receives one fd sent with SCM_RIGHTS (the
// console socket protocol: a name in the payload, the pty master in the control message).
Napi::Value ReceiveFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "receiveFd(listenFd: int32 >= 0, timeoutMs: int32)",
                 {Arg::kFd, Arg::kInt32})) {
    return env.Undefined();
  }
  int listen_fd = info[0].As<Napi::Number>().Int32Value();
  int timeout_ms = info[1].As<Napi::Number>().Int32Value();
  int conn = -1;
  while (conn < 0) {
    struct pollfd pfd = {listen_fd, POLLIN, 0};
    int ready;
    do {
      ready = poll(&pfd, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0) return ThrowErrno(env, "wait for the console", ready == 0 ? ETIMEDOUT : errno);
    // Blocking, unlike the listening socket: the fd follows the connection at once.
    conn = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    // The listening socket is non-blocking: a connection gone again meanwhile is no error.
    if (conn < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return ThrowErrno(env, "accept", errno);
    }
  }
  char name[4096];
  int fd;
  bool truncated;
  ssize_t n = ReceiveWithFd(conn, name, sizeof(name), 0, &fd, &truncated);
  int err = errno;
  close(conn);
  if (n < 0) return ThrowErrno(env, "recvmsg", err);
  if (fd < 0) return ThrowType(env, "console socket: no file descriptor received");
  return Napi::Number::New(env, fd);
}

// acceptUnix(listenFd) -> a connection (O_CLOEXEC|O_NONBLOCK), or -1 when none is pending.
Napi::Value AcceptUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "acceptUnix(listenFd: int32 >= 0)", {Arg::kFd})) return env.Undefined();
  int listen_fd = info[0].As<Napi::Number>().Int32Value();
  // A listening socket of another maker may be blocking: accept only what is queued.
  struct pollfd pfd = {listen_fd, POLLIN, 0};
  int ready;
  do {
    ready = poll(&pfd, 1, 0);
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) return ThrowErrno(env, "poll", errno);
  if (ready == 0) return Napi::Number::New(env, -1);
  int conn;
  do {
    conn = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  } while (conn < 0 && errno == EINTR);
  if (conn < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Napi::Number::New(env, -1);
  if (conn < 0) return ThrowErrno(env, "accept", errno);
  return Napi::Number::New(env, conn);
}

// tryReceiveFd(connFd) -> the fd sent on a connection with SCM_RIGHTS (the console socket
// protocol: the pty name as payload, the master attached), or null when nothing has arrived yet.
// A connection closed first, or a message without an fd, is an EPROTO error.
Napi::Value TryReceiveFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "tryReceiveFd(connFd: int32 >= 0)", {Arg::kFd})) return env.Undefined();
  int conn = info[0].As<Napi::Number>().Int32Value();
  char name[4096];
  int fd;
  bool truncated;
  ssize_t n = ReceiveWithFd(conn, name, sizeof(name), MSG_DONTWAIT, &fd, &truncated);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return env.Null();
  if (n < 0) return ThrowErrno(env, "recvmsg", errno);
  if (fd >= 0) return Napi::Number::New(env, fd);
  return ThrowErrnoMessage(env,
                           n == 0 ? "console socket: closed by the peer before it sent an fd"
                                  : "console socket: a message without an fd",
                           EPROTO);
}

Napi::Value SetWindowSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "setWindowSize(fd: int32 >= 0, rows: uint16, columns: uint16)",
                 {Arg::kFd, Arg::kUint16, Arg::kUint16})) {
    return env.Undefined();
  }
  struct winsize size;
  memset(&size, 0, sizeof(size));
  size.ws_row = (unsigned short)info[1].As<Napi::Number>().Uint32Value();
  size.ws_col = (unsigned short)info[2].As<Napi::Number>().Uint32Value();
  if (ioctl(info[0].As<Napi::Number>().Int32Value(), TIOCSWINSZ, &size) < 0) {
    return ThrowErrno(env, "TIOCSWINSZ", errno);
  }
  return env.Undefined();
}

Napi::Value MakeFifo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "mkfifo(fifoPath: string, mode: uint32)", {Arg::kString, Arg::kUint32})) {
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (mkfifo(path.c_str(), (mode_t)info[1].As<Napi::Number>().Uint32Value()) < 0) {
    return ThrowErrno(env, "mkfifo", errno);
  }
  return env.Undefined();
}

Napi::Value StrError(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, "strerror(errno: int32)", {Arg::kInt32})) return info.Env().Undefined();
  return Napi::String::New(info.Env(), strerror(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnInit", Napi::Function::New(env, SpawnInit));
  exports.Set("syncRecv", Napi::Function::New(env, SyncRecv));
  exports.Set("syncTryRecv", Napi::Function::New(env, SyncTryRecv));
  exports.Set("syncSend", Napi::Function::New(env, SyncSend));
  exports.Set("sendFds", Napi::Function::New(env, SendFds));
  exports.Set("seqpacketPair", Napi::Function::New(env, SeqpacketPair));
  exports.Set("waitPid", Napi::Function::New(env, WaitPid));
  exports.Set("namespaceType", Napi::Function::New(env, NamespaceType));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix));
  exports.Set("openPath", Napi::Function::New(env, OpenPath));
  exports.Set("openInRoot", Napi::Function::New(env, OpenInRoot));
  exports.Set("openTreeClone", Napi::Function::New(env, OpenTreeClone));
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("renameNoReplace", Napi::Function::New(env, RenameNoReplace));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umount", Napi::Function::New(env, Umount));
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix));
  exports.Set("receiveFd", Napi::Function::New(env, ReceiveFd));
  exports.Set("acceptUnix", Napi::Function::New(env, AcceptUnix));
  exports.Set("tryReceiveFd", Napi::Function::New(env, TryReceiveFd));
  exports.Set("setWindowSize", Napi::Function::New(env, SetWindowSize));
  exports.Set("mkfifo", Napi::Function::New(env, MakeFifo));
  exports.Set("strerror", Napi::Function::New(env, StrError));
  RegisterAsync(env, exports);
  RegisterBpf(env, exports);
  RegisterSeccomp(env, exports);
  return exports;
}

}  // namespace
}  // namespace tsrunc

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return tsrunc::Init(env, exports);
}

NODE_API_MODULE(tsrunc_native, InitModule)
