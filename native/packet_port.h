// AF_PACKET port: a TPACKET_V2 (or V3) receive ring and a TPACKET_V2 transmit ring on one
// interface, mapped once and exposed to JavaScript as one external ArrayBuffer.
#ifndef NVGW_NATIVE_PACKET_PORT_H_
#define NVGW_NATIVE_PACKET_PORT_H_

#include <napi.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common.h"

namespace nvgw {

// Order of the values stats() writes into the caller's Float64Array (mirrored by
// PACKET_STAT_FIELDS in src/datapath/io/packet-port.ts).
enum PacketStat {
  kPsRxPackets,
  kPsRxBytes,
  kPsRxKernelDrops,
  kPsTxPackets,
  kPsTxBytes,
  kPsTxErrors,
  kPsTxRingFull,
  kPsRxTruncated,
  kPsRxVlanDropped,
  kPsRxChecksumPartial,
  kPsRxQueueFreezes,
  kPsTxKickRetries,
  kPsTxKickErrors,
  kPsRxChecksumCompleted,
  kPsRxChecksumUncompletable,
  kPsCount
};

class PacketPort : public Napi::ObjectWrap<PacketPort> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit PacketPort(const Napi::CallbackInfo& info);
  ~PacketPort() override;

 private:
  bool Open(Napi::Env env, const Napi::Object& options);
  bool AttachFilter(Napi::Env env, const Napi::Object& options);
  bool JoinFanout(Napi::Env env, const Napi::Object& options);
  bool OpenAddressedTx(Napi::Env env);
  bool DescribeInterface(Napi::Env env);
  bool MapRings(Napi::Env env);
  void Kick();

  Napi::Value Describe(const Napi::CallbackInfo& info);
  Napi::Value Receive(const Napi::CallbackInfo& info);
  Napi::Value ReleaseRx(const Napi::CallbackInfo& info);
  Napi::Value ReserveTx(const Napi::CallbackInfo& info);
  Napi::Value SendTx(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Admit(const Napi::CallbackInfo& info);
  Napi::Value Refuse(const Napi::CallbackInfo& info);
  Napi::Value SetAdmitted(const Napi::CallbackInfo& info, bool present);
  void SendAddressed(const uint32_t* lengths, const uint32_t* targets, uint32_t count);

  uint8_t* RxBlock(uint32_t index) const { return base_ + size_t(index) * rx_block_size_; }
  uint32_t RxFrameOffset(uint32_t frame) const {
    return (frame / rx_frames_per_block_) * rx_block_size_ + (frame % rx_frames_per_block_) * rx_frame_size_;
  }
  Napi::Value ReceiveBlocks(Napi::Env env, uint32_t* offsets, uint32_t* lengths, size_t cap);
  Napi::Value ReceiveFrames(Napi::Env env, uint32_t* offsets, uint32_t* lengths, uint32_t* sources, size_t cap);
  // Finishes the TCP/UDP checksum of a CHECKSUM_PARTIAL IPv4 frame; false when it is not one.
  static bool CompleteChecksum(uint8_t* frame, uint32_t length);
  // Checks one received frame (truncation, 802.1Q tag, checksum state); false: not delivered.
  bool AcceptFrame(uint32_t header_end, uint32_t status, uint32_t snap, uint32_t len, uint16_t tci,
                   uint16_t tpid, uint32_t* mac_at, uint32_t* length);
  uint32_t TxSlotOffset(uint32_t slot) const {
    return rx_ring_bytes_ + (slot / tx_frames_per_block_) * tx_block_size_ +
           (slot % tx_frames_per_block_) * tx_frame_size_;
  }

  std::string ifname_;
  // Shared mode ("anyInterface"): one port for many interfaces. The receive socket is
  // bound to every interface and an eBPF filter admits the ones named by admit(); each
  // received frame carries its interface (sll_ifindex). Transmit has no ring: frames are
  // written to an anonymous staging area and sent with one sendmmsg() whose messages each
  // name their interface, because a TX ring's kick sends every frame to one interface.
  bool shared_ = false;
  int map_fd_ = -1;
  std::vector<struct mmsghdr> tx_msgs_;
  std::vector<struct iovec> tx_iov_;
  std::vector<struct sockaddr_ll> tx_addr_;
  std::shared_ptr<Region> region_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  uint8_t* base_ = nullptr;  // == region_->base() while open; nullptr after close()
  int rx_fd_ = -1;
  int tx_fd_ = -1;
  int ifindex_ = 0;
  int mtu_ = 0;
  uint8_t mac_[6] = {0, 0, 0, 0, 0, 0};

  // RX ring: TPACKET_V2 frames (rx_frames_, the default) or TPACKET_V3 blocks.
  bool rx_frames_ = true;
  uint32_t rx_frame_size_ = 0;
  uint32_t rx_frames_per_block_ = 0;
  uint32_t rx_frame_nr_ = 0;
  uint32_t rx_frame_ = 0;          // next frame to look at (frames mode)
  uint32_t rx_frame_release_ = 0;  // oldest frame not yet given back (frames mode)
  uint32_t rx_frames_pending_ = 0; // frames handed out (or skipped) waiting for releaseRx()
  // RX ring geometry and the reader's position in it (blocks mode).
  uint32_t rx_block_size_ = 0;
  uint32_t rx_block_nr_ = 0;
  uint32_t rx_ring_bytes_ = 0;
  uint32_t rx_block_ = 0;          // next block to open
  bool rx_in_block_ = false;       // rx_block_ is open and partly consumed
  uint32_t rx_left_ = 0;           // frames of the open block not yet delivered
  uint32_t rx_next_ = 0;           // offset of the next frame inside the open block
  uint32_t rx_release_ = 0;        // oldest block not yet given back to the kernel
  uint32_t rx_pending_ = 0;        // fully consumed blocks waiting for releaseRx()
  bool vlan_inline_ = false;      // restore 802.1Q tags into the frame instead of dropping
  bool complete_checksums_ = false;  // finish CHECKSUM_PARTIAL TCP/UDP checksums before delivery

  // TX ring geometry (TPACKET_V2) and the writer's position in it.
  uint32_t tx_block_size_ = 0;
  uint32_t tx_frame_size_ = 0;
  uint32_t tx_frames_per_block_ = 0;
  uint32_t tx_frame_nr_ = 0;
  uint32_t tx_ring_bytes_ = 0;
  uint32_t tx_capacity_ = 0;       // largest frame a slot carries (<= MTU + 14)
  uint32_t tx_head_ = 0;           // first slot of the next reservation
  uint32_t tx_reserved_ = 0;       // slots handed out by the last reserveTx()
  bool kick_pending_ = false;      // frames may still sit in SEND_REQUEST

  double stats_[kPsCount] = {};
};

}  // namespace nvgw

#endif  // NVGW_NATIVE_PACKET_PORT_H_
