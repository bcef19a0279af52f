// The program, in eBPF assembly (Documentation/bpf/standardization/instruction-set.rst):
//
//   r6 = r1                        ; the __sk_buff
//   r0 = *(u32 *)(r6 + ifindex)    ; the device the frame arrived on
//   *(u32 *)(r10 - 4) = r0         ; the map key, on the stack
//   r2 = r10 ; r2 += -4
//   r1 = map                       ; ld_imm64 with BPF_PSEUDO_MAP_FD
//   call bpf_map_lookup_elem
//   if r0 == 0 goto refuse
//   r0 = *(u32 *)(r6 + len)        ; admit: keep the whole frame
//   exit
// refuse:
//   r0 = 0
//   exit
//
// A socket filter's return value is the number of bytes to keep; 0 drops the frame
// before it takes ring space, and the kernel does not count it as a ring drop.
#include "ifindex_filter.h"

#include <linux/bpf.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace nvgw {
namespace {

long Bpf(int cmd, union bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

struct bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  struct bpf_insn insn;
  memset(&insn, 0, sizeof(insn));
  insn.code = code;
  insn.dst_reg = dst & 0xf;
  insn.src_reg = src & 0xf;
  insn.off = off;
  insn.imm = imm;
  return insn;
}

}  // namespace

int CreateIfindexFilter(uint32_t max_interfaces, int* map_fd, int* prog_fd, std::string* what) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_HASH;
  attr.key_size = sizeof(uint32_t);
  attr.value_size = sizeof(uint32_t);
  attr.max_entries = max_interfaces;
  const int map = int(Bpf(BPF_MAP_CREATE, &attr));
  if (map < 0) {
    *what = "bpf(BPF_MAP_CREATE)";
    return errno;
  }
  const std::vector<struct bpf_insn> program = {
      Insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0),
      Insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_0, BPF_REG_6, offsetof(struct __sk_buff, ifindex), 0),
      Insn(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_0, -4, 0),
      Insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),
      Insn(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4),
      Insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map),
      Insn(0, 0, 0, 0, 0),  // second half of the 64-bit immediate
      Insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
      Insn(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 2, 0),
      Insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_0, BPF_REG_6, offsetof(struct __sk_buff, len), 0),
      Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
      Insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
      Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  static const char kLicense[] = "GPL";
  std::vector<char> log(4096, 0);
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insn_cnt = uint32_t(program.size());
  attr.insns = reinterpret_cast<uint64_t>(program.data());
  attr.license = reinterpret_cast<uint64_t>(kLicense);
  attr.log_buf = reinterpret_cast<uint64_t>(log.data());
  attr.log_size = uint32_t(log.size());
  attr.log_level = 1;
  const int prog = int(Bpf(BPF_PROG_LOAD, &attr));
  if (prog < 0) {
    const int err = errno;
    *what = std::string("bpf(BPF_PROG_LOAD)") + (log[0] != 0 ? std::string(": ") + log.data() : "");
    close(map);
    return err;
  }
  *map_fd = map;
  *prog_fd = prog;
  return 0;
}

int SetIfindexAdmitted(int map_fd, uint32_t ifindex, bool present) {
  uint32_t key = ifindex;
  uint32_t value = 1;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_fd = uint32_t(map_fd);
  attr.key = reinterpret_cast<uint64_t>(&key);
  if (present) {
    attr.value = reinterpret_cast<uint64_t>(&value);
    attr.flags = BPF_ANY;
    return Bpf(BPF_MAP_UPDATE_ELEM, &attr) == 0 ? 0 : errno;
  }
  if (Bpf(BPF_MAP_DELETE_ELEM, &attr) == 0 || errno == ENOENT) return 0;
  return errno;
}

}  // namespace nvgw
