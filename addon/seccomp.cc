// linux.seccomp -> classic BPF program, compiled in the parent with libseccomp. The child never
// calls libseccomp: it only passes the bytes returned here to seccomp(SECCOMP_SET_MODE_FILTER).
// Every decision a user could fix (action values, errno, which rules to split or skip) is made
// in TypeScript (src/plan/seccomp.ts); this file only resolves names and emits the program.
// Typed counterpart: compileSeccomp in src/native/index.ts.
//
// compileSeccomp({defaultAction, architectures: string[], rules: [{name, action,
//                 args: [{index, op, value: bigint, valueTwo: bigint}]}], enosysNames: string[]})
//   -> {filter: Buffer (struct sock_filter[]), unknown: string[] (names not known here)}
//
// With enosysNames, a short program goes in front of libseccomp's: per architecture, a syscall
// number above the highest one those names have there returns ENOSYS (runc does the same, so a
// libc newer than the profile falls back: clone3 -> clone). Everything else goes on to
// libseccomp's program, which checks the architecture again itself.

#include "seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "args.h"

namespace tsrunc {
namespace {

constexpr size_t kMaxArgs = 6;
constexpr size_t kMaxInstructions = 4096;  // BPF_MAXINSNS

Napi::Value Throw(Napi::Env env, const std::string& message) {
  Napi::Error::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Frees the libseccomp context on every return path.
class Filter {
 public:
  explicit Filter(uint32_t default_action) : ctx_(seccomp_init(default_action)) {}
  ~Filter() {
    if (ctx_) seccomp_release(ctx_);
  }
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;
  scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// A straight-line BPF program with forward jumps to labels, resolved by Finish().
class StubBuilder {
 public:
  static constexpr int kNext = -1;  // a jump target: the next instruction

  int NewLabel() {
    labels_.push_back(-1);
    return (int)labels_.size() - 1;
  }
  void Bind(int label) { labels_[label] = (int)code_.size(); }
  void Stmt(uint16_t op, uint32_t k) { code_.push_back(BPF_STMT(op, k)); }
  void Jump(uint16_t op, uint32_t k, int jt, int jf) {
    fixups_.push_back({code_.size(), jt, jf, false});
    code_.push_back(BPF_JUMP(op, k, 0, 0));
  }
  void Goto(int label) {
    fixups_.push_back({code_.size(), label, kNext, true});
    code_.push_back(BPF_STMT(BPF_JMP | BPF_JA, 0));
  }
  // False when a label is unbound or too far for a conditional jump (255).
  bool Finish(std::vector<sock_filter>* out) {
    for (const Fixup& f : fixups_) {
      int jt = Offset(f.at, f.jt);
      int jf = Offset(f.at, f.jf);
      if (jt < 0 || jf < 0) return false;
      if (f.always) {
        code_[f.at].k = (uint32_t)jt;
      } else {
        if (jt > 255 || jf > 255) return false;
        code_[f.at].jt = (uint8_t)jt;
        code_[f.at].jf = (uint8_t)jf;
      }
    }
    *out = code_;
    return true;
  }

 private:
  struct Fixup {
    size_t at;
    int jt;
    int jf;
    bool always;
  };
  int Offset(size_t at, int label) const {
    if (label == kNext) return 0;
    int target = labels_[label];
    return target < 0 ? -1 : target - (int)at - 1;
  }
  std::vector<sock_filter> code_;
  std::vector<int> labels_;
  std::vector<Fixup> fixups_;
};

// Highest syscall number of `names` on `arch` (pseudo-syscalls and unknown names are
// negative and skipped); -1 when none is known there.
int64_t HighestSyscall(uint32_t arch, const std::vector<std::string>& names) {
  int64_t highest = -1;
  for (const std::string& name : names) {
    int nr = seccomp_syscall_resolve_name_arch(arch, name.c_str());
    if (nr >= 0 && nr > highest) highest = nr;
  }
  return highest;
}

// The ENOSYS program described at the top. x32 syscalls arrive as AUDIT_ARCH_X86_64 with
// __X32_SYSCALL_BIT set in the number: they are checked against the x32 names instead.
bool EnosysStub(const std::vector<uint32_t>& arches, const std::vector<std::string>& names,
                std::vector<sock_filter>* out) {
  constexpr uint32_t kX32Bit = 0x40000000;
  bool has_x32 = false;
  for (uint32_t arch : arches) has_x32 = has_x32 || arch == SCMP_ARCH_X32;
  int64_t x32_highest = has_x32 ? HighestSyscall(SCMP_ARCH_X32, names) : -1;
  StubBuilder b;
  int enosys = b.NewLabel();
  int end = b.NewLabel();
  b.Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  for (uint32_t arch : arches) {
    if (arch == SCMP_ARCH_X32) continue;  // with x86_64 below
    int64_t highest = HighestSyscall(arch, names);
    bool x32_here = arch == SCMP_ARCH_X86_64 && x32_highest >= 0;
    if (highest < 0 && !x32_here) continue;
    int next_arch = b.NewLabel();
    b.Jump(BPF_JMP | BPF_JEQ | BPF_K, arch, StubBuilder::kNext, next_arch);
    b.Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    if (arch == SCMP_ARCH_X86_64) {
      int x32 = b.NewLabel();
      b.Jump(BPF_JMP | BPF_JSET | BPF_K, kX32Bit, x32, StubBuilder::kNext);
      if (highest >= 0) {
        b.Jump(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)highest, enosys, end);
      } else {
        b.Goto(end);
      }
      b.Bind(x32);
      if (x32_here) {
        b.Jump(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)x32_highest, enosys, end);
      } else {
        b.Goto(end);
      }
    } else {
      b.Jump(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)highest, enosys, end);
    }
    b.Bind(next_arch);
  }
  b.Goto(end);
  b.Bind(enosys);
  b.Stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
  b.Bind(end);
  return b.Finish(out);
}

bool GetUint32(const Napi::Object& o, const char* key, uint32_t* out) {
  Napi::Value v = o.Get(key);
  if (!ArgMatches(v, Arg::kUint32)) return false;
  *out = v.As<Napi::Number>().Uint32Value();
  return true;
}

bool GetBig(const Napi::Object& o, const char* key, uint64_t* out) {
  Napi::Value v = o.Get(key);
  if (!v.IsBigInt()) return false;
  bool lossless = true;
  *out = v.As<Napi::BigInt>().Uint64Value(&lossless);
  return lossless;
}

Napi::Value CompileSeccomp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "compileSeccomp(input: object)", {Arg::kObject})) return env.Undefined();
  Napi::Object input = info[0].As<Napi::Object>();
  uint32_t default_action = 0;
  if (!GetUint32(input, "defaultAction", &default_action)) {
    return ThrowType(env, "compileSeccomp: defaultAction must be a uint32");
  }
  Napi::Value archs_value = input.Get("architectures");
  Napi::Value rules_value = input.Get("rules");
  Napi::Value enosys_value = input.Get("enosysNames");
  if (!archs_value.IsArray() || !rules_value.IsArray() || !enosys_value.IsArray()) {
    return ThrowType(env, "compileSeccomp: architectures, rules and enosysNames must be arrays");
  }
  Napi::Array archs = archs_value.As<Napi::Array>();
  Napi::Array rules = rules_value.As<Napi::Array>();
  std::vector<std::string> enosys_names;
  Napi::Array enosys_array = enosys_value.As<Napi::Array>();
  for (uint32_t i = 0; i < enosys_array.Length(); i++) {
    Napi::Value v = enosys_array.Get(i);
    if (!v.IsString()) return ThrowType(env, "compileSeccomp: enosysNames[] must be strings");
    enosys_names.push_back(v.As<Napi::String>().Utf8Value());
  }
  // The native architecture first, as libseccomp's filter has it.
  std::vector<uint32_t> arch_tokens{seccomp_arch_native()};

  Filter filter(default_action);
  if (!filter.get()) return Throw(env, "seccomp: cannot create the filter (bad default action?)");
  // Loading is done by the child with the raw syscall; these only keep the export faithful.
  seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_NNP, 0);

  for (uint32_t i = 0; i < archs.Length(); i++) {
    Napi::Value v = archs.Get(i);
    if (!v.IsString()) return ThrowType(env, "compileSeccomp: architectures[] must be strings");
    std::string name = v.As<Napi::String>().Utf8Value();
    uint32_t arch = seccomp_arch_resolve_name(name.c_str());
    if (arch == 0) return Throw(env, "seccomp: unknown architecture " + name);
    int rc = seccomp_arch_add(filter.get(), arch);
    if (rc < 0 && rc != -EEXIST) {
      return Throw(env, "seccomp: add architecture " + name + ": " + strerror(-rc));
    }
    if (rc == 0) arch_tokens.push_back(arch);
  }

  Napi::Array unknown = Napi::Array::New(env);
  uint32_t unknown_count = 0;
  for (uint32_t i = 0; i < rules.Length(); i++) {
    Napi::Value rv = rules.Get(i);
    if (!rv.IsObject()) return ThrowType(env, "compileSeccomp: rules[] must be objects");
    Napi::Object rule = rv.As<Napi::Object>();
    Napi::Value name_value = rule.Get("name");
    uint32_t action = 0;
    Napi::Value args_value = rule.Get("args");
    if (!name_value.IsString() || !GetUint32(rule, "action", &action) || !args_value.IsArray()) {
      return ThrowType(env, "compileSeccomp: rules[] needs name, action and args");
    }
    std::string name = name_value.As<Napi::String>().Utf8Value();
    Napi::Array args = args_value.As<Napi::Array>();
    if (args.Length() > kMaxArgs) {
      return Throw(env, "seccomp: syscall " + name + ": more than 6 argument conditions");
    }
    std::vector<scmp_arg_cmp> conditions;
    for (uint32_t j = 0; j < args.Length(); j++) {
      Napi::Value av = args.Get(j);
      if (!av.IsObject()) return ThrowType(env, "compileSeccomp: args[] must be objects");
      Napi::Object a = av.As<Napi::Object>();
      uint32_t index = 0;
      uint32_t op = 0;
      scmp_arg_cmp cmp{};
      if (!GetUint32(a, "index", &index) || !GetUint32(a, "op", &op) ||
          !GetBig(a, "value", &cmp.datum_a) || !GetBig(a, "valueTwo", &cmp.datum_b)) {
        return ThrowType(env, "compileSeccomp: args[] needs index, op, value and valueTwo");
      }
      cmp.arg = index;
      cmp.op = static_cast<scmp_compare>(op);
      conditions.push_back(cmp);
    }

    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) {
      unknown.Set(unknown_count++, Napi::String::New(env, name));
      continue;
    }
    int rc = seccomp_rule_add_array(filter.get(), action, nr, (unsigned)conditions.size(),
                                    conditions.empty() ? nullptr : conditions.data());
    if (rc < 0) return Throw(env, "seccomp: add a rule for " + name + ": " + strerror(-rc));
  }

  Fd memfd(static_cast<int>(memfd_create("tsrunc-seccomp", MFD_CLOEXEC)));
  if (memfd.get() < 0) return Throw(env, std::string("seccomp: memfd_create: ") + strerror(errno));
  int rc = seccomp_export_bpf(filter.get(), memfd.get());
  if (rc < 0) return Throw(env, std::string("seccomp: export the filter: ") + strerror(-rc));
  off_t size = lseek(memfd.get(), 0, SEEK_END);
  if (size < 0) return Throw(env, std::string("seccomp: lseek: ") + strerror(errno));
  if (size == 0 || size % sizeof(struct sock_filter) != 0) {
    return Throw(env, "seccomp: exported filter has an unexpected size");
  }
  if (static_cast<size_t>(size) / sizeof(struct sock_filter) > kMaxInstructions) {
    return Throw(env, "seccomp: the filter has " +
                          std::to_string(size / sizeof(struct sock_filter)) +
                          " instructions, more than the kernel's limit of 4096");
  }
  std::vector<sock_filter> stub;
  if (!enosys_names.empty() && !EnosysStub(arch_tokens, enosys_names, &stub)) {
    return Throw(env, "seccomp: cannot build the ENOSYS program");
  }
  size_t stub_bytes = stub.size() * sizeof(struct sock_filter);
  if ((stub_bytes + static_cast<size_t>(size)) / sizeof(struct sock_filter) > kMaxInstructions) {
    return Throw(env, "seccomp: the filter has " +
                          std::to_string((stub_bytes + size) / sizeof(struct sock_filter)) +
                          " instructions, more than the kernel's limit of 4096");
  }
  std::vector<uint8_t> bytes(stub_bytes + static_cast<size_t>(size));
  if (stub_bytes > 0) memcpy(bytes.data(), stub.data(), stub_bytes);
  size_t done = 0;
  while (done < static_cast<size_t>(size)) {
    ssize_t n =
        pread(memfd.get(), bytes.data() + stub_bytes + done, (size_t)size - done, (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Throw(env, std::string("seccomp: read the filter: ") + strerror(errno));
    done += static_cast<size_t>(n);
  }

  Napi::Object out = Napi::Object::New(env);
  out.Set("filter", Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size()));
  out.Set("unknown", unknown);
  return out;
}

}  // namespace

void RegisterSeccomp(Napi::Env env, Napi::Object exports) {
  exports.Set("compileSeccomp", Napi::Function::New(env, CompileSeccomp));
}

}  // namespace tsrunc
