// Tap port. References: the kernel's Documentation/networking/tuntap.rst ("Network
// device allocation", "Multiqueue tuntap interface") and include/uapi/linux/if_tun.h.
//
// A tap moves one frame per read()/write(): the tun driver has no batched interface for
// a userspace reader (its TUN_MSG_PTR batching is for vhost-net only). The batch
// semantics of the FramePort are kept anyway, with the syscalls looped here in C++ so
// that JavaScript still makes one call per batch.
//
// Buffer layout, one ArrayBuffer: rxSlots then txSlots slots of slotSize bytes. Each
// frame starts kFrameOffset bytes into its slot; with IFF_VNET_HDR the 12-byte
// virtio_net_hdr sits right before the frame, so a read()/write() covers header and frame
// in one contiguous span without copying.
#include "tap_port.h"

#include <fcntl.h>
// <net/if.h> before any <linux/...> header: linux/libc-compat.h then skips its own
// struct ifreq and IFF_* definitions instead of clashing with glibc's.
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace nvgw {
namespace {

constexpr uint32_t kFrameOffset = 16;
// struct virtio_net_hdr_v1 / virtio_net_hdr_mrg_rxbuf: the size every current consumer
// (vhost, QEMU) uses; the tun default is the 10-byte legacy header.
constexpr uint32_t kVnetHdrLen = 12;
constexpr const char* kOpenWhat = "cannot open tap port on";

int OpenTun() { return open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC); }

// Reads a decimal counter from a sysfs attribute kept open; -1 when unavailable.
double ReadCounter(int fd) {
  if (fd < 0) return -1;
  char text[32];
  ssize_t r = pread(fd, text, sizeof(text) - 1, 0);
  if (r <= 0) return -1;
  text[r] = '\0';
  return strtod(text, nullptr);
}

}  // namespace

Napi::Function TapPort::Init(Napi::Env env) {
  return DefineClass(env, "TapPort",
                     {
                         InstanceMethod<&TapPort::Describe>("describe"),
                         InstanceMethod<&TapPort::Receive>("receive"),
                         InstanceMethod<&TapPort::ReleaseRx>("releaseRx"),
                         InstanceMethod<&TapPort::ReserveTx>("reserveTx"),
                         InstanceMethod<&TapPort::SendTx>("sendTx"),
                         InstanceMethod<&TapPort::Stats>("stats"),
                         InstanceMethod<&TapPort::Close>("close"),
                     });
}

TapPort::TapPort(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TapPort>(info) {
  Napi::Env env = info.Env();
  region_ = std::make_shared<Region>();
  if (!ArgIfname(info, &ifname_)) return;
  if (info.Length() < 2 || !info[1].IsObject()) {
    ThrowType(env, "options must be an object");
    return;
  }
  if (!Open(env, info[1].As<Napi::Object>())) {
    region_->Release();
    base_ = nullptr;
    return;
  }
  buffer_ = Napi::Persistent(ExposeRegion(env, region_));
}

TapPort::~TapPort() { buffer_.Reset(); }

bool TapPort::Open(Napi::Env env, const Napi::Object& options) {
  const bool vnet = OptBool(options, "vnetHdr", false);
  const bool multi_queue = OptBool(options, "multiQueue", false);
  const bool persist = OptBool(options, "persist", false);
  const bool create = OptBool(options, "create", true);
  const int64_t offloads = OptInt(options, "offloads", 0);
  const int64_t slot_size = OptInt(options, "slotSize", 2048);
  const int64_t rx_slots = OptInt(options, "rxSlots", 256);
  const int64_t tx_slots = OptInt(options, "txSlots", 256);
  if (slot_size < 256 || slot_size > (1 << 17) || slot_size % 64 != 0 || rx_slots < 1 ||
      rx_slots > 65536 || tx_slots < 1 || tx_slots > 65536 ||
      uint64_t(slot_size) * uint64_t(rx_slots + tx_slots) > (uint64_t(1) << 30)) {
    ThrowRange(env, "slotSize must be 256..131072 and a multiple of 64, rxSlots/txSlots 1..65536, total <= 1 GiB");
    return false;
  }
  if (offloads != 0 && !vnet) {
    ThrowRange(env, "offloads need vnetHdr: the offload metadata travels in the virtio_net_hdr");
    return false;
  }
  slot_size_ = uint32_t(slot_size);
  rx_slots_ = uint32_t(rx_slots);
  tx_slots_ = uint32_t(tx_slots);
  vnet_len_ = vnet ? kVnetHdrLen : 0;

  if (!create && if_nametoindex(ifname_.c_str()) == 0) {
    ThrowErrno(env, ENODEV, "if_nametoindex", ifname_, kOpenWhat);
    return false;
  }
  fd_ = OpenTun();
  if (fd_ < 0) {
    ThrowErrno(env, errno, "open(/dev/net/tun)", ifname_, kOpenWhat);
    return false;
  }
  region_->AdoptFd(fd_);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  memcpy(ifr.ifr_name, ifname_.c_str(), ifname_.size());
  // IFF_NO_PI: no 4-byte packet-information prefix, the frame is the whole read.
  ifr.ifr_flags = short(IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) |
                        (multi_queue ? IFF_MULTI_QUEUE : 0));
  if (ioctl(fd_, TUNSETIFF, &ifr) != 0) {
    // EBUSY: a single-queue tap already has a reader; EINVAL: the name belongs to a
    // device that is not a tap, or to a tap created with the other IFF_MULTI_QUEUE.
    ThrowErrno(env, errno, "ioctl(TUNSETIFF)", ifname_, kOpenWhat);
    return false;
  }
  ifname_.assign(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  if (vnet) {
    int size = int(kVnetHdrLen);
    if (ioctl(fd_, TUNSETVNETHDRSZ, &size) != 0) {
      ThrowErrno(env, errno, "ioctl(TUNSETVNETHDRSZ)", ifname_, kOpenWhat);
      return false;
    }
    // TUN_F_* bits this reader accepts in frames it reads (checksum offload, TSO). With 0,
    // the kernel finishes checksums and segments before handing frames over.
    if (ioctl(fd_, TUNSETOFFLOAD, static_cast<unsigned long>(offloads)) != 0) {
      ThrowErrno(env, errno, "ioctl(TUNSETOFFLOAD)", ifname_, kOpenWhat);
      return false;
    }
  }
  if (persist && ioctl(fd_, TUNSETPERSIST, 1) != 0) {
    ThrowErrno(env, errno, "ioctl(TUNSETPERSIST)", ifname_, kOpenWhat);
    return false;
  }
  ifindex_ = int(if_nametoindex(ifname_.c_str()));
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    ThrowErrno(env, errno, "socket(AF_INET)", ifname_, kOpenWhat);
    return false;
  }
  int err = 0;
  if (ioctl(sock, SIOCGIFHWADDR, &ifr) != 0) {
    err = errno;
  } else {
    memcpy(mac_, ifr.ifr_hwaddr.sa_data, 6);
    if (ioctl(sock, SIOCGIFMTU, &ifr) != 0) err = errno;
    mtu_ = ifr.ifr_mtu;
  }
  close(sock);
  if (err != 0) {
    ThrowErrno(env, err, "ioctl(SIOCGIFHWADDR/SIOCGIFMTU)", ifname_, kOpenWhat);
    return false;
  }
  // Frames the kernel could not queue to us (our queue full) are the tap's tx_dropped.
  // The counter is per device and cumulative, so a baseline is taken now; with several
  // queues (IFF_MULTI_QUEUE) each port reports the device total.
  std::string path = "/sys/class/net/" + ifname_ + "/statistics/tx_dropped";
  stats_fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (stats_fd_ >= 0) region_->AdoptFd(stats_fd_);
  tx_dropped_at_open_ = std::max(0.0, ReadCounter(stats_fd_));

  const size_t total = size_t(slot_size_) * (rx_slots_ + tx_slots_);
  void* memory = aligned_alloc(4096, total);
  if (memory == nullptr) {
    ThrowErrno(env, ENOMEM, "aligned_alloc", ifname_, kOpenWhat);
    return false;
  }
  // Zeroed once: a virtio_net_hdr of zeros means "no offload", which is what every
  // frame written without GSO needs.
  memset(memory, 0, total);
  region_->AdoptHeap(memory, total);
  base_ = static_cast<uint8_t*>(memory);
  return true;
}

Napi::Value TapPort::Describe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (base_ == nullptr) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("buffer", buffer_.Value());
  out.Set("name", ifname_);
  out.Set("fd", fd_);
  out.Set("ifindex", ifindex_);
  out.Set("mtu", mtu_);
  Napi::Uint8Array mac = Napi::Uint8Array::New(env, 6);
  memcpy(mac.Data(), mac_, 6);
  out.Set("mac", mac);
  out.Set("frameCapacity", slot_size_ - kFrameOffset);
  out.Set("slotSize", slot_size_);
  out.Set("rxSlots", rx_slots_);
  out.Set("txSlots", tx_slots_);
  out.Set("frameOffset", kFrameOffset);
  out.Set("vnetHeaderLength", vnet_len_);
  return out;
}

Napi::Value TapPort::Receive(const Napi::CallbackInfo& info) {
  uint32_t* offsets;
  uint32_t* lengths;
  size_t offsets_len, lengths_len;
  if (!ArgU32Array(info, 0, &offsets, &offsets_len) || !ArgU32Array(info, 1, &lengths, &lengths_len)) {
    return info.Env().Undefined();
  }
  if (base_ == nullptr) return Napi::Number::New(info.Env(), 0);
  const size_t cap = std::min({offsets_len, lengths_len, size_t(rx_slots_)});
  const size_t room = slot_size_ - kFrameOffset + vnet_len_;
  size_t n = 0;
  size_t failures = 0;
  uint64_t bytes = 0;
  while (n < cap && failures < cap) {
    const uint32_t frame_at = uint32_t(n) * slot_size_ + kFrameOffset;
    ssize_t r = read(fd_, base_ + frame_at - vnet_len_, room);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      stats_[kTsRxErrors]++;
      failures++;
      // EFAULT/EINVAL: this frame did not fit the slot and is gone; the next may fit.
      // Anything else (EBADFD: the device was deleted) will not get better this batch.
      if (errno == EFAULT || errno == EINVAL || errno == EMSGSIZE) continue;
      break;
    }
    if (size_t(r) < vnet_len_ + ETH_HLEN) {
      stats_[kTsRxErrors]++;
      failures++;
      continue;
    }
    offsets[n] = frame_at;
    lengths[n] = uint32_t(r) - vnet_len_;
    bytes += lengths[n];
    n++;
  }
  stats_[kTsRxPackets] += double(n);
  stats_[kTsRxBytes] += double(bytes);
  return Napi::Number::New(info.Env(), double(n));
}

// The read() copied each frame out of the kernel, so there is nothing to hand back: the
// slots are reused by the next receive().
Napi::Value TapPort::ReleaseRx(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

Napi::Value TapPort::ReserveTx(const Napi::CallbackInfo& info) {
  uint32_t* offsets;
  size_t offsets_len;
  if (!ArgU32Array(info, 0, &offsets, &offsets_len)) return info.Env().Undefined();
  const int64_t want = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
  if (base_ == nullptr || want <= 0) return Napi::Number::New(info.Env(), 0);
  const uint32_t got = uint32_t(std::min<int64_t>({want, int64_t(offsets_len), int64_t(tx_slots_)}));
  for (uint32_t i = 0; i < got; i++) offsets[i] = (rx_slots_ + i) * slot_size_ + kFrameOffset;
  tx_reserved_ = got;
  if (want > int64_t(got)) stats_[kTsTxRingFull] += double(want - got);
  return Napi::Number::New(info.Env(), got);
}

Napi::Value TapPort::SendTx(const Napi::CallbackInfo& info) {
  uint32_t* lengths;
  size_t lengths_len;
  if (!ArgU32Array(info, 0, &lengths, &lengths_len)) return info.Env().Undefined();
  const int64_t asked = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
  if (base_ == nullptr) return info.Env().Undefined();
  const uint32_t count =
      uint32_t(std::max<int64_t>(0, std::min<int64_t>({asked, int64_t(tx_reserved_), int64_t(lengths_len)})));
  const uint32_t capacity = slot_size_ - kFrameOffset;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t len = lengths[i];
    if (len < ETH_HLEN || len > capacity) {
      stats_[kTsTxErrors]++;
      continue;
    }
    const uint32_t frame_at = (rx_slots_ + i) * slot_size_ + kFrameOffset;
    ssize_t r;
    do {
      r = write(fd_, base_ + frame_at - vnet_len_, len + vnet_len_);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      // EIO: the tap is down; EAGAIN/ENOBUFS: the kernel could not take the frame now.
      // Each is one lost frame, counted; the batch goes on.
      stats_[kTsTxErrors]++;
      continue;
    }
    stats_[kTsTxPackets]++;
    bytes += len;
  }
  tx_reserved_ = 0;
  stats_[kTsTxBytes] += double(bytes);
  return info.Env().Undefined();
}

Napi::Value TapPort::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::Float64Array>().ElementLength() < kTsCount) {
    ThrowType(env, "stats() needs a Float64Array of at least " + std::to_string(kTsCount) + " elements");
    return env.Undefined();
  }
  if (base_ != nullptr) {
    const double dropped = ReadCounter(stats_fd_);
    if (dropped >= tx_dropped_at_open_) stats_[kTsRxKernelDrops] = dropped - tx_dropped_at_open_;
  }
  memcpy(info[0].As<Napi::Float64Array>().Data(), stats_, sizeof(stats_));
  return env.Undefined();
}

Napi::Value TapPort::Close(const Napi::CallbackInfo& info) {
  if (base_ != nullptr) {
    Napi::ArrayBuffer buffer = buffer_.Value();
    if (!buffer.IsEmpty() && !buffer.IsDetached()) buffer.Detach();
    buffer_.Reset();
    region_->Release();
    base_ = nullptr;
    fd_ = -1;
    stats_fd_ = -1;
  }
  return info.Env().Undefined();
}

Napi::Value TapPort::Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgIfname(info, &name)) return env.Undefined();
  if (if_nametoindex(name.c_str()) == 0) return Napi::Boolean::New(env, false);
  int fd = OpenTun();
  if (fd < 0) {
    ThrowErrno(env, errno, "open(/dev/net/tun)", name, "cannot delete tap");
    return env.Undefined();
  }
  // Attaching needs the device's own IFF_MULTI_QUEUE setting; try both.
  struct ifreq ifr;
  int err = 0;
  const char* syscall = "ioctl(TUNSETIFF)";
  for (short extra : {short(0), short(IFF_MULTI_QUEUE)}) {
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, name.c_str(), name.size());
    ifr.ifr_flags = short(IFF_TAP | IFF_NO_PI | extra);
    err = ioctl(fd, TUNSETIFF, &ifr) == 0 ? 0 : errno;
    if (err != EINVAL) break;
  }
  if (err == 0 && ioctl(fd, TUNSETPERSIST, 0) != 0) {
    err = errno;
    syscall = "ioctl(TUNSETPERSIST)";
  }
  close(fd);  // with persist cleared, the last close removes the device
  if (err != 0) {
    // EINVAL from TUNSETIFF: the name is not a tap; EBUSY: a single-queue tap in use.
    ThrowErrno(env, err, syscall, name, "cannot delete tap");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace nvgw
