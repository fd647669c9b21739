#include "plugin/stats.h"

#include <algorithm>
#include <cmath>

namespace mqdb {

void LatencyWindow::Add(uint64_t us) {
  if (samples_.size() < kWindow) {
    samples_.push_back(us);
  } else {
    samples_[next_] = us;
    next_ = (next_ + 1) % kWindow;
  }
}

uint64_t LatencyWindow::Percentile(double p) const {
  if (samples_.empty()) return 0;
  std::vector<uint64_t> v = samples_;
  size_t k = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  k = std::min(v.size() - 1, k == 0 ? 0 : k - 1);
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

void Stats::Record(RequestClass cls, int status_code, uint64_t latency_us) {
  ++requests_[static_cast<size_t>(cls)];
  ++total_;
  if (status_code >= 400 && status_code < 500) ++errors_4xx_;
  if (status_code >= 500) ++errors_5xx_;
  for (size_t i = 0; i < kCountedErrorCodeCount; ++i) {
    if (kCountedErrorCodes[i] == status_code) ++by_code_[i];
  }
  all_.Add(latency_us);
  per_class_[static_cast<size_t>(cls)].Add(latency_us);
}

uint64_t Stats::errors_with_code(int code) const {
  for (size_t i = 0; i < kCountedErrorCodeCount; ++i) {
    if (kCountedErrorCodes[i] == code) return by_code_[i];
  }
  return 0;
}

}  // namespace mqdb
