// Request counters and latency percentiles for $SYS/broker/mqdb/... (PROTOCOL.md §8).
// Broker thread only. Latency is kept as a sliding window of the last 4096 samples, overall and per
// request class, so a p99 reflects recent traffic and the memory is fixed (~290 KB in all).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mqdb {

enum class RequestClass { kCreate, kRead, kUpdate, kDelete, kList, kCount, kAdmin, kOther };
constexpr size_t kNamedRequestClasses = 7;  // kOther (echo, health, groups, replay, tx) has no name
constexpr const char* kRequestClassNames[kNamedRequestClasses] = {"create", "read",  "update", "delete",
                                                                   "list",   "count", "admin"};
// The error codes counted one by one under errors/{code}; every 4xx and 5xx also counts in
// errors/4xx or errors/5xx.
constexpr int kCountedErrorCodes[] = {400, 401, 403, 404, 409, 410, 413, 429, 500, 503};
constexpr size_t kCountedErrorCodeCount = sizeof(kCountedErrorCodes) / sizeof(kCountedErrorCodes[0]);

// A fixed-size ring of latency samples with exact percentiles over what it holds.
class LatencyWindow {
 public:
  void Add(uint64_t us);
  // Percentile (0-100) of the samples in the window, nearest-rank; 0 when there are none.
  uint64_t Percentile(double p) const;

 private:
  static constexpr size_t kWindow = 4096;
  std::vector<uint64_t> samples_;
  size_t next_ = 0;
};

class Stats {
 public:
  void Record(RequestClass cls, int status_code, uint64_t latency_us);
  uint64_t requests(RequestClass cls) const { return requests_[static_cast<size_t>(cls)]; }
  uint64_t requests_total() const { return total_; }
  uint64_t errors_4xx() const { return errors_4xx_; }
  uint64_t errors_5xx() const { return errors_5xx_; }
  // Responses with exactly this code (one of kCountedErrorCodes; 0 for any other).
  uint64_t errors_with_code(int code) const;
  // Over every request, and over one class's.
  uint64_t LatencyPercentile(double p) const { return all_.Percentile(p); }
  uint64_t LatencyPercentile(RequestClass cls, double p) const {
    return per_class_[static_cast<size_t>(cls)].Percentile(p);
  }

 private:
  std::array<uint64_t, 8> requests_{};
  uint64_t total_ = 0;
  uint64_t errors_4xx_ = 0, errors_5xx_ = 0;
  std::array<uint64_t, kCountedErrorCodeCount> by_code_{};
  LatencyWindow all_;
  std::array<LatencyWindow, 8> per_class_;
};

}  // namespace mqdb
