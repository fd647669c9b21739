#include "storage/store.h"

#include <gtest/gtest.h>

#include "storage/keys.h"
#include "test_util.h"

namespace mqdb {
namespace {

std::unique_ptr<Store> OpenAt(const std::string& path, Durability d = Durability::kPeriodic) {
  auto s = Store::Open({path, d, 5});
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? std::move(s.value()) : nullptr;
}

TEST(Store, CommitGetScan) {
  test::TempDir dir;
  auto store = OpenAt(dir.path());
  Batch b;
  b.Put("data/a/1", "x");
  b.Put("data/a/2", "y");
  b.Put("data/b/1", "z");
  ASSERT_TRUE(store->Commit(b).ok());
  EXPECT_EQ(*store->Get("data/a/1").value(), "x");
  EXPECT_FALSE(store->Get("data/a/3").value());
  std::vector<std::string> seen;
  ASSERT_TRUE(store->Scan("data/a/", [&](std::string_view k, std::string_view) {
    seen.emplace_back(k);
    return true;
  }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"data/a/1", "data/a/2"}));
  Batch del;
  del.Delete("data/a/1");
  ASSERT_TRUE(store->Commit(del).ok());
  EXPECT_FALSE(store->Get("data/a/1").value());
}

TEST(Store, CountersAreWrittenWithTheBatchAndSurviveReopen) {
  test::TempDir dir;
  {
    auto store = OpenAt(dir.path());
    Batch b;
    b.Put("data/a/1", "{}");
    b.last_seq = 41;
    b.record_delta = 3;
    ASSERT_TRUE(store->Commit(b).ok());
    EXPECT_EQ(*store->Get(keys::kMetaSeq).value(), "41");
    EXPECT_EQ(*store->Get(keys::kMetaRecords).value(), "3");
  }
  auto store = OpenAt(dir.path());
  EXPECT_EQ(store->last_seq(), 41u);
  EXPECT_EQ(store->record_count(), 3);
}

TEST(Store, SecondOpenOfTheSameDatabaseIsRefused) {
  test::TempDir dir;
  auto first = OpenAt(dir.path());
  auto second = Store::Open({dir.path(), Durability::kPeriodic, 5});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), 503);
  EXPECT_NE(second.status().message().find("already in use by another process"), std::string::npos)
      << second.status().message();
}

TEST(Store, TicketsIncreasePerCommit) {
  test::TempDir dir;
  auto store = OpenAt(dir.path(), Durability::kNone);
  Batch b;
  b.Put("k", "v");
  EXPECT_EQ(store->Commit(b).value(), 1u);
  EXPECT_EQ(store->Commit(b).value(), 2u);
}

}  // namespace
}  // namespace mqdb
