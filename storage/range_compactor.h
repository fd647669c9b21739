// RangeCompactor: compacts key ranges on a thread of its own, so no scan walks the same tombstones twice.
//
// RocksDB keeps a deleted key as a tombstone until a compaction reaches it, and a scan steps over every
// tombstone in its way: a queue-like entity (records created and soon deleted) made a 10-record list
// 20x slower after 18,000 deletes. Store::Scan counts the tombstones it skipped and, past a threshold,
// asks this class to compact the range it covered; the next scan then finds the tombstones gone.
//
// Requests are coalesced: a range already waiting absorbs overlapping ones, and at most kMaxPending
// ranges wait (further requests are dropped: the next slow scan asks again). One compaction runs at a
// time. Request() never blocks on a compaction, so the broker thread can call it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/status.h"

namespace mqdb {

class RangeCompactor {
 public:
  // Compacts keys in [begin, end] (both inclusive).
  using Compact = std::function<Status(const std::string& begin, const std::string& end)>;
  explicit RangeCompactor(Compact compact);
  ~RangeCompactor();  // waits for a running compaction (Store aborts it first); drops waiting ones

  void Request(std::string begin, std::string end);
  uint64_t done() const { return done_.load(); }  // compactions finished (ok or not)

  static constexpr size_t kMaxPending = 64;

 private:
  void Run();

  Compact compact_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, std::string>> pending_;  // disjoint ranges, waiting
  bool stop_ = false;
  std::atomic<uint64_t> done_{0};
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace mqdb
