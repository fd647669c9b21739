#include "storage/wal_syncer.h"

#include <chrono>
#include <cstdio>

namespace mqdb {

const char* DurabilityName(Durability d) {
  switch (d) {
    case Durability::kPeriodic: return "periodic";
    case Durability::kImmediate: return "immediate";
    case Durability::kNone: return "none";
  }
  return "?";
}

WalSyncer::WalSyncer(Durability mode, int interval_ms, std::function<Status()> sync)
    : mode_(mode), interval_ms_(interval_ms), sync_(std::move(sync)) {
  if (mode_ != Durability::kNone) thread_ = std::thread([this] { Run(); });
}

WalSyncer::~WalSyncer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t WalSyncer::Committed() {
  uint64_t ticket = committed_.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (mode_ == Durability::kImmediate) {
    // Taking the lock orders this notify after the syncer's predicate check: no lost wake-up.
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_one();
  }
  return ticket;
}

void WalSyncer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (mode_ == Durability::kImmediate) {
      cv_.wait(lock, [&] { return stop_ || committed_.load() > synced_.load(); });
    } else {
      cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [&] { return stop_; });
    }
    if (stop_) break;
    uint64_t target = committed_.load(std::memory_order_acquire);
    if (target <= synced_.load()) continue;
    lock.unlock();
    Status s = sync_();
    if (s.ok()) {
      syncs_.fetch_add(1);
      synced_.store(target, std::memory_order_release);
      if (on_synced_) on_synced_();
    } else {
      std::fprintf(stderr, "mqdb: WAL sync failed: %s\n", s.message().c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // do not spin on a failing disk
    }
    lock.lock();
  }
}

}  // namespace mqdb
