// nvgw_io: batched, zero-copy packet I/O for the data path (AF_PACKET rings and taps).
//
// Module init is context-aware (Napi::Addon / NODE_API_ADDON): each JavaScript
// environment that loads the addon — the main thread and every worker_thread — gets its
// own instance with its own class constructors, and there is no global mutable state.
// A port object must be used only by the thread that created it.
#include <napi.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <malloc.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common.h"
#include "flow_claim.h"
#include "netlink_socket.h"
#include "packet_port.h"
#include "tap_port.h"

namespace nvgw {

class IoAddon : public Napi::Addon<IoAddon> {
 public:
  IoAddon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceValue("PacketPort", PacketPort::Init(env), napi_enumerable),
                             InstanceValue("TapPort", TapPort::Init(env), napi_enumerable),
                             InstanceValue("FlowClaim", FlowClaim::Init(env), napi_enumerable),
                             InstanceMethod<&IoAddon::WaitReadable>("waitReadable", napi_enumerable),
                             InstanceMethod<&IoAddon::DeleteTap>("deleteTap", napi_enumerable),
                             InstanceMethod<&IoAddon::CopyFrames>("copyFrames", napi_enumerable),
                             InstanceMethod<&IoAddon::WaitAny>("waitAny", napi_enumerable),
                             InstanceMethod<&IoAddon::InterfaceIndexes>("interfaceIndexes", napi_enumerable),
                             InstanceMethod<&IoAddon::DisableOffloads>("disableOffloads", napi_enumerable),
                             InstanceMethod<&IoAddon::NetlinkOpenMethod>("netlinkOpen", napi_enumerable),
                             InstanceMethod<&IoAddon::NetlinkSendMethod>("netlinkSend", napi_enumerable),
                             InstanceMethod<&IoAddon::NetlinkReceiveMethod>("netlinkReceive", napi_enumerable),
                             InstanceMethod<&IoAddon::NetlinkCloseMethod>("netlinkClose", napi_enumerable),
                             InstanceMethod<&IoAddon::TrimMemory>("trimMemory", napi_enumerable),
                         });
  }

 private:
  // waitReadable(fds: Int32Array, count, timeoutMs) -> bitmask. Blocks the calling thread
  // in poll(); the data path calls it from its own worker, never from the API's loop.
  // A descriptor with an error (POLLERR, e.g. ENETDOWN on a packet socket whose link went
  // down) also sets its bit, so the caller looks at the port instead of sleeping; the
  // socket error is cleared here so that it is reported once, not on every call.
  Napi::Value WaitReadable(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      ThrowType(env, "waitReadable needs an Int32Array of descriptors");
      return env.Undefined();
    }
    Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
    const int64_t count = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
    const int64_t timeout = info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : 0;
    if (count < 0 || count > 32 || size_t(count) > fds.ElementLength()) {
      ThrowRange(env, "waitReadable takes 0..32 descriptors");
      return env.Undefined();
    }
    struct pollfd set[32];
    for (int64_t i = 0; i < count; i++) {
      set[i].fd = fds[size_t(i)];  // a negative fd is ignored by poll()
      set[i].events = POLLIN;
      set[i].revents = 0;
    }
    const int wait = timeout < 0 ? -1 : int(timeout > 3600000 ? 3600000 : timeout);
    const int ready = poll(set, nfds_t(count), wait);
    uint32_t mask = 0;
    if (ready > 0) {
      for (int64_t i = 0; i < count; i++) {
        const short revents = set[i].revents;
        if (revents == 0) continue;
        if ((revents & POLLERR) != 0) ClearSocketError(set[i].fd);
        mask |= uint32_t(1) << i;
      }
    }
    // ready < 0 is EINTR (a signal) or a bad descriptor: both read as "nothing ready".
    return Napi::Number::New(env, mask);
  }

  Napi::Value DeleteTap(const Napi::CallbackInfo& info) { return TapPort::Delete(info); }
  Napi::Value NetlinkOpenMethod(const Napi::CallbackInfo& info) { return NetlinkOpen(info); }
  Napi::Value NetlinkSendMethod(const Napi::CallbackInfo& info) { return NetlinkSend(info); }
  Napi::Value NetlinkReceiveMethod(const Napi::CallbackInfo& info) { return NetlinkReceive(info); }
  Napi::Value NetlinkCloseMethod(const Napi::CallbackInfo& info) { return NetlinkClose(info); }

  // trimMemory() -> whether memory went back: malloc_trim(0), which gives the free pages of
  // every malloc arena back to the system (glibc since 2.8). A thread that exits, such as
  // a kernel pass's worker, leaves what it malloc'd and freed in its arena, where the
  // process keeps it as RSS until some allocation reuses it.
  Napi::Value TrimMemory(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0); }

  // waitAny(fds: Int32Array, count, timeoutMs[, ready: Int32Array]) -> number of ready
  // descriptors, without waitReadable's 32-port mask limit. With `ready`, the indices of
  // the ready descriptors are written into it (as many as fit), so the data path's worker
  // looks only at ports with input instead of every VSID's ring. The pollfd array is this
  // thread's own (the addon instance is per thread) and grows once to the largest count.
  Napi::Value WaitAny(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      ThrowType(env, "waitAny needs an Int32Array of descriptors");
      return env.Undefined();
    }
    Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
    const int64_t count = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
    const int64_t timeout = info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : 0;
    if (count < 0 || count > 65536 || size_t(count) > fds.ElementLength()) {
      ThrowRange(env, "waitAny takes 0..65536 descriptors");
      return env.Undefined();
    }
    if (pollSet_.size() < size_t(count)) pollSet_.resize(size_t(count));
    for (int64_t i = 0; i < count; i++) {
      pollSet_[size_t(i)].fd = fds[size_t(i)];
      pollSet_[size_t(i)].events = POLLIN;
      pollSet_[size_t(i)].revents = 0;
    }
    const int wait = timeout < 0 ? -1 : int(timeout > 3600000 ? 3600000 : timeout);
    int32_t* out = nullptr;
    size_t out_len = 0;
    if (info.Length() > 3 && info[3].IsTypedArray() && info[3].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
      Napi::Int32Array readyArray = info[3].As<Napi::Int32Array>();
      out = readyArray.Data();
      out_len = readyArray.ElementLength();
    }
    const int ready = poll(pollSet_.data(), nfds_t(count), wait);
    if (ready > 0) {
      size_t written = 0;
      for (int64_t i = 0; i < count; i++) {
        const short revents = pollSet_[size_t(i)].revents;
        if (revents == 0) continue;
        if ((revents & POLLERR) != 0) ClearSocketError(pollSet_[size_t(i)].fd);
        if (written < out_len) out[written++] = int32_t(i);
      }
    }
    return Napi::Number::New(env, ready < 0 ? 0 : ready);
  }

  std::vector<struct pollfd> pollSet_;

  // disableOffloads(ifname): what `ethtool -K ifname tx off tso off gso off` does, with the
  // same SIOCETHTOOL requests ethtool makes: the feature names (ETHTOOL_GSTRINGS of
  // ETH_SS_FEATURES), then one ETHTOOL_SFEATURES clearing every tx-checksum-*, every
  // tx-tcp*-segmentation and tx-generic-segmentation -- by name, so a feature a newer
  // kernel adds (tx-tcp-accecn-segmentation) goes too, which the legacy per-feature
  // commands miss. A few ioctls instead of a process per interface: at thousands of tenant
  // interfaces the process spawns were most of a first kernel pass.
  Napi::Value DisableOffloads(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string ifname;
    if (!ArgIfname(info, &ifname)) return env.Undefined();
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ThrowErrno(env, errno, "socket", ifname, "cannot change offloads of");
      return env.Undefined();
    }
    auto ethtool = [&](void* request, const char* what) {
      struct ifreq ifr;
      memset(&ifr, 0, sizeof(ifr));
      memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
      ifr.ifr_data = static_cast<char*>(request);
      if (ioctl(fd, SIOCETHTOOL, &ifr) >= 0) return true;
      const int err = errno;
      ThrowErrno(env, err, what, ifname, "cannot change offloads of");
      return false;
    };
    do {
      // struct ethtool_sset_info with one u32 of data after it.
      std::vector<uint32_t> sset((sizeof(struct ethtool_sset_info) + sizeof(uint32_t) + 3) / 4, 0);
      auto* info_req = reinterpret_cast<struct ethtool_sset_info*>(sset.data());
      info_req->cmd = ETHTOOL_GSSET_INFO;
      info_req->sset_mask = uint64_t(1) << ETH_SS_FEATURES;
      if (!ethtool(info_req, "ioctl(SIOCETHTOOL, ETHTOOL_GSSET_INFO)")) break;
      const uint32_t count = info_req->sset_mask != 0 ? info_req->data[0] : 0;
      std::vector<uint8_t> strings(sizeof(struct ethtool_gstrings) + size_t(count) * ETH_GSTRING_LEN, 0);
      auto* names = reinterpret_cast<struct ethtool_gstrings*>(strings.data());
      names->cmd = ETHTOOL_GSTRINGS;
      names->string_set = ETH_SS_FEATURES;
      names->len = count;
      if (!ethtool(names, "ioctl(SIOCETHTOOL, ETHTOOL_GSTRINGS)")) break;
      const uint32_t blocks = (count + 31) / 32;
      std::vector<uint8_t> set(sizeof(struct ethtool_sfeatures) + blocks * sizeof(struct ethtool_set_features_block), 0);
      auto* request = reinterpret_cast<struct ethtool_sfeatures*>(set.data());
      request->cmd = ETHTOOL_SFEATURES;
      request->size = blocks;
      for (uint32_t i = 0; i < count; i++) {
        const std::string name(reinterpret_cast<const char*>(names->data + size_t(i) * ETH_GSTRING_LEN),
                               strnlen(reinterpret_cast<const char*>(names->data + size_t(i) * ETH_GSTRING_LEN), ETH_GSTRING_LEN));
        const bool tcpSegmentation = name.rfind("tx-tcp", 0) == 0 && name.size() >= 12 &&
                                     name.compare(name.size() - 12, 12, "segmentation") == 0;
        if (name.rfind("tx-checksum-", 0) == 0 || tcpSegmentation || name == "tx-generic-segmentation") {
          request->features[i / 32].valid |= uint32_t(1) << (i % 32);  // requested stays 0: off
        }
      }
      // A positive return (ETHTOOL_F_WISH: some feature could not follow) is not an error;
      // a fixed feature simply stays as it is, as with ethtool.
      if (!ethtool(request, "ioctl(SIOCETHTOOL, ETHTOOL_SFEATURES)")) break;
    } while (false);
    close(fd);
    return env.Undefined();
  }

  // interfaceIndexes() -> { name: ifindex } of every interface in the thread's network
  // namespace, from one if_nameindex(3) (one netlink dump), where a lookup per name
  // would cost a syscall (or a sysfs read) for each of thousands of tenant interfaces.
  Napi::Value InterfaceIndexes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct if_nameindex* list = if_nameindex();
    if (list == nullptr) {
      ThrowErrno(env, errno, "if_nameindex", "", "cannot list interfaces");
      return env.Undefined();
    }
    Napi::Object out = Napi::Object::New(env);
    for (struct if_nameindex* i = list; i->if_index != 0 && i->if_name != nullptr; i++) {
      out.Set(i->if_name, Napi::Number::New(env, i->if_index));
    }
    if_freenameindex(list);
    return out;
  }

  // copyFrames(src, srcOffsets, dst, dstOffsets, lengths, count) -> copies skipped.
  // The pipeline decides per packet where each frame goes and writes the headers itself;
  // the payload bytes of a whole batch then move in one call (memcpy), so no JavaScript
  // byte loop and no per-packet crossing. Every range is checked against both buffers: a
  // bad entry is skipped and counted, never written out of bounds.
  Napi::Value CopyFrames(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 6 || !info[0].IsTypedArray() || !info[2].IsTypedArray() || !info[1].IsTypedArray() || !info[3].IsTypedArray() ||
        !info[4].IsTypedArray() || !info[5].IsNumber()) {
      ThrowType(env, "copyFrames(src, srcOffsets, dst, dstOffsets, lengths, count)");
      return env.Undefined();
    }
    Napi::Uint8Array src = info[0].As<Napi::Uint8Array>();
    Napi::Uint8Array dst = info[2].As<Napi::Uint8Array>();
    Napi::Uint32Array srcOffsets = info[1].As<Napi::Uint32Array>();
    Napi::Uint32Array dstOffsets = info[3].As<Napi::Uint32Array>();
    Napi::Uint32Array lengths = info[4].As<Napi::Uint32Array>();
    const int64_t requested = info[5].As<Napi::Number>().Int64Value();
    const size_t count = requested < 0 ? 0 : size_t(requested);
    if (count > srcOffsets.ElementLength() || count > dstOffsets.ElementLength() || count > lengths.ElementLength()) {
      ThrowRange(env, "copyFrames: count exceeds the offset arrays");
      return env.Undefined();
    }
    uint8_t* from = src.Data();
    uint8_t* to = dst.Data();
    const uint64_t srcSize = src.ByteLength();
    const uint64_t dstSize = dst.ByteLength();
    uint32_t skipped = 0;
    for (size_t i = 0; i < count; i++) {
      const uint64_t s = srcOffsets[i], d = dstOffsets[i], n = lengths[i];
      if (s + n > srcSize || d + n > dstSize) {
        skipped++;
        continue;
      }
      std::memmove(to + d, from + s, size_t(n));
    }
    return Napi::Number::New(env, skipped);
  }
};

}  // namespace nvgw

// The macro pastes its argument into identifiers, so it needs an unqualified name.
using nvgw::IoAddon;
NODE_API_ADDON(IoAddon)
