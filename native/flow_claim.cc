// The program, in eBPF assembly (Documentation/bpf/standardization/instruction-set.rst),
// built twice from one builder: once as the packet port's socket filter (BIT = copy,
// YES = keep the whole frame, NO = 0) and once for tcx ingress (BIT = drop,
// YES = TCX_DROP, NO = TCX_NEXT). Offsets count from the Ethernet header, which is at
// skb->data in both places: packet_rcv pushes the MAC header back before running the
// filter, and tcx_run does the same for ingress.
//
//   r6 = r1                          ; the __sk_buff
//   r2 = *(u32 *)(r6 + protocol)     ; network order, as skb->protocol
//   if r2 != htons(ETH_P_IP) goto no
//   r2 = *(u32 *)(r6 + vlan_present) ; an 802.1Q frame is not the uplink's own traffic
//   if r2 != 0 goto no
//   r2 = *(u32 *)(r6 + len)
//   if r2 > MAX_FRAME goto no        ; longer frames: the kernel fragments or sends ICMP
//   r1 = r6                          ; bpf_skb_load_bytes(skb, 14, fp - 40, 24):
//   r2 = 14                          ; the IPv4 header and the 4 bytes after it (the
//   r3 = r10 ; r3 += -40             ; ports), so that fp-28 .. fp-17 already hold the
//   r4 = 24                          ; key's addresses and ports in network order
//   call bpf_skb_load_bytes
//   if r0 != 0 goto no               ; too short: the kernel's to judge
//   r2 = *(u8 *)(r10 - 40)           ; version and IHL
//   if r2 != 0x45 goto no            ; options: the kernel's (the ports are elsewhere)
//   r2 = *(u16 *)(r10 - 34)          ; flags and fragment offset
//   r2 = be16 r2
//   r2 &= 0x3fff                     ; MF and the offset; DF does not matter
//   if r2 != 0 goto no
//   r2 = *(u8 *)(r10 - 32)           ; TTL
//   if r2 <= 1 goto no               ; the kernel sends the ICMP time exceeded
//   r7 = *(u8 *)(r10 - 31)           ; protocol
//   if r7 == 17 goto lookup          ; UDP
//   if r7 != 6 goto no               ; TCP, or not ours
//   r1 = r6                          ; bpf_skb_load_bytes(skb, 14 + 20 + 13, fp - 44, 1)
//   r2 = 47
//   r3 = r10 ; r3 += -44
//   r4 = 1
//   call bpf_skb_load_bytes
//   if r0 != 0 goto no
//   r2 = *(u8 *)(r10 - 44)           ; TCP flags
//   r2 &= 0x07                       ; FIN | SYN | RST: conntrack must see those
//   if r2 != 0 goto no
// lookup:
//   *(u32 *)(r10 - 16) = 0           ; key[12..15] = protocol, 0, 0, 0
//   *(u8 *)(r10 - 16) = r7
//   r2 = r10 ; r2 += -28             ; the key: fp-28 .. fp-13
//   r1 = map                         ; ld_imm64 with BPF_PSEUDO_MAP_FD
//   call bpf_map_lookup_elem
//   if r0 == 0 goto no
//   r2 = *(u32 *)(r0 + 0)            ; the claim's bits
//   r2 &= BIT
//   if r2 == 0 goto no
//   r0 = YES                         ; socket filter: r0 = *(u32 *)(r6 + len)
//   exit
// no:
//   r0 = NO
//   exit
//
// The two programs share the map, so one update changes both decisions at once; a frame
// is judged twice (tap, then tcx) with the same map contents unless an update lands in
// between, which only moves one frame of a flow being claimed or released.
#include "flow_claim.h"

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

namespace nvgw {
namespace {

// Linux 6.6 additions that the build machine's <linux/bpf.h> (6.1) may lack:
// enum bpf_attach_type and the tcx return codes (include/uapi/linux/bpf.h).
constexpr uint32_t kBpfTcxIngress = 46;
constexpr int32_t kTcxNext = -1;
constexpr int32_t kTcxDrop = 2;
// The kernel's internal "not supported" (include/linux/errno.h), which can leak to user
// space from BPF paths; glibc has no name for it.
constexpr int kEnotsupp = 524;

constexpr int64_t kMaxEntries = 1 << 24;
constexpr int64_t kMinFrame = ETH_HLEN + 20 + 8;  // Ethernet, IPv4 and UDP headers
constexpr int64_t kMaxFrame = 65535;

long Bpf(int cmd, union bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

// An Error shaped like Node's system errors (code, errno, syscall), as common.cc's
// ThrowErrno makes for ports, but naming an ifindex or nothing instead of a device name.
void ThrowSystem(Napi::Env env, int err, const char* syscall_name, const std::string& what,
                 const std::string& hint = "", int64_t ifindex = -1) {
  const char* code = strerrorname_np(err);
  const std::string code_text = code != nullptr ? code : (err == kEnotsupp ? "ENOTSUPP" : "EUNKNOWN");
  std::string message = what + ": " + (err == kEnotsupp ? "Operation not supported" : strerror(err)) + " (" +
                        code_text + ", " + syscall_name + ")";
  if (!hint.empty()) message += "; " + hint;
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code_text));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall_name));
  if (ifindex >= 0) error.Set("ifindex", Napi::Number::New(env, double(ifindex)));
  error.ThrowAsJavaScriptException();
}

// A whole number in [min, max], or a TypeError/RangeError naming the argument.
bool ReadInteger(Napi::Env env, const Napi::Value& value, const char* name, int64_t min, int64_t max, int64_t* out) {
  if (!value.IsNumber()) {
    ThrowType(env, std::string(name) + " must be a number");
    return false;
  }
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::floor(number) != number || number < double(min) || number > double(max)) {
    ThrowRange(env, std::string(name) + " must be an integer " + std::to_string(min) + ".." + std::to_string(max));
    return false;
  }
  *out = int64_t(number);
  return true;
}

// A small assembler: instructions plus forward jumps to two labels, patched at the end.
class Assembler {
 public:
  enum Label { kNo, kLookup };

  void Emit(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    struct bpf_insn insn;
    memset(&insn, 0, sizeof(insn));
    insn.code = code;
    insn.dst_reg = dst & 0xf;
    insn.src_reg = src & 0xf;
    insn.off = off;
    insn.imm = imm;
    insns_.push_back(insn);
  }
  void MovReg(uint8_t dst, uint8_t src) { Emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
  void MovImm(uint8_t dst, int32_t imm) { Emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
  void AddImm(uint8_t dst, int32_t imm) { Emit(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm); }
  void AndImm(uint8_t dst, int32_t imm) { Emit(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm); }
  void ToBe16(uint8_t dst) { Emit(BPF_ALU | BPF_END | BPF_TO_BE, dst, 0, 0, 16); }
  void Load(uint8_t size, uint8_t dst, uint8_t src, int16_t off) { Emit(BPF_LDX | BPF_MEM | size, dst, src, off, 0); }
  void StoreImm(uint8_t size, uint8_t dst, int16_t off, int32_t imm) { Emit(BPF_ST | BPF_MEM | size, dst, 0, off, imm); }
  void StoreReg(uint8_t size, uint8_t dst, int16_t off, uint8_t src) { Emit(BPF_STX | BPF_MEM | size, dst, src, off, 0); }
  void Call(int32_t helper) { Emit(BPF_JMP | BPF_CALL, 0, 0, 0, helper); }
  void Exit() { Emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }
  void LoadMapFd(uint8_t dst, int map_fd) {
    Emit(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, map_fd);
    Emit(0, 0, 0, 0, 0);  // second half of the 64-bit immediate
  }
  // if (dst OP imm) goto label
  void JumpIf(uint8_t op, uint8_t dst, int32_t imm, Label label) {
    fixups_.push_back({insns_.size(), label});
    Emit(BPF_JMP | op | BPF_K, dst, 0, 0, imm);
  }
  void Bind(Label label) { labels_[label] = insns_.size(); }

  std::vector<struct bpf_insn> Finish() {
    for (const Fixup& f : fixups_) insns_[f.at].off = int16_t(labels_[f.label] - (f.at + 1));
    return insns_;
  }

 private:
  struct Fixup {
    size_t at;
    Label label;
  };
  std::vector<struct bpf_insn> insns_;
  std::vector<Fixup> fixups_;
  size_t labels_[2] = {0, 0};
};

// What one of the two programs answers.
struct Verdict {
  uint32_t bit;        // the map value bit that means yes
  bool yes_keeps_len;  // yes returns skb->len (a socket filter keeps that many bytes)
  int32_t yes;         // otherwise the value returned for yes
  int32_t no;
};

std::vector<struct bpf_insn> BuildClaimProgram(int map_fd, uint32_t max_frame, const Verdict& verdict) {
  // Stack layout: fp-40 .. fp-17 the IPv4 header and ports; fp-16 .. fp-13 the key's
  // protocol word; fp-44 the TCP flags byte. The key is fp-28 .. fp-13.
  constexpr int16_t kIp = -40;
  constexpr int16_t kKey = -28;
  constexpr int16_t kKeyProtocol = -16;
  constexpr int16_t kTcpFlags = -44;
  Assembler a;
  a.MovReg(BPF_REG_6, BPF_REG_1);
  a.Load(BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct __sk_buff, protocol));
  a.JumpIf(BPF_JNE, BPF_REG_2, htons(ETH_P_IP), Assembler::kNo);
  a.Load(BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct __sk_buff, vlan_present));
  a.JumpIf(BPF_JNE, BPF_REG_2, 0, Assembler::kNo);
  a.Load(BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct __sk_buff, len));
  a.JumpIf(BPF_JGT, BPF_REG_2, int32_t(max_frame), Assembler::kNo);

  a.MovReg(BPF_REG_1, BPF_REG_6);
  a.MovImm(BPF_REG_2, ETH_HLEN);
  a.MovReg(BPF_REG_3, BPF_REG_10);
  a.AddImm(BPF_REG_3, kIp);
  a.MovImm(BPF_REG_4, 24);
  a.Call(BPF_FUNC_skb_load_bytes);
  a.JumpIf(BPF_JNE, BPF_REG_0, 0, Assembler::kNo);
  a.Load(BPF_B, BPF_REG_2, BPF_REG_10, kIp + 0);
  a.JumpIf(BPF_JNE, BPF_REG_2, 0x45, Assembler::kNo);
  a.Load(BPF_H, BPF_REG_2, BPF_REG_10, kIp + 6);
  a.ToBe16(BPF_REG_2);
  a.AndImm(BPF_REG_2, 0x3fff);
  a.JumpIf(BPF_JNE, BPF_REG_2, 0, Assembler::kNo);
  a.Load(BPF_B, BPF_REG_2, BPF_REG_10, kIp + 8);
  a.JumpIf(BPF_JLE, BPF_REG_2, 1, Assembler::kNo);
  a.Load(BPF_B, BPF_REG_7, BPF_REG_10, kIp + 9);
  a.JumpIf(BPF_JEQ, BPF_REG_7, IPPROTO_UDP, Assembler::kLookup);
  a.JumpIf(BPF_JNE, BPF_REG_7, IPPROTO_TCP, Assembler::kNo);

  a.MovReg(BPF_REG_1, BPF_REG_6);
  a.MovImm(BPF_REG_2, ETH_HLEN + 20 + 13);
  a.MovReg(BPF_REG_3, BPF_REG_10);
  a.AddImm(BPF_REG_3, kTcpFlags);
  a.MovImm(BPF_REG_4, 1);
  a.Call(BPF_FUNC_skb_load_bytes);
  a.JumpIf(BPF_JNE, BPF_REG_0, 0, Assembler::kNo);
  a.Load(BPF_B, BPF_REG_2, BPF_REG_10, kTcpFlags);
  a.AndImm(BPF_REG_2, 0x07);  // FIN 0x01, SYN 0x02, RST 0x04 (RFC 9293, 3.1)
  a.JumpIf(BPF_JNE, BPF_REG_2, 0, Assembler::kNo);

  a.Bind(Assembler::kLookup);
  // A byte store of the protocol after a zeroed word, not a word store of r7: the key's
  // byte 12 is the protocol whatever the machine's byte order.
  a.StoreImm(BPF_W, BPF_REG_10, kKeyProtocol, 0);
  a.StoreReg(BPF_B, BPF_REG_10, kKeyProtocol, BPF_REG_7);
  a.MovReg(BPF_REG_2, BPF_REG_10);
  a.AddImm(BPF_REG_2, kKey);
  a.LoadMapFd(BPF_REG_1, map_fd);
  a.Call(BPF_FUNC_map_lookup_elem);
  a.JumpIf(BPF_JEQ, BPF_REG_0, 0, Assembler::kNo);
  a.Load(BPF_W, BPF_REG_2, BPF_REG_0, 0);
  a.AndImm(BPF_REG_2, int32_t(verdict.bit));
  a.JumpIf(BPF_JEQ, BPF_REG_2, 0, Assembler::kNo);
  if (verdict.yes_keeps_len) {
    a.Load(BPF_W, BPF_REG_0, BPF_REG_6, offsetof(struct __sk_buff, len));
  } else {
    a.MovImm(BPF_REG_0, verdict.yes);
  }
  a.Exit();

  a.Bind(Assembler::kNo);
  a.MovImm(BPF_REG_0, verdict.no);
  a.Exit();
  return a.Finish();
}

// Loads a program; returns its fd, or -1 with errno kept in *err and the verifier's
// log in *log. The first attempt asks for no log: a log_level 1 log that outgrows its
// buffer fails the load with ENOSPC even for a program the verifier accepts. Only when
// the load fails is it repeated with a log, to say why.
int LoadProgram(uint32_t type, const char* name, const std::vector<struct bpf_insn>& program, int* err,
                std::string* log) {
  static const char kLicense[] = "GPL";
  union bpf_attr attr;
  auto fill = [&]() {
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = type;
    attr.insn_cnt = uint32_t(program.size());
    attr.insns = reinterpret_cast<uint64_t>(program.data());
    attr.license = reinterpret_cast<uint64_t>(kLicense);
    strncpy(attr.prog_name, name, sizeof(attr.prog_name) - 1);
  };
  fill();
  const int fd = int(Bpf(BPF_PROG_LOAD, &attr));
  if (fd >= 0) return fd;
  *err = errno;
  std::vector<char> text(1 << 18, 0);
  fill();
  attr.log_buf = reinterpret_cast<uint64_t>(text.data());
  attr.log_size = uint32_t(text.size());
  attr.log_level = 1;
  const int again = int(Bpf(BPF_PROG_LOAD, &attr));
  if (again >= 0) return again;  // the first failure was transient (EAGAIN)
  text.back() = 0;
  *log = text.data();
  while (!log->empty() && (log->back() == '\n' || log->back() == ' ')) log->pop_back();
  return -1;
}

std::string KernelRelease() {
  struct utsname u;
  return uname(&u) == 0 ? std::string(u.release) : std::string("unknown");
}

}  // namespace

Napi::Function FlowClaim::Init(Napi::Env env) {
  return DefineClass(env, "FlowClaim",
                     {
                         InstanceMethod<&FlowClaim::SocketFilterFd>("socketFilterFd"),
                         InstanceMethod<&FlowClaim::AttachIngress>("attachIngress"),
                         InstanceMethod<&FlowClaim::DetachIngress>("detachIngress"),
                         InstanceMethod<&FlowClaim::Set>("set"),
                         InstanceMethod<&FlowClaim::Delete>("delete"),
                         InstanceMethod<&FlowClaim::Close>("close"),
                     });
}

// new FlowClaim({ maxEntries, maxFrameLength })
FlowClaim::FlowClaim(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FlowClaim>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowType(env, "FlowClaim needs an options object { maxEntries, maxFrameLength }");
    return;
  }
  Napi::Object options = info[0].As<Napi::Object>();
  int64_t max_entries = 0;
  int64_t max_frame = 0;
  if (!ReadInteger(env, options.Get("maxEntries"), "maxEntries", 1, kMaxEntries, &max_entries)) return;
  if (!ReadInteger(env, options.Get("maxFrameLength"), "maxFrameLength", kMinFrame, kMaxFrame, &max_frame)) return;
  max_entries_ = uint32_t(max_entries);

  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_HASH;
  attr.key_size = 16;
  attr.value_size = sizeof(uint32_t);
  attr.max_entries = max_entries_;
  // Entries are allocated as flows are claimed: a table sized for a busy uplink costs
  // nothing while it is mostly empty.
  attr.map_flags = BPF_F_NO_PREALLOC;
  strncpy(attr.map_name, "nvgw_claim", sizeof(attr.map_name) - 1);
  map_fd_ = int(Bpf(BPF_MAP_CREATE, &attr));
  if (map_fd_ < 0) {
    ThrowSystem(env, errno, "bpf(BPF_MAP_CREATE)", "cannot create the flow claim map",
                errno == EPERM ? "needs CAP_BPF (or CAP_SYS_ADMIN)" : "");
    return;
  }
  const struct {
    uint32_t type;
    const char* name;
    Verdict verdict;
    int* fd;
  } programs[] = {
      {BPF_PROG_TYPE_SOCKET_FILTER, "nvgw_claim_sk", {kClaimCopy, true, 0, 0}, &socket_prog_fd_},
      {BPF_PROG_TYPE_SCHED_CLS, "nvgw_claim_tcx", {kClaimDrop, false, kTcxDrop, kTcxNext}, &ingress_prog_fd_},
  };
  for (const auto& p : programs) {
    int err = 0;
    std::string log;
    *p.fd = LoadProgram(p.type, p.name, BuildClaimProgram(map_fd_, uint32_t(max_frame), p.verdict), &err, &log);
    if (*p.fd < 0) {
      ThrowSystem(env, err, "bpf(BPF_PROG_LOAD)", std::string("cannot load the flow claim program ") + p.name,
                  log.empty() ? "" : "verifier: " + log);
      Release();
      return;
    }
  }
}

FlowClaim::~FlowClaim() { Release(); }

void FlowClaim::Release() {
  for (int* fd : {&link_fd_, &ingress_prog_fd_, &socket_prog_fd_, &map_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  link_ifindex_ = 0;
}

bool FlowClaim::CheckOpen(Napi::Env env, const char* method) {
  if (map_fd_ >= 0) return true;
  Napi::Error::New(env, std::string("flow claim: ") + method + "() after close()").ThrowAsJavaScriptException();
  return false;
}

// socketFilterFd() -> the socket filter program's fd (for a packet port's bpfProgramFd),
// -1 after close(). A socket it is attached to holds its own reference.
Napi::Value FlowClaim::SocketFilterFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), socket_prog_fd_);
}

// attachIngress(ifindex): the tcx link on the interface's ingress, in the calling
// thread's network namespace. Again on the same interface: nothing to do.
Napi::Value FlowClaim::AttachIngress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t ifindex = 0;
  if (!ReadInteger(env, info[0], "ifindex", 1, 0x7fffffff, &ifindex)) return env.Undefined();
  if (!CheckOpen(env, "attachIngress")) return env.Undefined();
  if (link_fd_ >= 0) {
    if (link_ifindex_ == uint32_t(ifindex)) return env.Undefined();
    Napi::Error::New(env, "flow claim: already attached to the ingress of ifindex " + std::to_string(link_ifindex_) +
                              "; detachIngress() before attaching to ifindex " + std::to_string(ifindex))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.link_create.prog_fd = uint32_t(ingress_prog_fd_);
  attr.link_create.target_ifindex = uint32_t(ifindex);
  attr.link_create.attach_type = kBpfTcxIngress;
  // flags 0, no relative program, expected revision 0: appended after whatever else is
  // attached there (tcx runs programs in order; ours returns TCX_NEXT for the rest).
  const int fd = int(Bpf(BPF_LINK_CREATE, &attr));
  if (fd < 0) {
    const int err = errno;
    std::string hint;
    if (err == ENODEV) {
      hint = "no interface has that index in this network namespace";
    } else if (err == EINVAL || err == EOPNOTSUPP || err == kEnotsupp) {
      hint = "attaching with tcx needs Linux >= 6.6 (this kernel is " + KernelRelease() + ")";
    } else if (err == EPERM) {
      hint = "needs CAP_NET_ADMIN and CAP_BPF";
    }
    ThrowSystem(env, err, "bpf(BPF_LINK_CREATE)",
                "cannot attach the flow claim to the ingress of ifindex " + std::to_string(ifindex), hint, ifindex);
    return env.Undefined();
  }
  link_fd_ = fd;
  link_ifindex_ = uint32_t(ifindex);
  return env.Undefined();
}

// detachIngress(): closing the link's only fd detaches the program (bpf_link_release),
// at once: every flow is the kernel's again. Claims stay in the map.
Napi::Value FlowClaim::DetachIngress(const Napi::CallbackInfo& info) {
  if (link_fd_ >= 0) close(link_fd_);
  link_fd_ = -1;
  link_ifindex_ = 0;
  return info.Env().Undefined();
}

bool FlowClaim::ReadKey(const Napi::CallbackInfo& info, uint8_t key[16]) {
  Napi::Env env = info.Env();
  int64_t src = 0, dst = 0, src_port = 0, dst_port = 0, protocol = 0;
  if (!ReadInteger(env, info[0], "src", 0, 0xffffffffLL, &src) ||
      !ReadInteger(env, info[1], "dst", 0, 0xffffffffLL, &dst) ||
      !ReadInteger(env, info[2], "srcPort", 0, 0xffff, &src_port) ||
      !ReadInteger(env, info[3], "dstPort", 0, 0xffff, &dst_port) ||
      !ReadInteger(env, info[4], "protocol", 0, 255, &protocol)) {
    return false;
  }
  if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) {
    ThrowRange(env, "protocol must be 6 (TCP) or 17 (UDP): no other flow is ever claimed");
    return false;
  }
  const uint32_t s = htonl(uint32_t(src));
  const uint32_t d = htonl(uint32_t(dst));
  const uint16_t sp = htons(uint16_t(src_port));
  const uint16_t dp = htons(uint16_t(dst_port));
  memset(key, 0, 16);
  memcpy(key + 0, &s, 4);
  memcpy(key + 4, &d, 4);
  memcpy(key + 8, &sp, 2);
  memcpy(key + 10, &dp, 2);
  key[12] = uint8_t(protocol);
  return true;
}

// set(src, dst, srcPort, dstPort, protocol, bits): claims (or re-claims) one direction of
// a flow, as it arrives on the uplink, addresses and ports in host order.
Napi::Value FlowClaim::Set(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t key[16];
  int64_t bits = 0;
  if (!ReadKey(info, key)) return env.Undefined();
  if (!ReadInteger(env, info[5], "bits", 1, kClaimCopy | kClaimDrop, &bits)) return env.Undefined();
  if (!CheckOpen(env, "set")) return env.Undefined();
  uint32_t value = uint32_t(bits);
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_fd = uint32_t(map_fd_);
  attr.key = reinterpret_cast<uint64_t>(key);
  attr.value = reinterpret_cast<uint64_t>(&value);
  attr.flags = BPF_ANY;
  if (Bpf(BPF_MAP_UPDATE_ELEM, &attr) != 0) {
    const int err = errno;
    ThrowSystem(env, err, "bpf(BPF_MAP_UPDATE_ELEM)", "cannot claim the flow",
                err == E2BIG ? "the claim map is full (maxEntries " + std::to_string(max_entries_) + ")" : "");
  }
  return env.Undefined();
}

// delete(src, dst, srcPort, dstPort, protocol) -> false when the flow was not claimed.
Napi::Value FlowClaim::Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t key[16];
  if (!ReadKey(info, key)) return env.Undefined();
  if (!CheckOpen(env, "delete")) return env.Undefined();
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_fd = uint32_t(map_fd_);
  attr.key = reinterpret_cast<uint64_t>(key);
  if (Bpf(BPF_MAP_DELETE_ELEM, &attr) == 0) return Napi::Boolean::New(env, true);
  if (errno == ENOENT) return Napi::Boolean::New(env, false);
  ThrowSystem(env, errno, "bpf(BPF_MAP_DELETE_ELEM)", "cannot release the flow");
  return env.Undefined();
}

// close(): detaches and closes every fd; idempotent. A packet socket the socket filter is
// attached to keeps the program and the map (with its last contents) until it closes.
Napi::Value FlowClaim::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

}  // namespace nvgw
