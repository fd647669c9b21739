#include "storage/wal_syncer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "test_util.h"

namespace mqdb {
namespace {

using test::WaitFor;

TEST(WalSyncer, ImmediateSyncsEveryCommitAndGroupsConcurrentOnes) {
  std::atomic<int> syncs{0};
  WalSyncer s(Durability::kImmediate, 10, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a slow disk
    ++syncs;
    return Status::Ok();
  });
  uint64_t last = 0;
  for (int i = 0; i < 50; ++i) last = s.Committed();
  ASSERT_TRUE(WaitFor([&] { return s.SyncedTicket() >= last; }));
  EXPECT_LT(syncs.load(), 50) << "commits made during one fsync share the next one";
}

TEST(WalSyncer, PeriodicSyncsOnlyWhenSomethingWasCommitted) {
  std::atomic<int> syncs{0};
  WalSyncer s(Durability::kPeriodic, 5, [&] { ++syncs; return Status::Ok(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(syncs.load(), 0);
  uint64_t t = s.Committed();
  ASSERT_TRUE(WaitFor([&] { return s.SyncedTicket() >= t; }));
  EXPECT_EQ(syncs.load(), 1);
}

TEST(WalSyncer, NoneNeverSyncs) {
  std::atomic<int> syncs{0};
  {
    WalSyncer s(Durability::kNone, 1, [&] { ++syncs; return Status::Ok(); });
    s.Committed();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(s.SyncedTicket(), 0u);
  }
  EXPECT_EQ(syncs.load(), 0);
}

TEST(WalSyncer, FailedSyncDoesNotAdvanceTheTicket) {
  std::atomic<bool> fail{true};
  std::atomic<int> attempts{0};
  WalSyncer s(Durability::kImmediate, 10, [&] {
    ++attempts;
    return fail ? Status::Internal("disk gone") : Status::Ok();
  });
  uint64_t t = s.Committed();
  ASSERT_TRUE(WaitFor([&] { return attempts.load() >= 2; }));
  EXPECT_EQ(s.SyncedTicket(), 0u);
  fail = false;
  EXPECT_TRUE(WaitFor([&] { return s.SyncedTicket() >= t; }));
}

}  // namespace
}  // namespace mqdb
