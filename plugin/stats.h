// Request counters and latency percentiles for $SYS/broker/mqdb/... (PROTOCOL.md §8).
// Broker thread only. Latency is kept as the last 4096 samples (a sliding window, so p99 reflects
// recent traffic and the memory is fixed).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mqdb {

enum class RequestClass { kCreate, kRead, kUpdate, kDelete, kList, kCount, kAdmin, kOther };
constexpr const char* kRequestClassNames[] = {"create", "read", "update", "delete", "list", "count", "admin"};

class Stats {
 public:
  void Record(RequestClass cls, int status_code, uint64_t latency_us);
  uint64_t requests(RequestClass cls) const { return requests_[static_cast<size_t>(cls)]; }
  uint64_t errors_4xx() const { return errors_4xx_; }
  uint64_t errors_5xx() const { return errors_5xx_; }
  // Percentile (0-100) of the recorded latencies in the window; 0 when there are none.
  uint64_t LatencyPercentile(double p) const;

 private:
  static constexpr size_t kWindow = 4096;
  std::array<uint64_t, 8> requests_{};
  uint64_t errors_4xx_ = 0, errors_5xx_ = 0;
  std::vector<uint64_t> samples_;
  size_t next_ = 0;
};

}  // namespace mqdb
