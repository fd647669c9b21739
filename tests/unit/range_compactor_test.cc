#include "storage/range_compactor.h"

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "test_util.h"

namespace mqdb {
namespace {

using test::WaitFor;

TEST(RangeCompactor, RunsRequestsAndMergesOverlappingOnesThatWait) {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> ran;
  std::mutex gate;  // held: the first compaction blocks, so later requests wait behind it
  gate.lock();
  RangeCompactor c([&](const std::string& b, const std::string& e) {
    std::lock_guard<std::mutex> g(gate);
    std::lock_guard<std::mutex> l(mu);
    ran.emplace_back(b, e);
    return Status::Ok();
  });
  c.Request("a", "b");
  ASSERT_TRUE(WaitFor([&] { std::unique_lock<std::mutex> g(gate, std::try_to_lock); return !g.owns_lock(); }));
  c.Request("k", "m");
  c.Request("l", "p");  // overlaps the waiting k..m: merged
  c.Request("x", "w");  // reversed bounds are put in order
  gate.unlock();
  ASSERT_TRUE(WaitFor([&] { return c.done() == 3; }));
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(ran.size(), 3u);
  EXPECT_EQ(ran[0], std::make_pair(std::string("a"), std::string("b")));
  EXPECT_EQ(ran[1], std::make_pair(std::string("k"), std::string("p")));
  EXPECT_EQ(ran[2], std::make_pair(std::string("w"), std::string("x")));
}

TEST(RangeCompactor, BoundsWaitingRequests) {
  std::mutex gate;
  gate.lock();
  std::atomic<int> calls{0};
  {
    RangeCompactor c([&](const std::string&, const std::string&) {
      std::lock_guard<std::mutex> g(gate);
      ++calls;
      return Status::Ok();
    });
    c.Request("0", "0");
    ASSERT_TRUE(WaitFor([&] { std::unique_lock<std::mutex> g(gate, std::try_to_lock); return !g.owns_lock(); }));
    for (int i = 0; i < 1000; ++i) c.Request("k" + std::to_string(i), "k" + std::to_string(i));  // disjoint
    gate.unlock();
  }  // the destructor drops what still waits
  EXPECT_LE(calls.load(), 1 + static_cast<int>(RangeCompactor::kMaxPending));
}

}  // namespace
}  // namespace mqdb
