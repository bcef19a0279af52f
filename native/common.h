// Shared pieces of the nvgw packet I/O addon: errno-shaped errors for the open path, the
// memory region that one port exposes to JavaScript as a single external ArrayBuffer, and
// the small argument helpers the per-batch entry points use.
//
// Threading: every object here belongs to the JavaScript thread (main or worker) that
// created it. Nothing is global and nothing is shared between threads, so the addon is
// safe to load in any number of worker_threads at once (context-aware init, see addon.cc).
#ifndef NVGW_NATIVE_COMMON_H_
#define NVGW_NATIVE_COMMON_H_

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace nvgw {

// Throws a JavaScript Error shaped like Node's own system errors: `code` ("ENODEV"),
// `errno` (the number), `syscall`, plus `interface` (the device name) so that the caller
// and the log can say which port failed and why. Used only at open time and for
// programming errors; the per-batch calls never throw for a packet.
void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& ifname,
                const std::string& what);

// Throws a TypeError or RangeError for a bad argument (a bug in the TypeScript wrapper).
void ThrowType(Napi::Env env, const std::string& message);
void ThrowRange(Napi::Env env, const std::string& message);

// The memory one port exposes: the PACKET_MMAP rings (mmap'd from the sockets) or the
// tap port's slot buffer (heap), plus the file descriptors whose lifetime is tied to it.
//
// It is owned jointly by the native port object and by the external ArrayBuffer's
// finalizer (std::shared_ptr), because JavaScript may keep a view of the buffer (for
// instance in an RxBatch) after the port object itself has been collected. An explicit
// close() detaches the ArrayBuffer first, so no JavaScript view can reach the memory,
// and only then unmaps it; without close() the memory lives until both owners are gone.
class Region {
 public:
  enum class Kind { kNone, kMmap, kHeap };

  Region() = default;
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  ~Region() { Release(); }

  void AdoptMmap(void* base, size_t length) { Adopt(Kind::kMmap, base, length); }
  void AdoptHeap(void* base, size_t length) { Adopt(Kind::kHeap, base, length); }
  // The region closes these after unmapping: packet_mmap.rst ("Mapping and use of the
  // circular buffer") has the rings freed when the socket is closed, and closing with the
  // ring still mapped makes the kernel log "packet_mmap: vma is busy".
  void AdoptFd(int fd);

  uint8_t* base() const { return static_cast<uint8_t*>(base_); }
  size_t length() const { return length_; }
  bool live() const { return base_ != nullptr; }

  // Unmaps or frees the memory and closes the descriptors; safe to call twice.
  void Release();

 private:
  void Adopt(Kind kind, void* base, size_t length);

  Kind kind_ = Kind::kNone;
  void* base_ = nullptr;
  size_t length_ = 0;
  int fds_[3] = {-1, -1, -1};
};

// Wraps `region` in an external ArrayBuffer whose finalizer holds a reference to it.
Napi::ArrayBuffer ExposeRegion(Napi::Env env, const std::shared_ptr<Region>& region);

// Reads the `index`-th argument as a Uint32Array; on failure throws and returns false.
bool ArgU32Array(const Napi::CallbackInfo& info, size_t index, uint32_t** data, size_t* length);

// Reads an optional numeric property of an options object, or `fallback`.
int64_t OptInt(const Napi::Object& options, const char* name, int64_t fallback);
bool OptBool(const Napi::Object& options, const char* name, bool fallback);
std::string OptString(const Napi::Object& options, const char* name, const char* fallback);

// Fills `name` from the first argument (a device name): 1..IFNAMSIZ-1 bytes, no '/'.
bool ArgIfname(const Napi::CallbackInfo& info, std::string* name);

// Clears a pending socket error (SO_ERROR) so poll() stops reporting POLLERR for it;
// returns the error, 0 when there was none or fd is not a socket.
int ClearSocketError(int fd);

}  // namespace nvgw

#endif  // NVGW_NATIVE_COMMON_H_
