#include "storage/store.h"

#include <gtest/gtest.h>

#include <algorithm>

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


// MultiGet keeps up to 16 keys' values on the stack and more on the heap: both must hand back each
// key's value at its own index, absent keys as nullopt, and stop where the visitor says so.
TEST(Store, MultiGetVisitsEveryKeyInOrderOnStackAndHeap) {
  test::TempDir dir;
  auto store = OpenAt(dir.path());
  Batch b;
  for (int i = 0; i < 40; i += 2) b.Put("data/m/" + std::to_string(100 + i), "v" + std::to_string(i));
  ASSERT_TRUE(store->Commit(b).ok());
  for (size_t n : {size_t{3}, size_t{16}, size_t{17}, size_t{40}}) {
    std::vector<std::string> owned;
    for (size_t i = 0; i < n; ++i) owned.push_back("data/m/" + std::to_string(139 - i));  // descending
    std::vector<std::string_view> keys(owned.begin(), owned.end());
    std::vector<std::string> seen;
    ASSERT_TRUE(store->MultiGet(keys, [&](size_t i, std::optional<std::string_view> v) {
      EXPECT_EQ(i, seen.size());
      seen.push_back(v ? std::string(*v) : "-");
      return true;
    }).ok());
    ASSERT_EQ(seen.size(), n);
    for (size_t i = 0; i < n; ++i) {
      const int k = 39 - static_cast<int>(i);
      EXPECT_EQ(seen[i], k % 2 == 0 ? "v" + std::to_string(k) : "-") << "n=" << n << " i=" << i;
    }
    size_t visits = 0;
    ASSERT_TRUE(store->MultiGet(keys, [&](size_t, std::optional<std::string_view>) { return ++visits < 2; }).ok());
    EXPECT_EQ(visits, 2u) << "n=" << n;
  }
}
TEST(Store, CompactionsDropExpiredValuesOfExpiringPrefixesOnly) {
  test::TempDir dir;
  StoreOptions o{dir.path(), Durability::kNone, 5};
  o.expiring_prefixes = {"dedup/"};
  auto store = std::move(Store::Open(o).value());
  Batch b;
  b.Put("dedup/old", "1000\nexpired long ago");
  b.Put("dedup/new", "99999999999999\nlive");
  b.Put("dedup/odd", "not an expiry");  // not in the format: kept
  b.Put("data/x/1", "1000\nlooks expired but is not under the prefix");
  b.Put("dedupx/00000000000000001000/6f6c64", "");  // the retired expiry index: dropped
  ASSERT_TRUE(store->Commit(b).ok());
  EXPECT_TRUE(store->Get("dedup/old").value()) << "readable until a compaction reaches it";
  ASSERT_TRUE(store->CompactAll().ok());
  EXPECT_FALSE(store->Get("dedup/old").value());
  EXPECT_FALSE(store->Get("dedupx/00000000000000001000/6f6c64").value());
  EXPECT_EQ(*store->Get("dedup/new").value(), "99999999999999\nlive");
  EXPECT_TRUE(store->Get("dedup/odd").value());
  EXPECT_TRUE(store->Get("data/x/1").value());
}

// Memtables are charged to the block cache: writing far more than block_cache_mb keeps RocksDB's
// memtables and cache within it (the documented RSS bound depends on this).
TEST(Store, MemtablesAndBlockCacheStayWithinTheConfiguredBudget) {
  test::TempDir dir;
  StoreOptions o{dir.path(), Durability::kNone, 5};
  o.block_cache_mb = 4;
  auto store = std::move(Store::Open(o).value());
  const std::string value(1000, 'v');
  size_t peak = 0;
  for (int i = 0; i < 20000; ++i) {  // 20 MB
    Batch b;
    b.Put(keys::Data("e", std::to_string(i)), value + std::to_string(i));
    ASSERT_TRUE(store->Commit(b).ok());
    if (i % 1000 == 0) peak = std::max<size_t>(peak, store->MemoryUsage().block_cache);
  }
  const Store::Memory m = store->MemoryUsage();
  ASSERT_GT(m.memtables, 0u);
  EXPECT_GE(m.block_cache, m.memtables) << "no reads were made: the cache holds the memtables' reservation";
  EXPECT_LE(std::max<size_t>(peak, m.block_cache), size_t{4} << 20) << "memtables are charged to the 4 MB cache";
  EXPECT_EQ(*store->Get(keys::Data("e", "7")).value(), value + "7");
}

TEST(Store, CountersAreWrittenWithTheBatchAndSurviveReopen) {
  test::TempDir dir;
  {
    auto store = OpenAt(dir.path());
    Batch b;
    b.Put("data/a/1", "{}");
    b.last_seq = 41;
    b.CountRecord("a", 3);
    b.CountRecord("b", 1);
    ASSERT_TRUE(store->Commit(b).ok());
    EXPECT_EQ(*store->Get(keys::kMetaSeq).value(), "41");
    EXPECT_EQ(*store->Get(keys::MetaCount("a")).value(), "3");
    Batch gone;
    gone.CountRecord("b", -1);
    ASSERT_TRUE(store->Commit(gone).ok());
    EXPECT_FALSE(store->Get(keys::MetaCount("b")).value()) << "an entity with no records has no counter";
  }
  auto store = OpenAt(dir.path());
  EXPECT_EQ(store->last_seq(), 41u);
  EXPECT_EQ(store->record_count(), 3);
  EXPECT_EQ(store->EntityCount("a"), 3);
  EXPECT_EQ(store->EntityCount("b"), 0);
}

TEST(Store, StagedReadsSeeTheBatchsOwnWrites) {
  Batch b;
  EXPECT_FALSE(b.Staged("k"));
  b.Put("k", "1");
  EXPECT_EQ(b.Staged("k").value(), "1");
  b.Delete("k");
  ASSERT_TRUE(b.Staged("k"));
  EXPECT_FALSE(b.Staged("k").value());
  b.Put("k", "2");
  EXPECT_EQ(b.Staged("k").value(), "2");
}

// Commit applies a batch in key order (faster memtable inserts); the outcome must still be the
// batch's last op per key, and a Put after a range delete over it must survive.
TEST(Store, CommitKeepsTheLastOpPerKeyAndPutsAfterARangeDelete) {
  test::TempDir dir;
  auto store = OpenAt(dir.path());
  Batch b;
  b.Put("k/2", "first");
  b.Put("k/1", "x");
  b.Delete("k/2");
  b.Put("k/2", "last");
  b.Delete("k/1");
  b.Put("k/0", "zero");
  ASSERT_TRUE(store->Commit(b).ok());
  EXPECT_EQ(*store->Get("k/2").value(), "last");
  EXPECT_FALSE(store->Get("k/1").value());
  EXPECT_EQ(*store->Get("k/0").value(), "zero");

  Batch r;
  r.Put("k/9", "gone");
  r.DeleteRange("k/", "k0");
  r.Put("k/5", "after the range delete");
  ASSERT_TRUE(store->Commit(r).ok());
  EXPECT_FALSE(store->Get("k/0").value());
  EXPECT_FALSE(store->Get("k/9").value());
  EXPECT_EQ(*store->Get("k/5").value(), "after the range delete");
}

// The memtable starts each insert from the last insert position of the key's family; range
// tombstones must stay out of that (see OrderedFamily in store.cc). Interleaved in one memtable, in both
// orders and in one batch, they left RocksDB 7.8's skip list broken (an assertion in Debian's build).
TEST(Store, RangeDeletesAndPointWritesOfOneFamilyInterleave) {
  test::TempDir dir;
  auto store = std::move(Store::Open({dir.path(), Durability::kNone, 5}).value());
  for (int round = 0; round < 50; ++round) {
    Batch puts;
    for (int i = 0; i < 20; ++i) puts.Put(keys::Outbox(static_cast<uint64_t>(round * 100 + i)), "e");
    ASSERT_TRUE(store->Commit(puts).ok());
    Batch wipe;
    wipe.Put(keys::Outbox(static_cast<uint64_t>(round * 100 + 50)), "before");
    wipe.DeleteRange(std::string(keys::kOutboxPrefix), "outbox0");
    wipe.Put(keys::Outbox(static_cast<uint64_t>(round * 100 + 60)), "after");
    ASSERT_TRUE(store->Commit(wipe).ok());
  }
  std::vector<std::string> left;
  ASSERT_TRUE(store->Scan(keys::kOutboxPrefix, [&](std::string_view k, std::string_view) {
    left.emplace_back(k);
    return true;
  }).ok());
  EXPECT_EQ(left, (std::vector<std::string>{keys::Outbox(4960)}));
}

TEST(Store, ARangeDeleteThatDoesNotStartAtAPrefixIsRefused) {
  test::TempDir dir;
  auto store = std::move(Store::Open({dir.path(), Durability::kNone, 5}).value());
  Batch b;
  b.Put("k/1", "kept out");
  b.DeleteRange("k/0", "k/5");
  auto r = store->Commit(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "range delete must start at a prefix ending in '/': k/0");
  EXPECT_FALSE(store->Get("k/1").value()) << "nothing of the batch is written";
}

// A queue-like key range (keys created, then deleted) leaves tombstones that every scan steps over
// until a compaction drops them: a scan that meets many asks for its range to be compacted.
TEST(Store, ScansOverManyTombstonesGetTheirRangeCompacted) {
  test::TempDir dir;
  StoreOptions o{dir.path(), Durability::kNone, 5};
  o.compact_after_tombstones = 100;
  auto store = std::move(Store::Open(o).value());
  for (int i = 0; i < 1000; ++i) {
    Batch b;
    b.Put(keys::Data("q", "t" + std::to_string(10000 + i)), std::string(100, 'x'));
    ASSERT_TRUE(store->Commit(b).ok());
  }
  for (int i = 0; i < 1000; ++i) {
    Batch b;
    b.Delete(keys::Data("q", "t" + std::to_string(10000 + i)));
    ASSERT_TRUE(store->Commit(b).ok());
  }
  Batch live;
  live.Put(keys::Data("q", "u"), "live");
  ASSERT_TRUE(store->Commit(live).ok());
  auto first_key = [&] {
    std::string found;
    EXPECT_TRUE(store->Scan(keys::Data("q", ""), [&](std::string_view k, std::string_view) {
      found = std::string(k);
      return false;
    }).ok());
    return found;
  };
  EXPECT_EQ(first_key(), keys::Data("q", "u"));
  EXPECT_EQ(store->tombstones_skipped(), 1000u);
  ASSERT_TRUE(test::WaitFor([&] { return store->range_compactions() >= 1; }, std::chrono::seconds(30)));
  EXPECT_EQ(first_key(), keys::Data("q", "u"));
  // Scans of the whole region now start at its floor (next tests); one of a narrower prefix does
  // not, and meets no tombstone either: the compaction dropped them.
  size_t seen = 0;
  ASSERT_TRUE(store->Scan(keys::Data("q", "t"), [&](std::string_view, std::string_view) { ++seen; return true; }).ok());
  EXPECT_EQ(seen, 0u);
  EXPECT_EQ(store->tombstones_skipped(), 1000u) << "the compaction dropped the tombstones";
  EXPECT_EQ(*store->Get(keys::Data("q", "u")).value(), "live");
}

std::vector<std::string> ScanAll(Store& store, const std::string& prefix, const std::string& start = "") {
  std::vector<std::string> seen;
  Status s = store.Scan(prefix, [&](std::string_view k, std::string_view) { seen.emplace_back(k); return true; }, start);
  EXPECT_TRUE(s.ok()) << s.message();
  return seen;
}

std::vector<std::string> DataKeys(const std::string& entity, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(keys::Data(entity, "t" + std::to_string(10000 + i)));
  return out;
}

// A region whose oldest keys are deleted first (a queue): once a scan has stepped over the
// tombstones to the first key, later scans start there, and still see every key that exists.
TEST(Store, ScansOfARegionStartAtItsFloorAndMissNoKey) {
  test::TempDir dir;
  StoreOptions o{dir.path(), Durability::kNone, 5};
  o.compact_after_tombstones = 0;  // only the floor can save the steps here
  auto store = std::move(Store::Open(o).value());
  Batch put;
  for (const auto& k : DataKeys("q", 0, 1000)) put.Put(k, "v");
  put.Put(keys::Data("r", "other"), "v");
  ASSERT_TRUE(store->Commit(put).ok());
  Batch del;
  for (const auto& k : DataKeys("q", 0, 990)) del.Delete(k);
  ASSERT_TRUE(store->Commit(del).ok());

  const auto last_ten = DataKeys("q", 990, 1000);
  EXPECT_EQ(ScanAll(*store, keys::Data("q", "")), last_ten);
  EXPECT_EQ(store->tombstones_skipped(), 990u);
  EXPECT_EQ(ScanAll(*store, keys::Data("q", "")), last_ten);
  EXPECT_EQ(ScanAll(*store, keys::Data("q", ""), keys::Data("q", "t10500")), last_ten);  // a start below the floor
  EXPECT_EQ(ScanAll(*store, keys::Data("q", ""), keys::Data("q", "t10995")), DataKeys("q", 995, 1000));
  EXPECT_EQ(store->tombstones_skipped(), 990u) << "the later scans started at the floor";
  EXPECT_EQ(ScanAll(*store, keys::Data("r", "")), std::vector<std::string>{keys::Data("r", "other")});

  // Keys written below the floor are found: a new one and a deleted one written again.
  Batch below;
  below.Put(keys::Data("q", "a"), "v");
  below.Put(keys::Data("q", "t10001"), "v");
  ASSERT_TRUE(store->Commit(below).ok());
  std::vector<std::string> expected{keys::Data("q", "a"), keys::Data("q", "t10001")};
  expected.insert(expected.end(), last_ten.begin(), last_ten.end());
  EXPECT_EQ(ScanAll(*store, keys::Data("q", "")), expected);

  // An emptied region, then a key in it again.
  Batch all;
  for (const auto& k : expected) all.Delete(k);
  ASSERT_TRUE(store->Commit(all).ok());
  EXPECT_TRUE(ScanAll(*store, keys::Data("q", "")).empty());
  EXPECT_TRUE(ScanAll(*store, keys::Data("q", "")).empty());
  Batch again;
  again.Put(keys::Data("q", "t10000"), "v");
  ASSERT_TRUE(store->Commit(again).ok());
  EXPECT_EQ(ScanAll(*store, keys::Data("q", "")), DataKeys("q", 0, 1));
}

// A prefix holding several regions (data/ holds every entity's) gets no floor: a key put into one of
// its regions lowers that region's floor, not one of data/.
TEST(Store, APrefixOfSeveralRegionsHasNoFloor) {
  test::TempDir dir;
  StoreOptions o{dir.path(), Durability::kNone, 5};
  o.compact_after_tombstones = 0;
  auto store = std::move(Store::Open(o).value());
  Batch put;
  for (const auto& k : DataKeys("q", 0, 100)) put.Put(k, "v");
  put.Put(keys::Data("r", "last"), "v");
  ASSERT_TRUE(store->Commit(put).ok());
  Batch del;
  for (const auto& k : DataKeys("q", 0, 100)) del.Delete(k);
  ASSERT_TRUE(store->Commit(del).ok());
  EXPECT_EQ(ScanAll(*store, "data/"), std::vector<std::string>{keys::Data("r", "last")});
  Batch below;
  below.Put(keys::Data("q", "t10050"), "v");
  ASSERT_TRUE(store->Commit(below).ok());
  EXPECT_EQ(ScanAll(*store, "data/"), (std::vector<std::string>{keys::Data("q", "t10050"), keys::Data("r", "last")}));
}

// A restored database has its own keys: floors learned in the replaced one must not hide them.
TEST(Store, ARestoreForgetsTheFloors) {
  test::TempDir dir, backups;
  auto store = OpenAt(dir.path(), Durability::kNone);
  Batch put;
  for (const auto& k : DataKeys("q", 0, 100)) put.Put(k, "v");
  ASSERT_TRUE(store->Commit(put).ok());
  ASSERT_TRUE(store->Backup(backups.path(), "b").ok());
  Batch del;
  for (const auto& k : DataKeys("q", 0, 99)) del.Delete(k);
  ASSERT_TRUE(store->Commit(del).ok());
  EXPECT_EQ(ScanAll(*store, keys::Data("q", "")), DataKeys("q", 99, 100));  // the floor is the last key
  ASSERT_TRUE(store->Restore(backups.path(), "b").ok());
  EXPECT_EQ(ScanAll(*store, keys::Data("q", "")), DataKeys("q", 0, 100));
}

// Commit reuses one WriteBatch: each commit applies its own ops and nothing of an earlier one, whether
// the buffer was kept (small batches) or dropped (after a large one). Restores undo earlier commits,
// so an op left over in the reused batch would bring a restored-away key back.
TEST(Store, EachCommitAppliesOnlyItsOwnOps) {
  test::TempDir dir, backups;
  auto store = OpenAt(dir.path());
  ASSERT_TRUE(store->Backup(backups.path(), "empty").ok());
  for (size_t value_bytes : {size_t{10}, size_t{100} << 10}) {  // a kept buffer, then one too large to keep
    SCOPED_TRACE(value_bytes);
    Batch put;
    put.Put("data/a/x", std::string(value_bytes, 'x'));
    ASSERT_TRUE(store->Commit(put).ok());
    ASSERT_TRUE(store->Restore(backups.path(), "empty").ok());
    ASSERT_FALSE(store->Get("data/a/x").value().has_value());
    Batch other;
    other.Put("data/a/y", "y");
    ASSERT_TRUE(store->Commit(other).ok());
    EXPECT_FALSE(store->Get("data/a/x").value().has_value());
    EXPECT_EQ(store->Get("data/a/y").value(), std::optional<std::string>("y"));
    ASSERT_TRUE(store->Restore(backups.path(), "empty").ok());
  }
}

// A long scan of live records that meets a few deleted keys is not worth rewriting the range for.
TEST(Store, ScansMostlyOfLiveRecordsAskForNoCompaction) {
  test::TempDir dir;
  StoreOptions o{dir.path(), Durability::kNone, 5};
  o.compact_after_tombstones = 100;
  auto store = std::move(Store::Open(o).value());
  Batch b;
  for (int i = 0; i < 1000; ++i) b.Put(keys::Data("q", "t" + std::to_string(10000 + i)), "v");
  ASSERT_TRUE(store->Commit(b).ok());
  Batch d;
  for (int i = 0; i < 1000; i += 5) d.Delete(keys::Data("q", "t" + std::to_string(10000 + i)));  // 200 of 1000
  ASSERT_TRUE(store->Commit(d).ok());
  size_t live = 0;
  ASSERT_TRUE(store->Scan(keys::Data("q", ""), [&](std::string_view, std::string_view) { ++live; return true; }).ok());
  EXPECT_EQ(live, 800u);
  EXPECT_EQ(store->tombstones_skipped(), 200u);
  EXPECT_EQ(store->range_compactions_requested(), 0u);
  Batch more;  // now tombstones dominate
  for (int i = 0; i < 1000; ++i) more.Delete(keys::Data("q", "t" + std::to_string(10000 + i)));
  ASSERT_TRUE(store->Commit(more).ok());
  ASSERT_TRUE(store->Scan(keys::Data("q", ""), [&](std::string_view, std::string_view) { return true; }).ok());
  EXPECT_EQ(store->range_compactions_requested(), 1u);
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
