// A socket filter that admits frames by the interface they arrived on, for one packet
// socket serving many interfaces: an eBPF program (BPF_PROG_TYPE_SOCKET_FILTER) that
// looks the frame's ifindex up in a hash map the caller fills, so admitting or refusing
// one interface is one map update, whatever the number of interfaces (a classic BPF
// program would have to be rebuilt, and stops at 4,096 instructions).
#ifndef NVGW_NATIVE_IFINDEX_FILTER_H_
#define NVGW_NATIVE_IFINDEX_FILTER_H_

#include <cstdint>
#include <string>

namespace nvgw {

// Creates the map (room for `max_interfaces`) and loads the program that reads it.
// On success both descriptors are set and 0 is returned; otherwise an errno, with the
// failing step (and the verifier's log, if any) in *what.
int CreateIfindexFilter(uint32_t max_interfaces, int* map_fd, int* prog_fd, std::string* what);

// Admits (present) or refuses frames from `ifindex`; returns 0 or an errno.
int SetIfindexAdmitted(int map_fd, uint32_t ifindex, bool present);

}  // namespace nvgw

#endif  // NVGW_NATIVE_IFINDEX_FILTER_H_
