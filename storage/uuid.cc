#include "storage/uuid.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>

namespace mqdb {

std::string NewUuidV7() {
  static std::mutex mu;  // generation is rare enough that a lock is simpler than thread-local state
  static std::mt19937_64 rng{std::random_device{}()};
  static uint64_t last_ms = 0;
  static uint16_t counter = 0;

  std::lock_guard<std::mutex> lock(mu);
  uint64_t ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  if (ms <= last_ms) {
    ms = last_ms;
    if (++counter > 0x0FFF) { ++ms; counter = 0; }  // counter exhausted: borrow the next millisecond
  } else {
    counter = static_cast<uint16_t>(rng() & 0x01FF);  // random start leaves room to count up
  }
  last_ms = ms;
  uint64_t hi = (ms << 16) | 0x7000 | counter;           // unix_ts_ms(48) | ver(4) | rand_a(12)
  uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // var(2) | rand_b(62)
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

}  // namespace mqdb
