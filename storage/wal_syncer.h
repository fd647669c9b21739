// WalSyncer: the background thread that makes committed batches durable (ARCHITECTURE.md §3).
//
// Every commit gets a ticket (1, 2, 3, ...). Commits write the WAL without fsync, on the broker thread,
// in microseconds. This thread calls `sync` (RocksDB SyncWAL: fsync of the WAL) and then publishes the
// highest ticket that sync covered, because every commit that returned before the sync started is in
// the WAL it flushed.
//
//   periodic:  sync every `interval_ms` if anything was committed since the last sync.
//   immediate: sync as soon as anything is committed. All commits that arrive while one fsync runs
//              share the next fsync (group commit). Callers hold responses until SyncedTicket() covers
//              their ticket; `on_synced` tells them (from this thread) that it moved.
//   none:      no thread; nothing is ever fsynced (a process crash loses nothing, a power loss may).
//
// The broker thread never waits on this thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "storage/status.h"

namespace mqdb {

enum class Durability { kPeriodic, kImmediate, kNone };
const char* DurabilityName(Durability d);  // "periodic", "immediate", "none"

class WalSyncer {
 public:
  WalSyncer(Durability mode, int interval_ms, std::function<Status()> sync);
  ~WalSyncer();  // stops the thread; does not sync (Store does a final sync when it closes)

  // Called by the committing thread after each successful write; returns the commit's ticket.
  uint64_t Committed();
  uint64_t SyncedTicket() const { return synced_.load(std::memory_order_acquire); }
  uint64_t CommittedTicket() const { return committed_.load(std::memory_order_acquire); }
  uint64_t SyncCount() const { return syncs_.load(); }
  // Invoked on the syncer thread after SyncedTicket() advanced. Set before the first commit.
  void SetOnSynced(std::function<void()> f) { on_synced_ = std::move(f); }

 private:
  void Run();

  const Durability mode_;
  const int interval_ms_;
  std::function<Status()> sync_;
  std::function<void()> on_synced_;
  std::atomic<uint64_t> committed_{0};
  std::atomic<uint64_t> synced_{0};
  std::atomic<uint64_t> syncs_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mqdb
