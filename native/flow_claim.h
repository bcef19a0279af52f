// Ingress flow claim: the kernel half of taking established connections over from the
// kernel's stack on an uplink (what nf_flowtable does in the kernel, done here by the
// userspace data path). One BPF hash map of claimed 5-tuples is read by two programs
// that make the same decision:
// - a socket filter (BPF_PROG_TYPE_SOCKET_FILTER) for the uplink's packet port: only
//   frames of a flow claimed with the copy bit enter its ring;
// - a tcx ingress program (BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_INGRESS, Linux >= 6.6): frames
//   of a flow claimed with the drop bit never reach the kernel's IP stack.
// Packet taps run before tcx ingress in __netif_receive_skb_core, so the port still gets
// its copy of a frame that tcx drops. The tcx link lives exactly as long as its file
// descriptor: if the process dies, the kernel takes every connection back.
#ifndef NVGW_NATIVE_FLOW_CLAIM_H_
#define NVGW_NATIVE_FLOW_CLAIM_H_

#include <napi.h>

#include <cstdint>

namespace nvgw {

// Bits of a claim's map value.
constexpr uint32_t kClaimCopy = 1;  // the packet port's socket filter keeps the frame
constexpr uint32_t kClaimDrop = 2;  // tcx ingress drops it before the kernel's stack

class FlowClaim : public Napi::ObjectWrap<FlowClaim> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit FlowClaim(const Napi::CallbackInfo& info);
  ~FlowClaim() override;

 private:
  Napi::Value SocketFilterFd(const Napi::CallbackInfo& info);
  Napi::Value AttachIngress(const Napi::CallbackInfo& info);
  Napi::Value DetachIngress(const Napi::CallbackInfo& info);
  Napi::Value Set(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Reads (src, dst, srcPort, dstPort, protocol) from the first five arguments into the
  // map's key layout; on a bad argument throws and returns false.
  bool ReadKey(const Napi::CallbackInfo& info, uint8_t key[16]);
  bool CheckOpen(Napi::Env env, const char* method);
  void Release();

  uint32_t max_entries_ = 0;
  int map_fd_ = -1;
  int socket_prog_fd_ = -1;
  int ingress_prog_fd_ = -1;
  int link_fd_ = -1;       // the tcx link; closing it detaches the program
  uint32_t link_ifindex_ = 0;
};

}  // namespace nvgw

#endif  // NVGW_NATIVE_FLOW_CLAIM_H_
