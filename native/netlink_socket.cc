#include "netlink_socket.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common.h"

namespace nvgw {
namespace {

bool ArgFd(const Napi::CallbackInfo& info, int* fd) {
  if (!info[0].IsNumber()) {
    ThrowType(info.Env(), "a netlink socket descriptor (number) is required");
    return false;
  }
  *fd = info[0].As<Napi::Number>().Int32Value();
  if (*fd < 0) {
    ThrowRange(info.Env(), "the netlink socket is closed");
    return false;
  }
  return true;
}

}  // namespace

Napi::Value NetlinkOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsArray() || !info[2].IsNumber()) {
    ThrowType(env, "netlinkOpen(protocol, groups[], receiveBufferBytes)");
    return env.Undefined();
  }
  const int protocol = info[0].As<Napi::Number>().Int32Value();
  const int64_t wanted = info[2].As<Napi::Number>().Int64Value();
  if (wanted < 0 || wanted > (int64_t(1) << 30)) {
    ThrowRange(env, "receiveBufferBytes must be 0..1 GiB");
    return env.Undefined();
  }
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    ThrowErrno(env, errno, "socket(AF_NETLINK)", "", "cannot open a netlink socket");
    return env.Undefined();
  }
  auto fail = [&](const char* syscall) {
    const int err = errno;
    close(fd);
    ThrowErrno(env, err, syscall, "", "cannot set up the netlink socket");
    return env.Undefined();
  };
  if (wanted > 0) {
    // SO_RCVBUFFORCE (CAP_NET_ADMIN) past net.core.rmem_max: a burst of new connections
    // must not cost events; without the capability, the capped SO_RCVBUF.
    const int size = int(wanted);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) != 0) {
      return fail("setsockopt(SO_RCVBUF)");
    }
  }
  struct sockaddr_nl address;
  memset(&address, 0, sizeof(address));
  address.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&address), sizeof(address)) != 0) return fail("bind(AF_NETLINK)");
  Napi::Array groups = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < groups.Length(); i++) {
    Napi::Value group = groups.Get(i);
    if (!group.IsNumber()) {
      close(fd);
      ThrowType(env, "netlink groups must be numbers");
      return env.Undefined();
    }
    const int g = group.As<Napi::Number>().Int32Value();
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) != 0) return fail("setsockopt(NETLINK_ADD_MEMBERSHIP)");
  }
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&address), &length) != 0) return fail("getsockname(AF_NETLINK)");
  int granted = 0;
  socklen_t grantedLength = sizeof(granted);
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &grantedLength) != 0) return fail("getsockopt(SO_RCVBUF)");
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("port", Napi::Number::New(env, address.nl_pid));
  out.Set("receiveBufferBytes", Napi::Number::New(env, granted));
  return out;
}

Napi::Value NetlinkSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!ArgFd(info, &fd)) return env.Undefined();
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !info[2].IsNumber()) {
    ThrowType(env, "netlinkSend(fd, bytes: Uint8Array, length)");
    return env.Undefined();
  }
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  const int64_t length = info[2].As<Napi::Number>().Int64Value();
  if (length < 0 || uint64_t(length) > bytes.ByteLength()) {
    ThrowRange(env, "netlinkSend: length exceeds the buffer");
    return env.Undefined();
  }
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;
  const ssize_t sent = sendto(fd, bytes.Data(), size_t(length), 0, reinterpret_cast<struct sockaddr*>(&kernel), sizeof(kernel));
  return Napi::Number::New(env, sent < 0 ? -errno : 0);
}

Napi::Value NetlinkReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!ArgFd(info, &fd)) return env.Undefined();
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowType(env, "netlinkReceive(fd, into: Uint8Array)");
    return env.Undefined();
  }
  Napi::Uint8Array into = info[1].As<Napi::Uint8Array>();
  for (;;) {
    // MSG_TRUNC returns the datagram's real length, so one that did not fit is known.
    const ssize_t n = recv(fd, into.Data(), into.ByteLength(), MSG_DONTWAIT | MSG_TRUNC);
    if (n >= 0) return Napi::Number::New(env, size_t(n) > into.ByteLength() ? -EMSGSIZE : double(n));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, 0);
    return Napi::Number::New(env, -errno);
  }
}

Napi::Value NetlinkClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!ArgFd(info, &fd)) return env.Undefined();
  close(fd);
  return env.Undefined();
}

}  // namespace nvgw
