#include "outbox/assignment.h"

#include <gtest/gtest.h>

#include <set>

namespace mqdb {
namespace {

// Every partition owned exactly once; loads differ by at most one.
void ExpectBalanced(const Assignment& a) {
  std::multiset<int> all;
  size_t lo = SIZE_MAX, hi = 0;
  for (const auto& [id, parts] : a) {
    all.insert(parts.begin(), parts.end());
    lo = std::min(lo, parts.size());
    hi = std::max(hi, parts.size());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kGroupPartitions));
  for (int p = 0; p < kGroupPartitions; ++p) EXPECT_EQ(all.count(p), 1u) << p;
  EXPECT_LE(hi - lo, 1u);
}

size_t Moved(const Assignment& before, const Assignment& after) {
  size_t moved = 0;
  for (int p = 0; p < kGroupPartitions; ++p) moved += OwnerOf(before, p) != OwnerOf(after, p) && !OwnerOf(before, p).empty();
  return moved;
}

TEST(Assignment, FirstMemberTakesAllAndJoinsBalance) {
  Assignment a;
  AssignJoin(a, "m1");
  EXPECT_EQ(a["m1"].size(), 16u);
  for (int n = 2; n <= 7; ++n) {
    Assignment before = a;
    AssignJoin(a, "m" + std::to_string(n));
    ExpectBalanced(a);
    // Minimal movement: only the newcomer's share moves.
    EXPECT_EQ(Moved(before, a), a["m" + std::to_string(n)].size()) << n;
  }
}

TEST(Assignment, LeaveRebalancesMovingOnlyTheLeaversPartitions) {
  Assignment a;
  for (int n = 1; n <= 5; ++n) AssignJoin(a, "m" + std::to_string(n));
  Assignment before = a;
  size_t leaving = a["m3"].size();
  AssignLeave(a, "m3");
  ExpectBalanced(a);
  EXPECT_EQ(Moved(before, a), leaving);
  AssignLeave(a, "m1");
  AssignLeave(a, "m2");
  AssignLeave(a, "m4");
  EXPECT_EQ(a["m5"].size(), 16u);
  AssignLeave(a, "m5");
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(OwnerOf(a, 3), "");
}

TEST(Assignment, MoreMembersThanPartitions) {
  Assignment a;
  for (int n = 0; n < 20; ++n) AssignJoin(a, "m" + std::to_string(100 + n));
  ExpectBalanced(a);
  size_t idle = 0;
  for (const auto& [id, parts] : a) idle += parts.empty();
  EXPECT_EQ(idle, 4u);
}

TEST(Assignment, PartitionOfIsStable) {
  EXPECT_EQ(GroupPartitionOf("order-1"), GroupPartitionOf("order-1"));
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) seen.insert(GroupPartitionOf("r" + std::to_string(i)));
  EXPECT_EQ(seen.size(), 16u);
}

}  // namespace
}  // namespace mqdb
