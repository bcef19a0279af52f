// A netlink socket the data path's worker owns and reads itself: for ctnetlink events
// (NETLINK_NETFILTER, the conntrack NEW/UPDATE/DESTROY groups) and the requests that go
// with them. Non-blocking; the worker polls its descriptor with the packet ports and
// drains it between batches.
//
// Why not the `netlink` npm package's socket: on a multicast overrun the kernel sets
// ENOBUFS on the socket, epoll reports EPOLLERR, and that package's poll callback then
// throws a C++ exception out of libuv and the process aborts. Here an overrun is what it
// is to the protocol, a return value: events were lost, the caller resyncs with a dump.
#ifndef NVGW_NATIVE_NETLINK_SOCKET_H_
#define NVGW_NATIVE_NETLINK_SOCKET_H_

#include <napi.h>

namespace nvgw {

// netlinkOpen(protocol, groups: number[], receiveBufferBytes) -> { fd, port, receiveBufferBytes }
Napi::Value NetlinkOpen(const Napi::CallbackInfo& info);
// netlinkSend(fd, bytes: Uint8Array, length) -> 0, or -errno
Napi::Value NetlinkSend(const Napi::CallbackInfo& info);
// netlinkReceive(fd, into: Uint8Array) -> bytes of one datagram; 0 when none is waiting;
// -errno: -ENOBUFS for lost events, -EMSGSIZE for a datagram larger than `into` (lost too)
Napi::Value NetlinkReceive(const Napi::CallbackInfo& info);
// netlinkClose(fd)
Napi::Value NetlinkClose(const Napi::CallbackInfo& info);

}  // namespace nvgw

#endif  // NVGW_NATIVE_NETLINK_SOCKET_H_
