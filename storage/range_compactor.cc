#include "storage/range_compactor.h"

#include <algorithm>
#include <cstdio>

namespace mqdb {

RangeCompactor::RangeCompactor(Compact compact) : compact_(std::move(compact)), thread_([this] { Run(); }) {}

RangeCompactor::~RangeCompactor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void RangeCompactor::Request(std::string begin, std::string end) {
  if (end < begin) std::swap(begin, end);
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Merge with every waiting range it overlaps, so the waiting ranges stay disjoint.
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->first <= end && begin <= it->second) {
        begin = std::min(begin, it->first);
        end = std::max(end, it->second);
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    if (pending_.size() >= kMaxPending) return;
    pending_.emplace_back(std::move(begin), std::move(end));
  }
  cv_.notify_one();
}

void RangeCompactor::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
    if (stop_) return;
    auto range = std::move(pending_.front());
    pending_.erase(pending_.begin());
    lock.unlock();
    Status s = compact_(range.first, range.second);
    if (!s.ok()) std::fprintf(stderr, "mqdb: range compaction failed: %s\n", s.message().c_str());
    done_.fetch_add(1);
    lock.lock();
  }
}

}  // namespace mqdb
