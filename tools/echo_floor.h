// The floor each run of mqdb-bench is compared with (its "vs echo" column).
//
// A workload's floor is the faster of the echo runs next to it: the nearest echo before it and the
// nearest after it (the one that exists, if only one does). On a shared machine the speed drifts over a
// suite of many runs; comparing a workload with echo runs minutes away measured the drift as much as
// the plugin. Taking the faster neighbour, not their mean, keeps the noise from flattering a workload.
// An echo run's own figure is its rate over the fastest echo of the whole run, which shows the drift.
// Without any echo run every floor is 0 (no ratio).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace mqdb::bench {

// is_echo[i]: run i was an echo run; rates[i]: its throughput. Returns the floor of each run.
inline std::vector<double> EchoFloors(const std::vector<bool>& is_echo, const std::vector<double>& rates) {
  const size_t n = std::min(is_echo.size(), rates.size());
  std::vector<double> floors(n, 0.0);
  double fastest = 0;
  for (size_t i = 0; i < n; ++i) {
    if (is_echo[i]) fastest = std::max(fastest, rates[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    if (is_echo[i]) {
      floors[i] = fastest;
      continue;
    }
    double floor = 0;
    for (size_t j = i; j-- > 0;) {
      if (is_echo[j]) { floor = rates[j]; break; }
    }
    for (size_t j = i + 1; j < n; ++j) {
      if (is_echo[j]) { floor = std::max(floor, rates[j]); break; }
    }
    floors[i] = floor;
  }
  return floors;
}

}  // namespace mqdb::bench
