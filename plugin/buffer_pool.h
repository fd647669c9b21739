// BufferPool: reply texts whose buffers are recycled instead of freed.
//
// Why: every request's reply (its envelope) is a string built once and shared between the response,
// the retry cache and, with immediate durability, the queue of replies waiting for an fsync. A page
// of records makes that string several KB. glibc serves blocks that large from its bins, not from its
// per-thread cache, and with a large database (a block cache that churns) each such malloc first
// sorts the free lists: in-process, at 1M records, building the reply was 5 % of an indexed list.
// A string handed out by Share() gives its buffer back here when its last owner drops it, and Take()
// hands that buffer, capacity intact, to the next reply.
//
// Bounds: at most `keep` buffers of at most `max_bytes` capacity wait here; a larger or surplus one is
// freed. A pool destroyed while replies are still out is fine: they then free their buffers.
// Thread-safe (a reply may be dropped on another thread than the one that built it).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mqdb {

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  static std::shared_ptr<BufferPool> Create(size_t keep = 16, size_t max_bytes = size_t{256} << 10);

  // An empty string, with the capacity of a recycled buffer when one waits.
  std::string Take();
  // `text`, shared; its buffer comes back to the pool when the last copy of the pointer is dropped.
  std::shared_ptr<const std::string> Share(std::string text);

  size_t waiting() const;  // buffers ready for Take() (for tests)

 private:
  BufferPool(size_t keep, size_t max_bytes) : keep_(keep), max_bytes_(max_bytes) {}
  void Give(std::string&& buffer);

  const size_t keep_;
  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::vector<std::string> free_;
};

}  // namespace mqdb
