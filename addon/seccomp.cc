// linux.seccomp -> classic BPF program, compiled in the parent with libseccomp. The child never
// calls libseccomp: it only passes the bytes returned here to seccomp(SECCOMP_SET_MODE_FILTER).
// Every decision a user could fix (action values, errno, which rules to split or skip) is made
// in TypeScript (src/plan/seccomp.ts); this file only resolves names and emits the program.
// Typed counterpart: compileSeccomp in src/native/index.ts.
//
// compileSeccomp({defaultAction, architectures: string[], rules: [{name, action,
//                 args: [{index, op, value: bigint, valueTwo: bigint}]}]})
//   -> {filter: Buffer (struct sock_filter[]), unknown: string[] (names not known here)}

#include "seccomp.h"

#include "args.h"

#include <errno.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

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
  if (!archs_value.IsArray() || !rules_value.IsArray()) {
    return ThrowType(env, "compileSeccomp: architectures and rules must be arrays");
  }
  Napi::Array archs = archs_value.As<Napi::Array>();
  Napi::Array rules = rules_value.As<Napi::Array>();

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
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = pread(memfd.get(), bytes.data() + done, bytes.size() - done, (off_t)done);
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
