// Parent-side calls for a long-lived process that serves many containers in-process (the shim),
// where nothing may block the event loop: pidfds (a handle on one process that a recycled pid
// cannot fool, to wait for and signal it), readiness of any pollable fd reported by libuv on the
// JS thread, and flock without waiting. Never used after clone.
// Typed counterpart: src/native/index.ts.

#include "async.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <string>

#include "args.h"
#include "errors.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace tsrunc {
namespace {

// pidfdOpen(pid) -> fd. pidfd_open(2) makes it close-on-exec. A pid with no process: ESRCH.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "pidfdOpen(pid: int32 > 0)", {Arg::kPid})) return env.Undefined();
  int pid = info[0].As<Napi::Number>().Int32Value();
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return ThrowErrno(env, "pidfd_open " + std::to_string(pid), errno);
  return Napi::Number::New(env, fd);
}

// pidfdReap(pidfd) -> {exitCode, signal} once the process has exited (and is reaped by this
// call), null while it runs. Only a child of this process can be waited for: ECHILD otherwise.
Napi::Value PidfdReap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "pidfdReap(pidfd: int32 >= 0)", {Arg::kFd})) return env.Undefined();
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  siginfo_t child;
  memset(&child, 0, sizeof(child));  // si_pid stays 0 when WNOHANG finds nothing
  int rc;
  do {
    rc = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &child, WEXITED | WNOHANG);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return ThrowErrno(env, "waitid(P_PIDFD)", errno);
  if (child.si_pid == 0) return env.Null();
  bool killed = child.si_code == CLD_KILLED || child.si_code == CLD_DUMPED;
  Napi::Object out = Napi::Object::New(env);
  // The shell's convention, as waitPid: 128 + the signal that killed it.
  out.Set("exitCode", killed ? 128 + child.si_status : child.si_status);
  out.Set("signal", killed ? child.si_status : 0);
  return out;
}

// pidfdSignal(pidfd, signo): pidfd_send_signal(2). Signal 0 only checks the process is there.
// ESRCH once it has exited.
Napi::Value PidfdSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "pidfdSignal(pidfd: int32 >= 0, signo: int32)", {Arg::kFd, Arg::kInt32})) {
    return env.Undefined();
  }
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  int signo = info[1].As<Napi::Number>().Int32Value();
  if (syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0) < 0) {
    return ThrowErrno(env, "pidfd_send_signal " + std::to_string(signo), errno);
  }
  return env.Undefined();
}

// ---- watchReadable ----
//
// One uv_poll_t per watch, on the loop of the env that made it. Its memory is shared by the
// open handle and the three JS functions of the FdWatch object (stop, ref, unref: a caller may
// keep one of them alone), and freed when the last of them lets go: the handle in its close
// callback, each function in its finalizer. The JS callback and the async context are released
// at stop() or at env teardown, whichever comes first, while N-API may still be called.
struct Watch {
  uv_poll_t poll;  // poll.data == this
  napi_env env = nullptr;
  napi_ref callback = nullptr;
  napi_async_context async = nullptr;
  napi_async_cleanup_hook_handle teardown = nullptr;
  bool closing = false;
  int owners = 1;  // the handle; +1 for each JS function made
};

void Release(Watch* watch) {
  if (--watch->owners == 0) delete watch;
}

void OnClosed(uv_handle_t* handle) {
  Watch* watch = static_cast<Watch*>(handle->data);
  // Registered until the handle is really closed: a worker's env checks its loop has no handle
  // left once the hooks are done.
  if (watch->teardown != nullptr) napi_remove_async_cleanup_hook(watch->teardown);
  Release(watch);
}

// From here on the callback never runs: the flag is checked before every call, and uv_close
// has no poll callback of its own.
void StopWatch(Watch* watch) {
  if (watch->closing) return;
  watch->closing = true;
  napi_delete_reference(watch->env, watch->callback);
  watch->callback = nullptr;
  napi_async_destroy(watch->env, watch->async);
  watch->async = nullptr;
  uv_poll_stop(&watch->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll), OnClosed);
}

// The env is going away with the watch still on (a worker that ends, a process that exits
// without stopping it): close the handle before the loop is checked for leftovers.
void OnTeardown(napi_async_cleanup_hook_handle, void* data) {
  StopWatch(static_cast<Watch*>(data));
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  Watch* watch = static_cast<Watch*>(handle->data);
  if (watch->closing) return;
  napi_env env = watch->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback;
  napi_value receiver;
  napi_value argument;
  napi_value result;
  if (napi_get_reference_value(env, watch->callback, &callback) == napi_ok &&
      napi_get_global(env, &receiver) == napi_ok &&  // an object: MakeCallback requires one
      napi_create_int32(env, status, &argument) == napi_ok) {
    // MakeCallback: async hooks see the watch as the cause, and queued ticks and microtasks run
    // when it returns, as after any libuv callback of Node's own.
    napi_status called =
        napi_make_callback(env, watch->async, receiver, callback, 1, &argument, &result);
    if (called == napi_pending_exception) {
      // What onEvent threw goes where any uncaught exception goes ('uncaughtException', or
      // the process exits with it printed); left pending, it would be lost or fatal.
      napi_value error;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok) {
        napi_fatal_exception(env, error);
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

Watch* WatchOf(const Napi::CallbackInfo& info) { return static_cast<Watch*>(info.Data()); }

Napi::Value WatchStop(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, "FdWatch.stop()", {})) return info.Env().Undefined();
  StopWatch(WatchOf(info));
  return info.Env().Undefined();
}

Napi::Value WatchRef(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, "FdWatch.ref()", {})) return info.Env().Undefined();
  Watch* watch = WatchOf(info);
  if (!watch->closing) uv_ref(reinterpret_cast<uv_handle_t*>(&watch->poll));
  return info.Env().Undefined();
}

Napi::Value WatchUnref(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, "FdWatch.unref()", {})) return info.Env().Undefined();
  Watch* watch = WatchOf(info);
  if (!watch->closing) uv_unref(reinterpret_cast<uv_handle_t*>(&watch->poll));
  return info.Env().Undefined();
}

// A function of the FdWatch object that co-owns the watch until it is garbage collected.
Napi::Function WatchMethod(Napi::Env env, Watch* watch, const char* name,
                           Napi::Value (*method)(const Napi::CallbackInfo&)) {
  Napi::Function fn = Napi::Function::New(env, method, name, watch);
  watch->owners++;
  fn.AddFinalizer([](Napi::Env, Watch* owned) { Release(owned); }, watch);
  return fn;
}

// watchReadable(fd, onEvent) -> {stop, ref, unref}. Level triggered: onEvent(0) runs on every
// loop iteration while fd is readable or hung up, so the caller reads, or stops the watch. A
// negative status is libuv's error (UV_EBADF on POLLERR); libuv has stopped polling then.
Napi::Value WatchReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "watchReadable(fd: int32 >= 0, onEvent: function)",
                 {Arg::kFd, Arg::kFunction})) {
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    return ThrowErrnoMessage(env, "watchReadable: no event loop", EINVAL);
  }
  Watch* watch = new Watch();
  watch->env = env;
  // Also sets O_NONBLOCK on the fd's open file description (libuv does for every poll handle);
  // fails with EPERM for a regular file, EEXIST when this loop polls the fd already.
  int err = uv_poll_init(loop, &watch->poll, fd);
  if (err != 0) {
    delete watch;  // not registered with the loop: uv_poll_init checks before it registers
    return ThrowErrno(env, "watchReadable: fd " + std::to_string(fd), -err);
  }
  watch->poll.data = watch;
  err = uv_poll_start(&watch->poll, UV_READABLE, OnPoll);
  if (err != 0) {
    watch->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll), OnClosed);
    return ThrowErrno(env, "watchReadable: fd " + std::to_string(fd), -err);
  }
  Napi::Object result = Napi::Object::New(env);
  napi_create_reference(env, info[1], 1, &watch->callback);
  napi_async_init(env, result, Napi::String::New(env, "tsrunc.FdWatch"), &watch->async);
  napi_add_async_cleanup_hook(env, OnTeardown, watch, &watch->teardown);
  result.Set("stop", WatchMethod(env, watch, "stop", WatchStop));
  result.Set("ref", WatchMethod(env, watch, "ref", WatchRef));
  result.Set("unref", WatchMethod(env, watch, "unref", WatchUnref));
  return result;
}

// ---- flock ----

// tryFlock(fd, exclusive) -> true when taken, false when another open file description holds a
// conflicting lock. Never waits.
Napi::Value TryFlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "tryFlock(fd: int32 >= 0, exclusive: boolean)", {Arg::kFd, Arg::kBoolean})) {
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool exclusive = info[1].As<Napi::Boolean>().Value();
  int rc;
  do {
    rc = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  return ThrowErrno(env, exclusive ? "flock(LOCK_EX)" : "flock(LOCK_SH)", errno);
}

Napi::Value Unflock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, "unflock(fd: int32 >= 0)", {Arg::kFd})) return env.Undefined();
  if (flock(info[0].As<Napi::Number>().Int32Value(), LOCK_UN) < 0) {
    return ThrowErrno(env, "flock(LOCK_UN)", errno);
  }
  return env.Undefined();
}

}  // namespace

void RegisterAsync(Napi::Env env, Napi::Object exports) {
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdReap", Napi::Function::New(env, PidfdReap));
  exports.Set("pidfdSignal", Napi::Function::New(env, PidfdSignal));
  exports.Set("watchReadable", Napi::Function::New(env, WatchReadable));
  exports.Set("tryFlock", Napi::Function::New(env, TryFlock));
  exports.Set("unflock", Napi::Function::New(env, Unflock));
}

}  // namespace tsrunc
