#include "common.h"

#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace nvgw {

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& ifname,
                const std::string& what) {
  // strerrorname_np (glibc >= 2.32) gives the symbolic name Node uses for `code`.
  const char* code = strerrorname_np(err);
  std::string message = what + " '" + ifname + "': " + strerror(err) + " (" +
                        (code != nullptr ? code : "E?") + ", " + syscall + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code != nullptr ? code : "EUNKNOWN"));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.Set("interface", Napi::String::New(env, ifname));
  error.ThrowAsJavaScriptException();
}

void ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

void ThrowRange(Napi::Env env, const std::string& message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
}

void Region::Adopt(Kind kind, void* base, size_t length) {
  kind_ = kind;
  base_ = base;
  length_ = length;
}

void Region::AdoptFd(int fd) {
  for (int& slot : fds_) {
    if (slot < 0) {
      slot = fd;
      return;
    }
  }
  // Two sockets and a BPF map are all a port owns; more is a bug, not a runtime condition.
  abort();
}

void Region::Release() {
  if (base_ != nullptr) {
    if (kind_ == Kind::kMmap) {
      munmap(base_, length_);
    } else if (kind_ == Kind::kHeap) {
      free(base_);
    }
    base_ = nullptr;
    length_ = 0;
    kind_ = Kind::kNone;
  }
  for (int& fd : fds_) {
    if (fd >= 0) {
      close(fd);
      fd = -1;
    }
  }
}

Napi::ArrayBuffer ExposeRegion(Napi::Env env, const std::shared_ptr<Region>& region) {
  auto* hint = new std::shared_ptr<Region>(region);
  return Napi::ArrayBuffer::New(
      env, region->base(), region->length(),
      [](Napi::Env /*env*/, void* /*data*/, std::shared_ptr<Region>* owner) { delete owner; },
      hint);
}

bool ArgU32Array(const Napi::CallbackInfo& info, size_t index, uint32_t** data, size_t* length) {
  Napi::Value value = info[index];
  if (!value.IsTypedArray()) {
    ThrowType(info.Env(), "argument " + std::to_string(index) + " must be a Uint32Array");
    return false;
  }
  Napi::TypedArray typed = value.As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_uint32_array) {
    ThrowType(info.Env(), "argument " + std::to_string(index) + " must be a Uint32Array");
    return false;
  }
  Napi::Uint32Array array = value.As<Napi::Uint32Array>();
  *data = array.Data();
  *length = array.ElementLength();
  return true;
}

int64_t OptInt(const Napi::Object& options, const char* name, int64_t fallback) {
  Napi::Value value = options.Get(name);
  if (!value.IsNumber()) return fallback;
  return value.As<Napi::Number>().Int64Value();
}

bool OptBool(const Napi::Object& options, const char* name, bool fallback) {
  Napi::Value value = options.Get(name);
  if (!value.IsBoolean()) return fallback;
  return value.As<Napi::Boolean>().Value();
}

std::string OptString(const Napi::Object& options, const char* name, const char* fallback) {
  Napi::Value value = options.Get(name);
  if (!value.IsString()) return fallback;
  return value.As<Napi::String>().Utf8Value();
}

bool ArgIfname(const Napi::CallbackInfo& info, std::string* name) {
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowType(info.Env(), "interface name must be a string");
    return false;
  }
  *name = info[0].As<Napi::String>().Utf8Value();
  if (name->empty() || name->size() >= IFNAMSIZ || name->find('/') != std::string::npos ||
      name->find('\0') != std::string::npos) {
    ThrowErrno(info.Env(), EINVAL, "open", *name,
               "invalid interface name (1 to 15 bytes, no '/')");
    return false;
  }
  return true;
}

int ClearSocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return 0;
  return err;
}

}  // namespace nvgw
