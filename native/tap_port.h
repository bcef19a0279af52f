// Tap port: one queue of a Linux tap device (/dev/net/tun, IFF_TAP | IFF_NO_PI), with a
// fixed-slot receive and transmit buffer exposed to JavaScript as one ArrayBuffer.
#ifndef NVGW_NATIVE_TAP_PORT_H_
#define NVGW_NATIVE_TAP_PORT_H_

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common.h"

namespace nvgw {

// Order of the values stats() writes (mirrored by TAP_STAT_FIELDS in tap-port.ts).
enum TapStat {
  kTsRxPackets,
  kTsRxBytes,
  kTsRxKernelDrops,
  kTsTxPackets,
  kTsTxBytes,
  kTsTxErrors,
  kTsTxRingFull,
  kTsRxErrors,
  kTsCount
};

class TapPort : public Napi::ObjectWrap<TapPort> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit TapPort(const Napi::CallbackInfo& info);
  ~TapPort() override;

  // deleteTap(name): clears TUNSETPERSIST so the device goes when its last queue closes.
  static Napi::Value Delete(const Napi::CallbackInfo& info);

 private:
  bool Open(Napi::Env env, const Napi::Object& options);

  Napi::Value Describe(const Napi::CallbackInfo& info);
  Napi::Value Receive(const Napi::CallbackInfo& info);
  Napi::Value ReleaseRx(const Napi::CallbackInfo& info);
  Napi::Value ReserveTx(const Napi::CallbackInfo& info);
  Napi::Value SendTx(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::string ifname_;
  std::shared_ptr<Region> region_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  uint8_t* base_ = nullptr;
  int fd_ = -1;
  int stats_fd_ = -1;  // /sys/class/net/<name>/statistics/tx_dropped, read by stats()
  int ifindex_ = 0;
  int mtu_ = 0;
  uint8_t mac_[6] = {0, 0, 0, 0, 0, 0};
  uint32_t vnet_len_ = 0;   // virtio_net_hdr bytes before every frame (IFF_VNET_HDR)
  uint32_t slot_size_ = 0;
  uint32_t rx_slots_ = 0;
  uint32_t tx_slots_ = 0;
  uint32_t tx_reserved_ = 0;
  double tx_dropped_at_open_ = 0;
  double stats_[kTsCount] = {};
};

}  // namespace nvgw

#endif  // NVGW_NATIVE_TAP_PORT_H_
