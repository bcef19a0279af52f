// AF_PACKET port. References: packet(7) and the kernel's
// Documentation/networking/packet_mmap.rst ("PACKET_MMAP settings", "Mapping and use of
// the circular buffer (ring)", "TPACKET_V2 --> TPACKET_V3", "AF_PACKET fanout mode").
//
// Two sockets on the same interface, mapped into ONE contiguous virtual range:
//   [ RX ring: TPACKET_V2 frames (or V3 blocks) | TX ring: TPACKET_V2 frames ]
// - The receive socket runs TPACKET_V2 by default (rxMode "frames"): each frame is handed
//   over on its own, and the kernel wakes a waiting poll() for every frame, so a frame
//   at light load is processed at once. TPACKET_V3 (rxMode "blocks") packs frames into
//   blocks and hands over a whole block at a time -- one wake-up per block and ~130 bytes
//   of ring per 64-byte frame instead of a fixed slot -- but a block that does not fill
//   retires only after tp_retire_blk_tov ms (at least 1): the bench measured 1.0 ms p50 /
//   2.0 ms p99 of added one-way latency at 1,000 pps with V3 and 2 ms, which is why V2 is
//   the default. Under load the two cost the same per frame here (the worker does not
//   sleep, so V2's per-frame wake-up finds no waiter).
// - The transmit socket runs TPACKET_V2, the long-standing frame-based TX ring (V3's TX
//   ring, added in 4.11, is frame-based too and brings nothing here). PACKET_VERSION is
//   per socket, hence two sockets. It is bound with protocol 0 so it never receives
//   (packet_mmap.rst: "avoids an expensive call to packet_rcv()").
// Each socket's ring is mmap'd with MAP_FIXED into a reservation so that JavaScript sees
// one ArrayBuffer and every offset handed out (RX frame or TX slot) indexes that buffer.
#include "packet_port.h"

#include "ifindex_filter.h"

#include <arpa/inet.h>
// <net/if.h> before any <linux/...> header: linux/libc-compat.h then skips its own
// struct ifreq and IFF_* definitions instead of clashing with glibc's.
#include <net/if.h>
#include <linux/filter.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

namespace nvgw {
namespace {

// Where a TPACKET_V2 TX frame's data starts when PACKET_TX_HAS_OFF is not set
// (packet_mmap.rst, "How to use mmap() directly to improve transmission process"):
// frame base + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll), i.e. right after the
// 16-byte-aligned header: 32, so every TX data offset is 16-byte aligned.
constexpr uint32_t kTxDataOffset = TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
static_assert(kTxDataOffset == 32, "tpacket2_hdr layout changed");

// The RX ring's nominal frame size: TPACKET_V3 ignores it for layout (frames are packed)
// but packet_set_ring still checks tp_frame_nr == frames_per_block * tp_block_nr.
constexpr uint32_t kRxNominalFrame = 2048;

constexpr const char* kOpenWhat = "cannot open packet port on";

uint32_t LoadAcquire(const volatile uint32_t* p) {
  return __atomic_load_n(const_cast<const uint32_t*>(p), __ATOMIC_ACQUIRE);
}

// The status word hands the frame or block to the other side, so everything written
// (or read) before it must be visible first: a release store, which is the smp_wmb the
// kernel's __packet_set_status pairs with its smp_rmb in __packet_get_status.
void StoreRelease(volatile uint32_t* p, uint32_t value) {
  __atomic_store_n(const_cast<uint32_t*>(p), value, __ATOMIC_RELEASE);
}

bool SetInt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value)) == 0;
}

uint32_t RoundUp(uint32_t value, uint32_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

}  // namespace

Napi::Function PacketPort::Init(Napi::Env env) {
  return DefineClass(env, "PacketPort",
                     {
                         InstanceMethod<&PacketPort::Describe>("describe"),
                         InstanceMethod<&PacketPort::Receive>("receive"),
                         InstanceMethod<&PacketPort::ReleaseRx>("releaseRx"),
                         InstanceMethod<&PacketPort::ReserveTx>("reserveTx"),
                         InstanceMethod<&PacketPort::SendTx>("sendTx"),
                         InstanceMethod<&PacketPort::Stats>("stats"),
                         InstanceMethod<&PacketPort::Close>("close"),
                         InstanceMethod<&PacketPort::Admit>("admit"),
                         InstanceMethod<&PacketPort::Refuse>("refuse"),
                     });
}

PacketPort::PacketPort(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketPort>(info) {
  Napi::Env env = info.Env();
  region_ = std::make_shared<Region>();
  if (!ArgIfname(info, &ifname_)) return;
  if (info.Length() < 2 || !info[1].IsObject()) {
    ThrowType(env, "options must be an object");
    return;
  }
  if (!Open(env, info[1].As<Napi::Object>())) {
    // Everything acquired so far is owned by region_ and goes with it.
    region_->Release();
    base_ = nullptr;
    return;
  }
  buffer_ = Napi::Persistent(ExposeRegion(env, region_));
}

PacketPort::~PacketPort() {
  // region_ is shared with the ArrayBuffer's finalizer; the memory and descriptors are
  // released when the last of the two lets go (or already were, by close()).
  buffer_.Reset();
}

bool PacketPort::Open(Napi::Env env, const Napi::Object& options) {
  const long page = sysconf(_SC_PAGESIZE);
  const int64_t rx_block_size = OptInt(options, "rxBlockSize", 1 << 17);
  const int64_t rx_block_nr = OptInt(options, "rxBlockCount", 32);
  const int64_t rx_tov_ms = OptInt(options, "rxBlockTimeoutMs", 2);
  rx_frames_ = OptString(options, "rxMode", "frames") != "blocks";
  shared_ = OptBool(options, "anyInterface", false);
  const int64_t max_interfaces = OptInt(options, "maxInterfaces", 65536);
  if (shared_ && (!rx_frames_ || max_interfaces < 1 || max_interfaces > (1 << 20))) {
    ThrowRange(env, "a port on any interface needs rxMode frames and maxInterfaces 1..1048576");
    return false;
  }
  if (shared_ && !options.Get("bpfProgramFd").IsUndefined() && !options.Get("bpfProgramFd").IsNull()) {
    ThrowType(env, "bpfProgramFd is for a port on one interface: a port on any interface runs its own filter");
    return false;
  }
  // 0: sized from the interface's MTU once it is known (see below).
  const int64_t rx_frame_size = OptInt(options, "rxFrameSize", 0);
  const int64_t tx_frame_size = OptInt(options, "txFrameSize", 2048);
  const int64_t tx_frame_count = OptInt(options, "txFrameCount", 512);
  if (rx_block_size < page || rx_block_size % page != 0 || rx_block_size > (1 << 24) ||
      (rx_block_size & (rx_block_size - 1)) != 0) {
    ThrowRange(env, "rxBlockSize must be a power of two, a multiple of the page size, <= 16 MiB");
    return false;
  }
  if (rx_block_nr < 2 || rx_block_nr > 4096 || rx_tov_ms < 1 || rx_tov_ms > 1000) {
    ThrowRange(env, "rxBlockCount must be 2..4096 and rxBlockTimeoutMs 1..1000");
    return false;
  }
  if (tx_frame_size < 128 || tx_frame_size > 65536 || tx_frame_size % TPACKET_ALIGNMENT != 0 ||
      tx_frame_count < 1 || tx_frame_count > 65536) {
    ThrowRange(env, "txFrameSize must be 128..65536 and a multiple of 16; txFrameCount 1..65536");
    return false;
  }
  if (rx_frames_ && rx_frame_size != 0 &&
      (rx_frame_size < 256 || rx_frame_size % TPACKET_ALIGNMENT != 0 || rx_frame_size > rx_block_size)) {
    ThrowRange(env, "rxFrameSize must be 0 (from the MTU) or 256..rxBlockSize and a multiple of 16");
    return false;
  }
  rx_block_size_ = uint32_t(rx_block_size);
  rx_block_nr_ = uint32_t(rx_block_nr);
  rx_frame_size_ = rx_frames_ ? uint32_t(rx_frame_size == 0 ? 2048 : rx_frame_size) : kRxNominalFrame;
  rx_frames_per_block_ = rx_block_size_ / rx_frame_size_;
  rx_frame_nr_ = rx_frames_per_block_ * rx_block_nr_;
  const bool rx_frame_from_mtu = rx_frames_ && rx_frame_size == 0;
  tx_frame_size_ = uint32_t(tx_frame_size);
  // A TX block is several frames (fewer pg_vec entries, fewer page-order-0 allocations)
  // but stays small enough for the kernel to find contiguous pages easily.
  uint32_t pow2 = uint32_t(page);
  while (pow2 < tx_frame_size_) pow2 <<= 1;
  tx_block_size_ = pow2 * 8;
  tx_frames_per_block_ = tx_block_size_ / tx_frame_size_;
  tx_frame_nr_ = RoundUp(uint32_t(tx_frame_count), tx_frames_per_block_);
  const uint64_t rx_bytes = uint64_t(rx_block_size_) * rx_block_nr_;
  const uint64_t tx_bytes = uint64_t(tx_block_size_) * (tx_frame_nr_ / tx_frames_per_block_);
  if (rx_bytes + tx_bytes > (uint64_t(1) << 30)) {
    ThrowRange(env, "RX plus TX ring must not exceed 1 GiB (offsets are 32-bit)");
    return false;
  }
  rx_ring_bytes_ = uint32_t(rx_bytes);
  tx_ring_bytes_ = uint32_t(tx_bytes);
  vlan_inline_ = OptBool(options, "vlanInline", false);
  complete_checksums_ = OptBool(options, "completeChecksums", false);

  // --- receive socket ---------------------------------------------------------------
  ifindex_ = shared_ ? 0 : int(if_nametoindex(ifname_.c_str()));
  if (ifindex_ == 0 && !shared_) {
    ThrowErrno(env, errno == 0 ? ENODEV : errno, "if_nametoindex", ifname_, kOpenWhat);
    return false;
  }
  // Protocol 0 at socket(): nothing is queued until bind() below, after the filter and
  // ring are in place (packet(7): with a protocol, the socket would receive from every
  // interface between socket() and bind()).
  rx_fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (rx_fd_ < 0) {
    ThrowErrno(env, errno, "socket(AF_PACKET)", ifname_, kOpenWhat);
    return false;
  }
  region_->AdoptFd(rx_fd_);

  if (shared_) {
    // No one interface to ask: the caller says how big a frame its interfaces carry.
    mtu_ = int(OptInt(options, "mtu", 1500));
    if (mtu_ < 576 || mtu_ > 65535) {
      ThrowRange(env, "mtu must be 576..65535");
      return false;
    }
  } else if (!DescribeInterface(env)) {
    return false;
  }
  if (rx_frame_from_mtu) {
    // tpacket_rcv puts the MAC header at TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - 14 = 66 and
    // needs the whole frame (MTU + 14) behind it; a frame that does not fit is counted as
    // truncated. A jumbo MTU gets a bigger slot, and a block at least one slot.
    rx_frame_size_ = RoundUp(96 + uint32_t(std::max(mtu_, 576)) + ETH_HLEN, 64);
    while (rx_block_size_ < rx_frame_size_) rx_block_size_ <<= 1;
    rx_frames_per_block_ = rx_block_size_ / rx_frame_size_;
    rx_frame_nr_ = rx_frames_per_block_ * rx_block_nr_;
    const uint64_t rx_bytes = uint64_t(rx_block_size_) * rx_block_nr_;
    if (rx_bytes + tx_ring_bytes_ > (uint64_t(1) << 30)) {
      ThrowRange(env, "RX plus TX ring must not exceed 1 GiB (offsets are 32-bit)");
      return false;
    }
    rx_ring_bytes_ = uint32_t(rx_bytes);
  }

  int version = rx_frames_ ? TPACKET_V2 : TPACKET_V3;
  if (setsockopt(rx_fd_, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) != 0) {
    ThrowErrno(env, errno, "setsockopt(PACKET_VERSION)", ifname_, kOpenWhat);
    return false;
  }
  if (shared_) {
    std::string what;
    int prog_fd = -1;
    const int err = CreateIfindexFilter(uint32_t(max_interfaces), &map_fd_, &prog_fd, &what);
    if (err != 0) {
      ThrowErrno(env, err, what.c_str(), ifname_, kOpenWhat);
      return false;
    }
    region_->AdoptFd(map_fd_);
    // Attached before bind(), like the classic filter: nothing unadmitted is ever queued.
    const bool attached = SetInt(rx_fd_, SOL_SOCKET, SO_ATTACH_BPF, prog_fd);
    const int attach_err = errno;
    close(prog_fd);  // the socket holds the program now
    if (!attached) {
      ThrowErrno(env, attach_err, "setsockopt(SO_ATTACH_BPF)", ifname_, kOpenWhat);
      return false;
    }
  } else if (!AttachFilter(env, options)) {
    return false;
  }
  // The kernel's own outgoing frames on this interface (ARP, the API's TCP, our own TX
  // when it goes through the qdisc) are not input to the data path (packet(7),
  // PACKET_IGNORE_OUTGOING, Linux >= 4.20).
  if (OptBool(options, "ignoreOutgoing", true) &&
      !SetInt(rx_fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)) {
    ThrowErrno(env, errno, "setsockopt(PACKET_IGNORE_OUTGOING)", ifname_, kOpenWhat);
    return false;
  }
  struct tpacket_req3 rx_req;
  memset(&rx_req, 0, sizeof(rx_req));
  rx_req.tp_block_size = rx_block_size_;
  rx_req.tp_block_nr = rx_block_nr_;
  rx_req.tp_frame_size = rx_frame_size_;
  rx_req.tp_frame_nr = rx_frame_nr_;
  // V2 reads a struct tpacket_req, the first four fields of tpacket_req3: the rest is ignored.
  if (!rx_frames_) rx_req.tp_retire_blk_tov = uint32_t(rx_tov_ms);
  if (setsockopt(rx_fd_, SOL_PACKET, PACKET_RX_RING, &rx_req, sizeof(rx_req)) != 0) {
    ThrowErrno(env, errno, "setsockopt(PACKET_RX_RING)", ifname_, kOpenWhat);
    return false;
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof(sll));
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex_;
  if (bind(rx_fd_, reinterpret_cast<struct sockaddr*>(&sll), sizeof(sll)) != 0) {
    ThrowErrno(env, errno, "bind", ifname_, kOpenWhat);
    return false;
  }
  if (!shared_ && OptBool(options, "promiscuous", false)) {
    struct packet_mreq mreq;
    memset(&mreq, 0, sizeof(mreq));
    mreq.mr_ifindex = ifindex_;
    mreq.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(rx_fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) != 0) {
      ThrowErrno(env, errno, "setsockopt(PACKET_ADD_MEMBERSHIP)", ifname_, kOpenWhat);
      return false;
    }
  }
  if (!shared_ && !JoinFanout(env, options)) return false;
  if (shared_) return OpenAddressedTx(env);

  // --- transmit socket --------------------------------------------------------------
  tx_fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (tx_fd_ < 0) {
    ThrowErrno(env, errno, "socket(AF_PACKET)", ifname_, kOpenWhat);
    return false;
  }
  region_->AdoptFd(tx_fd_);
  version = TPACKET_V2;
  if (setsockopt(tx_fd_, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) != 0) {
    ThrowErrno(env, errno, "setsockopt(PACKET_VERSION)", ifname_, kOpenWhat);
    return false;
  }
  // PACKET_LOSS: a frame the kernel refuses (bad length) is skipped and its slot made
  // available again. Without it the kernel marks the frame TP_STATUS_WRONG_FORMAT and
  // stops at it, and since it walks the ring in order every later frame would wait
  // behind it for good. Lengths are checked here before submission instead, and counted.
  if (!SetInt(tx_fd_, SOL_PACKET, PACKET_LOSS, 1)) {
    ThrowErrno(env, errno, "setsockopt(PACKET_LOSS)", ifname_, kOpenWhat);
    return false;
  }
  // PACKET_QDISC_BYPASS (packet(7), Linux >= 3.14): straight to the driver's xmit, like
  // pktgen. The data path does its own batching; a full device queue shows as ENOBUFS
  // on the kick and the frames stay queued in the ring for the next kick.
  if (OptBool(options, "qdiscBypass", true) &&
      !SetInt(tx_fd_, SOL_PACKET, PACKET_QDISC_BYPASS, 1)) {
    ThrowErrno(env, errno, "setsockopt(PACKET_QDISC_BYPASS)", ifname_, kOpenWhat);
    return false;
  }
  // Each in-flight frame is charged to the socket's send buffer until the driver frees
  // it; size the buffer for the whole ring so the ring, not sk_sndbuf, is the limit.
  const int sndbuf = int(std::min<uint64_t>(uint64_t(tx_frame_nr_) * (tx_frame_size_ + 1024),
                                            uint64_t(1) << 30));
  if (!SetInt(tx_fd_, SOL_SOCKET, SO_SNDBUFFORCE, sndbuf)) {
    SetInt(tx_fd_, SOL_SOCKET, SO_SNDBUF, sndbuf);  // capped by wmem_max; not fatal
  }
  struct tpacket_req tx_req;
  memset(&tx_req, 0, sizeof(tx_req));
  tx_req.tp_block_size = tx_block_size_;
  tx_req.tp_block_nr = tx_frame_nr_ / tx_frames_per_block_;
  tx_req.tp_frame_size = tx_frame_size_;
  tx_req.tp_frame_nr = tx_frame_nr_;
  if (setsockopt(tx_fd_, SOL_PACKET, PACKET_TX_RING, &tx_req, sizeof(tx_req)) != 0) {
    ThrowErrno(env, errno, "setsockopt(PACKET_TX_RING)", ifname_, kOpenWhat);
    return false;
  }
  memset(&sll, 0, sizeof(sll));
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = 0;
  sll.sll_ifindex = ifindex_;
  if (bind(tx_fd_, reinterpret_cast<struct sockaddr*>(&sll), sizeof(sll)) != 0) {
    ThrowErrno(env, errno, "bind", ifname_, kOpenWhat);
    return false;
  }
  // The largest frame the kernel accepts: the slot's data area, and MTU + Ethernet
  // header (tpacket_snd rejects anything longer that is not VLAN-tagged).
  tx_capacity_ = std::min<uint32_t>(tx_frame_size_ - kTxDataOffset, uint32_t(mtu_) + ETH_HLEN);

  return MapRings(env);
}

// One mapping for both: the RX ring, then the TX ring (or, with no TX ring, a shared
// port's anonymous staging area), reserved together so every offset indexes one buffer.
bool PacketPort::MapRings(Napi::Env env) {
  const size_t total = size_t(rx_ring_bytes_) + tx_ring_bytes_;
  void* reserve = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserve == MAP_FAILED) {
    ThrowErrno(env, errno, "mmap", ifname_, kOpenWhat);
    return false;
  }
  region_->AdoptMmap(reserve, total);
  uint8_t* base = static_cast<uint8_t*>(reserve);
  if (mmap(base, rx_ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, rx_fd_, 0) == MAP_FAILED) {
    ThrowErrno(env, errno, "mmap(RX ring)", ifname_, kOpenWhat);
    return false;
  }
  if (mmap(base + rx_ring_bytes_, tx_ring_bytes_, PROT_READ | PROT_WRITE,
           shared_ ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED : MAP_SHARED | MAP_FIXED, shared_ ? -1 : tx_fd_,
           0) == MAP_FAILED) {
    ThrowErrno(env, errno, shared_ ? "mmap(TX staging)" : "mmap(TX ring)", ifname_, kOpenWhat);
    return false;
  }
  base_ = base;
  return true;
}

// The bound interface's MAC and MTU (an Ethernet device only).
bool PacketPort::DescribeInterface(Napi::Env env) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  memcpy(ifr.ifr_name, ifname_.c_str(), ifname_.size());
  if (ioctl(rx_fd_, SIOCGIFHWADDR, &ifr) != 0) {
    ThrowErrno(env, errno, "ioctl(SIOCGIFHWADDR)", ifname_, kOpenWhat);
    return false;
  }
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    ThrowErrno(env, EPROTONOSUPPORT, "ioctl(SIOCGIFHWADDR)", ifname_,
               "not an Ethernet interface, cannot open packet port on");
    return false;
  }
  memcpy(mac_, ifr.ifr_hwaddr.sa_data, 6);
  if (ioctl(rx_fd_, SIOCGIFMTU, &ifr) != 0) {
    ThrowErrno(env, errno, "ioctl(SIOCGIFMTU)", ifname_, kOpenWhat);
    return false;
  }
  mtu_ = ifr.ifr_mtu;
  return true;
}

bool PacketPort::AttachFilter(Napi::Env env, const Napi::Object& options) {
  Napi::Value value = options.Get("filter");
  Napi::Value ebpf = options.Get("bpfProgramFd");
  if (!ebpf.IsUndefined() && !ebpf.IsNull()) {
    // An eBPF socket filter the caller loaded (a flow claim's, native/flow_claim.cc). A
    // socket runs one filter, so it cannot come with a classic one as well.
    if (!value.IsUndefined() && !value.IsNull()) {
      ThrowType(env, "filter and bpfProgramFd exclude each other: a socket runs one filter");
      return false;
    }
    const double fd = ebpf.IsNumber() ? ebpf.As<Napi::Number>().DoubleValue() : -1;
    if (!(fd >= 0 && fd <= 0x7fffffff && double(int64_t(fd)) == fd)) {
      ThrowType(env, "bpfProgramFd must be a file descriptor (an integer >= 0)");
      return false;
    }
    // Attached before bind(), like the classic filter, so no frame the program refuses
    // ever enters the ring. The socket holds its own reference to the program.
    if (!SetInt(rx_fd_, SOL_SOCKET, SO_ATTACH_BPF, int(fd))) {
      ThrowErrno(env, errno, "setsockopt(SO_ATTACH_BPF)", ifname_, kOpenWhat);
      return false;
    }
    return true;
  }
  if (value.IsUndefined() || value.IsNull()) return true;
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    ThrowType(env, "filter must be a Uint32Array of [code, jt, jf, k] quadruples");
    return false;
  }
  Napi::Uint32Array packed = value.As<Napi::Uint32Array>();
  const size_t count = packed.ElementLength() / 4;
  if (count == 0 || count > BPF_MAXINSNS || packed.ElementLength() % 4 != 0) {
    ThrowRange(env, "filter must hold 1..4096 instructions");
    return false;
  }
  std::vector<struct sock_filter> program(count);
  for (size_t i = 0; i < count; i++) {
    program[i].code = uint16_t(packed[i * 4]);
    program[i].jt = uint8_t(packed[i * 4 + 1]);
    program[i].jf = uint8_t(packed[i * 4 + 2]);
    program[i].k = packed[i * 4 + 3];
  }
  struct sock_fprog fprog;
  fprog.len = uint16_t(count);
  fprog.filter = program.data();
  // Attached before bind(), so no unfiltered frame ever reaches the ring. The kernel
  // copies (and for classic BPF, checks and JITs) the program here.
  if (setsockopt(rx_fd_, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) != 0) {
    ThrowErrno(env, errno, "setsockopt(SO_ATTACH_FILTER)", ifname_, kOpenWhat);
    return false;
  }
  return true;
}

bool PacketPort::JoinFanout(Napi::Env env, const Napi::Object& options) {
  // The hook for one worker per core: sockets of the same process that join the same
  // group id on the same interface share its traffic (packet_mmap.rst, "AF_PACKET fanout
  // mode"); must come after bind().
  const int64_t group = OptInt(options, "fanoutGroup", -1);
  if (group < 0) return true;
  const int64_t mode = OptInt(options, "fanoutMode", PACKET_FANOUT_HASH);
  const int64_t flags = OptInt(options, "fanoutFlags", 0);
  if (group > 0xffff || mode < 0 || mode > 0xff || (flags & ~int64_t(0xff00)) != 0) {
    ThrowRange(env, "fanoutGroup must be 0..65535, fanoutMode 0..255, fanoutFlags within 0xff00");
    return false;
  }
  const int arg = int(group | ((mode | flags) << 16));
  if (!SetInt(rx_fd_, SOL_PACKET, PACKET_FANOUT, arg)) {
    ThrowErrno(env, errno, "setsockopt(PACKET_FANOUT)", ifname_, kOpenWhat);
    return false;
  }
  return true;
}

Napi::Value PacketPort::Describe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  if (base_ == nullptr) return env.Null();
  out.Set("buffer", buffer_.Value());
  out.Set("fd", rx_fd_);
  out.Set("ifindex", ifindex_);
  out.Set("mtu", mtu_);
  Napi::Uint8Array mac = Napi::Uint8Array::New(env, 6);
  memcpy(mac.Data(), mac_, 6);
  out.Set("mac", mac);
  out.Set("frameCapacity", tx_capacity_);
  out.Set("rxRingBytes", rx_ring_bytes_);
  out.Set("rxMode", rx_frames_ ? "frames" : "blocks");
  out.Set("rxFrameSize", rx_frame_size_);
  out.Set("rxFrameCount", rx_frame_nr_);
  out.Set("rxBlockSize", rx_block_size_);
  out.Set("rxBlockCount", rx_block_nr_);
  out.Set("txRingBytes", tx_ring_bytes_);
  out.Set("txFrameSize", tx_frame_size_);
  out.Set("txSlots", tx_frame_nr_);
  out.Set("txDataOffset", shared_ ? 0 : kTxDataOffset);
  out.Set("anyInterface", shared_);
  return out;
}

// receive(offsets, lengths): fills offsets/lengths with received frames, without copying;
// they stay ours until releaseRx() gives them back.
Napi::Value PacketPort::Receive(const Napi::CallbackInfo& info) {
  uint32_t* offsets;
  uint32_t* lengths;
  uint32_t* sources = nullptr;
  size_t offsets_len, lengths_len, sources_len = 0;
  if (!ArgU32Array(info, 0, &offsets, &offsets_len) || !ArgU32Array(info, 1, &lengths, &lengths_len)) {
    return info.Env().Undefined();
  }
  // sources (optional): the interface each frame arrived on, for a port on many.
  if (info.Length() > 2 && !info[2].IsUndefined() && !ArgU32Array(info, 2, &sources, &sources_len)) {
    return info.Env().Undefined();
  }
  if (base_ == nullptr) return Napi::Number::New(info.Env(), 0);
  size_t cap = std::min(offsets_len, lengths_len);
  if (sources != nullptr) cap = std::min(cap, sources_len);
  return rx_frames_ ? ReceiveFrames(info.Env(), offsets, lengths, sources, cap)
                    : ReceiveBlocks(info.Env(), offsets, lengths, cap);
}

bool PacketPort::AcceptFrame(uint32_t header_end, uint32_t status, uint32_t snap, uint32_t len, uint16_t tci,
                             uint16_t tpid, uint32_t* mac_at, uint32_t* length) {
  if (snap < len) {
    // Larger than the ring's frame or block can hold (a GRO/GSO super-frame, or a jumbo
    // frame in a 2 KiB slot): the bytes we have are not the frame, so it is counted, not
    // delivered.
    stats_[kPsRxTruncated]++;
    return false;
  }
  *length = snap;
  if ((status & TP_STATUS_VLAN_VALID) != 0) {
    // The kernel strips an 802.1Q tag into tp_vlan_tci before any packet socket sees the
    // frame (skb_vlan_untag in __netif_receive_skb_core), so a tagged frame would look
    // untagged here. Either put the tag back where it was or refuse the frame, but never
    // hand out another VLAN's traffic as untagged. tpacket_rcv leaves at least 14 bytes
    // between the sockaddr_ll and tp_mac for an Ethernet device (netoff =
    // TPACKET_ALIGN(hdrlen + 16)); the 12 address bytes move 4 bytes down into that gap
    // and the tag goes behind them, as libpcap does.
    if (!vlan_inline_ || *mac_at < header_end + sizeof(struct sockaddr_ll) + 4) {
      stats_[kPsRxVlanDropped]++;
      return false;
    }
    uint8_t* mac = base_ + *mac_at;
    memmove(mac - 4, mac, 12);
    if ((status & TP_STATUS_VLAN_TPID_VALID) == 0) tpid = uint16_t(ETH_P_8021Q);
    mac[8] = uint8_t(tpid >> 8);
    mac[9] = uint8_t(tpid);
    mac[10] = uint8_t(tci >> 8);
    mac[11] = uint8_t(tci);
    *mac_at -= 4;
    *length += 4;
  }
  if ((status & TP_STATUS_CSUMNOTREADY) != 0) {
    // Locally generated with a partial checksum (CHECKSUM_PARTIAL, e.g. via veth with tx
    // checksum offload on, or a virtio NIC's host). Counted; with completeChecksums the
    // TCP/UDP checksum is finished here, as skb_checksum_help would before a device
    // without checksum offload, because the frame leaves by a path that will not.
    stats_[kPsRxChecksumPartial]++;
    if (complete_checksums_) {
      if (!CompleteChecksum(base_ + *mac_at, *length)) {
        stats_[kPsRxChecksumUncompletable]++;
        return false;
      }
      stats_[kPsRxChecksumCompleted]++;
    }
  }
  return true;
}

// A CHECKSUM_PARTIAL IPv4 TCP or UDP frame holds, in its checksum field, the folded
// pseudo-header sum (tcp_v4_send_check / udp4_hwcsum: ~csum_tcpudp_magic(...)); the rest is
// the sum over the transport header and payload. Only IPv4 TCP/UDP is completed: a partial
// checksum of anything else is refused (false), never passed on wrong.
bool PacketPort::CompleteChecksum(uint8_t* frame, uint32_t length) {
  if (length < 14 + 20 || frame[12] != 0x08 || frame[13] != 0x00) return false;
  uint8_t* ip = frame + 14;
  const uint32_t header = uint32_t(ip[0] & 0x0f) * 4;
  const uint32_t total = (uint32_t(ip[2]) << 8) | ip[3];
  if ((ip[0] >> 4) != 4 || header < 20 || total < header || 14 + total > length) return false;
  const uint8_t protocol = ip[9];
  const uint32_t at = protocol == 6 ? 16 : protocol == 17 ? 6 : 0;
  const uint32_t segment = total - header;
  if (at == 0 || segment < at + 2) return false;
  uint8_t* l4 = ip + header;
  uint64_t sum = 0;
  uint32_t i = 0;
  for (; i + 1 < segment; i += 2) sum += (uint32_t(l4[i]) << 8) | l4[i + 1];
  if (i < segment) sum += uint32_t(l4[i]) << 8;
  while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t checksum = uint16_t(~sum);
  if (protocol == 17 && checksum == 0) checksum = 0xffff;  // RFC 768: zero means none
  l4[at] = uint8_t(checksum >> 8);
  l4[at + 1] = uint8_t(checksum);
  return true;
}

// Frames mode (TPACKET_V2): a frame is ours from the moment its tp_status has
// TP_STATUS_USER until releaseRx() writes TP_STATUS_KERNEL back, in ring order.
Napi::Value PacketPort::ReceiveFrames(Napi::Env env, uint32_t* offsets, uint32_t* lengths, uint32_t* sources,
                                      size_t cap) {
  size_t n = 0;
  uint64_t bytes = 0;
  while (n < cap && rx_frames_pending_ < rx_frame_nr_) {
    const uint32_t at = RxFrameOffset(rx_frame_);
    auto* frame = reinterpret_cast<struct tpacket2_hdr*>(base_ + at);
    const uint32_t status = LoadAcquire(&frame->tp_status);
    if ((status & TP_STATUS_USER) == 0) break;
    rx_frame_ = rx_frame_ + 1 == rx_frame_nr_ ? 0 : rx_frame_ + 1;
    rx_frames_pending_++;  // given back by releaseRx() whether delivered or not
    const uint32_t snap = frame->tp_snaplen;
    if (uint64_t(frame->tp_mac) + snap > rx_frame_size_) continue;
    uint32_t mac_at = at + frame->tp_mac;
    uint32_t length = 0;
    if (!AcceptFrame(at + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)), status, snap, frame->tp_len, frame->tp_vlan_tci,
                     frame->tp_vlan_tpid, &mac_at, &length)) {
      continue;
    }
    offsets[n] = mac_at;
    lengths[n] = length;
    if (sources != nullptr) {
      // tpacket_rcv writes the sockaddr_ll right after the aligned header.
      const auto* sll = reinterpret_cast<const struct sockaddr_ll*>(
          base_ + at + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)));
      sources[n] = uint32_t(sll->sll_ifindex);
    }
    bytes += length;
    n++;
  }
  stats_[kPsRxPackets] += double(n);
  stats_[kPsRxBytes] += double(bytes);
  return Napi::Number::New(env, double(n));
}

// Blocks mode (TPACKET_V3): walks retired blocks in ring order. A block belongs to us from
// the moment its block_status has TP_STATUS_USER until releaseRx() writes TP_STATUS_KERNEL
// back (packet_mmap.rst, "AF_PACKET TPACKET_V3 example": walk_block / flush_block). A
// batch may end inside a block; the rest of that block is delivered by the next receive().
Napi::Value PacketPort::ReceiveBlocks(Napi::Env env, uint32_t* offsets, uint32_t* lengths, size_t cap) {
  size_t n = 0;
  uint64_t bytes = 0;
  while (n < cap) {
    uint8_t* block = RxBlock(rx_block_);
    auto* desc = reinterpret_cast<struct tpacket_block_desc*>(block);
    if (!rx_in_block_) {
      // Every block is either ours-and-pending or the kernel's; never reopen a block we
      // have not given back (a caller that skips releaseRx() just stops receiving).
      if (rx_pending_ >= rx_block_nr_) break;
      if ((LoadAcquire(&desc->hdr.bh1.block_status) & TP_STATUS_USER) == 0) break;
      rx_in_block_ = true;
      rx_left_ = desc->hdr.bh1.num_pkts;
      rx_next_ = desc->hdr.bh1.offset_to_first_pkt;
    }
    while (rx_left_ > 0 && n < cap) {
      const uint32_t at = rx_next_;
      if (at + sizeof(struct tpacket3_hdr) > rx_block_size_) {
        rx_left_ = 0;  // a corrupt walk would leave the block; never read past it
        break;
      }
      auto* frame = reinterpret_cast<struct tpacket3_hdr*>(block + at);
      rx_next_ = at + frame->tp_next_offset;
      rx_left_--;
      const uint32_t snap = frame->tp_snaplen;
      if (uint64_t(at) + frame->tp_mac + snap > rx_block_size_) continue;
      const uint32_t in_ring = uint32_t(size_t(rx_block_) * rx_block_size_ + at);
      uint32_t mac_at = in_ring + frame->tp_mac;
      uint32_t length = 0;
      if (!AcceptFrame(in_ring + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)), frame->tp_status, snap, frame->tp_len,
                       frame->hv1.tp_vlan_tci, frame->hv1.tp_vlan_tpid, &mac_at, &length)) {
        continue;
      }
      offsets[n] = mac_at;
      lengths[n] = length;
      bytes += length;
      n++;
    }
    if (rx_left_ == 0) {
      rx_in_block_ = false;
      rx_pending_++;
      rx_block_ = rx_block_ + 1 == rx_block_nr_ ? 0 : rx_block_ + 1;
    }
  }
  stats_[kPsRxPackets] += double(n);
  stats_[kPsRxBytes] += double(bytes);
  return Napi::Number::New(env, double(n));
}

Napi::Value PacketPort::ReleaseRx(const Napi::CallbackInfo& info) {
  if (base_ == nullptr) return info.Env().Undefined();
  if (rx_frames_) {
    for (; rx_frames_pending_ > 0; rx_frames_pending_--) {
      auto* frame = reinterpret_cast<struct tpacket2_hdr*>(base_ + RxFrameOffset(rx_frame_release_));
      StoreRelease(&frame->tp_status, TP_STATUS_KERNEL);
      rx_frame_release_ = rx_frame_release_ + 1 == rx_frame_nr_ ? 0 : rx_frame_release_ + 1;
    }
    return info.Env().Undefined();
  }
  // Only whole blocks go back; a block the last batch ended inside stays ours until the
  // next receive() finishes it. No syscall: the kernel looks at block_status when it
  // moves on, and thaws a frozen queue by itself (prb_retire_rx_blk_timer_expired).
  for (; rx_pending_ > 0; rx_pending_--) {
    auto* desc = reinterpret_cast<struct tpacket_block_desc*>(RxBlock(rx_release_));
    StoreRelease(&desc->hdr.bh1.block_status, TP_STATUS_KERNEL);
    rx_release_ = rx_release_ + 1 == rx_block_nr_ ? 0 : rx_release_ + 1;
  }
  return info.Env().Undefined();
}

Napi::Value PacketPort::ReserveTx(const Napi::CallbackInfo& info) {
  uint32_t* offsets;
  size_t offsets_len;
  if (!ArgU32Array(info, 0, &offsets, &offsets_len)) return info.Env().Undefined();
  const int64_t want = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
  if (base_ == nullptr || want <= 0) return Napi::Number::New(info.Env(), 0);
  if (shared_) {
    // Staging slots are free again as soon as sendTx() returns (sendmmsg copies), so a
    // reservation always starts at slot 0.
    const uint32_t got = uint32_t(std::min<int64_t>({want, int64_t(offsets_len), int64_t(tx_frame_nr_)}));
    for (uint32_t i = 0; i < got; i++) offsets[i] = TxSlotOffset(i);
    tx_reserved_ = got;
    if (want > int64_t(got)) stats_[kPsTxRingFull] += double(want - got);
    return Napi::Number::New(info.Env(), got);
  }
  if (kick_pending_) Kick();
  const uint32_t limit = uint32_t(std::min<int64_t>({want, int64_t(offsets_len), int64_t(tx_frame_nr_)}));
  uint32_t got = 0;
  uint32_t slot = tx_head_;
  while (got < limit) {
    const uint32_t at = TxSlotOffset(slot);
    auto* hdr = reinterpret_cast<struct tpacket2_hdr*>(base_ + at);
    // TP_STATUS_AVAILABLE only: SEND_REQUEST/SENDING slots are still the kernel's (a
    // sent frame's slot comes back when the driver frees the skb). Slots are taken in
    // ring order because that is the order the kernel sends them in.
    if (LoadAcquire(&hdr->tp_status) != TP_STATUS_AVAILABLE) break;
    offsets[got++] = at + kTxDataOffset;
    slot = slot + 1 == tx_frame_nr_ ? 0 : slot + 1;
  }
  tx_reserved_ = got;
  if (want > int64_t(got)) stats_[kPsTxRingFull] += double(want - got);
  return Napi::Number::New(info.Env(), got);
}

Napi::Value PacketPort::SendTx(const Napi::CallbackInfo& info) {
  uint32_t* lengths;
  size_t lengths_len;
  if (!ArgU32Array(info, 0, &lengths, &lengths_len)) return info.Env().Undefined();
  const int64_t asked = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
  if (base_ == nullptr) return info.Env().Undefined();
  const uint32_t count =
      uint32_t(std::max<int64_t>(0, std::min<int64_t>({asked, int64_t(tx_reserved_), int64_t(lengths_len)})));
  if (shared_) {
    uint32_t* targets = nullptr;
    size_t targets_len = 0;
    if (!ArgU32Array(info, 2, &targets, &targets_len)) return info.Env().Undefined();
    SendAddressed(lengths, targets, uint32_t(std::min<size_t>(count, targets_len)));
    tx_reserved_ = 0;
    return info.Env().Undefined();
  }
  uint32_t slot = tx_head_;
  uint64_t bytes = 0;
  uint32_t sent = 0;
  for (uint32_t i = 0; i < count; i++) {
    auto* hdr = reinterpret_cast<struct tpacket2_hdr*>(base_ + TxSlotOffset(slot));
    uint32_t len = lengths[i];
    if (len < ETH_HLEN || len > tx_capacity_) {
      // Submitted with tp_len 0, which the kernel rejects (dev_validate_header) and,
      // with PACKET_LOSS, skips: the ring keeps moving and the error is counted here.
      stats_[kPsTxErrors]++;
      len = 0;
    } else {
      sent++;
      bytes += len;
    }
    hdr->tp_len = len;
    StoreRelease(&hdr->tp_status, TP_STATUS_SEND_REQUEST);
    slot = slot + 1 == tx_frame_nr_ ? 0 : slot + 1;
  }
  tx_head_ = slot;
  tx_reserved_ = 0;
  stats_[kPsTxPackets] += sent;
  stats_[kPsTxBytes] += double(bytes);
  if (count > 0 || kick_pending_) Kick();
  return info.Env().Undefined();
}

// Shared mode: one sendmmsg() for the batch, each message addressed to its interface
// (packet(7): sendto with a sockaddr_ll names the device). There is no ring to keep a
// refused frame in, so nothing is retried: a frame refused for its interface (ENXIO:
// gone; ENETDOWN) is counted in txKickErrors and the rest of the batch still goes;
// EAGAIN/ENOBUFS (send buffer or device queue full) ends the batch, and the frames not
// sent are counted in txRingFull, as a full ring's would be.
void PacketPort::SendAddressed(const uint32_t* lengths, const uint32_t* targets, uint32_t count) {
  uint32_t queued = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t len = lengths[i];
    if (len < ETH_HLEN || len > tx_capacity_ || targets[i] == 0 || targets[i] > 0x7fffffff) {
      stats_[kPsTxErrors]++;
      continue;
    }
    tx_iov_[queued].iov_base = base_ + TxSlotOffset(i);
    tx_iov_[queued].iov_len = len;
    tx_addr_[queued].sll_ifindex = int(targets[i]);
    queued++;
  }
  uint32_t done = 0;
  while (done < queued) {
    const int sent = sendmmsg(tx_fd_, &tx_msgs_[done], queued - done, MSG_DONTWAIT);
    if (sent > 0) {
      for (uint32_t k = done; k < done + uint32_t(sent); k++) stats_[kPsTxBytes] += double(tx_iov_[k].iov_len);
      stats_[kPsTxPackets] += sent;
      done += uint32_t(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
      stats_[kPsTxRingFull] += double(queued - done);
      break;
    }
    stats_[kPsTxKickErrors]++;
    done++;  // message `done` was refused; go on with the next
  }
}

bool PacketPort::OpenAddressedTx(Napi::Env env) {
  const long page = sysconf(_SC_PAGESIZE);
  tx_fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (tx_fd_ < 0) {
    ThrowErrno(env, errno, "socket(AF_PACKET)", ifname_, kOpenWhat);
    return false;
  }
  region_->AdoptFd(tx_fd_);
  if (!SetInt(tx_fd_, SOL_PACKET, PACKET_QDISC_BYPASS, 1)) {
    ThrowErrno(env, errno, "setsockopt(PACKET_QDISC_BYPASS)", ifname_, kOpenWhat);
    return false;
  }
  // One slot per frame of the largest size the interfaces carry; the slot count is the
  // largest batch.
  tx_capacity_ = uint32_t(mtu_) + ETH_HLEN;
  tx_frame_size_ = RoundUp(tx_capacity_, 64);
  tx_block_size_ = tx_frame_size_;
  tx_frames_per_block_ = 1;
  const uint64_t staging = RoundUp(uint32_t(uint64_t(tx_frame_nr_) * tx_frame_size_), uint32_t(page));
  if (uint64_t(rx_ring_bytes_) + staging > (uint64_t(1) << 30)) {
    ThrowRange(env, "RX ring plus TX staging must not exceed 1 GiB (offsets are 32-bit)");
    return false;
  }
  tx_ring_bytes_ = uint32_t(staging);
  const int sndbuf = int(std::min<uint64_t>(uint64_t(tx_frame_nr_) * (tx_frame_size_ + 1024) * 4, uint64_t(1) << 30));
  if (!SetInt(tx_fd_, SOL_SOCKET, SO_SNDBUFFORCE, sndbuf)) SetInt(tx_fd_, SOL_SOCKET, SO_SNDBUF, sndbuf);
  tx_msgs_.assign(tx_frame_nr_, {});
  tx_iov_.assign(tx_frame_nr_, {});
  tx_addr_.assign(tx_frame_nr_, {});
  for (uint32_t k = 0; k < tx_frame_nr_; k++) {
    tx_addr_[k].sll_family = AF_PACKET;
    tx_msgs_[k].msg_hdr.msg_name = &tx_addr_[k];
    tx_msgs_[k].msg_hdr.msg_namelen = sizeof(struct sockaddr_ll);
    tx_msgs_[k].msg_hdr.msg_iov = &tx_iov_[k];
    tx_msgs_[k].msg_hdr.msg_iovlen = 1;
  }
  return MapRings(env);
}

Napi::Value PacketPort::Admit(const Napi::CallbackInfo& info) { return SetAdmitted(info, true); }
Napi::Value PacketPort::Refuse(const Napi::CallbackInfo& info) { return SetAdmitted(info, false); }

// admit(ifindex) / refuse(ifindex): which interfaces a shared port receives from.
Napi::Value PacketPort::SetAdmitted(const Napi::CallbackInfo& info, bool present) {
  Napi::Env env = info.Env();
  if (!shared_) {
    ThrowType(env, "admit()/refuse() need a port opened on any interface");
    return env.Undefined();
  }
  const int64_t ifindex = info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : 0;
  if (ifindex < 1 || ifindex > 0x7fffffff) {
    ThrowRange(env, "ifindex must be 1..2147483647");
    return env.Undefined();
  }
  if (base_ == nullptr) return env.Undefined();
  const int err = SetIfindexAdmitted(map_fd_, uint32_t(ifindex), present);
  if (err != 0) {
    ThrowErrno(env, err, present ? "bpf(BPF_MAP_UPDATE_ELEM)" : "bpf(BPF_MAP_DELETE_ELEM)", ifname_,
               "cannot change the interfaces of packet port");
  }
  return env.Undefined();
}

// One sendto(fd, NULL, 0, MSG_DONTWAIT) sends every SEND_REQUEST frame in ring order
// (packet_mmap.rst, "Transmission process"). EAGAIN (send buffer full) and ENOBUFS
// (device queue busy) leave the remaining frames queued in SEND_REQUEST; they go out on
// the next kick, which the next reserveTx()/sendTx() makes.
void PacketPort::Kick() {
  for (int attempt = 0; attempt < 2; attempt++) {
    if (sendto(tx_fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == ENOBUFS) {
      stats_[kPsTxKickRetries]++;
    } else {
      stats_[kPsTxKickErrors]++;  // ENETDOWN, ENXIO: the link or the device went away
    }
    break;
  }
  // The kernel sends in ring order, so if the last submitted frame has left
  // SEND_REQUEST, all before it have too.
  const uint32_t last = tx_head_ == 0 ? tx_frame_nr_ - 1 : tx_head_ - 1;
  auto* hdr = reinterpret_cast<struct tpacket2_hdr*>(base_ + TxSlotOffset(last));
  kick_pending_ = LoadAcquire(&hdr->tp_status) == TP_STATUS_SEND_REQUEST;
}

Napi::Value PacketPort::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::Float64Array>().ElementLength() < kPsCount) {
    ThrowType(env, "stats() needs a Float64Array of at least " + std::to_string(kPsCount) + " elements");
    return env.Undefined();
  }
  if (base_ != nullptr) {
    // PACKET_STATISTICS resets the kernel's counters on every read (packet(7)), so they
    // are accumulated here. tp_drops counts frames lost because the ring was full.
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);
    memset(&st, 0, sizeof(st));
    if (getsockopt(rx_fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
      stats_[kPsRxKernelDrops] += st.tp_drops;
      stats_[kPsRxQueueFreezes] += st.tp_freeze_q_cnt;
    }
  }
  double* out = info[0].As<Napi::Float64Array>().Data();
  memcpy(out, stats_, sizeof(stats_));
  return env.Undefined();
}

Napi::Value PacketPort::Close(const Napi::CallbackInfo& info) {
  if (base_ != nullptr) {
    // Detach first: afterwards no JavaScript view can reach the pages we unmap.
    Napi::ArrayBuffer buffer = buffer_.Value();
    if (!buffer.IsEmpty() && !buffer.IsDetached()) buffer.Detach();
    buffer_.Reset();
    // Closing a packet socket that has a ring waits for RCU grace periods
    // (synchronize_net() in packet_set_ring() and packet_release(): ~50 ms per port
    // measured here), and the data path must not stall for that when a VSID goes away, so
    // the unmapping and closing happen on a thread of their own. Nothing can reach the
    // memory any more: the buffer is detached and base_ is cleared below.
    std::thread([region = region_]() { region->Release(); }).detach();
    base_ = nullptr;
    rx_fd_ = -1;
    tx_fd_ = -1;
    map_fd_ = -1;
  }
  return info.Env().Undefined();
}

}  // namespace nvgw
